/**
 * Worker entry of one LPAR (the `threads` runtime): its guest kernel runs
 * here, and every hcall the kernel's tasks yield goes through the Atomics
 * channel while this thread blocks. The control plane is exposed over comlink.
 * @module
 */
import * as Comlink from "comlink";
import { RET_COUNT } from "../abi/hcalls.ts";
import { ChannelStopped, GuestPort } from "../channel/guest_port.ts";
import { ChannelDax } from "../channel/guest_dax.ts";
import { channelViews, DAX_READ, DAX_WRITE, KIND, KIND_HCALL, STOP } from "../channel/layout.ts";
import { GuestHost } from "../guest/host.ts";
import type { MisbehaveReport } from "../runtime/types.ts";
import { effectProblem, flatten, isTask, type Task } from "../guest/task.ts";
import { BoundedLog } from "../runtime/trace_buffer.ts";
import { type HcallSpan, sharedClockNs, type SpanRecording } from "../trace/types.ts";

/** What the worker needs to start: its channel, DAX bounce buffer and real memory. */
export interface GuestInit {
  lpar: number;
  name: string;
  channel: SharedArrayBuffer;
  doorbell: SharedArrayBuffer;
  daxBuffer: SharedArrayBuffer;
  /** The partition's real memory, shared with the hypervisor. */
  realMemory?: SharedArrayBuffer;
  /** Record each hcall's issue and answer on the shared clock, for a timeline. */
  spans?: SpanRecording;
}

/** Hears an hcall the task issued and its answer, with when it was issued (performance.now()). */
export type HcallObserver = (
  opcode: number,
  args: readonly bigint[],
  rc: number,
  rets: readonly bigint[],
  start: number,
) => void;

/**
 * Runs a task to its end on this thread: an hcall blocks on the channel, a
 * sleep blocks in `Atomics.wait`, compute costs nothing here (it is virtual
 * time, for the simulation). An error from the channel (it was stopped) is
 * thrown into the task, so the kernel unwinds as from a failed `hvsc`.
 */
export function runBlocking<T>(root: Task<T>, port: GuestPort, observe?: HcallObserver): T {
  const task = flatten(root);
  let step = task.next();
  while (!step.done) {
    const effect = step.value;
    const problem = effectProblem(effect);
    if (problem !== undefined) {
      step = task.throw(new TypeError(`guest code yielded a bad effect: ${problem}`));
      continue;
    }
    if (effect.kind === "hcall") {
      const rets = new Array<bigint>(RET_COUNT).fill(0n);
      let rc: number;
      const start = observe ? performance.now() : 0;
      try {
        rc = port.call(effect.opcode, effect.args, rets);
      } catch (error) {
        step = task.throw(error);
        continue;
      }
      observe?.(effect.opcode, effect.args, rc, rets, start);
      step = task.next({ rc, rets });
    } else if (effect.kind === "sleep") {
      try {
        // Interruptible: a stop during a long-busy sleep ends it.
        port.sleep(effect.ms);
      } catch (error) {
        step = task.throw(error);
        continue;
      }
      step = task.next();
    } else {
      step = task.next();
    }
  }
  return step.value;
}

/** The LPAR worker's control plane: init, then the GuestHost's methods. */
export class LparWorker {
  #host?: GuestHost;
  #port?: GuestPort;
  #init?: GuestInit;
  #spans?: BoundedLog<HcallSpan>;
  #observe?: HcallObserver;

