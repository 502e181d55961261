/**
 * What a hypervisor records for a timeline: each hcall it served (registers
 * in and out, start and end), and counter samples of each nvdimm (bound
 * blocks after a change of the bindings, health, the persistence-failed
 * count). Bounded: past the limit hcalls are counted, not kept. Used by both
 * runtimes' hypervisors; the clock is handed in.
 * @module
 */
import type { HypervisorCore } from "../core/hypervisor.ts";
import type { DrcSpec, LparId } from "../core/types.ts";
import { BoundedLog } from "../runtime/trace_buffer.ts";
import {
  type CounterSample,
  type HcallSpan,
  MAX_TRACE_COUNTERS,
  type SpansTaken,
} from "./types.ts";

/** A hypervisor's timeline records. */
export class HypervisorSpans {
  readonly #core: HypervisorCore;
  readonly #clock: () => number;
  readonly #spans: BoundedLog<HcallSpan>;
  readonly #counters = new BoundedLog<CounterSample>(MAX_TRACE_COUNTERS);
  readonly #blockSize = new Map<number, bigint>();
  readonly #lpars = new Set<LparId>();
  /** The last value sampled, per counter: a sample is kept only when it changes. */
  readonly #last = new Map<string, bigint>();
  #mappingsSeen = -1;

  /** Records from now on, at most `limit` hcalls; `clock` gives ns on the trace clock. */
  constructor(core: HypervisorCore, limit: number, clock: () => number) {
    this.#core = core;
    this.#clock = clock;
    this.#spans = new BoundedLog<HcallSpan>(limit);
    this.#spans.start();
    this.#counters.start();
  }

  /** The trace clock now (ns). */
  now(): number {
    return this.#clock();
  }

  /** One hcall served, from `start` to `end` (ns); bound-block counters follow any change. */
  hcall(
    lpar: LparId,
    opcode: number,
    args: readonly bigint[],
    answer: { rc: number; rets: readonly bigint[] },
    start: number,
    end: number,
  ): void {
    this.#lpars.add(lpar);
    this.#spans.push({
      lpar,
      opcode,
      args: [...args],
      rc: answer.rc,
      rets: [...answer.rets],
      start,
      end,
    });
    this.bindingsMayHaveChanged(end);
  }

  /** A new nvdimm: its health and persistence-failed count, and nothing bound. */
  drcCreated(spec: DrcSpec): void {
    this.#blockSize.set(spec.index, spec.blockSize);
    const ts = this.#clock();
    this.#sample(spec.index, "bound blocks", 0n, ts);
    this.#sample(spec.index, "health", spec.health ?? 0n, ts);
    this.#sample(
      spec.index,
      "persistence-failed count",
      BigInt(spec.persistenceFailedCount ?? 0),
      ts,
    );
  }

  /** An LPAR whose bindings are counted (assigned a DRC). */
  lparSeen(lpar: LparId): void {
    this.#lpars.add(lpar);
  }

  /** Health set by the control plane. */
  healthSet(drc: number, bitmap: bigint): void {
    this.#sample(drc, "health", bitmap, this.#clock());
  }

  /**
   * Samples every nvdimm's bound blocks if any LPAR's mappings changed since
   * the last look (one number compared per hcall). The `qemu` personality
   * keeps no binding state, so it has no such counter.
   */
  bindingsMayHaveChanged(ts = this.#clock()): void {
    if (this.#core.personality === "qemu") return;
    const version = this.#core.mappingsVersion;
    if (version === this.#mappingsSeen) return;
    this.#mappingsSeen = version;
    const bound = new Map<number, bigint>();
    for (const drc of this.#blockSize.keys()) bound.set(drc, 0n);
    for (const lpar of this.#lpars) {
      for (const m of this.#core.mappings(lpar)) {
        const size = this.#blockSize.get(m.drc);
        if (size) bound.set(m.drc, (bound.get(m.drc) ?? 0n) + m.size / size);
      }
    }
    for (const [drc, blocks] of bound) this.#sample(drc, "bound blocks", blocks, ts);
  }

  #sample(drc: number, what: CounterSample["what"], value: bigint, ts: number): void {
    const key = `${drc} ${what}`;
    if (this.#last.get(key) === value) return;
    this.#last.set(key, value);
    this.#counters.push({ drc, what, value, ts });
  }

  /** Hands over what was recorded (recording goes on, from empty). */
  take(): SpansTaken {
    const spans = this.#spans.take();
    const counters = this.#counters.take();
    this.#spans.start();
    this.#counters.start();
    return {
      spans: spans.items,
      counters: counters.items,
      dropped: spans.dropped,
      countersDropped: counters.dropped,
    };
  }
}
