/**
 * The managed system (an HMC's view): starts the hypervisor actor and one
 * worker per LPAR from a configuration, and drives their life cycles.
 *
 * @example
 * ```ts
 * import { ManagedSystem } from "../mod.ts";
 * await using system = await ManagedSystem.start({
 *   lpars: [{ name: "lpar1", kernel: "5.4", nvdimms: [{ drc: "0x44100002", blocks: 4 }] }],
 * });
 * const lpar = system.lpar("lpar1");
 * await lpar.boot();
 * console.log(await lpar.ndctl());
 * ```
 *
 * DLPAR (dynamic reconfiguration) of nvdimms on running LPARs:
 * ```ts
 * await system.dlparAdd("lpar1", { drc: "0x44100003", blocks: 2 });
 * const removed = await system.dlparRemove("lpar1", 0x44100003);
 * console.log(removed.message);
 * ```
 * @module
 */
import { opName, rcName } from "../abi/hcalls.ts";
import { healthFromNames } from "../abi/health.ts";
import type { BlockBinding, MediaCounters } from "../core/types.ts";
import {
  MAX_NVDIMMS_PER_LPAR,
  MAX_NVDIMMS_PER_SYSTEM,
  type NvdimmConfig,
  parseDrc,
  resolveConfig,
  type ResolvedConfig,
  type ResolvedNvdimm,
  resolveNvdimm,
  type SystemConfig,
} from "./config.ts";
import { createLpar, Lpar, lparControl } from "./lpar.ts";
import { trackSystem, untrackSystem } from "./workers.ts";
import { CallGate } from "./call_gate.ts";
import type { HypervisorConfig } from "./hypervisor_actor.ts";
import type { DriverOverrides, KernelCosts } from "../guest/kernel.ts";
import type { HypervisorControl, Runtime, RuntimeKind } from "../runtime/types.ts";
import { MAX_TRACE_RECORDS, parseRuntime } from "../runtime/types.ts";
import { ThreadsRuntime } from "../runtime/threads.ts";
import { SimRuntime } from "../runtime/sim/runtime.ts";
import { FileStore } from "../storage/file_store.ts";
import type { PowerLossReport } from "../storage/persistence.ts";
import type { PersistenceRecorder } from "../storage/persistence.ts";
import { parsePowerLossMode, type PowerLossMode } from "../storage/power_loss.ts";
import { parseStorageFault, type StorageFault } from "../storage/io_fault.ts";
import type { DurableStore } from "../storage/types.ts";
import { openSystemTrace, type SystemRecorder, type TraceSession } from "../trace/session.ts";

/** How long a DLPAR remove waits for the partition's answer by default (ms). */
const DLPAR_TIMEOUT_MS = 60_000;

/** How to run a managed system. */
export interface StartOptions {
  /**
   * `threads` (default): a worker for the hypervisor and one per LPAR, real
   * time. `sim`: one thread, a seeded scheduler and virtual time; the same
   * seed gives the same run, byte for byte.
   *
   * With hundreds of partitions on `threads`, run Deno with
   * `GLIBC_TUNABLES=glibc.malloc.arena_max=1` and
   * `DENO_V8_FLAGS=--no-short-builtin-calls,--no-memory-reducer` in its
   * environment, as the project's tasks do. Deno trims the whole malloc heap
   * each time a worker ends, and with glibc's default arenas ending 1,000
   * workers takes about four times as long; by default V8 reads the whole of
   * `/proc/self/maps`, which grows with every worker, to map its builtins
   * into each new worker; and its memory reducer runs extra full collections
   * in every young isolate (see the README's "How fast").
   */
  runtime?: RuntimeKind;
  /** Seed of the `sim` runtime's scheduler and of the hypervisor's tokens (default 1). */
  seed?: number;
  /**
   * `sim` only, for testing the tester: papr_scm driver classes to use instead
   * of the real ones, by kernel version (a deliberately broken canary).
   */
  drivers?: DriverOverrides;
  /**
   * `sim` only: most bytes of SCM pages written, all nvdimms together (default
   * 1 GiB). With durable state the store holds the pages instead: files take
   * disk, a MemoryStore has a budget of its own.
   */
  scmBudgetBytes?: number;
  /**
   * `sim` only: hears every trace record (an hcall with its time, LPAR and
   * registers, or a finished control call), the lines the trace hash is made of.
   */
  tracer?: (record: string) => void;
  /**
   * `sim` only: where the nvdimms' durable state lives, instead of the
   * configuration's `storage.dir` (e.g. a `MemoryStore` that outlives this
   * system, so a power loss can be followed by a power-on in one process).
   */
  store?: DurableStore;
  /** `sim` only, with durable state: hears every store, durable line and label write. */
  recorder?: PersistenceRecorder;
  /**
   * Records a timeline into this session (both runtimes): each hcall as the
   * guest saw it and as the hypervisor served it, life-cycle operations and
   * counters. The system hands it over when it stops; see TraceSession.
   */
  trace?: TraceSession;
  /** The name of this system in the trace (default `system N`). */
  traceLabel?: string;
  /**
   * How long (ms) a DLPAR remove waits for the partition's answer before the
   * hypervisor releases the DRC anyway (default 60,000; `threads` only: a
   * `sim` guest always answers). A partition that never answers keeps
   * nothing: not the DRC, not the call.
   */
  dlparTimeoutMs?: number;
}

