/**
 * What a timeline trace is made of: hcalls as the hypervisor served them and
 * as the guest saw them, life-cycle operations, and counter samples. Times
 * are ns on the trace clock: virtual time on the `sim` runtime, time since
 * the system started on one shared clock (`performance.timeOrigin + now()`)
 * on the `threads` runtime.
 * @module
 */

/** One hcall: its registers in and out and when it started and ended (ns). */
export interface HcallSpan {
  /** The LPAR that issued it (hypervisor-side id). */
  lpar: number;
  /** The opcode (r3 on entry). */
  opcode: number;
  /** r4.. on entry. */
  args: bigint[];
  /** r3 on exit. */
  rc: number;
  /** r4.. on exit. */
  rets: bigint[];
  /** Start, ns on the trace clock. */
  start: number;
  /** End, ns on the trace clock. */
  end: number;
}

/** A counter sample of one nvdimm. */
export interface CounterSample {
  /** The DRC index. */
  drc: number;
  /** What is counted. */
  what: "bound blocks" | "health" | "persistence-failed count";
  /** The value (`health`: the bitmap). */
  value: bigint;
  /** When, ns on the trace clock. */
  ts: number;
}

/** What a runtime hands over at the end of a trace: hcalls, counters, and what was dropped. */
export interface SpansTaken {
  /** Hcalls as the hypervisor served them, in the order served. */
  spans: HcallSpan[];
  /** Counter samples, in time order. */
  counters: CounterSample[];
  /** Hcalls past the limit: counted, not kept. */
  dropped: number;
  /** Counter samples past MAX_TRACE_COUNTERS: counted, not kept. */
  countersDropped: number;
}

/** A life-cycle operation of an LPAR (boot, kexec, kdump, ...), or of the system (DLPAR). */
export interface OpSpan {
  /** The LPAR's name. */
  lpar: string;
  /** The operation, e.g. `kexec`. */
  name: string;
  /** Start, ns on the trace clock. */
  start: number;
  /** End, ns on the trace clock. */
  end: number;
  /** Its outcome: `ok`, or the error's message. */
  outcome: string;
}

/** How a runtime records spans: from when (shared-clock ms, threads only) and how many. */
export interface SpanRecording {
  /** `performance.timeOrigin + performance.now()` at the system's start (threads). */
  originMs: number;
  /** Most hcalls kept, per side (hypervisor, each guest); later ones are counted. */
  limit: number;
}

/** Default most hcalls one system keeps in a trace. */
export const DEFAULT_TRACE_HCALLS = 100_000;
/** Most life-cycle operations one system keeps in a trace. */
export const MAX_TRACE_OPS = 10_000;
/** Most counter samples one runtime keeps in a trace. */
export const MAX_TRACE_COUNTERS = 100_000;

/** Now, ns since `originMs`, on the clock every thread of the process shares. */
export function sharedClockNs(originMs: number): number {
  return (performance.timeOrigin + performance.now() - originMs) * 1e6;
}
