/**
 * The hypervisor actor: owns the SCM (one buffer per DRC, which no LPAR
 * worker ever holds), the pure core and the hcall dispatcher, serves the
 * LPARs' DAX accesses, and answers control messages from the managed system
 * between serving stretches. It runs in its own worker.
 * @module
 */
import { RET_COUNT } from "../abi/hcalls.ts";
import {
  createChannel,
  createDaxBuffer,
  createDoorbell,
  DAX_BUFFER_BYTES,
  DAX_FAULT,
  DAX_MEDIA_ERROR,
  DAX_MEDIA_TEXT_BYTES,
  DAX_READ,
  DAX_REFUSED,
  DAX_WRITE,
  DAX_WRITEBACK,
} from "../channel/layout.ts";
import { Dispatcher, type DispatcherOptions } from "../channel/dispatcher.ts";
import { DaxEngine, DenseScm, MachineCheck, MediaError, type ScmMemory } from "../core/dax.ts";
import { FileStore } from "../storage/file_store.ts";
import { Persistence, type PowerLossReport } from "../storage/persistence.ts";
import { parsePowerLossMode, type PowerLossMode } from "../storage/power_loss.ts";
import { parseStorageFault, type StorageFault } from "../storage/io_fault.ts";
import { SeededRandom } from "../runtime/sim/random.ts";
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
/** The outputs of every DAX request: none. */
const NO_RETS: bigint[] = new Array(RET_COUNT).fill(0n);
const utf8 = new TextEncoder();

/** How to start the hypervisor. */
export interface HypervisorConfig {
  personality: Personality;
  powervm?: Partial<PowerVmOptions>;
  dispatcher?: Partial<DispatcherOptions>;
  /** How long a flush takes to complete (hypervisor time, ns). */
  flushLatencyNs?: bigint;
  /** Seed for continue-tokens (and for which lines a power loss keeps). */
  seed?: number;
  /**
   * Durable state in this directory (storage/file_store.ts), opened and
   * locked by the hypervisor's thread: stores go through the cache model and
   * become durable at the region's flush.
   */
  storageDir?: string;
  /** Record a timeline (hcall spans, counters) on the shared clock from the start. */
  spans?: SpanRecording;
}

/**
 * What an LPAR's worker gets, and all it ever holds: its own channel, bounce
 * buffer and real memory, and the shared doorbell (counters only).
 */
export interface LparChannels {
  channel: SharedArrayBuffer;
  doorbell: SharedArrayBuffer;
  /** Where its DAX accesses' bytes pass (see channel/guest_dax.ts). */
  daxBuffer: SharedArrayBuffer;
  /** The LPAR's real memory: guest real address = offset into it. */
  realMemory: SharedArrayBuffer;
}

export type { TraceRecord };

interface LparSlot {
  channels: LparChannels;
  bounce: Uint8Array;
}