/** One traced hcall, by name. */
export interface HcallTrace {
  /** The LPAR that issued it. */
  lpar: string;
  /** Hcall name, e.g. `H_SCM_BIND_MEM`. */
  hcall: string;
  /** Return code name, e.g. `H_OVERLAP`. */
  rc: string;
}

/** A binding as the managed system reports it (LPAR by name). */
export interface BindingView {
  /** DRC index of the nvdimm. */
  drc: number;
  /** Block number within the nvdimm. */
  block: number;
  /** The LPAR it is bound (or reserved) to. */
  lpar: string;
  /** Its logical address in that LPAR's address space. */
  address: bigint;
  /** `pending` while a sliced bind has reserved but not yet bound it. */
  state: "bound" | "pending";
}

/** What a DLPAR operation did. */
export interface DlparResult {
  /** Whether the nvdimm was added or removed. */
  action: "add" | "remove";
  /** The LPAR it was added to or removed from. */
  lpar: string;
  /** DRC index of the nvdimm. */
  drc: number;
  /** add: the running kernel's probe result (0 or -errno); undefined when not running. */
  probe?: number;
  /** add: the region the driver registered, if any. */
  region?: string;
  /** remove: true when the hypervisor had to force the release (kernel crashed or ignored it). */
  forced?: boolean;
  /** remove: blocks the hypervisor released (0 after a clean unbind by the driver). */
  released?: number;
  /** The line also recorded in `system.events`. */
  message: string;
}

/** The hypervisor failed; the managed system stopped every LPAR and itself. */
export class HypervisorFailedError extends Error {
  /** Makes the error; `reason` says why the hypervisor failed. */
  constructor(reason: string) {
    super(`hypervisor failed: ${reason}; the managed system was stopped`);
    this.name = "HypervisorFailedError";
  }
}

const hex = (drc: number) => `0x${drc.toString(16)}`;

function drcSpec(n: ResolvedNvdimm) {
  return {
    index: n.drc,
    blockSize: n.blockSize,
    blocks: n.blocks,
    metadataSize: n.metadataSize,
    uuid: n.uuid,
    health: n.health,
    hcallFlushRequired: n.hcallFlushRequired,
    persistenceFailedCount: n.persistenceFailedCount,
  };
}

function sameDevice(a: ResolvedNvdimm, b: ResolvedNvdimm): boolean {
  return a.blocks === b.blocks && a.blockSize === b.blockSize &&
    a.metadataSize === b.metadataSize && a.uuid === b.uuid &&
    a.hcallFlushRequired === b.hcallFlushRequired;
}

/** The hypervisor's settings as the runtimes take them. */
function hypervisorConfig(resolved: ResolvedConfig, seed: number): HypervisorConfig {
  const { hypervisor } = resolved;
  const ms = (v: number) => BigInt(Math.round(v * 1e6));
  return {
    personality: hypervisor.personality,
    powervm: {
      bindSliceBlocks: hypervisor.bindSliceBlocks,
      unbindSliceBlocks: hypervisor.unbindSliceBlocks,
      unbindContinue: hypervisor.unbindContinue,
      bindNsPerBlock: ms(hypervisor.costs.bindMsPerBlock),
      unbindNsPerBlock: ms(hypervisor.costs.unbindMsPerBlock),
      performanceCollection: hypervisor.performanceCollection,
    },
    flushLatencyNs: ms(hypervisor.flushLatencyMs),
    seed,
    ...(resolved.storage ? { storageDir: resolved.storage.dir } : {}),
  };
}

