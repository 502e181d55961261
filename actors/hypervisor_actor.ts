/**
 * The hypervisor actor: owns the SCM (one SharedArrayBuffer per DRC), the
 * pure core and the hcall dispatcher, and answers control messages from the
 * managed system between serving stretches. It runs in its own worker.
 * @module
 */
import { createChannel, createDoorbell, DAX_ACTIVE, HEADER_WORDS } from "../channel/layout.ts";
import { Dispatcher, type DispatcherOptions, stopDoorbell } from "../channel/dispatcher.ts";
import { createPageTable, writePageTable } from "../channel/page_table.ts";
import { HypervisorCore, seededEnv } from "../core/hypervisor.ts";
import { guestMemoryOver } from "../core/guest_memory.ts";
import type {
  BlockBinding,
  DrcSpec,
  HcallResult,
  LparId,
  MediaCounters,
  Personality,
  PowerVmOptions,
} from "../core/types.ts";
import type { TraceRecord, TraceTaken } from "../runtime/types.ts";
import { TraceBuffer } from "../runtime/trace_buffer.ts";
import { HypervisorSpans } from "../trace/hypervisor_spans.ts";
import { sharedClockNs, type SpanRecording, type SpansTaken } from "../trace/types.ts";

/** Bytes of real memory each LPAR gets for buffers the hypervisor writes (1 MiB). */
export const REAL_MEMORY_BYTES = 1 << 20;
/** Longest a release waits for an LPAR's DAX copy in flight (one chunk takes microseconds). */
const SHOOTDOWN_LIMIT_MS = 1000;
/** Bytes of one DRC's media counters: reads and writes, two 64-bit words. */
export const MEDIA_COUNTER_BYTES = 16;

/** How to start the hypervisor. */
export interface HypervisorConfig {
  personality: Personality;
  powervm?: Partial<PowerVmOptions>;
  dispatcher?: Partial<DispatcherOptions>;
  /** How long a flush takes to complete (hypervisor time, ns). */
  flushLatencyNs?: bigint;
  /** Seed for continue-tokens. */
  seed?: number;
  /** Record a timeline (hcall spans, counters) on the shared clock from the start. */
  spans?: SpanRecording;
}

/** What an LPAR's worker needs to issue hcalls. */
export interface LparChannels {
  channel: SharedArrayBuffer;
  doorbell: SharedArrayBuffer;
  pageTable: SharedArrayBuffer;
  /** The LPAR's real memory: guest real address = offset into it. */
  realMemory: SharedArrayBuffer;
}

export type { TraceRecord };

interface LparSlot {
  channels: LparChannels;
  mapVersion: number;
}

/** The hypervisor actor's state and control plane. */
export class HypervisorActor {
  readonly core: HypervisorCore;
  readonly #doorbell = createDoorbell();
  readonly #dispatcher: Dispatcher;
  readonly #scm = new Map<number, SharedArrayBuffer>();
  /** Per DRC: [reads, writes] counted by the guests' DAX accesses. */
  readonly #media = new Map<number, BigInt64Array>();
  readonly #lpars = new Map<LparId, LparSlot>();
  readonly #trace = new TraceBuffer();
  readonly #spans?: HypervisorSpans;
  #mappingsSeen = 0;
  #failure?: Error;
  #running?: Promise<void>;

