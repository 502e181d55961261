/**
 * Worker entry of one LPAR (the `threads` runtime): its guest kernel runs
 * here, and every hcall the kernel's tasks yield goes through the Atomics
 * channel while this thread blocks. The control plane is exposed over comlink.
 * @module
 */
import * as Comlink from "comlink";
import { RET_COUNT } from "../abi/hcalls.ts";
import { GuestPort } from "../channel/guest_port.ts";
import { PageTableReader } from "../channel/page_table.ts";
import { DAX_ACTIVE, HEADER_WORDS } from "../channel/layout.ts";
import { DenseScm } from "../guest/dax.ts";
import { GuestHost } from "../guest/host.ts";
import { effectProblem, isTask, type Task } from "../guest/task.ts";

/** What the worker needs to start: its channel, page table and real memory. */
export interface GuestInit {
  lpar: number;
  name: string;
  channel: SharedArrayBuffer;
  doorbell: SharedArrayBuffer;
  pageTable: SharedArrayBuffer;
  /** The partition's real memory, shared with the hypervisor. */
  realMemory?: SharedArrayBuffer;
}

/**
 * Runs a task to its end on this thread: an hcall blocks on the channel, a
 * sleep blocks in `Atomics.wait`, compute costs nothing here (it is virtual
 * time, for the simulation). An error from the channel (it was stopped) is
 * thrown into the task, so the kernel unwinds as from a failed `hvsc`.
 */
export function runBlocking<T>(task: Task<T>, port: GuestPort): T {
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
      try {
        rc = port.call(effect.opcode, effect.args, rets);
      } catch (error) {
        step = task.throw(error);
        continue;
      }
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

/** The LPAR worker's control plane: init, SCM hand-over, then the GuestHost's methods. */
export class LparWorker {
  #host?: GuestHost;
  #port?: GuestPort;

  /** Connects the worker to its channel and page table. */
  init(init: GuestInit): void {
    const port = new GuestPort(init.channel, init.doorbell);
    const origin = performance.now();
    this.#port = port;
    const header = new Int32Array(init.channel, 0, HEADER_WORDS);
    this.#host = new GuestHost({
      name: init.name,
      pageTable: new PageTableReader(init.pageTable),
      daxFence: {
        enter: () => Atomics.store(header, DAX_ACTIVE, 1),
        leave: () => {
          Atomics.store(header, DAX_ACTIVE, 0);
          Atomics.notify(header, DAX_ACTIVE);
        },
      },
      realMemory: init.realMemory,
      clock: () => (performance.now() - origin) * 1e6,
      takePanicRequest: () => port.takePanicRequest(),
    });
  }

  /** Makes a DRC's SCM reachable by DAX, counting into the hypervisor's media counters. */
  attachScm(drc: number, memory: SharedArrayBuffer, counters: SharedArrayBuffer): void {
    this.#need().attachScm(drc, new DenseScm(memory), new BigInt64Array(counters, 0, 2));
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

  /** Calls a GuestHost method, running what it returns to its end if it is a task. */
  call(method: string, args: unknown[]): unknown {
    const host = this.#need() as unknown as Record<string, (...a: unknown[]) => unknown>;
    const result = host[method].apply(host, args);
    return isTask(result) ? runBlocking(result, this.#port!) : result;
  }

  #need(): GuestHost {
    if (!this.#host) throw new Error("LPAR worker used before init()");
    return this.#host;
  }
}

if ("WorkerGlobalScope" in globalThis) {
  const worker = new LparWorker();
  const own = new Set(["init", "attachScm", "crashForTest"]);
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