/** The guest kernels' costs, in ns. */
function guestCosts(resolved: ResolvedConfig): KernelCosts {
  return {
    bootNs: resolved.guest.bootMs * 1e6,
    registerNsPerGiB: resolved.guest.registerMsPerGiB * 1e6,
  };
}

/** A running hypervisor with its LPARs. */
export class ManagedSystem {
  /** The configuration it was started with, defaults filled in. */
  readonly config: ResolvedConfig;
  /** The runtime it runs on. */
  readonly runtime: RuntimeKind;
  #runtime!: Runtime;
  #dlparTimeoutMs = DLPAR_TIMEOUT_MS;
  #hv!: HypervisorControl;
  readonly #lpars: Lpar[] = [];
  readonly #drcs = new Map<number, ResolvedNvdimm>();
  /** Errors reported by the workers (`hypervisor: …`, `<lpar>: …`), oldest first. */
  readonly errors: string[] = [];
  /** What the system did on its own (supervision, DLPAR, failures), oldest first. */
  readonly events: string[] = [];
  /** Why the hypervisor failed, once it has. */
  failure?: string;
  #stopped = false;
  readonly #hvCalls = new CallGate();
  #trace?: SystemRecorder;

  private constructor(config: ResolvedConfig) {
    this.config = config;
    this.runtime = "threads"; // start() sets the runtime before the system is handed out
  }

  /** The machine's clock in ns: virtual time on `sim`, time since start on `threads`. */
  clock(): number {
    return this.#runtime.clock();
  }

  /**
   * `sim` only: a 64-bit hash (16 hex digits) of every hcall (time, LPAR,
   * registers in and out) and every finished control call so far, and the
   * scheduler's step count. Two runs of one seed give the same hash.
   */
  simulation(): { traceHash: string; steps: number; virtualNs: number } | undefined {
    const runtime = this.#runtime;
    if (!(runtime instanceof SimRuntime)) return undefined;
    return {
      traceHash: runtime.trace.hex(),
      steps: runtime.scheduler.steps,
      virtualNs: runtime.scheduler.now,
    };
  }

