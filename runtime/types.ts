/**
 * What the managed system (the HMC logic in `actors/`) needs from a runtime.
 * Two runtimes implement it over the same machine: `threads` (a worker for
 * the hypervisor and one per LPAR, hcalls over the Atomics channel) and `sim`
 * (one thread, a seeded scheduler, virtual time). Only a runtime touches
 * threads and real time.
 * @module
 */
import type { BlockBinding, DrcSpec, LparId, MediaCounters } from "../core/types.ts";
import type { GuestHost, ProbeRecord } from "../guest/host.ts";
import type { Task } from "../guest/task.ts";
import type { PowerLossReport } from "../storage/persistence.ts";
import type { PowerLossMode } from "../storage/power_loss.ts";
import type { StorageFault } from "../storage/io_fault.ts";
import type { HcallSpan, SpansTaken } from "../trace/types.ts";

/** The runtimes a managed system can run on. */
export const RUNTIMES = ["threads", "sim"] as const;

/** A runtime name. */
export type RuntimeKind = typeof RUNTIMES[number];

/** Checks a runtime name, naming the accepted ones when it is unknown. */
export function parseRuntime(value: unknown): RuntimeKind {
  if (typeof value === "string" && (RUNTIMES as readonly string[]).includes(value)) {
    return value as RuntimeKind;
  }
  throw new RangeError(
    `unknown runtime ${JSON.stringify(value)}; accepted: ${RUNTIMES.join(", ")}`,
  );
}

/** A task's result type. */
type Outcome<R> = R extends Task<infer T> ? T : R;

/**
 * A partition's control plane as the HMC sees it: every `GuestHost` method,
 * answered later, in the order asked (a partition runs one thing at a time).
 */
export type GuestControl = {
  [K in keyof GuestHost]: GuestHost[K] extends (...args: infer A) => infer R
    ? (...args: A) => Promise<Outcome<R>>
    : never;
};

/** One hcall the hypervisor answered. */
export interface TraceRecord {
  lpar: LparId;
  opcode: number;
  rc: number;
}

/** Most hcall records kept between traceStart and traceTake; later ones are counted, not kept. */
export const MAX_TRACE_RECORDS = 1_000_000;

/** What traceTake hands back: the records, and how many were dropped past the limit. */
export interface TraceTaken {
  records: TraceRecord[];
  dropped: number;
}

/** What a hostile guest did (see `PartitionHandle.misbehaveForTest`). */
export interface MisbehaveReport {
  /** Words written at random into what the worker holds. */
  writes: number;
  /** Requests issued with random kinds and registers. */
  requests: number;
  /** How many requests got each r3. */
  answers: Record<number, number>;
}

/** The hypervisor's control plane. */
export interface HypervisorControl {
  /**
   * Creates an nvdimm and its SCM; with durable state, the
   * `ibm,persistence-failed-count` its power-on left (else nothing).
   */
  createDrc(spec: DrcSpec): Promise<number | void>;
  /** Assigns a DRC to an LPAR (its guest reaches the memory only through the hypervisor). */
  assign(drc: number, lpar: LparId): Promise<void>;
  /** Takes a DRC from an LPAR, releasing its bindings there; the blocks released. */
  unassign(drc: number, lpar: LparId): Promise<number>;
  /** Partition shutdown or restart: every binding of the LPAR is released; the count. */
  releaseLpar(lpar: LparId): Promise<number>;
  /**
   * The LPAR's runtime died: its channel is dropped and everything it held
   * released (the count); a new partition may then be started for it.
   */
  detachLpar(lpar: LparId): Promise<number>;
  /** Sets a DRC's health bitmap. */
  setHealth(drc: number, bitmap: bigint): Promise<void>;
  /** Fault injection: flushes requested on the DRC end in H_HARDWARE while `failing`. */
  setFlushFailure(drc: number, failing: boolean): Promise<void>;
  /**
   * Fault injection, with durable state only: the DRC's store fails its I/O
   * as `fault` says (storage/io_fault.ts) until set to `none`.
   */
  setStorageFault(drc: number, fault: StorageFault): Promise<void>;
  /** The binding table. */
  bindings(): Promise<BlockBinding[]>;
  /** Invariant violations of the core (none expected). */
  invariants(): Promise<string[]>;
  /** A DRC's media counters. */
  media(drc: number): Promise<MediaCounters>;
  /** Starts recording every hcall answered. */
  traceStart(): Promise<void>;
  /** Stops recording and returns the records. */
  traceTake(): Promise<TraceTaken>;
  /**
   * The timeline recorded since the start (or the last take), when the
   * runtime was started with span recording; empty otherwise.
   */
  spansTake(): Promise<SpansTaken>;
  /** Test-only: fails the hypervisor as a crash of its serve loop would. */
  injectFailure(reason: string): Promise<void>;
}

/** One running partition, as its runtime holds it. */
export interface PartitionHandle {
  /** Its control plane. */
  readonly guest: GuestControl;
  /** Rejects with the error that ended the partition's runtime (a worker's death). */
  readonly failed: Promise<never>;
  /** Asks the running kernel to panic at its next hcall (or now, when idle). */
  requestPanic(): void;
  /**
   * The hcalls as the guest saw them (threads, when recording spans): issue
   * to answer on the shared clock, in order, and how many were dropped.
   * Undefined where the hypervisor's spans are the guest's too (sim).
   */
  guestSpans?(): Promise<{ spans: HcallSpan[]; dropped: number }>;
  /**
   * The papr_scm probes recorded for a trace, read without running anything
   * in the partition (so a sim run stays what it would be untraced).
   */
  probeRecords?(): Promise<{ probes: ProbeRecord[]; dropped: number }>;
  /** Test-only: ends the partition's runtime with an uncaught error, as a simulator bug would. */
  crashForTest(message: string): Promise<void>;
  /**
   * Test-only: the guest turns hostile and writes anything its runtime holds
   * (see workers/lpar_worker.ts, misbehaveForTest); threads only.
   */
  misbehaveForTest(seed: number, writes: number): Promise<MisbehaveReport>;
  /** Stops the partition for good: pending and later calls fail with `reason`. */
  stop(reason: Error): void;
}

/** A runtime with a hypervisor running in it. */
export interface Runtime {
  readonly kind: RuntimeKind;
  /** The hypervisor's control plane. */
  readonly hypervisor: HypervisorControl;
  /** The machine's clock in ns (virtual on `sim`), for supervision windows. */
  clock(): number;
  /**
   * Resolves after `ms` of this runtime's time unless cancelled first: how
   * long the HMC waits for a partition's answer. On `threads`, real time; on
   * `sim`, never (a sim guest cannot block without bound: each call is capped
   * at MAX_TASK_EFFECTS and ends).
   */
  deadline(ms: number): { expired: Promise<void>; cancel(): void };
  /** Starts partition `id`; `onError` hears of its runtime's errors. */
  startPartition(id: LparId, name: string, onError: (message: string) => void): Promise<
    PartitionHandle
  >;
  /**
   * With durable state: power is lost (see `ManagedSystem.powerLoss`); the
   * hypervisor stops serving and the managed system stops the rest.
   */
  powerLoss?(mode?: PowerLossMode): PowerLossReport | Promise<PowerLossReport>;
  /** Stops the hypervisor; `failed` is true when it already failed. */
  stop(failed: boolean): Promise<void>;
}

/** How a runtime reports that the hypervisor failed. */
export interface RuntimeHooks {
  /** The hypervisor failed (the managed system stops everything). */
  hypervisorFailed(reason: string): void;
  /** An error message from the hypervisor's runtime. */
  error(message: string): void;
}
