/**
 * The hypervisor's side of the hcall channels: finds pending requests on
 * every attached channel, answers them, and keeps the busy LPARs fair.
 *
 * Fairness: on a machine with fewer cores than LPARs, whichever LPAR the OS
 * happens to run next to the hypervisor would get nearly all the service.
 * The dispatcher therefore lets no LPAR get more than `maxLead` answers ahead
 * of the least-served busy LPAR; one held back sees its DEFERRED word, stops
 * spinning and sleeps, which gives its core to the LPAR that lags.
 * @module
 */
import { ARG_COUNT, RET_COUNT } from "../abi/hcalls.ts";
import type { HcallResult, LparId } from "../core/types.ts";
import {
  ANSWERED,
  BELL,
  channelViews,
  DEFERRED,
  GUEST_WAITING,
  HV_SLEEPING,
  HV_STOP,
  REQ,
  RESP,
} from "./layout.ts";

/** Serves one hcall: the calling LPAR comes from the channel, never a register. */
export type HcallHandler = (lpar: LparId, opcode: number, args: readonly bigint[]) => HcallResult;

/** Tunables of the serve loop. */
export interface DispatcherOptions {
  /** Answers an LPAR may be ahead of the least-served busy LPAR. */
  maxLead: number;
  /** An LPAR with no request for this long (ms) no longer counts as busy. */
  idleAfterMs: number;
  /** Empty passes before the hypervisor sleeps on the doorbell. */
  idlePasses: number;
  /** Longest synchronous serving stretch before yielding to control messages (ms). */
  sliceMs: number;
}

const DEFAULTS: DispatcherOptions = {
  maxLead: 50_000,
  idleAfterMs: 200,
  idlePasses: 2_000,
  sliceMs: 2,
};

interface Slot {
  lpar: LparId;
  header: Int32Array;
  regs: BigUint64Array;
  served: number;
  lastActive: number;
}

/** Serves every attached channel from one thread. */
export class Dispatcher {
  readonly #bell: Int32Array;
  readonly #handle: HcallHandler;
  readonly #options: DispatcherOptions;
  #slots: Slot[] = [];
  readonly #args: bigint[] = new Array(ARG_COUNT).fill(0n);
  #clock = 0;
  #passes = 0;

  constructor(
    doorbell: SharedArrayBuffer,
    handle: HcallHandler,
    options?: Partial<DispatcherOptions>,
  ) {
    this.#bell = new Int32Array(doorbell);
    this.#handle = handle;
    this.#options = { ...DEFAULTS, ...options };
  }

  /** Starts serving an LPAR's channel. */
  attach(lpar: LparId, channel: SharedArrayBuffer): void {
    if (this.#slots.some((s) => s.lpar === lpar)) {
      throw new RangeError(`LPAR ${lpar} attached twice`);
    }
    const { header, regs } = channelViews(channel);
    this.#slots = [...this.#slots, { lpar, header, regs, served: 0, lastActive: -Infinity }];
  }

  /** Stops serving an LPAR's channel. */
  detach(lpar: LparId): void {
    this.#slots = this.#slots.filter((s) => s.lpar !== lpar);
  }

  /** One pass over every channel; returns how many requests were answered. */
  serveOnce(): number {
    const slots = this.#slots;
    if ((++this.#passes & 255) === 0) this.#clock = performance.now();
    const now = this.#clock, idleAfter = this.#options.idleAfterMs;
    let floor = Infinity;
    for (const s of slots) {
      if (now - s.lastActive < idleAfter && s.served < floor) floor = s.served;
    }
    let answered = 0;
    for (const s of slots) {
      const header = s.header;
      const req = Atomics.load(header, REQ);
      if (req === header[RESP]) continue;
      if (now - s.lastActive >= idleAfter) {
        // Back from idle: start level with the busy ones, not far behind them.
        if (floor !== Infinity && s.served < floor) s.served = floor;
      } else if (s.served - floor > this.#options.maxLead) {
        if (header[DEFERRED] === 0) Atomics.store(header, DEFERRED, 1);
        s.lastActive = now;
        continue;
      }
      s.lastActive = now;
      if (header[DEFERRED] !== 0) Atomics.store(header, DEFERRED, 0);
      this.#answer(s, req);
      s.served++;
      answered++;
    }
    return answered;
  }

  #answer(s: Slot, req: number): void {
    const regs = s.regs, args = this.#args;
    for (let i = 0; i < ARG_COUNT; i++) args[i] = regs[i + 1];
    const opcode = regs[0] <= 0xFFFF_FFFFn ? Number(regs[0]) : -1;
    const { rc, rets } = this.#handle(s.lpar, opcode, args);
    regs[0] = BigInt.asUintN(64, BigInt(rc));
    for (let i = 0; i < RET_COUNT; i++) regs[i + 1] = rets[i];
    Atomics.add(s.header, ANSWERED, 1);
    Atomics.store(s.header, RESP, req);
    if (Atomics.load(s.header, GUEST_WAITING) !== 0) Atomics.notify(s.header, RESP);
  }

  /** Whether the doorbell's stop word is set. */
  get stopping(): boolean {
    return Atomics.load(this.#bell, HV_STOP) !== 0;
  }

  /**
   * Serves until the doorbell's stop word is set. Serves synchronously while
   * requests flow, yields to the event loop every `sliceMs` so control
   * messages are answered, and sleeps with `Atomics.waitAsync` when idle, so
   * an idle hypervisor burns no CPU and still hears control messages.
   */
  async run(): Promise<void> {
    const { idlePasses, sliceMs } = this.#options;
    while (!this.stopping) {
      const start = performance.now();
      let empty = 0;
      for (let pass = 1;; pass++) {
        if (this.serveOnce() > 0) empty = 0;
        else if (++empty >= idlePasses) break;
        if ((pass & 127) === 0 && (this.stopping || performance.now() - start > sliceMs)) break;
      }
      if (empty >= idlePasses) await this.#sleep();
      else await yieldToEventLoop();
    }
  }

  async #sleep(): Promise<void> {
    const bell = this.#bell;
    const seen = Atomics.load(bell, BELL);
    Atomics.store(bell, HV_SLEEPING, 1);
    try {
      // A request that raced with going to sleep is served now, not missed.
      if (this.serveOnce() > 0 || this.stopping) return;
      const waiting = Atomics.waitAsync(bell, BELL, seen);
      if (waiting.async) await waiting.value;
    } finally {
      Atomics.store(bell, HV_SLEEPING, 0);
    }
  }
}

/** Resolves on a later macrotask (unlike setTimeout, with no 4 ms clamp). */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = () => {
      port1.close();
      resolve();
    };
    port2.postMessage(0);
  });
}

/** Sets the doorbell's stop word and wakes a sleeping hypervisor. */
export function stopDoorbell(doorbell: SharedArrayBuffer): void {
  const bell = new Int32Array(doorbell);
  Atomics.store(bell, HV_STOP, 1);
  Atomics.add(bell, BELL, 1);
  Atomics.notify(bell, BELL);
}
