/**
 * What the benchmark (and the stress test) and their workers share: control
 * words and result shapes. No side effects, so both sides may import it.
 * @module
 */

/** Control word: non-zero once every worker may start. */
export const CTL_GO = 0;
/** Control word: non-zero asks every loop to stop after its current batch. */
export const CTL_STOP = 1;
/** Control word: number of workers waiting for GO. */
export const CTL_READY = 2;
/** Int32 words in the control buffer. */
export const CTL_WORDS = 4;

/** What a timed hcall loop did. */
export interface HammerResult {
  /** hcalls completed. */
  calls: number;
  /** Milliseconds from GO to the end of the loop. */
  elapsedMs: number;
  /** Mean nanoseconds per call of each batch. */
  batchNs: number[];
  /** The channel's ANSWERED word at the end. */
  answered: number;
  /** Unexpected return codes (at most a few). */
  errors: string[];
}

/** What a scripted stress run did. */
export interface StressResult {
  /** hcalls issued (each got exactly one answer or the run records an error). */
  calls: number;
  /** Complete cycles of the script. */
  cycles: number;
  /** The channel's ANSWERED word at the end. */
  answered: number;
  /** Mismatches between predicted and actual answers (at most a few). */
  errors: string[];
}

/** What the stress script needs to predict every answer. */
export interface StressPlan {
  /** This LPAR's own DRC. */
  drc: number;
  /** A DRC that exists but belongs to another LPAR. */
  foreignDrc: number;
  /** Health bitmap set on `drc`. */
  health: bigint;
  /** Block size of `drc`. */
  blockSize: bigint;
  /** Blocks bound per cycle. */
  blocks: number;
  /** Blocks left bound at the end (0 = none). */
  finalBlocks: number;
  /** First logical address the hypervisor hands out. */
  logicalBase: bigint;
}

/** Int32 words the Atomics baseline needs. */
export const ATOMICS_WORDS = 4;