  /** A call to the hypervisor that fails instead of hanging once it has failed. */
  #hvCall<T>(call: () => Promise<T>): Promise<T> {
    if (this.#stopped) {
      return Promise.reject(
        this.failure === undefined
          ? new Error("the managed system was stopped")
          : new HypervisorFailedError(this.failure),
      );
    }
    return this.#hvCalls.run(call);
  }

  /** Records a line in `events`. */
  #event(text: string): void {
    this.events.push(text);
  }

  /**
   * The hypervisor failed (its worker errored, or the actor's serve loop
   * failed): every LPAR is stopped, pending calls fail with
   * HypervisorFailedError, and the system stops. Never hangs.
   */
  #hypervisorFailed(reason: string): void {
    if (this.failure !== undefined || this.#stopped) return;
    this.failure = reason;
    const error = new HypervisorFailedError(reason);
    this.errors.push(`hypervisor: ${reason}`);
    this.#event(error.message);
    this.#hvCalls.fail(error);
    this.stop();
  }

  /**
   * Test-only: makes the hypervisor actor fail as if its serve loop had
   * crashed (`HypervisorActor.injectFailure`). The system then stops itself;
   * see `failure` and `events`.
   */
  async injectHypervisorFailure(reason = "injected failure"): Promise<void> {
    try {
      await this.#hvCall(() => this.#hv.injectFailure(reason));
    } catch (error) {
      if (!(error instanceof HypervisorFailedError)) throw error;
    }
  }

  /**
   * `sim` with durable state only: power is lost. What was not durable
   * survives as `mode` says (`none`, `all`, `subset` of lines, `torn`
   * 8-byte words; chosen by the seed when not given); every LPAR and the
   * hypervisor stop. Start a system on the same storage to power on again:
   * a DRC that lost anything has its `ibm,persistence-failed-count` raised.
   *
   * @example
   * ```ts
   * import { ManagedSystem, MemoryStore } from "../mod.ts";
   * const store = new MemoryStore();
   * const config = { lpars: [{ name: "l", nvdimms: [{ drc: "0x44100002", blocks: 1 }] }] };
   * const system = await ManagedSystem.start(config, { runtime: "sim", store });
   * await system.lpar("l").boot();
   * await system.lpar("l").write(0, 0, new Uint8Array([1]));
   * console.log(await system.powerLoss("none")); // 1 line lost
   * ```
   */
  async powerLoss(mode?: PowerLossMode): Promise<PowerLossReport> {
    if (mode !== undefined) mode = parsePowerLossMode(mode);
    const runtime = this.#runtime;
    if (this.#stopped) throw new Error("powerLoss: the managed system was stopped");
    if (!runtime.powerLoss) throw new RangeError("powerLoss: this runtime keeps no durable state");
    const report = await runtime.powerLoss(mode);
    const lost = report.drcs.filter((d) => d.lostLines > 0).map((d) => hex(d.drc));
    this.#event(
      `power lost (${report.mode}): ${
        lost.length ? `data lost on ${lost.join(", ")}` : "nothing lost"
      }`,
    );
    await this.stop();
    return report;
  }

  /**
   * Starts a system from a configuration (checked first; see SystemConfig).
   *
   * @example
   * ```ts
   * import { ManagedSystem } from "./managed_system.ts";
   * await using system = await ManagedSystem.start({
   *   lpars: [{ name: "lpar1", kernel: "5.3", nvdimms: [{ drc: "0x44100002", blocks: 4 }] }],
   * });
   * await system.lpar("lpar1").boot();
   * ```
   */
  static async start(
    config: SystemConfig | unknown,
    options: StartOptions = {},
  ): Promise<ManagedSystem> {
    const kind = parseRuntime(options.runtime ?? "threads");
    const seed = options.seed ?? 1;
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new RangeError(`seed ${JSON.stringify(seed)}: expected a whole number from 0`);
    }
    const dlparTimeoutMs = options.dlparTimeoutMs ?? DLPAR_TIMEOUT_MS;
    if (!Number.isSafeInteger(dlparTimeoutMs) || dlparTimeoutMs < 1 || dlparTimeoutMs > 3_600_000) {
      throw new RangeError(
        `dlparTimeoutMs ${JSON.stringify(dlparTimeoutMs)}: expected whole milliseconds from 1 ` +
          `to 3600000`,
      );
    }
    const resolved = resolveConfig(config, kind);
    const system = new ManagedSystem(resolved);
    system.#dlparTimeoutMs = dlparTimeoutMs;
    const hooks = {
      hypervisorFailed: (reason: string) => system.#hypervisorFailed(reason),
      error: (message: string) => system.errors.push(message),
    };
    const hvConfig = hypervisorConfig(resolved, seed);
    if (options.store && kind !== "sim") {
      throw new RangeError(
        "StartOptions store: a store object lives in this thread; on the threads runtime the " +
          "hypervisor's thread keeps durable state in storage.dir",
      );
    }
    // On threads the hypervisor's thread opens (and locks) the directory itself.
    const store = options.store ??
      (resolved.storage && kind === "sim" ? FileStore.open(resolved.storage.dir) : undefined);
    // The threads runtime sets the origin on the clock its threads share.
    const spans = options.trace ? { originMs: 0, limit: options.trace.maxHcalls } : undefined;
    let runtime: Runtime;
    try {
      runtime = kind === "sim"
        ? new SimRuntime(hvConfig, {
          seed,
          guestCosts: guestCosts(resolved),
          drivers: options.drivers,
          scmBudgetBytes: options.scmBudgetBytes,
          tracer: options.tracer,
          spans,
          store,
          recorder: options.recorder,
        }, hooks)
        : await ThreadsRuntime.start({ ...hvConfig, spans }, hooks);
    } catch (error) {
      // The directory's lock is ours to give back (a store handed in is the caller's).
      if (!options.store) store?.close?.();
      throw error;
    }
    const running = runtime;
    system.#trace = options.trace && openSystemTrace(
      options.trace,
      options.traceLabel,
      kind,
      resolved.hypervisor.personality,
      () => running.clock(),
    );
    system.#runtime = runtime;
    system.#hv = runtime.hypervisor;
    trackSystem(system);
    (system as { runtime: RuntimeKind }).runtime = kind;
    const hv = system.#hv;
    try {
      // All at once: the hypervisor takes them in this order, and 2,000 round trips one
      // after another took 0.8 s of a 1,000-LPAR start.
      const created: Promise<void>[] = [];
      for (const lpar of resolved.lpars) {
        for (const n of lpar.nvdimms) {
          if (system.#drcs.has(n.drc)) continue;
          system.#drcs.set(n.drc, n);
          created.push(
            system.#hvCall(() => hv.createDrc(drcSpec(n))).then((count) => {
              // Durable state: the device tree shows the count this power-on left.
              if (typeof count === "number") n.persistenceFailedCount = count;
            }),
          );
        }
      }
      await Promise.all(created);
      await Promise.all(resolved.lpars.map((config, i) => system.#addLpar(i + 1, config)));
    } catch (error) {
      await system.stop();
      throw error;
    }
    return system;
  }

  async #addLpar(id: number, config: ResolvedConfig["lpars"][number]): Promise<Lpar> {
    const onError = (m: string) => this.errors.push(`${config.name}: ${m}`);
    const partition = await this.#hvCall(() =>
      this.#runtime.startPartition(id, config.name, onError)
    );
    const lpar: Lpar = createLpar(id, config, partition, {
      release: () => this.#hvCall(() => this.#hv.releaseLpar(id)),
      event: (text) => this.#event(text),
      clock: () => this.#runtime.clock(),
      detach: () => this.#hvCall(() => this.#hv.detachLpar(id)),
      op: (name, run) => this.#op(config.name, name, run),
      restart: async () => {
        const fresh = await this.#hvCall(() =>
          this.#runtime.startPartition(id, config.name, onError)
        );
        fresh.failed.catch((error: Error) => lparControl(lpar).crashed(error));
        return fresh;
      },
    });
    this.#lpars[id - 1] = lpar;
    // A partition whose runtime dies later: its calls fail, the hypervisor releases it.
    partition.failed.catch((error: Error) => lparControl(lpar).crashed(error));
    for (const n of config.nvdimms) await this.#hvCall(() => this.#hv.assign(n.drc, id));
    return lpar;
  }

  #lparOf(lpar: string | Lpar): Lpar {
    return typeof lpar === "string" ? this.lpar(lpar) : lpar;
  }

  /**
   * DLPAR add: gives an nvdimm to an LPAR. The hypervisor creates the DRC
   * (or reuses it if it exists, described identically) and assigns it;
   * its SCM is handed to that LPAR's worker; a new `ibm,pmemory` node
   * appears in the LPAR's device tree and, if the kernel is running, the
   * driver probes it now (otherwise at the next boot).
   * @example
   * ```ts
   * const added = await system.dlparAdd("lpar1", { drc: "0x44100003", blocks: 2 });
   * console.log(added.region); // "region1"
   * ```
   */
  async dlparAdd(lpar: string | Lpar, nvdimm: NvdimmConfig): Promise<DlparResult> {
    const target = this.#lparOf(lpar);
    // One operation on an LPAR at a time: the add waits for a boot or kexec in progress.
    return await lparControl(target).exclusive(() =>
      this.#op(target.name, "DLPAR add", () => this.#dlparAdd(target, nvdimm))
    );
  }

  async #dlparAdd(target: Lpar, nvdimm: NvdimmConfig): Promise<DlparResult> {
    const n = resolveNvdimm("nvdimm", nvdimm, this.runtime);
    if (target.nvdimms.some((m) => m.drc === n.drc)) {
      throw new RangeError(`dlparAdd: drc ${hex(n.drc)} is already assigned to ${target.name}`);
    }
    // Limits checked before anything is created, so a refused add leaves nothing behind.
    if (target.nvdimms.length >= MAX_NVDIMMS_PER_LPAR) {
      throw new RangeError(
        `dlparAdd: ${target.name} has ${target.nvdimms.length} nvdimms; at most ` +
          `${MAX_NVDIMMS_PER_LPAR} (MAX_NVDIMMS_PER_LPAR)`,
      );
    }
    if (!this.#drcs.has(n.drc) && this.#drcs.size >= MAX_NVDIMMS_PER_SYSTEM) {
      throw new RangeError(
        `dlparAdd: the system has ${this.#drcs.size} nvdimms; at most ` +
          `${MAX_NVDIMMS_PER_SYSTEM} (MAX_NVDIMMS_PER_SYSTEM)`,
      );
    }
    const known = this.#drcs.get(n.drc);
    if (known && !sameDevice(known, n)) {
      throw new RangeError(
        `dlparAdd: drc ${hex(n.drc)} exists with different settings; describe it identically`,
      );
    }
    if (!known) {
      const count = await this.#hvCall(() => this.#hv.createDrc(drcSpec(n)));
      if (typeof count === "number") n.persistenceFailedCount = count;
      this.#drcs.set(n.drc, n);
    }
    await this.#hvCall(() => this.#hv.assign(n.drc, target.id));
    const regionsBefore = target.state === "running" ? await target.regions() : [];
    const { rc } = await lparControl(target).hotplugAdd(known ?? n);
    let region: string | undefined;
    if (rc === 0) {
      const found = (await target.regions()).find((r) => r.drc === n.drc);
      if (found && !regionsBefore.some((r) => r.dev === found.dev)) region = found.dev;
    }
    const message = `dlpar: added drc ${hex(n.drc)} to ${target.name}` +
      (rc === undefined
        ? ` (${target.state}: probed at its next boot)`
        : rc === 0
        ? `; papr_scm probed it: ${region ?? "no region"}`
        : `; papr_scm probe failed: ${rc}`);
    this.#event(message);
    return { action: "add", lpar: target.name, drc: n.drc, probe: rc, region, message };
  }

  /**
   * DLPAR remove: asks the LPAR's kernel to release the nvdimm (papr_scm's
   * remove() unregisters the region and unbinds), then the hypervisor
   * unassigns the DRC and its SCM is detached from the worker. If the
   * kernel is not running (panicked, halted, shut down) or ignores the
   * request, the hypervisor forces the release of its bindings and the
   * result (and `events`) says so.
   * @example
   * ```ts
   * const r = await system.dlparRemove("lpar1", 0x44100002);
   * console.log(r.forced, r.message);
   * ```
   */
  async dlparRemove(lpar: string | Lpar, drc: number | string): Promise<DlparResult> {
    const target = this.#lparOf(lpar);
    return await lparControl(target).exclusive(() =>
      this.#op(target.name, "DLPAR remove", () => this.#dlparRemove(target, drc))
    );
  }

  async #dlparRemove(target: Lpar, drc: number | string): Promise<DlparResult> {
    const index = parseDrc("dlparRemove: drc", drc);
    if (!target.nvdimms.some((m) => m.drc === index)) {
      throw new RangeError(
        `dlparRemove: drc ${hex(index)} is not assigned to ${target.name}; it has: ${
          target.nvdimms.map((m) => hex(m.drc)).join(", ") || "none"
        }`,
      );
    }
    const { removed: unbound, why: notWhy } = await this.#partitionAnswer(
      lparControl(target).hotplugRemove(index),
    );
    const released = await this.#hvCall(() => this.#hv.unassign(index, target.id));
    await lparControl(target).forget(index);
    const forced = released > 0;
    const why = unbound ? "the driver did not unbind everything" : notWhy ?? "no answer";
    const message = forced
      ? `dlpar: removed drc ${hex(index)} from ${target.name}: ${why}; ` +
        `forced release at the hypervisor (${released} blocks released)`
      : `dlpar: removed drc ${hex(index)} from ${target.name}` +
        (unbound ? " (papr_scm unbound it)" : ` (nothing was bound; ${why})`);
    this.#event(message);
    await lparControl(target).afterDlpar();
    return { action: "remove", lpar: target.name, drc: index, forced, released, message };
  }

  /**
   * The guest's answer to a DLPAR remove, or "no answer" once the deadline
   * passed: a partition that does not answer is then released by force.
   */
  async #partitionAnswer(
    answer: Promise<{ removed: boolean; why?: string }>,
  ): Promise<{ removed: boolean; why?: string }> {
    const deadline = this.#runtime.deadline(this.#dlparTimeoutMs);
    try {
      return await Promise.race([
        answer,
        deadline.expired.then(() => ({
          removed: false,
          why: `the partition did not answer within ${this.#dlparTimeoutMs} ms`,
        })),
      ]);
    } finally {
      deadline.cancel();
      // Its answer may still come: nothing waits for it.
      answer.catch(() => {});
    }
  }

  /**
   * DLPAR move: removes the nvdimm from one LPAR (forcing the release if
   * needed) and adds it to another, described as before. The data stays in
   * the SCM.
   * @example
   * ```ts
   * await system.dlparMove(0x44100002, "lpar1", "lpar2");
   * ```
   */
  async dlparMove(
    drc: number | string,
    from: string | Lpar,
    to: string | Lpar,
  ): Promise<{ removed: DlparResult; added: DlparResult }> {
    const source = this.#lparOf(from);
    const target = this.#lparOf(to);
    const index = parseDrc("dlparMove: drc", drc);
    const n = source.nvdimms.find((m) => m.drc === index);
    // Check both ends before anything moves, so a bad request loses nothing.
    if (!n) {
      throw new RangeError(
        `dlparMove: drc ${hex(index)} is not assigned to ${source.name}; it has: ${
          source.nvdimms.map((m) => hex(m.drc)).join(", ") || "none"
        }`,
      );
    }
    if (target === source || target.nvdimms.some((m) => m.drc === index)) {
      throw new RangeError(`dlparMove: drc ${hex(index)} is already assigned to ${target.name}`);
    }
    const described: NvdimmConfig = {
      drc: index,
      blocks: n.blocks,
      blockSize: Number(n.blockSize),
      metadataSize: n.metadataSize,
      uuid: n.uuid,
      hcallFlushRequired: n.hcallFlushRequired,
      persistenceFailedCount: n.persistenceFailedCount,
    };
    // The target takes it as it is described now (any limit of this runtime is checked here).
    resolveNvdimm("dlparMove: nvdimm", described, this.runtime);
    const removed = await this.dlparRemove(source, index);
    const added = await this.dlparAdd(target, described);
    return { removed, added };
  }

  /** Every LPAR, in configuration order. */
  get lpars(): readonly Lpar[] {
    return this.#lpars;
  }

  /** An LPAR by name. */
  lpar(name: string): Lpar {
    const lpar = this.#lpars.find((l) => l.name === name);
    if (!lpar) {
      throw new RangeError(
        `no LPAR "${name}"; this system has: ${this.#lpars.map((l) => l.name).join(", ")}`,
      );
    }
    return lpar;
  }

  #nameOf(id: number): string {
    return this.#lpars[id - 1]?.name ?? `lpar#${id}`;
  }

  /** The hypervisor's binding table. */
  async bindings(): Promise<BindingView[]> {
    const table: BlockBinding[] = await this.#hvCall(() => this.#hv.bindings());
    return table.map((b) => ({ ...b, lpar: this.#nameOf(b.lpar) }));
  }

  /** Invariant violations in the hypervisor's state (none expected). */
  invariants(): Promise<string[]> {
    return this.#hvCall(() => this.#hv.invariants());
  }

  /** Sets a DRC's health bits by name, e.g. `["HEALTH_FATAL"]`. */
  setHealth(drc: number, bits: string[]): Promise<void> {
    return this.#withDrc("setHealth", drc, (index) => {
      if (!Array.isArray(bits)) {
        throw new RangeError(`setHealth: bits: expected an array of health bit names`);
      }
      const bitmap = healthFromNames(bits);
      return this.#hvCall(() => this.#hv.setHealth(index, bitmap));
    });
  }

  /** Runs `call` with a DRC index this system has, or rejects naming the ones it has. */
  #withDrc<T>(what: string, drc: unknown, call: (index: number) => Promise<T>): Promise<T> {
    try {
      const index = parseDrc(`${what}: drc`, drc);
      if (!this.#drcs.has(index)) {
        const known = [...this.#drcs.keys()].map(hex).join(", ") || "none";
        throw new RangeError(`${what}: no drc ${hex(index)}; this system has: ${known}`);
      }
      return call(index);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** A DRC's media counters (cache lines loaded and stored by DAX) as the hypervisor sees them. */
  media(drc: number): Promise<MediaCounters> {
    return this.#withDrc("media", drc, (index) => this.#hvCall(() => this.#hv.media(index)));
  }

  /** Fault injection: while `failing`, flushes requested on the nvdimm end in H_HARDWARE. */
  setFlushFailure(drc: number, failing: boolean): Promise<void> {
    return this.#withDrc("setFlushFailure", drc, (index) => {
      if (typeof failing !== "boolean") {
        throw new RangeError(`setFlushFailure: failing: expected true or false`);
      }
      return this.#hvCall(() => this.#hv.setFlushFailure(index, failing));
    });
  }

  /**
   * Fault injection, with durable state only: the nvdimm's store fails its
   * I/O as the host's disk would: `enospc` fails every write (a full disk
   * under a sparse backing file), `eio` every read and write of its SCM and
   * label area; `none` ends it. The partition whose access fails gets a
   * machine check naming the host's error (a flush's write-back too; a
   * flush hcall or label write answers `H_HARDWARE`); nothing else changes.
   *
   * @example
   * ```ts
   * import { ManagedSystem, MemoryStore } from "../mod.ts";
   * const config = { lpars: [{ name: "l", nvdimms: [{ drc: "0x44100002", blocks: 1 }] }] };
   * await using system = await ManagedSystem.start(config, {
   *   runtime: "sim",
   *   store: new MemoryStore(),
   * });
   * await system.lpar("l").boot();
   * await system.setStorageFault(0x44100002, "enospc");
   * await system.lpar("l").write(0, 0, new Uint8Array([1])).catch((e) => console.log(e.message));
   * ```
   */
  setStorageFault(drc: number, fault: StorageFault): Promise<void> {
    return this.#withDrc("setStorageFault", drc, (index) => {
      const checked = parseStorageFault(fault);
      return this.#hvCall(() => this.#hv.setStorageFault(index, checked));
    });
  }

  /** Starts recording every hcall the hypervisor answers. */
  traceStart(): Promise<void> {
    return this.#hvCall(() => this.#hv.traceStart());
  }

  /**
   * Stops recording and returns the hcalls answered since traceStart(), by
   * name: at most 1,000,000 (MAX_TRACE_RECORDS); past that they are counted,
   * and `events` says how many were dropped.
   */
  async traceTake(): Promise<HcallTrace[]> {
    const { records, dropped } = await this.#hvCall(() => this.#hv.traceTake());
    if (dropped) {
      this.#event(
        `trace: ${dropped} hcall records dropped (at most ${MAX_TRACE_RECORDS} are kept ` +
          `between traceStart and traceTake)`,
      );
    }
    return records.map((r) => ({
      lpar: this.#nameOf(r.lpar),
      hcall: opName(r.opcode),
      rc: rcName(r.rc),
    }));
  }

  /** A DLPAR operation, as a slice on the trace when one is recorded. */
  #op<T>(lpar: string, name: string, run: () => Promise<T>): Promise<T> {
    return this.#trace ? this.#trace.op(lpar, name, run) : run();
  }

  /**
   * Hands the timeline to the trace session: the hypervisor's records and,
   * on threads, each guest's (asked before the workers end).
   */
  async #finishTrace(recorder: SystemRecorder): Promise<void> {
    const trace = recorder.trace;
    trace.lpars = this.#lpars.filter(Boolean).map((l) => ({ id: l.id, name: l.name }));
    const lost = (what: string, error: unknown) =>
      trace.notes.push(`${what} were lost: ${(error as Error)?.message ?? error}`);
    if (this.failure === undefined) {
      try {
        trace.hypervisor = await this.#hvCall(() => this.#hv.spansTake());
      } catch (error) {
        lost("the hypervisor's records", error);
      }
      for (const lpar of this.#lpars) {
        const partition = lpar ? lparControl(lpar).partition : undefined;
        if (!partition) continue;
        try {
          if (partition.guestSpans) {
            trace.guests.set(
              lpar.id,
              await Promise.race([partition.guestSpans(), partition.failed]),
            );
          }
          const probes = await Promise.race([partition.probeRecords?.(), partition.failed]);
          for (const p of probes?.probes ?? []) {
            trace.ops.push({
              lpar: lpar.name,
              name: `probe 0x${p.drc.toString(16)}`,
              start: p.start,
              end: p.end,
              outcome: p.rc === undefined
                ? "did not return (panic)"
                : p.rc === 0
                ? "ok"
                : `${p.rc}`,
            });
          }
          trace.opsDropped += probes?.dropped ?? 0;
        } catch (error) {
          lost(`${lpar.name}'s records`, error);
        }
      }
    } else {
      trace.notes.push(`the hypervisor failed (${this.failure}); its records were lost`);
    }
    recorder.finish();
  }

  /** Stops every LPAR worker and the hypervisor; no worker is left running. */
  async stop(): Promise<void> {
    const recorder = this.#trace;
    if (recorder && !this.#stopped) {
      this.#trace = undefined;
      await this.#finishTrace(recorder);
    }
    if (this.#stopped) return;
    this.#stopped = true;
    const reason = this.failure === undefined ? undefined : new HypervisorFailedError(this.failure);
    // Hypervisor calls still in flight settle now, with the reason, never hang.
    this.#hvCalls.fail(reason ?? new Error("the managed system was stopped"));
    for (const lpar of this.#lpars) if (lpar) lparControl(lpar).stop(reason);
    try {
      await this.#runtime?.stop(this.failure !== undefined);
    } finally {
      untrackSystem(this);
    }
  }

  /** `await using system = ...` stops it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