  constructor(config: HypervisorConfig) {
    const env = seededEnv(BigInt(config.seed ?? 1));
    const origin = performance.now();
    this.core = new HypervisorCore({
      personality: config.personality,
      powervm: config.powervm,
      flushLatencyNs: config.flushLatencyNs,
      env: {
        now: () => BigInt(Math.round((performance.now() - origin) * 1e6)),
        random64: env.random64,
        guestMemory: guestMemoryOver((lpar) => this.#lpars.get(lpar)?.channels.realMemory),
        media: (drc) => this.#mediaCounters(drc),
      },
    });
    this.#dispatcher = new Dispatcher(
      this.#doorbell,
      (l, o, a) => this.#hcall(l, o, a),
      config.dispatcher,
    );
    const spans = config.spans;
    if (spans) {
      this.#spans = new HypervisorSpans(
        this.core,
        spans.limit,
        () => sharedClockNs(spans.originMs),
      );
    }
  }

  /** Starts serving hcalls (returns at once; the loop runs until stop()). */
  start(): void {
    this.#running ??= this.#dispatcher.run().catch((error) => this.#fail(error));
  }

  #hcall(lpar: LparId, opcode: number, args: readonly bigint[]): HcallResult {
    const start = this.#spans?.now();
    const result = this.core.hcallRegisters(lpar, opcode, args);
    if (this.#trace.on) this.#trace.record(lpar, opcode, result.rc);
    if (start !== undefined) {
      this.#spans!.hcall(lpar, opcode, args, result, start, this.#spans!.now());
    }
    // One number to compare per hcall; page tables only when bindings changed.
    if (this.core.mappingsVersion !== this.#mappingsSeen) this.#refreshChanged();
    return result;
  }

  #mediaCounters(drc: number): MediaCounters {
    const counters = this.#media.get(drc);
    if (!counters) return { reads: 0n, writes: 0n };
    return {
      reads: BigInt.asUintN(64, Atomics.load(counters, 0)),
      writes: BigInt.asUintN(64, Atomics.load(counters, 1)),
    };
  }

  #refreshChanged(): void {
    this.#mappingsSeen = this.core.mappingsVersion;
    for (const [lpar, slot] of this.#lpars) {
      if (slot.mapVersion !== this.core.mapVersion(lpar)) this.#refreshPageTable(lpar, slot);
    }
  }

  #refreshPageTable(lpar: LparId, slot: LparSlot): void {
    slot.mapVersion = this.core.mapVersion(lpar);
    writePageTable(slot.channels.pageTable, this.core.mappings(lpar));
  }

  #fail(error: unknown): void {
    if (this.#failure) return;
    this.#failure = error instanceof Error ? error : new Error(String(error));
    stopDoorbell(this.#doorbell);
    // Tell the managed system, which stops the whole system cleanly. (comlink
    // ignores messages that are not its own.)
    const scope = globalThis as unknown as { postMessage?: (m: unknown) => void };
    if ("WorkerGlobalScope" in globalThis && typeof scope.postMessage === "function") {
      scope.postMessage({ hypervisorFailure: this.#failure.message });
    }
  }

  #check(): void {
    if (this.#failure) throw new Error(`hypervisor failed: ${this.#failure.message}`);
  }

  /** Creates an nvdimm and its SCM memory. */
  createDrc(spec: DrcSpec): void {
    this.#check();
    this.core.addDrc(spec);
    this.#scm.set(spec.index, new SharedArrayBuffer(Number(spec.blockSize) * spec.blocks));
    this.#media.set(spec.index, new BigInt64Array(new SharedArrayBuffer(MEDIA_COUNTER_BYTES)));
    this.#spans?.drcCreated(spec);
  }

  /** A DRC's media counters buffer, which the LPARs it is assigned to count into. */
  mediaCounters(drc: number): SharedArrayBuffer {
    this.#check();
    const counters = this.#media.get(drc);
    if (!counters) throw new RangeError(`no drc 0x${drc.toString(16)}`);
    return counters.buffer as SharedArrayBuffer;
  }

  /** What a DRC's media counters read now (loads and stores in cache lines). */
  media(drc: number): MediaCounters {
    return this.#mediaCounters(drc);
  }

  /** Opens a channel for an LPAR. */
  attachLpar(lpar: LparId): LparChannels {
    this.#check();
    const channels = {
      channel: createChannel(),
      doorbell: this.#doorbell,
      pageTable: createPageTable(),
      realMemory: new SharedArrayBuffer(REAL_MEMORY_BYTES),
    };
    this.#dispatcher.attach(lpar, channels.channel);
    this.#lpars.set(lpar, { channels, mapVersion: 0 });
    return channels;
  }

  /**
   * Forgets an LPAR's channel (its worker died) and releases everything it
   * held; `attachLpar` may then open a new one for a fresh worker.
   */
  detachLpar(lpar: LparId): number {
    this.#check();
    this.#dispatcher.detach(lpar);
    this.#lpars.delete(lpar);
    const released = this.core.releaseLpar(lpar);
    this.#spans?.bindingsMayHaveChanged();
    return released;
  }

  /** Assigns a DRC to an LPAR. */
  assign(drc: number, lpar: LparId): void {
    this.#check();
    this.core.assign(drc, lpar);
    this.#spans?.lparSeen(lpar);
  }

  /** A DRC's SCM memory, handed to the worker of an LPAR it is assigned to (and no other). */
  scm(drc: number): SharedArrayBuffer {
    this.#check();
    const memory = this.#scm.get(drc);
    if (!memory) throw new RangeError(`no drc 0x${drc.toString(16)}`);
    return memory;
  }

  /** Takes a DRC from an LPAR, releasing its bindings there. */
  unassign(drc: number, lpar: LparId): number {
    this.#check();
    const released = this.core.unassign(drc, lpar);
    this.#afterControl(lpar);
    return released;
  }

  /** Partition shutdown: every binding of the LPAR is released. */
  releaseLpar(lpar: LparId): number {
    this.#check();
    const released = this.core.releaseLpar(lpar);
    this.#afterControl(lpar);
    return released;
  }

  #afterControl(lpar: LparId): void {
    this.#spans?.bindingsMayHaveChanged();
    const slot = this.#lpars.get(lpar);
    if (!slot) return;
    this.#refreshPageTable(lpar, slot);
    this.#shootdown(slot);
  }

  /**
   * Waits until the LPAR's DAX copy in flight (at most one chunk) is done:
   * after this, every copy translates through the new page table, so none
   * reaches what was just released. Bounded: a guest that never clears the
   * word (hung, or hostile) is not waited for longer.
   */
  #shootdown(slot: LparSlot): void {
    const header = new Int32Array(slot.channels.channel, 0, HEADER_WORDS);
    const until = performance.now() + SHOOTDOWN_LIMIT_MS;
    while (Atomics.load(header, DAX_ACTIVE) !== 0) {
      const left = until - performance.now();
      if (left <= 0) return;
      Atomics.wait(header, DAX_ACTIVE, 1, left);
    }
  }

  /** Sets a DRC's health bitmap. */
  setHealth(drc: number, bitmap: bigint): void {
    this.#check();
    this.core.setHealth(drc, bitmap);
    this.#spans?.healthSet(drc, bitmap);
  }

  /** Fault injection: flushes requested on the DRC end in H_HARDWARE while `failing`. */
  setFlushFailure(drc: number, failing: boolean): void {
    this.#check();
    this.core.setFlushFailure(drc, failing);
  }

  /** The binding table. */
  bindings(): BlockBinding[] {
    return this.core.bindings();
  }

  /** Invariant violations (none expected). */
  invariants(): string[] {
    return this.core.invariants();
  }

  /** Starts recording every hcall (lpar, opcode, rc), dropping earlier records. */
  traceStart(): void {
    this.#trace.start();
  }

  /** Stops recording and returns what was recorded, and how many records were dropped. */
  traceTake(): TraceTaken {
    return this.#trace.take();
  }

  /** The timeline recorded since the start or the last take (empty when not recording). */
  spansTake(): SpansTaken {
    return this.#spans?.take() ?? { spans: [], counters: [], dropped: 0, countersDropped: 0 };
  }

  /** Stops the serve loop; returns once it has ended. */
  async stop(): Promise<void> {
    stopDoorbell(this.#doorbell);
    await this.#running;
  }

  /**
   * Test-only control: fails the actor as a crash of its serve loop would
   * (the dispatcher stops; the managed system learns of it through the
   * worker's error and stops every LPAR). Used by tests/supervision_test.ts.
   */
  injectFailure(message = "injected failure"): void {
    this.#fail(new Error(message));
  }

  /** Why the hypervisor failed, if it did. */
  failure(): string | undefined {
    return this.#failure?.message;
  }
}
