/**
 * The `sim` runtime: the whole machine in one thread. The hypervisor core
 * answers hcalls directly, each partition's guest kernel runs as tasks under
 * a seeded scheduler, time is virtual, SCM is sparse. No workers, no OS
 * clock, no `Math.random`: the same seed and the same calls give the same
 * run, byte for byte (see `traceHash`).
 *
 * The scheduler is driven from microtasks, so an awaited control-plane call
 * returns as soon as the simulation has finished it, however much virtual
 * time it took.
 * @module
 */
import type { HypervisorConfig } from "../../actors/hypervisor_actor.ts";
import { guestMemoryOver } from "../../core/guest_memory.ts";
import { HypervisorCore } from "../../core/hypervisor.ts";
import { DaxEngine, type ScmMemory } from "../../core/dax.ts";
import type { LparId } from "../../core/types.ts";
import { GuestHost } from "../../guest/host.ts";
import type { DriverOverrides, KernelCosts } from "../../guest/kernel.ts";
import type { PlparResult } from "../../guest/task.ts";
import type {
  GuestControl,
  HypervisorControl,
  PartitionHandle,
  Runtime,
  RuntimeHooks,
} from "../types.ts";
import { TraceBuffer } from "../trace_buffer.ts";
import { SeededRandom } from "./random.ts";
import { PageBudget, SparseScm } from "./sparse_scm.ts";
import { Scheduler, SimPartition } from "./scheduler.ts";
import { hcallRecord, TraceHash } from "./trace_hash.ts";
import {
  Persistence,
  type PersistenceRecorder,
  type PowerLossReport,
} from "../../storage/persistence.ts";
import type { PowerLossMode } from "../../storage/power_loss.ts";
import { parseStorageFault } from "../../storage/io_fault.ts";
import type { DurableStore } from "../../storage/types.ts";
import { HypervisorSpans } from "../../trace/hypervisor_spans.ts";
import type { SpanRecording } from "../../trace/types.ts";

/** Bytes of real memory each simulated partition has for hypervisor buffers. */
export const SIM_REAL_MEMORY_BYTES = 64 * 1024;
/** Default budget of written SCM pages, all devices together: 1 GiB. */
export const DEFAULT_SCM_BUDGET_BYTES = 1024 ** 3;
/** Virtual time one hcall takes besides any binding cost: 1 µs. */
export const HCALL_NS = 1000;
/** Most scheduler steps in one microtask before the control plane gets a turn. */
const STEPS_PER_TURN = 256;
/**
 * Microtask turns the control plane gets, when every partition sleeps,
 * before the clock jumps: enough for an awaited call's continuation to ask
 * its next call at the same virtual time.
 */
const SETTLE_TURNS = 64;

/** Options of the sim runtime. */
export interface SimOptions {
  /** Seed of the scheduler and of the hypervisor's tokens. */
  seed: number;
  /** What the guest kernels' own work costs. */
  guestCosts?: Partial<KernelCosts>;
  /** Budget of written SCM pages (default 1 GiB). */
  scmBudgetBytes?: number;
  /** Driver classes to use instead of the real ones (a swarm canary's broken variant). */
  drivers?: DriverOverrides;
  /** Hears every trace record as it is folded into the hash (one line each). */
  tracer?: (record: string) => void;
  /**
   * Where the nvdimms' durable state lives. Given, stores go through the
   * cache model (storage/cpu_cache.ts) and survive as durable; absent, SCM is
   * plain sparse memory, as before.
   */
  store?: DurableStore;
  /** Lines the modelled CPU cache holds (with `store`). */
  cacheLines?: number;
  /** Hears every store, durable line and durable label write (crash exploration). */
  recorder?: PersistenceRecorder;
  /** Records a timeline (hcall spans and counters) on the virtual clock. */
  spans?: SpanRecording;
}

interface Lpar {
  partition: SimPartition;
  host: GuestHost;
  realMemory: ArrayBuffer;
  panicRequested: boolean;
}

interface Drc {
  memory: ScmMemory;
}

/**
 * A value as another thread receives it. Plain data (what the control plane
 * passes: records, arrays, bytes) is copied here directly, which is many
 * times quicker than `structuredClone`; anything else goes through it.
 */
function copy<T>(value: T): T {
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) return value.map(copy) as T;
  if (value instanceof Uint8Array) return value.slice() as T;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return structuredClone(value);
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) out[key] = copy(field);
  return out as T;
}

/**
 * An error as it reaches the caller from another thread: comlink sends an
 * Error's name, message and stack and makes a plain Error of them.
 */
