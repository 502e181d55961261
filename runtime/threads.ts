/**
 * The `threads` runtime: the hypervisor actor in its own worker, one worker
 * per LPAR, hcalls over the Atomics channel and comlink for the control
 * plane only. Real threads, real time.
 * @module
 */
import * as Comlink from "comlink";
import { channelViews, PANIC, RESP, STOP } from "../channel/layout.ts";
import type { HypervisorActor, HypervisorConfig } from "../actors/hypervisor_actor.ts";
import type { PowerLossReport } from "../storage/persistence.ts";
import type { PowerLossMode } from "../storage/power_loss.ts";
import { spawnWorker, terminateWorker } from "../actors/workers.ts";
import type { hypervisorBoot } from "../workers/hypervisor_worker.ts";
import type { LparWorker } from "../workers/lpar_worker.ts";
import type { LparId } from "../core/types.ts";
import { sharedClockNs, type SpanRecording } from "../trace/types.ts";
import { HeldSlots, Slots } from "./slots.ts";
import type {
  GuestControl,
  HypervisorControl,
  PartitionHandle,
  Runtime,
  RuntimeHooks,
} from "./types.ts";

/** How long `stop` waits for the hypervisor's serve loop to end before terminating it. */
const STOP_GRACE_MS = 1000;

const CORES = Math.max(1, globalThis.navigator?.hardwareConcurrency ?? 2);
/**
 * Partitions running guest kernel code at once (see runtime/slots.ts): a few
 * more than the cores, so a guest asleep in `msleep` leaves no core idle.
 */
const GUEST_SLOTS = Math.max(4, 4 * CORES);
/**
 * Workers starting at once. `new Worker` itself blocks the main thread until
 * the worker's runtime exists (about 15 ms of CPU each, so starts are serial
 * there); what runs in parallel is each worker loading its modules, and a
 * few per core keep the cores busy without hundreds of threads competing.
 * By default V8 also reads the whole of `/proc/self/maps` in each new worker
 * to map its builtins next to the worker's code (short builtin calls; V8
 * src/heap/code-range.cc, `CodeRange::RemapEmbeddedBuiltins`): a read that
 * grows with every worker already running, so the tasks run Deno with
 * `DENO_V8_FLAGS=--no-short-builtin-calls`.
 */
const START_SLOTS = 4 * CORES;

/**
 * Ends workers one at a time, a macrotask apart. When a worker's thread ends,
 * Deno calls glibc's `malloc_trim(0)` (denoland/deno pull request 32617,
 * `runtime/web_worker.rs`), which walks the free memory of every malloc
 * arena and gives it back with `madvise`: its cost follows the whole
 * process's heap, not the one worker. Many ends at once run those walks in
 * parallel, contending for the arenas and flushing each other's TLBs (512
 * bare workers, one malloc arena: 5.9 s in one loop, 3.3 s one at a time), so
 * a stop of many partitions ends them in turn and the event loop keeps
 * running. With glibc's default of eight arenas a core, each walk costs
 * several times more: the project's tasks run Deno with
 * `GLIBC_TUNABLES=glibc.malloc.arena_max=1` (1,000 bare workers ended in
 * 43 s with the default, 10.3 s with one arena; see the README's "How fast").
 */
class Terminations {
  readonly #queue: Worker[] = [];
  #running?: Promise<void>;

  /** Ends `worker` soon (its stop word is already set). */
  push(worker: Worker): void {
    this.#queue.push(worker);
    this.#running ??= this.#run();
  }

