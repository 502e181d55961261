/**
 * A test rig on the real hcall path: the real hypervisor actor in its own
 * worker (workers/hypervisor_worker.ts) and one bench worker per LPAR, each
 * issuing hcalls through its own channel. Used by the benchmark and the
 * stress test; `stop()` leaves no worker running.
 * @module
 */
import * as Comlink from "comlink";
import type { DispatcherOptions } from "../channel/dispatcher.ts";
import type { HypervisorActor } from "../actors/hypervisor_actor.ts";
import type { hypervisorBoot } from "../workers/hypervisor_worker.ts";
import type { BenchWorker } from "./bench_worker.ts";
import { ANSWERED, channelViews } from "../channel/layout.ts";
import { CTL_GO, CTL_READY, CTL_STOP, CTL_WORDS } from "./protocol.ts";
import { spawnWorker, terminateWorker } from "../actors/workers.ts";

/** One LPAR of the rig. */
export interface RigLpar {
  /** Hypervisor-side LPAR id (1-based). */
  id: number;
  /** Its own DRC. */
  drc: number;
  /** Its channel buffer (for reading ANSWERED from outside). */
  channel: SharedArrayBuffer;
  /** The worker's control plane. */
  worker: Comlink.Remote<BenchWorker>;
  /** The channel's ANSWERED word, read as unsigned (hcalls answered, mod 2^32). */
  answered: Uint32Array;
}

/** How to build a rig. */
export interface RigOptions {
  lpars: number;
  /** Blocks of each LPAR's DRC (default 4). */
  blocks?: number;
  /** Bytes per block (default 1 MiB). */
  blockSize?: number;
  /** Dispatcher tunables. */
  dispatcher?: Partial<DispatcherOptions>;
}

/** First DRC index the rig uses; LPAR i gets DRC_BASE + i. */
export const RIG_DRC_BASE = 0x44200000;

function spawn(path: string, errors: string[]): Worker {
  const url = new URL(path, import.meta.url);
  return spawnWorker(url, path, (message) => errors.push(message)).worker;
}

/** A running hypervisor with bench LPARs. */
export class Rig {
  readonly hv: Comlink.Remote<HypervisorActor>;
  readonly lpars: RigLpar[];
  readonly errors: string[];
  readonly #workers: Worker[];
  readonly #control: SharedArrayBuffer;
  #stopped = false;

  private constructor(
    hv: Comlink.Remote<HypervisorActor>,
    lpars: RigLpar[],
    workers: Worker[],
    control: SharedArrayBuffer,
    errors: string[],
  ) {
    this.hv = hv;
    this.lpars = lpars;
    this.#workers = workers;
    this.#control = control;
    this.errors = errors;
  }

  /** Starts the hypervisor worker, one DRC and one bench worker per LPAR. */
  static async start(options: RigOptions): Promise<Rig> {
    const errors: string[] = [];
    const hvWorker = spawn("../workers/hypervisor_worker.ts", errors);
    const workers = [hvWorker];
    const control = new SharedArrayBuffer(CTL_WORDS * 4);
    try {
      const boot = Comlink.wrap<typeof hypervisorBoot>(hvWorker);
      const hv = await boot.start({
        personality: "powervm",
        dispatcher: options.dispatcher,
      }) as unknown as Comlink.Remote<HypervisorActor>;
      const blockSize = options.blockSize ?? 1 << 20, blocks = options.blocks ?? 4;
      const lpars: RigLpar[] = [];
      for (let id = 1; id <= options.lpars; id++) {
        const drc = RIG_DRC_BASE + id;
        await hv.createDrc({
          index: drc,
          blockSize: BigInt(blockSize),
          blocks,
          metadataSize: 128 * 1024,
          uuid: `${drc.toString(16).padStart(8, "0")}-5ca1-4e00-8000-000000000000`,
        });
        const channels = await hv.attachLpar(id);
        await hv.assign(drc, id);
        const w = spawn("./bench_worker.ts", errors);
        workers.push(w);
        const worker = Comlink.wrap<BenchWorker>(w);
        await worker.init(channels.channel, channels.doorbell, control);
        const { header } = channelViews(channels.channel);
        const answered = new Uint32Array(header.buffer, header.byteOffset + ANSWERED * 4, 1);
        lpars.push({ id, drc, channel: channels.channel, worker, answered });
      }
      return new Rig(hv, lpars, workers, control, errors);
    } catch (error) {
      for (const w of workers) terminateWorker(w);
      throw error;
    }
  }

  /**
   * Runs `work` on every LPAR at once: all start together, and the stop word
   * is set after `ms` milliseconds. Returns each LPAR's result, in order.
   */
  async runFor<T>(ms: number, work: (lpar: RigLpar) => Promise<T>): Promise<T[]> {
    return (await this.runCounted(ms, work)).results;
  }

  /**
   * As `runFor` (on the first `count` LPARs, the others idle), also counting
   * the hcalls the hypervisor answered between the start signal and the stop
   * signal (the channels' ANSWERED words), a second: the rate while all ran,
   * without the tail in which LPARs still waiting for a turn finish the
   * hcalls they had begun.
   */
  async runCounted<T>(
    ms: number,
    work: (lpar: RigLpar) => Promise<T>,
    count = this.lpars.length,
  ): Promise<{ results: T[]; answeredPerSec: number }> {
    if (!Number.isInteger(count) || count < 1 || count > this.lpars.length) {
      throw new RangeError(`runCounted: count ${count}, expected 1 to ${this.lpars.length}`);
    }
    const ctl = new Int32Array(this.#control);
    Atomics.store(ctl, CTL_GO, 0);
    Atomics.store(ctl, CTL_STOP, 0);
    Atomics.store(ctl, CTL_READY, 0);
    const running = this.lpars.slice(0, count);
    const results = Promise.all(running.map(work));
    while (Atomics.load(ctl, CTL_READY) < count) {
      const w = Atomics.waitAsync(ctl, CTL_READY, Atomics.load(ctl, CTL_READY), 50);
      if (w.async) await w.value;
    }
    const before = running.map((l) => Atomics.load(l.answered, 0)), start = performance.now();
    Atomics.store(ctl, CTL_GO, 1);
    Atomics.notify(ctl, CTL_GO);
    await new Promise((resolve) => setTimeout(resolve, ms));
    // Each word wraps at 2^32: its own difference, mod 2^32.
    const counted = running.reduce((sum, l, i) => sum + ((l.answered[0] - before[i]) >>> 0), 0);
    const seconds = (performance.now() - start) / 1000;
    Atomics.store(ctl, CTL_STOP, 1);
    return { results: await results, answeredPerSec: counted / seconds };
  }

  /** Stops the hypervisor and terminates every worker. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    Atomics.store(new Int32Array(this.#control), CTL_STOP, 1);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        this.hv.stop(),
        new Promise((resolve) => (timer = setTimeout(resolve, 1000))),
      ]);
    } catch {
      // Going away either way.
    } finally {
      clearTimeout(timer);
    }
    for (const l of this.lpars) l.worker[Comlink.releaseProxy]();
    this.hv[Comlink.releaseProxy]();
    for (const w of this.#workers) terminateWorker(w);
  }

  /** `await using rig = ...` stops it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
