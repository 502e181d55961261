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
 * @module
 */
import * as Comlink from "comlink";
import { opName, rcName } from "../abi/hcalls.ts";
import { healthFromNames } from "../abi/health.ts";
import type { BlockBinding, MediaCounters } from "../core/types.ts";
import type { HypervisorActor } from "./hypervisor_actor.ts";
import { resolveConfig, type ResolvedConfig, type SystemConfig } from "./config.ts";
import { Lpar } from "./lpar.ts";
import type { hypervisorBoot } from "../workers/hypervisor_worker.ts";
import type { GuestHost } from "../guest/host.ts";

/** One traced hcall, by name. */
export interface HcallTrace {
  lpar: string;
  hcall: string;
  rc: string;
}

/** A binding as the managed system reports it (LPAR by name). */
export interface BindingView {
  drc: number;
  block: number;
  lpar: string;
  address: bigint;
  state: "bound" | "pending";
}

/** A worker, and a promise that rejects with its first uncaught error. */
interface Spawned {
  worker: Worker;
  failed: Promise<never>;
}

function spawn(path: string, who: string, onError: (message: string) => void): Spawned {
  const worker = new Worker(new URL(path, import.meta.url), { type: "module" });
  const failed = new Promise<never>((_, reject) => {
    worker.onerror = (event) => {
      // An uncaught error in a worker would end the process: record it, and
      // fail whatever waits on the worker rather than leave it hanging.
      event.preventDefault();
      onError(event.message);
      reject(new Error(`${who} worker failed: ${event.message}`));
    };
  });
  failed.catch(() => {});
  return { worker, failed };
}

/** A running hypervisor with its LPARs. */
export class ManagedSystem {
  readonly config: ResolvedConfig;
  readonly #hvWorker: Worker;
  readonly #hv: Comlink.Remote<HypervisorActor>;
  readonly #lpars: Lpar[] = [];
  readonly errors: string[] = [];
  #stopped = false;

  private constructor(
    config: ResolvedConfig,
    hvWorker: Worker,
    hv: Comlink.Remote<HypervisorActor>,
  ) {
    this.config = config;
    this.#hvWorker = hvWorker;
    this.#hv = hv;
  }

  /** Starts a system from a configuration (checked first; see SystemConfig). */
  static async start(config: SystemConfig | unknown): Promise<ManagedSystem> {
    const resolved = resolveConfig(config);
    const errors: string[] = [];
    const { worker: hvWorker, failed } = spawn(
      "../workers/hypervisor_worker.ts",
      "hypervisor",
      (m) => errors.push(`hypervisor: ${m}`),
    );
    const boot = Comlink.wrap<typeof hypervisorBoot>(hvWorker);
    const { hypervisor } = resolved;
    const starting = boot.start({
      personality: hypervisor.personality,
      powervm: {
        bindSliceBlocks: hypervisor.bindSliceBlocks,
        unbindSliceBlocks: hypervisor.unbindSliceBlocks,
        unbindContinue: hypervisor.unbindContinue,
      },
    });
    let hv: Comlink.Remote<HypervisorActor>;
    try {
      hv = await Promise.race([starting, failed]) as unknown as Comlink.Remote<HypervisorActor>;
    } catch (error) {
      hvWorker.terminate();
      throw error;
    }
    const system = new ManagedSystem(resolved, hvWorker, hv);
    system.errors.push(...errors);
    try {
      const created = new Set<number>();
      for (const lpar of resolved.lpars) {
        for (const n of lpar.nvdimms) {
          if (created.has(n.drc)) continue;
          created.add(n.drc);
          await hv.createDrc({
            index: n.drc,
            blockSize: n.blockSize,
            blocks: n.blocks,
            metadataSize: n.metadataSize,
            uuid: n.uuid,
            health: n.health,
            hcallFlushRequired: n.hcallFlushRequired,
            persistenceFailedCount: n.persistenceFailedCount,
          });
        }
      }
      await Promise.all(resolved.lpars.map((config, i) => system.#addLpar(i + 1, config)));
    } catch (error) {
      await system.stop();
      throw error;
    }
    return system;
  }

  async #addLpar(id: number, config: ResolvedConfig["lpars"][number]): Promise<Lpar> {
    const channels = await this.#hv.attachLpar(id);
    const { worker, failed } = spawn(
      "../workers/lpar_worker.ts",
      `LPAR ${config.name}`,
      (m) => this.errors.push(`${config.name}: ${m}`),
    );
    const lpar = new Lpar(id, config, worker, channels.channel, () => this.#hv.releaseLpar(id));
    this.#lpars[id - 1] = lpar;
    const guest: Comlink.Remote<GuestHost> = lpar.guest;
    await Promise.race([guest.init({ lpar: id, name: config.name, ...channels }), failed]);
    for (const n of config.nvdimms) {
      const memory = await this.#hv.assign(n.drc, id);
      await guest.attachScm(n.drc, memory, await this.#hv.mediaCounters(n.drc));
    }
    return lpar;
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
    const table: BlockBinding[] = await this.#hv.bindings();
    return table.map((b) => ({ ...b, lpar: this.#nameOf(b.lpar) }));
  }

  /** Invariant violations in the hypervisor's state (none expected). */
  invariants(): Promise<string[]> {
    return this.#hv.invariants();
  }

  /** Sets a DRC's health bits by name, e.g. `["HEALTH_FATAL"]`. */
  setHealth(drc: number, bits: string[]): Promise<void> {
    return this.#hv.setHealth(drc, healthFromNames(bits));
  }

  /** A DRC's media counters (cache lines loaded and stored by DAX) as the hypervisor sees them. */
  media(drc: number): Promise<MediaCounters> {
    return this.#hv.media(drc);
  }

  /** Starts recording every hcall the hypervisor answers. */
  traceStart(): Promise<void> {
    return this.#hv.traceStart();
  }

  /** Stops recording and returns the hcalls answered since traceStart(), by name. */
  async traceTake(): Promise<HcallTrace[]> {
    const records = await this.#hv.traceTake();
    return records.map((r) => ({
      lpar: this.#nameOf(r.lpar),
      hcall: opName(r.opcode),
      rc: rcName(r.rc),
    }));
  }

  /** Stops every LPAR worker and the hypervisor; no worker is left running. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const lpar of this.#lpars) lpar?.stop();
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        this.#hv.stop(),
        new Promise((resolve) => (timer = setTimeout(resolve, 1000))),
      ]);
    } catch {
      // The hypervisor is going away either way.
    } finally {
      clearTimeout(timer);
    }
    this.#hv[Comlink.releaseProxy]();
    this.#hvWorker.terminate();
  }

  /** `await using system = ...` stops it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