  /** Connects the worker to its channel. */
  init(init: GuestInit): void {
    const port = new GuestPort(init.channel, init.doorbell);
    const origin = performance.now();
    this.#port = port;
    this.#init = init;
    if (init.spans) this.#record(init.lpar, init.spans);
    this.#host = new GuestHost({
      name: init.name,
      dax: new ChannelDax(port, init.daxBuffer),
      realMemory: init.realMemory,
      clock: () => (performance.now() - origin) * 1e6,
      traceClock: init.spans ? () => sharedClockNs(init.spans!.originMs) : undefined,
      takePanicRequest: () => port.takePanicRequest(),
    });
  }

  /** Records every hcall's issue and answer on the shared clock. */
  #record(lpar: number, recording: SpanRecording): void {
    const spans = new BoundedLog<HcallSpan>(recording.limit);
    spans.start();
    this.#spans = spans;
    const ns = (ms: number) => (performance.timeOrigin + ms - recording.originMs) * 1e6;
    this.#observe = (opcode, args, rc, rets, start) =>
      spans.push({
        lpar,
        opcode,
        args: [...args],
        rc,
        rets: [...rets],
        start: ns(start),
        end: sharedClockNs(recording.originMs),
      });
  }

  /** The hcalls recorded since init (or the last take), and how many were dropped. */
  guestSpans(): { spans: HcallSpan[]; dropped: number } {
    const taken = this.#spans?.take() ?? { items: [], dropped: 0 };
    this.#spans?.start();
    return { spans: taken.items, dropped: taken.dropped };
  }

  /**
   * Test-only: ends this worker with an uncaught error, as a simulator bug
   * would, so the managed system's handling of a dead LPAR worker can be tested.
   */
  crashForTest(message: string): void {
    setTimeout(() => {
      throw new Error(message);
    });
  }

  /**
   * Test-only: the guest turns hostile. It writes `writes` random words at
   * random places of everything this worker holds (its channel's header and
   * registers, the shared doorbell, its bounce buffer and real memory), and
   * every eighth write issues a request of a random kind with random
   * registers. It spares only its channel's STOP word, the system's way to
   * end it (a guest that clears it can only keep its own worker alive).
   * Seeded, so a failure replays. Returns what it did.
   */
  misbehaveForTest(seed: number, writes: number): MisbehaveReport {
    const init = this.#init, port = this.#port;
    if (!init || !port) throw new Error("LPAR worker used before init()");
    let x = (seed >>> 0) || 1;
    const next = () => {
      // xorshift32: enough to scatter writes, and reproducible.
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return x >>> 0;
    };
    const { header, regs } = channelViews(init.channel);
    // Of the channel, its header and registers: the padding around them no one reads.
    const end = regs.byteOffset + regs.byteLength;
    const channel = new Int32Array(init.channel, header.byteOffset, (end - header.byteOffset) / 4);
    const targets = [
      channel,
      ...[init.doorbell, init.daxBuffer, init.realMemory]
        .filter((b): b is SharedArrayBuffer => b !== undefined)
        .map((b) => new Int32Array(b)),
    ];
    const report: MisbehaveReport = { writes: 0, requests: 0, answers: {} };
    const args = new Array<bigint>(9).fill(0n), rets = new Array<bigint>(RET_COUNT).fill(0n);
    for (let i = 0; i < writes; i++) {
      const words = targets[next() % targets.length];
      const at = next() % words.length;
      if (words === channel && at === STOP) continue;
      Atomics.store(words, at, next() | 0);
      report.writes++;
      if (i % 8 !== 7) continue;
      for (let r = 0; r < args.length; r++) {
        args[r] = (BigInt(next()) << 32n) | BigInt(next() % 4 === 0 ? 0 : next());
      }
      // Half the time a small length in r5, so DAX requests get as far as translation.
      if (next() % 2 === 0) args[1] = BigInt(next() % 70_000);
      const kinds = [KIND_HCALL, DAX_READ, DAX_WRITE, next()];
      const kind = kinds[next() % kinds.length];
      // Mostly the SCM hcalls (0x3E4..0x448), sometimes anything.
      const opcode = next() % 4 === 0 ? next() % 0x500 : 0x3E4 + 4 * (next() % 26);
      let rc: number;
      try {
        // request() sets the KIND word for this one request; an hcall needs it clear.
        if (kind === KIND_HCALL) Atomics.store(header, KIND, KIND_HCALL);
        rc = kind === KIND_HCALL ? port.call(opcode, args, rets) : port.request(kind, args, rets);
      } catch (error) {
        if (error instanceof ChannelStopped) break;
        throw error;
      }
      report.requests++;
      report.answers[rc] = (report.answers[rc] ?? 0) + 1;
    }
    return report;
  }

  /** Calls a GuestHost method, running what it returns to its end if it is a task. */
  call(method: string, args: unknown[]): unknown {
    const host = this.#need() as unknown as Record<string, (...a: unknown[]) => unknown>;
    const result = host[method].apply(host, args);
    return isTask(result) ? runBlocking(result, this.#port!, this.#observe) : result;
  }

  #need(): GuestHost {
    if (!this.#host) throw new Error("LPAR worker used before init()");
    return this.#host;
  }
}

if ("WorkerGlobalScope" in globalThis) {
  const worker = new LparWorker();
  const own = new Set(["init", "crashForTest", "misbehaveForTest", "guestSpans"]);
  // Everything else is a GuestHost method, run to its end here.
  Comlink.expose(
    new Proxy(worker, {
      get(target, key) {
        if (typeof key !== "string") return Reflect.get(target, key);
        if (own.has(key)) {
          // Bound: the methods use private fields, which a proxy receiver lacks.
          const method = Reflect.get(target, key) as (...args: unknown[]) => unknown;
          return method.bind(target);
        }
        if (!(key in GuestHost.prototype)) return undefined;
        return (...args: unknown[]) => target.call(key, args);
      },
    }),
  );
}