function asRemoteError(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  return Object.assign(new Error(error.message), { name: error.name, stack: error.stack });
}

/** The one-thread machine. */
export class SimRuntime implements Runtime {
  readonly kind = "sim";
  readonly hypervisor: HypervisorControl;
  readonly core: HypervisorCore;
  readonly scheduler: Scheduler;
  /** A hash of every hcall and every finished call, in order. */
  readonly trace = new TraceHash();
  readonly #hooks: RuntimeHooks;
  readonly #costs: Partial<KernelCosts>;
  readonly #drivers?: DriverOverrides;
  readonly #tracer?: (record: string) => void;
  readonly #budget: PageBudget;
  readonly #lpars = new Map<LparId, Lpar>();
  readonly #drcs = new Map<number, Drc>();
  readonly #dax: DaxEngine;
  readonly #records = new TraceBuffer();
  /** With a store: the nvdimms' durability (cache model, power-on, power loss). */
  readonly #persistence?: Persistence;
  /** Power-loss choices: a stream of their own, so they do not shift the schedule. */
  readonly #lossRandom: SeededRandom;
  readonly #spans?: HypervisorSpans;
  readonly #recordProbes: boolean;
  #pumping = false;
  /** A call finished since the clock last jumped: its caller may still ask the next one. */
  #answered = false;
  #failure?: string;

