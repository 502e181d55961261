/**
 * The guest's side of the hcall channel: the `hvsc` instruction.
 *
 * A call writes r3..r12, publishes a new request sequence number, rings the
 * doorbell (waking the hypervisor only if it sleeps), then spins a bounded,
 * adaptive number of times before sleeping in `Atomics.wait`.
 * @module
 */
import {
  BELL,
  channelViews,
  COLD_BELL,
  DEFERRED,
  GUEST_WAITING,
  HOT,
  HOT_AWAKE,
  KIND,
  KIND_HCALL,
  PANIC,
  REQ,
  RESP,
  STOP,
  TURN,
} from "./layout.ts";
import { readAnswer, type RegisterFile, registerFile, writeRequest } from "./registers.ts";

/** Thrown out of an hcall when the channel's stop word is set. */
export class ChannelStopped extends Error {
  constructor() {
    super("hcall channel stopped");
    this.name = "ChannelStopped";
  }
}

/** Fewest spins before sleeping (about a microsecond: one fast answer). */
const SPIN_MIN = 256;
/** Most spins before sleeping (tens of microseconds), so a spin is always bounded. */
const SPIN_MAX = 1 << 14;
/** A sleep shorter than this (ms) would have been caught by spinning a little more. */
const SHORT_SLEEP_MS = 0.02;
/**
 * Longest single sleep, so the stop word is seen even without a notify. A
 * guest still waiting for its answer then rings the doorbell again: the
 * hypervisor, idle, sleeps on it for up to a second (channel/dispatcher.ts
 * `IDLE_SLEEP_MS`), and a ring another guest hid from it (the doorbell is
 * shared, so a hostile guest can put an old value back) is made good here.
 */
const WAIT_SLICE_MS = 20;
/** Longest sleep of a held-back guest before it looks again. */
const TURN_SLICE_MS = 2;
/**
 * Calls in a row answered only just after this guest slept, from which its
 * spinning is taken as futile: the hypervisor answers as soon as the guest
 * sleeps because the two threads share one core (beside other busy
 * processes the OS can keep them so for seconds), and spinning longer only
 * keeps the hypervisor off it. Doubling the spin for such answers made each
 * hcall cost the longest spin: one LPAR beside one busy process made 8k to
 * 11k hcalls/s, against 41k to 52k with this (README, "How fast").
 */
const FUTILE_LATE = 4;
/** While spinning is futile, one call in this many still spins the learned budget. */
const PROBE_EVERY = 16;

/** Guest end of one LPAR's channel. */
export class GuestPort {
  readonly #header: Int32Array;
  readonly #registers: RegisterFile;
  readonly #bell: Int32Array;
  #spin = SPIN_MIN * 4;
  /** Calls in a row answered only just after the guest slept (futile from FUTILE_LATE). */
  #late = 0;
  /** Calls made while spinning is futile. */
  #probes = 0;

  constructor(channel: SharedArrayBuffer, doorbell: SharedArrayBuffer) {
    const views = channelViews(channel);
    this.#header = views.header;
    this.#registers = registerFile(views);
    this.#bell = new Int32Array(doorbell);
  }

  /**
   * `msleep`: blocks this thread for `ms`, waking early (with ChannelStopped)
   * when the channel is stopped, so a stop never waits out a long-busy sleep.
   */
  sleep(ms: number): void {
    const header = this.#header;
    const until = performance.now() + ms;
    for (;;) {
      if (Atomics.load(header, STOP) !== 0) throw new ChannelStopped();
      const left = until - performance.now();
      if (left <= 0) return;
      Atomics.wait(header, STOP, 0, Math.min(left, WAIT_SLICE_MS));
    }
  }

