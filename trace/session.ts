/**
 * A trace session: hand one to `ManagedSystem.start` (`{ trace: session }`)
 * and every system started with it records a timeline (each hcall as the
 * guest saw it and as the hypervisor served it, life-cycle operations,
 * counters). A system hands its timeline over when it stops; then
 * `perfetto()` gives a Chrome/Perfetto trace-event JSON (open it in
 * ui.perfetto.dev) and `ftrace()` the guests' hcalls as the kernel's
 * `hcall_entry`/`hcall_exit` tracepoints print them.
 *
 * @example
 * ```ts
 * import { ManagedSystem, TraceSession } from "../mod.ts";
 * const trace = new TraceSession();
 * {
 *   await using system = await ManagedSystem.start({
 *     lpars: [{ name: "lpar1", kernel: "5.3", nvdimms: [{ drc: "0x44100002", blocks: 4 }] }],
 *   }, { runtime: "sim", seed: 7, trace });
 *   await system.lpar("lpar1").boot();
 *   await system.lpar("lpar1").kexec();
 * }
 * await Deno.writeTextFile("kexec.trace.json", trace.perfetto());
 * console.log(trace.ftrace());
 * ```
 * @module
 */
import type { RuntimeKind } from "../runtime/types.ts";
import { formatFtrace } from "./ftrace.ts";
import { formatPerfetto } from "./perfetto.ts";
import {
  DEFAULT_TRACE_HCALLS,
  type HcallSpan,
  MAX_TRACE_OPS,
  type OpSpan,
  type SpansTaken,
} from "./types.ts";

/** Most systems one session records; later ones run untraced, and the trace says so. */
export const MAX_TRACE_SYSTEMS = 1000;

/** Options of a trace session. */
export interface TraceSessionOptions {
  /**
   * Most hcalls kept per system and side (hypervisor, each guest); past it
   * they are counted and the trace carries a truncation marker (100,000).
   */
  maxHcalls?: number;
}

/** One system's timeline, as handed over when it stopped. */
export interface SystemTrace {
  /** What the system was (a matrix row's story, or `system N`). */
  label: string;
  /** The runtime it ran on: `sim` times are virtual, `threads` times real. */
  runtime: RuntimeKind;
  /** Its personality. */
  personality: string;
  /** Its LPARs, by hypervisor-side id. */
  lpars: Array<{ id: number; name: string }>;
  /** What its hypervisor recorded. */
  hypervisor: SpansTaken;
  /** What each guest recorded (threads), by LPAR id; absent on sim, where they are the same. */
  guests: Map<number, { spans: HcallSpan[]; dropped: number }>;
  /** Life-cycle operations, oldest first. */
  ops: OpSpan[];
  /** Operations past MAX_TRACE_OPS. */
  opsDropped: number;
  /** Anything lost while handing over (a failed hypervisor, a dead worker). */
  notes: string[];
}

/** What a managed system records into while it runs (see openSystemTrace). */
export class SystemRecorder {
  readonly trace: SystemTrace;
  readonly #clock: () => number;
  readonly #done: (trace: SystemTrace) => void;
  #finished = false;

  constructor(trace: SystemTrace, clock: () => number, done: (trace: SystemTrace) => void) {
    this.trace = trace;
    this.#clock = clock;
    this.#done = done;
  }

  /** Runs a life-cycle operation of `lpar`, recording it as a slice. */
  async op<T>(lpar: string, name: string, run: () => Promise<T>): Promise<T> {
    const start = this.#clock();
    let outcome = "ok";
    try {
      return await run();
    } catch (error) {
      outcome = (error as Error)?.message ?? String(error);
      throw error;
    } finally {
      const ops = this.trace.ops;
      if (ops.length < MAX_TRACE_OPS) ops.push({ lpar, name, start, end: this.#clock(), outcome });
      else this.trace.opsDropped++;
    }
  }

  /** Whether the timeline was handed over. */
  get finished(): boolean {
    return this.#finished;
  }

  /** Hands the timeline over to the session (once). */
  finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#done(this.trace);
  }
}

/** What a session holds, kept off its public surface (systems open it through openSystemTrace). */
interface SessionState {
  systems: SystemTrace[];
  started: number;
  untraced: number;
}

const states = new WeakMap<TraceSession, SessionState>();

/** Records the timelines of the systems started with it. */
export class TraceSession {
  /** Most hcalls kept per system and side. */
  readonly maxHcalls: number;

