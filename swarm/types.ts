/**
 * The swarm's plain data: a case (a system, the faults switched on and a
 * schedule of operations) and what running it gave. Everything here is
 * JSON-able, so a case can be recorded to a file and replayed, byte for byte.
 * @module
 */
import type { NvdimmConfig, PanicAtConfig, SystemConfig } from "../actors/config.ts";
import type { KernelVersion } from "../guest/papr_scm/mod.ts";

/** Format version written in every case file. */
export const CASE_FORMAT = 1;

/**
 * The fault kinds a seed may switch on, as FoundationDB's BUGGIFY does: each
 * seed runs with a different subset, so rare combinations get explored.
 */
export interface FaultSwitches {
  /** Boot, kexec and reboot operations may carry a `panicAt` point. */
  panicAt: boolean;
  /** Panic operations (`lpar.panic()`), handled by the LPAR's supervision policy. */
  panics: boolean;
  /** Bursts of kexec operations on one LPAR, some into other kernel versions. */
  kexecStorms: boolean;
  /** Clean reboots. */
  reboots: boolean;
  /** Shutdowns (a later boot activates the LPAR again). */
  shutdowns: boolean;
  /** DLPAR add, remove and move of nvdimms. */
  dlpar: boolean;
  /** Flushes that end in H_HARDWARE (`setFlushFailure`). */
  flushFailures: boolean;
  /** Health changes (`setHealth`). */
  health: boolean;
  /** Supervision policies (kdump, reboot) and restart storms from a configured panic point. */
  supervision: boolean;
  /** Raw hcalls that bind a DRC's blocks at scattered addresses, then a kexec. */
  scatter: boolean;
  /** Raw hcalls that unbind one block under a region, probe DAX there, and bind it back. */
  holes: boolean;
  /**
   * Power losses: the system runs with durable state (a MemoryStore); a loss
   * keeps unflushed lines by mode, and a new system powers on on the same state.
   */
  powerLoss: boolean;
}

/** The names of the fault kinds, in a fixed order. */
export const FAULT_KINDS: readonly (keyof FaultSwitches)[] = [
  "panicAt",
  "panics",
  "kexecStorms",
  "reboots",
  "shutdowns",
  "dlpar",
  "flushFailures",
  "health",
  "supervision",
  "scatter",
  "holes",
  "powerLoss",
];

/** Fields every operation has. */
export interface OpBase {
  /** Starts together with the operation before it (their hcalls interleave). */
  join?: boolean;
}

/** Fields of the life-cycle operations. */
export interface LifeCycleFields extends OpBase {
  /** The LPAR, by name. */
  lpar: string;
  /** Kernel version to run (default: the LPAR's current one). */
  kernel?: KernelVersion;
  /** Panic right after this hcall's nth call (a fault). */
  panicAt?: PanicAtConfig;
}

/** Activates an LPAR that is not running. */
export interface BootOp extends LifeCycleFields {
  /** Discriminant. */
  op: "boot";
}

/** kexec of a running kernel; of a panicked one it is kdump. */
export interface KexecOp extends LifeCycleFields {
  /** Discriminant. */
  op: "kexec";
}

/** Clean reboot (a partition restart when the kernel is not running). */
export interface RebootOp extends LifeCycleFields {
  /** Discriminant. */
  op: "reboot";
}

/** Panics a running kernel; the supervision policy then acts. */
export interface PanicOp extends OpBase {
  /** Discriminant. */
  op: "panic";
  /** The LPAR, by name. */
  lpar: string;
}

/** Shuts an LPAR down; the hypervisor releases its bindings. */
export interface ShutdownOp extends OpBase {
  /** Discriminant. */
  op: "shutdown";
  /** The LPAR, by name. */
  lpar: string;
}

/** Fields of the operations on one of an LPAR's regions (or nvdimms). */
export interface PickFields extends OpBase {
  /** The LPAR, by name. */
  lpar: string;
  /** Chooses among what exists when the operation runs (taken modulo the count). */
  pick: number;
}

/**
 * Writes a pattern into one of the LPAR's regions and reads it back.
 * `offset` is reduced modulo what fits; with `edge` the write straddles the
 * start of block `edge` (modulo the blocks).
 */
export interface WriteOp extends PickFields {
  /** Discriminant. */
  op: "write";
  /** Where in the region, modulo what fits. */
  offset: number;
  /** Bytes to write (at most the region's size). */
  length: number;
  /** Seed of the pattern's bytes. */
  byte: number;
  /** Straddle the start of this block instead (modulo the blocks). */
  edge?: number;
}

/** Reads back one range written earlier to the DRC of the chosen region. */
export interface ReadOp extends PickFields {
  /** Discriminant. */
  op: "read";
}

/** `nvdimm_flush` of the chosen region. */
export interface RegionFlushOp extends PickFields {
  /** Discriminant. */
  op: "flush";
}

/** Switches flush failures of a DRC on or off. */
export interface FlushFailureOp extends OpBase {
  /** Discriminant. */
  op: "flushFailure";
  /** DRC index, hex. */
  drc: string;
  /** On or off. */
  failing: boolean;
}