  /** Whether the machine asked this guest to panic (the word is cleared by reading). */
  takePanicRequest(): boolean {
    return Atomics.exchange(this.#header, PANIC, 0) !== 0;
  }

  /** Whether the stop word is set. */
  get stopped(): boolean {
    return Atomics.load(this.#header, STOP) !== 0;
  }

  /**
   * Issues one request of kind `kind` (not an hcall: see layout.ts's KIND)
   * and blocks until the hypervisor answers; returns r3.
   */
  request(kind: number, args: readonly bigint[], rets: bigint[]): number {
    Atomics.store(this.#header, KIND, kind);
    try {
      return this.call(0, args, rets);
    } finally {
      Atomics.store(this.#header, KIND, KIND_HCALL);
    }
  }

  /**
   * Issues one hcall and blocks until the hypervisor answers.
   * `args` are r4..r12; `rets` receives r4..r12. Returns r3 as a signed code.
   */
  call(opcode: number, args: readonly bigint[], rets: bigint[]): number {
    const header = this.#header;
    if (Atomics.load(header, STOP) !== 0) throw new ChannelStopped();
    writeRequest(this.#registers, opcode, args);
    const seq = (header[REQ] + 1) | 0;
    Atomics.store(header, REQ, seq);
    this.#ring();
    this.#await(seq);
    return readAnswer(this.#registers, rets);
  }

  /**
   * Tells the hypervisor a request is pending, unless it said it is awake
   * and looking at this channel (`force`: ring whatever it said).
   */
  #ring(force = false): void {
    // The store of REQ before this load pairs with the hypervisor's store of
    // HOT before it looks at REQ: one of the two sees the other. So a
    // hypervisor that marks the channel for sleep either finds the request
    // or is rung.
    const hot = Atomics.load(this.#header, HOT);
    if (hot === HOT_AWAKE && !force) return;
    // A quiet channel is looked at only when one rings this.
    if (hot === 0) Atomics.add(this.#bell, COLD_BELL, 1);
    Atomics.add(this.#bell, BELL, 1);
    Atomics.notify(this.#bell, BELL);
  }

  #await(seq: number): void {
    const header = this.#header;
    // Futile spinning: the least, but one call in PROBE_EVERY the learned budget.
    const least = this.#late >= FUTILE_LATE && ++this.#probes % PROBE_EVERY !== 0;
    const budget = least ? SPIN_MIN : this.#spin;
    let deferred = false;
    for (let i = 0; i < budget; i++) {
      if (Atomics.load(header, RESP) === seq) {
        // Answered while spinning: spinning pays here, allow a little more.
        this.#late = 0;
        if (budget < SPIN_MAX) this.#spin = Math.max(this.#spin, budget * 2);
        return;
      }
      if ((i & 63) === 63 && Atomics.load(header, DEFERRED) !== 0) {
        deferred = true;
        break;
      }
    }
    // Held back for fairness: sleep at once; that says nothing about how fast
    // the hypervisor answers, so the budget stays. Otherwise time the sleep:
    // an answer that came soon after means a little more spinning would have
    // caught it; a long one means the hypervisor is descheduled or busy, so
    // spin less next time and give the core away sooner.
    const slept = deferred ? 0 : performance.now();
    const bell = this.#bell;
    Atomics.store(header, GUEST_WAITING, 1);
    // Losing the turn: wake the guest that got it, on this core, which is
    // about to be free (a wake from the hypervisor would land on its core).
    if (deferred) {
      Atomics.add(bell, TURN, 1);
      Atomics.notify(bell, TURN);
    }
    try {
      while (Atomics.load(header, RESP) !== seq) {
        if (Atomics.load(header, STOP) !== 0) throw new ChannelStopped();
        const turn = Atomics.load(bell, TURN);
        if (Atomics.load(header, DEFERRED) !== 0) {
          deferred = true;
          if (Atomics.load(header, RESP) === seq) break;
          Atomics.wait(bell, TURN, turn, TURN_SLICE_MS);
        } else if (Atomics.wait(header, RESP, (seq - 1) | 0, WAIT_SLICE_MS) === "timed-out") {
          this.#ring(true);
        }
      }
    } finally {
      Atomics.store(header, GUEST_WAITING, 0);
    }
    if (deferred) return;
    if (performance.now() - slept < SHORT_SLEEP_MS) {
      // Answered just after sleeping: a little more spinning would have
      // caught it, unless it came because this guest freed the core.
      if (++this.#late < FUTILE_LATE && budget < SPIN_MAX) this.#spin = budget * 2;
    } else if (budget > SPIN_MIN) {
      this.#spin = budget >> 1;
    }
  }
}