  /** A session; `maxHcalls` bounds what each system keeps. */
  constructor(options: TraceSessionOptions = {}) {
    const max = options.maxHcalls ?? DEFAULT_TRACE_HCALLS;
    if (!Number.isSafeInteger(max) || max < 1 || max > 10_000_000) {
      throw new RangeError(
        `trace maxHcalls ${JSON.stringify(max)}: expected a whole number from 1 to 10000000`,
      );
    }
    this.maxHcalls = max;
    states.set(this, { systems: [], started: 0, untraced: 0 });
  }

  /** The timelines handed over so far, in the order the systems started. */
  get systems(): readonly SystemTrace[] {
    return [...states.get(this)!.systems].sort((a, b) => order(a) - order(b));
  }

  /** Systems that ran untraced because MAX_TRACE_SYSTEMS were recorded already. */
  get untraced(): number {
    return states.get(this)!.untraced;
  }

  /** What was lost to the limits, one line each (none when nothing was). */
  truncation(): string[] {
    const lines: string[] = [];
    for (const s of this.systems) {
      const guestDropped = [...s.guests.values()].reduce((n, g) => n + g.dropped, 0);
      if (s.hypervisor.dropped || guestDropped) {
        lines.push(
          `${s.label}: ${s.hypervisor.dropped + guestDropped} hcall records dropped ` +
            `(at most ${this.maxHcalls} kept per side)`,
        );
      }
      if (s.opsDropped) {
        lines.push(`${s.label}: ${s.opsDropped} operations dropped (at most ${MAX_TRACE_OPS})`);
      }
      if (s.hypervisor.countersDropped) {
        lines.push(`${s.label}: ${s.hypervisor.countersDropped} counter samples dropped`);
      }
      for (const note of s.notes) lines.push(`${s.label}: ${note}`);
    }
    if (this.untraced) {
      lines.push(
        `${this.untraced} systems ran untraced (at most ${MAX_TRACE_SYSTEMS} per trace)`,
      );
    }
    return lines;
  }

  /** The Chrome/Perfetto trace-event JSON of every system handed over (JSON Object Format). */
  perfetto(): string {
    return formatPerfetto(this.systems, this.truncation());
  }

  /**
   * The guests' hcalls as the powerpc `hcall_entry`/`hcall_exit` tracepoints
   * print them, one section per LPAR (only `lpar`'s when given).
   */
  ftrace(options: { lpar?: string } = {}): string {
    return formatFtrace(this.systems, options);
  }
}

/**
 * Opens a system's timeline in `session` (ManagedSystem.start does);
 * undefined past MAX_TRACE_SYSTEMS: the system then runs untraced, and the
 * trace says how many did.
 */
export function openSystemTrace(
  session: TraceSession,
  label: string | undefined,
  runtime: RuntimeKind,
  personality: string,
  clock: () => number,
): SystemRecorder | undefined {
  const state = states.get(session)!;
  if (state.started >= MAX_TRACE_SYSTEMS) {
    state.untraced++;
    return undefined;
  }
  const index = ++state.started;
  const trace: SystemTrace = {
    label: label ?? `system ${index}`,
    runtime,
    personality,
    lpars: [],
    hypervisor: { spans: [], counters: [], dropped: 0, countersDropped: 0 },
    guests: new Map(),
    ops: [],
    opsDropped: 0,
    notes: [],
  };
  orders.set(trace, index);
  return new SystemRecorder(trace, clock, (t) => state.systems.push(t));
}

const orders = new WeakMap<SystemTrace, number>();
const order = (t: SystemTrace) => orders.get(t) ?? 0;