  async #run(): Promise<void> {
    for (let worker; (worker = this.#queue.shift());) {
      terminateWorker(worker);
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    this.#running = undefined;
  }

  /** Resolves once every worker pushed so far has been ended. */
  async drained(): Promise<void> {
    while (this.#running) await this.#running;
  }
}

/** Workers and channels: today's design, and the default runtime. */
export class ThreadsRuntime implements Runtime {
  readonly kind = "threads";
  readonly hypervisor: HypervisorControl;
  readonly #worker: Worker;
  readonly #hv: Comlink.Remote<HypervisorActor>;
  /** When the system started, on the clock every thread shares (ms). */
  readonly #originMs: number;
  readonly #terminations = new Terminations();
  readonly #spans?: SpanRecording;
  readonly #guestSlots = new Slots(GUEST_SLOTS);
  readonly #startSlots = new Slots(START_SLOTS);
  readonly #hooks: RuntimeHooks;

  private constructor(
    worker: Worker,
    hv: Comlink.Remote<HypervisorActor>,
    originMs: number,
    hooks: RuntimeHooks,
    spans?: SpanRecording,
  ) {
    this.#worker = worker;
    this.#hv = hv;
    this.#originMs = originMs;
    this.#hooks = hooks;
    this.#spans = spans;
    this.hypervisor = hv as unknown as HypervisorControl;
  }

  /** Starts the hypervisor worker; rejects (leaving nothing running) if it cannot start. */
  static async start(config: HypervisorConfig, hooks: RuntimeHooks): Promise<ThreadsRuntime> {
    // One origin on the clock all threads share: the hypervisor's, the guests' and the
    // HMC's trace records line up on it.
    const originMs = performance.timeOrigin + performance.now();
    if (config.spans) config = { ...config, spans: { ...config.spans, originMs } };
    const { worker, failed } = spawnWorker(
      new URL("../workers/hypervisor_worker.ts", import.meta.url),
      "hypervisor",
      (m) => hooks.error(`hypervisor: ${m}`),
    );
    const boot = Comlink.wrap<typeof hypervisorBoot>(worker);
    let hv: Comlink.Remote<HypervisorActor>;
    try {
      hv = await Promise.race([boot.start(config), failed]) as unknown as Comlink.Remote<
        HypervisorActor
      >;
    } catch (error) {
      terminateWorker(worker);
      throw error;
    }
    worker.addEventListener("message", (event: MessageEvent) => {
      const reason = (event.data as { hypervisorFailure?: string } | null)?.hypervisorFailure;
      if (typeof reason === "string") hooks.hypervisorFailed(reason);
    });
    failed.catch((error: Error) =>
      hooks.hypervisorFailed(
        error.message.replace(/^hypervisor worker failed: (Uncaught )?(Error: )?/, ""),
      )
    );
    return new ThreadsRuntime(worker, hv, originMs, hooks, config.spans);
  }

  clock(): number {
    return sharedClockNs(this.#originMs);
  }

  deadline(ms: number): { expired: Promise<void>; cancel(): void } {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
      // A deadline never keeps the process alive by itself.
      Deno.unrefTimer(timer as unknown as number);
    });
    return { expired, cancel: () => clearTimeout(timer) };
  }

  /** Power is lost at the hypervisor (durable state in its storage directory). */
  powerLoss(mode?: PowerLossMode): Promise<PowerLossReport> {
    return this.#hv.powerLoss(mode);
  }

  async startPartition(
    id: LparId,
    name: string,
    onError: (message: string) => void,
  ): Promise<PartitionHandle> {
    const starting = await this.#startSlots.acquire();
    try {
      return await this.#startPartition(id, name, onError);
    } finally {
      starting();
    }
  }

  async #startPartition(
    id: LparId,
    name: string,
    onError: (message: string) => void,
  ): Promise<PartitionHandle> {
    const hv = this.#hv;
    const channels = await hv.attachLpar(id);
    const { worker, failed } = spawnWorker(
      new URL("../workers/lpar_worker.bundle.js", import.meta.url),
      `LPAR ${name}`,
      onError,
    );
    const remote = Comlink.wrap<LparWorker>(worker);
    const { header } = channelViews(channels.channel);
    const terminations = this.#terminations;
    let stopped = false, stopReason: Error | undefined;
    const slots = new HeldSlots(this.#guestSlots);
    const stoppedError = () => stopReason ?? new Error(`LPAR ${name} stopped`);
    // Every guest call holds one of the machine's guest slots while it runs.
    const guest = new Proxy({}, {
      // Not a thenable (`then`): the proxy may be awaited or returned from async code.
      get: (_, key) =>
        typeof key !== "string" || key === "then" ? undefined : (...args: unknown[]) =>
          slots.run(
            () =>
              (remote as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[key](
                ...args,
              ),
            stoppedError,
          ),
    }) as GuestControl;
    const handle: PartitionHandle = {
      guest,
      failed,
      requestPanic: () => Atomics.store(header, PANIC, 1),
      crashForTest: (message) => remote.crashForTest(message),
      guestSpans: () => remote.guestSpans(),
      probeRecords: () => (remote as unknown as GuestControl).probeRecords(),
      misbehaveForTest: (seed, writes) => remote.misbehaveForTest(seed, writes),
      stop(reason) {
        if (stopped) return;
        stopped = true;
        stopReason = reason;
        slots.stop();
        // terminate() does not stop a worker blocked in Atomics.wait: the stop
        // word makes its hcall throw first.
        Atomics.store(header, STOP, 1);
        Atomics.notify(header, RESP);
        Atomics.notify(header, STOP);
        remote[Comlink.releaseProxy]();
        terminations.push(worker);
      },
    };
    try {
      await Promise.race([
        remote.init({ lpar: id, name, ...channels, spans: this.#spans }),
        failed,
      ]);
    } catch (error) {
      handle.stop(error as Error);
      throw error;
    }
    return handle;
  }

  async stop(failed: boolean): Promise<void> {
    await this.#terminations.drained();
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const lost = await Promise.race([
        failed ? Promise.resolve([]) : this.#hv.stop(),
        new Promise<string[]>((resolve) => (timer = setTimeout(() => resolve([]), STOP_GRACE_MS))),
      ]);
      for (const message of lost) this.#hooks.error(`power-off: ${message}`);
    } catch {
      // The hypervisor is going away either way.
    } finally {
      clearTimeout(timer);
    }
    this.#hv[Comlink.releaseProxy]();
    terminateWorker(this.#worker);
  }
}