  constructor(config: HypervisorConfig, options: SimOptions, hooks: RuntimeHooks) {
    this.#hooks = hooks;
    this.#costs = options.guestCosts ?? {};
    this.#drivers = options.drivers;
    this.#tracer = options.tracer;
    const budget = options.scmBudgetBytes ?? DEFAULT_SCM_BUDGET_BYTES;
    if (!Number.isSafeInteger(budget) || budget < 0) {
      throw new RangeError(
        `scmBudgetBytes ${JSON.stringify(budget)}: expected a whole number of bytes from 0`,
      );
    }
    this.#budget = new PageBudget(budget);
    const tokens = new SeededRandom(options.seed, 1);
    this.#lossRandom = new SeededRandom(options.seed, 3);
    if (options.store) {
      this.#persistence = new Persistence(options.store, {
        cacheLines: options.cacheLines,
        recorder: options.recorder,
      });
    }
    this.core = new HypervisorCore({
      personality: config.personality,
      powervm: config.powervm,
      flushLatencyNs: config.flushLatencyNs,
      env: {
        now: () => BigInt(Math.round(this.scheduler.now)),
        random64: () => tokens.random64(),
        guestMemory: guestMemoryOver((lpar) => this.#lpars.get(lpar)?.realMemory),
        media: (drc) => this.#dax.media(drc),
      },
    });
    this.#dax = new DaxEngine(this.core, (drc) => this.#drcs.get(drc)?.memory);
    this.scheduler = new Scheduler(
      new SeededRandom(options.seed, 2),
      (lpar, opcode, args) => this.#hcall(lpar, opcode, args),
    );
    this.#recordProbes = options.spans !== undefined;
    if (options.spans) {
      this.#spans = new HypervisorSpans(this.core, options.spans.limit, () => this.scheduler.now);
    }
    this.hypervisor = this.#control();
  }

  clock(): number {
    return this.scheduler.now;
  }

  deadline(): { expired: Promise<void>; cancel(): void } {
    return { expired: new Promise<void>(() => {}), cancel: () => {} };
  }

  #hcall(lpar: LparId, opcode: number, args: readonly bigint[]) {
    const answer = this.core.hcall(lpar, opcode, args);
    // The guest gets its own registers, as the channel gives a copy.
    const result: PlparResult = { rc: answer.rc, rets: [...answer.rets] };
    const elapsedNs = HCALL_NS + Number(this.core.takeElapsedNs());
    // The host's I/O on the store may turn a success into H_HARDWARE (see afterHcall).
    if (this.#persistence) {
      result.rc = this.#persistence.afterHcall(
        opcode,
        args,
        result.rc,
        (drc) => this.core.state.drcs.get(drc)?.metadata,
      );
    }
    if (this.#records.on) this.#records.record(lpar, opcode, result.rc);
    const now = this.scheduler.now;
    this.#spans?.hcall(lpar, opcode, args, result, now, now + elapsedNs);
    if (this.#tracer) this.#trace(hcallRecord(now, lpar, opcode, args, result.rc, result.rets));
    // Untraced, the record is folded into the hash as it would be, without being written out.
    else this.trace.addHcall(now, lpar, opcode, args, result.rc, result.rets);
    return { result, elapsedNs };
  }

  #trace(record: string): void {
    this.trace.add(record);
    this.#tracer?.(record);
  }

  #check(): void {
    if (this.#failure !== undefined) throw new Error(`hypervisor failed: ${this.#failure}`);
  }

  /** The hypervisor's control plane: the core's operations, answered at once. */
  #control(): HypervisorControl {
    const now = <T>(f: () => T): Promise<T> => {
      try {
        this.#check();
        return Promise.resolve(f());
      } catch (error) {
        return Promise.reject(error);
      }
    };
    return {
      createDrc: (spec) =>
        now(() => {
          if (this.#persistence) return this.#powerOn(spec);
          this.core.addDrc(spec);
          const size = Number(spec.blockSize) * spec.blocks;
          this.#drcs.set(spec.index, { memory: new SparseScm(size, this.#budget) });
          this.#spans?.drcCreated(spec);
        }),
      assign: (drc, lpar) =>
        now(() => {
          this.core.assign(drc, lpar);
          this.#spans?.lparSeen(lpar);
        }),
      unassign: (drc, lpar) => now(() => this.#changed(this.core.unassign(drc, lpar))),
      releaseLpar: (lpar) => now(() => this.#changed(this.core.releaseLpar(lpar))),
      // A sim partition has no runtime of its own to die; releasing is all there is.
      detachLpar: (lpar) => now(() => this.#changed(this.core.releaseLpar(lpar))),
      setHealth: (drc, bitmap) =>
        now(() => {
          this.core.setHealth(drc, bitmap);
          this.#spans?.healthSet(drc, bitmap);
          this.#persistence?.setHealth(drc, this.core.state.drcs.get(drc)!.health);
        }),
      setFlushFailure: (drc, failing) => now(() => this.core.setFlushFailure(drc, failing)),
      setStorageFault: (drc, fault) =>
        now(() => {
          if (!this.#persistence) {
            throw new Error(
              "setStorageFault needs durable state: start the system with storage: { dir } " +
                "(--state DIR) or StartOptions store (a MemoryStore)",
            );
          }
          this.#persistence.setFault(drc, parseStorageFault(fault));
        }),
      bindings: () => now(() => this.core.bindings()),
      invariants: () => now(() => this.core.invariants()),
      media: (drc) => now(() => this.#dax.media(drc)),
      traceStart: () => now(() => this.#records.start()),
      traceTake: () => now(() => this.#records.take()),
      spansTake: () =>
        now(() =>
          this.#spans?.take() ?? { spans: [], counters: [], dropped: 0, countersDropped: 0 }
        ),
      injectFailure: (reason) => now(() => this.#fail(reason)),
    };
  }

  /** Creates a DRC from its durable state: label area, health and count as power-on left them. */
  #powerOn(spec: Parameters<HypervisorControl["createDrc"]>[0]): number {
    const on = this.#persistence!.powerOn(spec);
    this.core.addDrc({
      ...spec,
      health: on.health,
      persistenceFailedCount: on.persistenceFailedCount,
    });
    this.core.state.drcs.get(spec.index)!.metadata.set(on.label);
    this.#drcs.set(spec.index, { memory: on.memory });
    return on.persistenceFailedCount;
  }

  /**
   * Power is lost: what was not durable survives as `mode` (else the seed)
   * chooses, every partition stops, and the hypervisor with them.
   */
  powerLoss(mode?: PowerLossMode): PowerLossReport {
    if (!this.#persistence) {
      throw new Error(
        "powerLoss needs durable state: start the system with storage: { dir } (--state DIR) " +
          "or StartOptions store (a MemoryStore)",
      );
    }
    this.#check();
    const report = this.#persistence.powerLoss(this.#lossRandom, mode);
    for (const lpar of this.#lpars.values()) {
      lpar.partition.stop(new Error(`LPAR ${lpar.partition.name} lost power`));
    }
    this.#fail("power lost");
    return report;
  }

  /** A control operation released bindings: the counters see it. */
  #changed(released: number): number {
    this.#spans?.bindingsMayHaveChanged();
    return released;
  }

  #fail(reason: string): void {
    if (this.#failure !== undefined) return;
    this.#failure = reason;
    this.#hooks.hypervisorFailed(reason);
  }

  startPartition(id: LparId, name: string): Promise<PartitionHandle> {
    try {
      this.#check();
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#lpars.has(id)) return Promise.reject(new RangeError(`LPAR ${id} already exists`));
    // The configured nvdimms all exist by now: their shares of the page
    // budget are fixed before any partition runs (an nvdimm a DLPAR add
    // creates later gets what is left).
    this.#budget.divide();
    this.#persistence?.store.divide?.();
    const partition = new SimPartition(id, name);
    const lpar: Lpar = {
      partition,
      realMemory: new ArrayBuffer(SIM_REAL_MEMORY_BYTES),
      panicRequested: false,
      host: undefined as unknown as GuestHost,
    };
    lpar.host = new GuestHost({
      name,
      dax: this.#dax.accessFor(id),
      realMemory: lpar.realMemory,
      clock: () => this.scheduler.now,
      traceClock: this.#recordProbes ? () => this.scheduler.now : undefined,
      takePanicRequest: () => {
        const asked = lpar.panicRequested;
        lpar.panicRequested = false;
        return asked;
      },
      costs: this.#costs,
      drivers: this.#drivers,
    });
    this.#lpars.set(id, lpar);
    this.scheduler.add(partition);
    const submit = <T>(start: () => unknown): Promise<T> => {
      const promise = partition.submit<T>(start);
      this.#kick();
      return promise;
    };
    const host = lpar.host as unknown as Record<string, (...args: unknown[]) => unknown>;
    const guest = new Proxy({}, {
      get: (_, key) => {
        if (typeof key !== "string" || !(key in GuestHost.prototype)) return undefined;
        return (...args: unknown[]) => {
          // Copies in and out, and errors rebuilt as comlink rebuilds them, so a
          // caller sees exactly what the threads runtime would show it.
          let copies: unknown[];
          try {
            copies = args.map(copy);
          } catch (error) {
            return Promise.reject(asRemoteError(error));
          }
          // The partition runs its calls one at a time, in order; the trace says when each ended.
          return submit(() => host[key](...copies)).then((value) => {
            this.#trace(`${this.scheduler.now} ${id} ${key} done`);
            return copy(value);
          }, (error) => {
            throw asRemoteError(error);
          });
        };
      },
    }) as GuestControl;
    const failed = new Promise<never>(() => {});
    const handle: PartitionHandle = {
      guest,
      failed,
      requestPanic: () => void (lpar.panicRequested = true),
      // Read directly, not as a call of the partition: the run stays as it would be untraced.
      probeRecords: () => Promise.resolve(lpar.host.probeRecords()),
      crashForTest: (message) =>
        Promise.reject(new Error(`the sim runtime has no worker to crash (${message})`)),
      misbehaveForTest: () =>
        Promise.reject(new Error("the sim runtime has no worker to turn hostile")),
      stop: (reason) => partition.stop(reason),
    };
    return Promise.resolve(handle);
  }

  /** Runs the scheduler from a microtask until there is nothing left to do. */
  #kick(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    queueMicrotask(() => this.#pump(false));
  }

  #pump(settled: boolean): void {
    try {
      for (let i = 0; i < STEPS_PER_TURN; i++) {
        const state = this.scheduler.step();
        if (state === "stepped") {
          settled = false;
          continue;
        }
        if (state === "settled") {
          // A call finished: its caller's continuation may ask the next call now.
          this.#answered = true;
          queueMicrotask(() => this.#pump(false));
          return;
        }
        if (state === "idle") {
          this.#pumping = false;
          return;
        }
        // Everyone sleeps. If a call finished since the last jump, its caller gets
        // its turns first, to ask its next call at this time; then the clock jumps.
        if (!settled && this.#answered) {
          this.#settle(SETTLE_TURNS);
          return;
        }
        this.#answered = false;
        if (!this.scheduler.advance()) throw new Error("partitions wait, but on no time");
        settled = false;
      }
      queueMicrotask(() => this.#pump(false));
    } catch (error) {
      // A simulator bug: fail the machine cleanly rather than the process.
      this.#pumping = false;
      this.#fail(`simulation failed: ${(error as Error)?.stack ?? error}`);
    }
  }

  #settle(turns: number): void {
    if (turns > 0) queueMicrotask(() => this.#settle(turns - 1));
    else this.#pump(true);
  }

  stop(failed = false): Promise<void> {
    // An orderly stop writes caches back; a failed hypervisor loses them.
    if (failed) this.#persistence?.kill();
    const lost = failed ? [] : this.#persistence?.powerOff() ?? [];
    for (const message of lost) this.#hooks.error(`power-off: ${message}`);
    for (const lpar of this.#lpars.values()) {
      lpar.partition.stop(new Error(`LPAR ${lpar.partition.name} was stopped`));
    }
    return Promise.resolve();
  }
}