/** The hypervisor actor's state and control plane. */
export class HypervisorActor {
  readonly core: HypervisorCore;
  readonly #doorbell = createDoorbell();
  readonly #dispatcher: Dispatcher;
  readonly #scm = new Map<number, ScmMemory>();
  /** With a storage directory: the nvdimms' durability. */
  readonly #persistence?: Persistence;
  readonly #lossRandom: SeededRandom;
  readonly #dax: DaxEngine;
  readonly #lpars = new Map<LparId, LparSlot>();
  readonly #trace = new TraceBuffer();
  readonly #spans?: HypervisorSpans;
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
        media: (drc) => this.#dax.media(drc),
      },
    });
    this.#dax = new DaxEngine(this.core, (drc) => this.#scm.get(drc));
    this.#lossRandom = new SeededRandom(config.seed ?? 1, 3);
    if (config.storageDir !== undefined) {
      this.#persistence = new Persistence(FileStore.open(config.storageDir));
    }
    this.#dispatcher = new Dispatcher(
      this.#doorbell,
      (l, o, a) => this.#hcall(l, o, a),
      (l, k, a) => this.#daxRequest(l, k, a),
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
    let result = this.core.hcallRegisters(lpar, opcode, args);
    // A label write is durable before the guest sees its answer; a completed
    // flush commits; the host's I/O failing there answers H_HARDWARE.
    if (this.#persistence) {
      const rc = this.#persistence.afterHcall(
        opcode,
        args,
        result.rc,
        (drc) => this.core.state.drcs.get(drc)?.metadata,
      );
      // A new object: a handler's answer may be shared.
      if (rc !== result.rc) result = { rc, rets: result.rets };
    }
    if (this.#trace.on) this.#trace.record(lpar, opcode, result.rc);
    if (start !== undefined) {
      this.#spans!.hcall(lpar, opcode, args, result, start, this.#spans!.now());
    }
    return result;
  }

  /**
   * One chunk of an LPAR's DAX access: r4 the logical address, r5 the bytes
   * (at most the bounce buffer), r6 the whole access's length when this is
   * its first chunk (checked first: the whole access is mapped, or it faults
   * before any byte moves). Each chunk's cache lines are counted here, so no
   * register can keep an access out of the DRC's statistics. Translated now, on
   * this thread, so no copy overlaps a release of bindings. Any register
   * values: a bad request is refused, an unmapped one faults.
   */
  #daxRequest(lpar: LparId, kind: number, args: readonly bigint[]): HcallResult {
    const slot = this.#lpars.get(lpar);
    const [address, count, whole] = args;
    if (kind === DAX_WRITEBACK && slot && count <= BigInt(Number.MAX_SAFE_INTEGER)) {
      // Only what this LPAR has mapped in the range is written back.
      try {
        return { rc: this.#dax.writeBack(lpar, address, Number(count)), rets: NO_RETS };
      } catch (error) {
        if (!(error instanceof MediaError)) throw error;
        return this.#mediaError(slot, error);
      }
    }
    if (
      !slot || (kind !== DAX_READ && kind !== DAX_WRITE) || count > BigInt(DAX_BUFFER_BYTES) ||
      whole > BigInt(Number.MAX_SAFE_INTEGER)
    ) {
      return { rc: DAX_REFUSED, rets: NO_RETS };
    }
    const n = Number(count), store = kind === DAX_WRITE;
    try {
      if (whole > 0n) this.#dax.check(lpar, address, Number(whole));
      this.#dax.touch(lpar, address, n, store);
      if (store) this.#dax.copyIn(lpar, address, slot.bounce.slice(0, n));
      else this.#dax.copyOut(lpar, address, n, slot.bounce);
    } catch (error) {
      if (error instanceof MediaError) return this.#mediaError(slot, error);
      if (!(error instanceof MachineCheck)) throw error;
      return { rc: DAX_FAULT, rets: NO_RETS };
    }
    return { rc: 0, rets: NO_RETS };
  }

  /**
   * The host's storage failed this LPAR's access: a machine check to it
   * alone, with the host's message in its bounce buffer (bounded), and
   * nothing else changes. A bug (any other error) still fails the hypervisor.
   */
  #mediaError(slot: LparSlot, error: MediaError): HcallResult {
    const text = utf8.encode(error.hostError).subarray(0, DAX_MEDIA_TEXT_BYTES);
    slot.bounce.set(text);
    const rets = new Array<bigint>(RET_COUNT).fill(0n);
    rets[0] = BigInt(text.length);
    return { rc: DAX_MEDIA_ERROR, rets };
  }

  #fail(error: unknown): void {
    if (this.#failure) return;
    this.#failure = error instanceof Error ? error : new Error(String(error));
    this.#dispatcher.stop();
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

  /**
   * Creates an nvdimm and its SCM memory; with durable state, powers it on
   * from the store and returns its `ibm,persistence-failed-count`.
   */
  createDrc(spec: DrcSpec): number | void {
    this.#check();
    if (this.#persistence) {
      const on = this.#persistence.powerOn(spec);
      this.core.addDrc({
        ...spec,
        health: on.health,
        persistenceFailedCount: on.persistenceFailedCount,
      });
      this.core.state.drcs.get(spec.index)!.metadata.set(on.label);
      this.#scm.set(spec.index, on.memory);
      return on.persistenceFailedCount;
    }
    this.core.addDrc(spec);
    this.#scm.set(spec.index, new DenseScm(new ArrayBuffer(Number(spec.blockSize) * spec.blocks)));
    this.#spans?.drcCreated(spec);
  }

  /**
   * Power is lost: what was not durable survives as `mode` (else the seed)
   * chooses; the serve loop stops (the managed system stops the rest).
   */
  powerLoss(mode?: PowerLossMode): PowerLossReport {
    this.#check();
    if (!this.#persistence) {
      throw new Error(
        "powerLoss needs durable state: start the system with storage: { dir } (--state DIR)",
      );
    }
    const report = this.#persistence.powerLoss(
      this.#lossRandom,
      mode === undefined ? undefined : parsePowerLossMode(mode),
    );
    this.#dispatcher.stop();
    return report;
  }

  /** What a DRC's media counters read now (loads and stores in cache lines). */
  media(drc: number): MediaCounters {
    this.#check();
    return this.#dax.media(drc);
  }

  /** Opens a channel for an LPAR. */
  attachLpar(lpar: LparId): LparChannels {
    this.#check();
    const channels = {
      channel: createChannel(),
      doorbell: this.#doorbell,
      daxBuffer: createDaxBuffer(),
      realMemory: new SharedArrayBuffer(REAL_MEMORY_BYTES),
    };
    this.#dispatcher.attach(lpar, channels.channel);
    this.#lpars.set(lpar, { channels, bounce: new Uint8Array(channels.daxBuffer) });
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
    this.#dax.forget(lpar);
    return this.#changed(this.core.releaseLpar(lpar));
  }

  /** A control operation released bindings: the trace's counters see it. */
  #changed(released: number): number {
    this.#spans?.bindingsMayHaveChanged();
    return released;
  }

  /** Assigns a DRC to an LPAR. */
  assign(drc: number, lpar: LparId): void {
    this.#check();
    this.core.assign(drc, lpar);
    this.#spans?.lparSeen(lpar);
  }

  /** Takes a DRC from an LPAR, releasing its bindings there. */
  unassign(drc: number, lpar: LparId): number {
    this.#check();
    return this.#changed(this.core.unassign(drc, lpar));
  }

  /** Partition shutdown: every binding of the LPAR is released. */
  releaseLpar(lpar: LparId): number {
    this.#check();
    return this.#changed(this.core.releaseLpar(lpar));
  }

  /** Sets a DRC's health bitmap. */
  setHealth(drc: number, bitmap: bigint): void {
    this.#check();
    this.core.setHealth(drc, bitmap);
    this.#persistence?.setHealth(drc, this.core.state.drcs.get(drc)!.health);
    this.#spans?.healthSet(drc, bitmap);
  }

  /** Fault injection: flushes requested on the DRC end in H_HARDWARE while `failing`. */
  setFlushFailure(drc: number, failing: boolean): void {
    this.#check();
    this.core.setFlushFailure(drc, failing);
  }

  /** Fault injection: the DRC's store fails its I/O as `fault` says (storage/io_fault.ts). */
  setStorageFault(drc: number, fault: StorageFault): void {
    this.#check();
    if (!this.#persistence) {
      throw new Error(
        "setStorageFault needs durable state: start the system with storage: { dir } (--state DIR)",
      );
    }
    this.#persistence.setFault(drc, parseStorageFault(fault));
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

  /**
   * Stops the serve loop; returns once it has ended, with what the power-off
   * could not write (a device whose store failed; see Persistence.powerOff).
   */
  async stop(): Promise<string[]> {
    this.#dispatcher.stop();
    await this.#running;
    // An orderly stop writes caches back; a failed hypervisor loses them.
    if (!this.#failure) return this.#persistence?.powerOff() ?? [];
    this.#persistence?.kill();
    return [];
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