/** Sets a DRC's health bits. */
export interface HealthOp extends OpBase {
  /** Discriminant. */
  op: "health";
  /** DRC index, hex. */
  drc: string;
  /** Health bit names, e.g. `SHUTDOWN_DIRTY`. */
  bits: string[];
}

/** DLPAR add of a known DRC (from the configuration or the spares) to an LPAR. */
export interface DlparAddOp extends OpBase {
  /** Discriminant. */
  op: "dlparAdd";
  /** The LPAR, by name. */
  lpar: string;
  /** DRC index, hex. */
  drc: string;
}

/** DLPAR remove of the chosen nvdimm of an LPAR. */
export interface DlparRemoveOp extends PickFields {
  /** Discriminant. */
  op: "dlparRemove";
}

/** DLPAR move of the chosen nvdimm from one LPAR to another. */
export interface DlparMoveOp extends OpBase {
  /** Discriminant. */
  op: "dlparMove";
  /** The LPAR it leaves. */
  from: string;
  /** The LPAR it goes to. */
  to: string;
  /** Chooses the nvdimm (modulo the count). */
  pick: number;
}

/**
 * Raw hcalls from the LPAR: from a released partition and a bare kernel,
 * bind the chosen DRC in pieces at addresses the driver did not choose
 * (`shape`), then kexec into a kernel with papr_scm.
 */
export interface ScatterOp extends PickFields {
  /** Discriminant. */
  op: "scatter";
  /** Block 0 apart from the rest, the halves swapped, only a prefix, or only a suffix bound. */
  shape: "apart" | "swapped" | "prefix" | "suffix";
  /** Where the pieces meet (modulo the blocks). */
  split: number;
  /** Blocks of address space between the pieces. */
  gap: number;
  /** Kernel version to kexec into (default: the current one). */
  kernel?: KernelVersion;
}

/**
 * Raw hcalls from the LPAR: unbind one block under the chosen region, check
 * that DAX there machine-checks while the rest still reads, bind it back.
 */
export interface HoleOp extends PickFields {
  /** Discriminant. */
  op: "hole";
  /** The block (modulo the blocks). */
  block: number;
}

/**
 * Power is lost (`none`, `all`, `subset` or `torn` of the unflushed lines
 * survive), then a new system powers on on the same durable state: every
 * LPAR is not activated; data that was flushed must have survived, and a
 * DRC's persistence-failed count rises exactly when it lost data.
 */
export interface PowerLossOp extends OpBase {
  /** Discriminant. */
  op: "powerLoss";
  /** Which unflushed lines survive. */
  mode: "none" | "all" | "subset" | "torn";
}

/** One operation of a schedule. */
export type SwarmOp =
  | PowerLossOp
  | BootOp
  | KexecOp
  | PanicOp
  | RebootOp
  | ShutdownOp
  | WriteOp
  | ReadOp
  | RegionFlushOp
  | FlushFailureOp
  | HealthOp
  | DlparAddOp
  | DlparRemoveOp
  | DlparMoveOp
  | ScatterOp
  | HoleOp;

/** The operation names. */
export const OP_NAMES: readonly SwarmOp["op"][] = [
  "boot",
  "kexec",
  "panic",
  "reboot",
  "shutdown",
  "write",
  "read",
  "flush",
  "flushFailure",
  "health",
  "dlparAdd",
  "dlparRemove",
  "dlparMove",
  "scatter",
  "hole",
  "powerLoss",
];

/** What a recorded run gave, kept in a case file so a replay can be compared. */
export interface CaseExpectation {
  /** The run's trace hash. */
  traceHash: string;
  /** Its verdict. */
  verdict: Verdict;
  /** The invariant that failed, when it failed. */
  invariant?: string;
}

/** A whole swarm case: a seed's system and schedule. */
export interface SwarmCase {
  /** Format version ({@link CASE_FORMAT}). */
  swarm: number;
  /** The seed: of the generator and of the sim runtime's scheduler. */
  seed: number;
  /** The managed system, as `ManagedSystem.start` takes it. */
  system: SystemConfig;
  /** Nvdimms that exist only to be added by DLPAR. */
  spares: NvdimmConfig[];
  /** The fault kinds switched on for this seed. */
  faults: FaultSwitches;
  /** The schedule. */
  ops: SwarmOp[];
  /** What the recorded run gave (absent in a freshly generated case). */
  expect?: CaseExpectation;
}

/** pass or fail. */
export type Verdict = "pass" | "fail";

/** Why a case failed. */
export interface SwarmFailure {
  /** Index of the operation after which the check failed (ops.length: the liveness phase). */
  op: number;
  /** The invariant's name, e.g. `region-bound`. */
  invariant: string;
  /** What was wrong. */
  message: string;
}

/** What running one case gave. */
export interface CaseResult {
  /** The case's seed. */
  seed: number;
  /** pass or fail. */
  verdict: Verdict;
  /** Scheduler steps. */
  steps: number;
  /** The run's trace hash (16 hex digits). */
  traceHash: string;
  /** Virtual time at the end, ns. */
  virtualNs: number;
  /** Operations in the schedule. */
  ops: number;
  /** LPARs in the system. */
  lpars: number;
  /** Set when the verdict is fail. */
  failure?: SwarmFailure;
}
