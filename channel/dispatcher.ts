/**
 * The hypervisor's side of the hcall channels: finds pending requests on
 * every attached channel, answers them, and keeps the busy LPARs fair.
 *
 * Fairness and throughput: on a machine with fewer cores than busy LPARs,
 * every runnable guest thread competes with the hypervisor's thread for the
 * cores, and whichever guest the OS happens to run gets the service. The
 * dispatcher therefore lets at most `maxActive` LPARs stream hcalls at a time
 * (by default one fewer than the cores, so the hypervisor keeps a core). While
 * others wait, a streaming LPAR keeps its turn for at most `maxLead` answers,
 * so no LPAR gets more than `maxLead` answers ahead of one that waits; the
 * turn then goes to the least-served waiting LPAR. A waiting LPAR sees its
 * DEFERRED word, stops spinning and sleeps, which gives its core to the
 * active one. An active LPAR that stops issuing hcalls gives its turn up (see
 * `releaseAfterMs`), and an LPAR back from idle starts level with the busy
 * ones, not far behind.
 *
 * An LPAR that thinks between hcalls (a kernel booting, fewer than
 * `HAMMERING` calls a `LIGHT_WINDOW_MS`) needs no stream turn and is answered
 * at once: its guest spends its time on its own work, not spinning for a
 * core. Holding such LPARs to the stream turns made them take turns at
 * thinking, one at a time, while the hypervisor spun for the one thinking:
 * a profile of 128 LPARs booting had less than one core in guest code and
 * about a third of the CPU in that spin.
 * @module
 */
import { ARG_COUNT } from "../abi/hcalls.ts";
import type { HcallResult, LparId } from "../core/types.ts";
import {
  ANSWERED,
  BELL,
  channelViews,
  COLD_BELL,
  DEFERRED,
  GUEST_WAITING,
  HOT,
  HOT_AWAKE,
  HOT_WATCHED,
  KIND,
  KIND_HCALL,
  REQ,
  RESP,
  STOP,
  TURN,
} from "./layout.ts";
import { readRequest, type RegisterFile, registerFile, writeAnswer } from "./registers.ts";
import { IdleWindow } from "./idle_window.ts";

/** Serves one hcall: the calling LPAR comes from the channel, never a register. */
export type HcallHandler = (lpar: LparId, opcode: number, args: readonly bigint[]) => HcallResult;

/** Serves one request that is not an hcall (a DAX access; `kind` is the channel's KIND word). */
export type RequestHandler = (lpar: LparId, kind: number, args: readonly bigint[]) => HcallResult;

/** Tunables of the serve loop. */
export interface DispatcherOptions {
  /** Answers an active LPAR gets in one turn while others wait (its most lead). */
  maxLead: number;
  /**
   * Longest turn (ms of the hypervisor's time) while others wait, whatever
   * the answers cost: an LPAR whose every hcall is expensive (or which
   * re-asks while each answer is computed) cannot hold a turn for `maxLead`
   * answers of its choosing.
   */
  maxTurnMs: number;
  /** An LPAR with no request for this long (ms) no longer counts as busy. */
  idleAfterMs: number;
  /**
   * Shortest and longest time (ms) the serve loop keeps looking with nothing
   * to do before it sleeps on the doorbell. The window in between is learned
   * (see `IdleWindow`): it grows past what a wake-up costs on this machine.
   */
  idleMinMs: number;
  /**
   * Longest idle look before sleeping (ms): wake-ups slower than this are
   * taken as an oversubscribed machine (or a guest doing other work), when
   * spinning only delays the guest; an idle hypervisor soon burns no CPU.
   */
  idleMaxMs: number;
  /** Longest synchronous serving stretch before yielding to control messages (ms). */
  sliceMs: number;
  /**
   * LPARs that may stream hcalls (ask without pause) at the same time; the
   * others that stream wait (default: cores - 1, at least 1). LPARs that
   * think between hcalls are answered whatever this is.
   */
  maxActive: number;
  /**
   * An active LPAR that has been issuing hcalls back to back and then issues
   * none for this long (ms) gives its turn up (one that issued only a few
   * gives it up after a few tens of microseconds).
   */
  releaseAfterMs: number;
}

const DEFAULTS: DispatcherOptions = {
  // A turn's answers are the grain of fairness: 8 LPARs hammering get about
  // 150k answers a second each, so a turn of 16,384 made one LPAR's two turns
  // more (10 against 8) a fairness of 1.25. 22 rounds of 8 LPARs on 2 cores,
  // the two alternating: fairness at most 1.2 in 21 rounds (median 1.07)
  // against 15 (median 1.16) for 16,384; the aggregate rate, round by round,
  // 0.99 times as much (median; 0.50 to 1.74, the VM's noise).
  maxLead: 8_192,
  // Above what maxLead answers take at ordinary speed (1-2 us each).
  maxTurnMs: 25,
  idleAfterMs: 200,
  idleMinMs: 0.05,
  // A wake-up on a core that is free costs 50-70 us on the VMs measured;
  // one slower than this means no core is free, and spinning longer for it
  // takes the core the guest needs. Measured on the loaded 2-core VM (load
  // average 8.5), one LPAR, nine 1 s rounds each, interleaved: a fixed 38 us
  // window 6,400 hcalls/s median round, this 0.1 ms cap 8,500, a 0.25 ms cap
  // 3,900 (and a 2 ms cap a third of the fixed window earlier).
  idleMaxMs: 0.1,
  sliceMs: 5,
  maxActive: Math.max(1, (globalThis.navigator?.hardwareConcurrency ?? 2) - 1),
  releaseAfterMs: 2,
};

/** Answers in a turn from which an LPAR counts as hammering. */
const HAMMERING = 64;
/**
 * Window (ms) of the count that tells an LPAR that streams from one that
 * thinks between hcalls: `HAMMERING` answers within it make a stream. A
 * kernel booting cold asks about 130 times in 10-20 ms; a stream, hundreds
 * of thousands of times a second. A guest that pauses to stay out of the
 * stream turns gets fewer than `HAMMERING` answers a window (the windows are
 * fixed, not sliding: up to about twice that in a millisecond that spans two).
 */
const LIGHT_WINDOW_MS = 1;
/** How soon (ms) an LPAR that is not hammering gives its turn up. */
const QUICK_RELEASE_MS = 0.05;
/** How long (ms) a guest woken for its turn has to issue its next hcall. */
const WAKE_GRACE_MS = 3;
/**
 * Longest a channel that asked nothing lately goes without a look while the
 * hypervisor is awake, whatever `COLD_BELL` says (a guest can tamper with it:
 * a request it hides is late by at most this, never lost).
 */
const COLD_LOOK_MS = 20;
/**
 * Longest sleep of an idle hypervisor (ms). Guests ring the shared doorbell,
 * which a hostile guest can also write, so a ring can be hidden from a
 * sleeper; a guest still waiting after its own 20 ms sleep rings again
 * (channel/guest_port.ts `WAIT_SLICE_MS`), and the pass that ring wakes the
 * hypervisor to looks at the quiet channels (`COLD_LOOK_MS` has passed). So
 * the hypervisor need not wake to look for hidden rings: it used to, every
 * 20 ms, which was nearly all an idle system's CPU (50 wake-ups a second).
 */
const IDLE_SLEEP_MS = 1000;
/**
 * First part of an idle hypervisor's sleep (ms), blocking its thread in
 * `Atomics.wait` rather than awaiting `Atomics.waitAsync`. A synchronous
 * wait is woken by the futex alone; an async one by a task posted to the
 * worker's event loop, which on the 2-core VM measured made each wake-up
 * slow enough to keep a guest that thinks a little between hcalls (a
 * kernel's probe reading its label area) in the slow mode for good: one
 * LPAR's kexec, 131 hcalls, took 10-12 ms in 2 of 3 runs with only async
 * sleeps (the hypervisor slept about once every third hcall), 0.8-1.4 ms in
 * 3 of 3 with this first millisecond synchronous. Such a sleep lets no
 * control message in, so `run()` counts its `sliceMs` from the event loop's
 * last turn, not from the last sleep.
 */
const SYNC_SLEEP_MS = 1;
/**
 * For this long (ms) after it last answered, the hypervisor sleeps only in
 * synchronous `SYNC_SLEEP_MS` naps, never through the event loop. On a loaded
 * machine a guest that streams is often off its core for a few milliseconds;
 * waking to its next request through the event loop can halve its rate (one
 * LPAR beside two CPU-burning processes, 20 rounds: median round 0.37M and
 * 0.41M hcalls/s without these naps, alternating with 0.82M and 0.69M for the
 * code before the long sleep; the README has the runs with them). An idle
 * hypervisor takes about 20 naps before its long sleep.
 */
const BUSY_NAP_MS = 20;
/**
 * Passes between looks at the cold channels (those that asked nothing for
 * `idleAfterMs`), when one of them rang `COLD_BELL`. A pass looks at the hot
 * ones only, so its cost follows the LPARs at work, not every LPAR attached
 * (1,000 LPARs booting a few at a time: a pass over all of them made each
 * hcall cost more the more LPARs there were). A cold LPAR's first request
 * waits at most this many passes (`COLD_SCAN_MAX_EVERY` while some guest
 * rings for nothing, and never past `COLD_LOOK_MS`), and a pass before
 * sleeping looks at the cold channels too if one rang. Looking at them only
 * when one rang matters at scale: the look before each sleep went over every
 * channel, each on its own page, and booting 1,000 LPARs slept often enough
 * that this took a third of the hypervisor's time.
 */
const COLD_SCAN_EVERY = 16;
/**
 * Most passes between looks at the cold channels while their rings find
 * nothing there: a guest can ring `COLD_BELL` at will, and each look it makes
 * the hypervisor take costs every channel attached. After
 * {@link SPURIOUS_RINGS} looks in a row that a ring made and that found no
 * request, the interval doubles up to this (a power of two, as
 * `COLD_SCAN_EVERY` is); a look that finds one sets it back.
 */
const COLD_SCAN_MAX_EVERY = 256;
/** Looks in a row a ring made that found nothing before the interval grows. */
const SPURIOUS_RINGS = 4;

interface Slot {
  lpar: LparId;
  header: Int32Array;
  registers: RegisterFile;
  /** Answers given. */
  served: number;
  /** Last time (ms) a request was seen pending. */
  lastActive: number;
  /** Whether the LPAR holds a turn (one of the `maxActive` ones if it `streams`). */
  active: boolean;
  /** Whether it asks without pause, so needs a stream turn (see `#countLight`). */
  streams: boolean;
  /** Answers outside a stream turn since `lightSince`. */
  lightCount: number;
  /** When (ms) the current count of answers outside a stream turn began. */
  lightSince: number;
  /** Answers left in the current turn. */
  quota: number;
  /** When (ms) the current stream turn began (`maxTurnMs` bounds those only). */
  turnStart: number;
  /** Whether the LPAR has a request it is being held back on. */
  waiting: boolean;
  /** Until when (ms) a turn given to a sleeping guest waits for it to wake up. */
  wakeGrace: number;
  /** When (ms) the guest, sleeping, was notified of its answer (0: it was not). */
  notifiedAt: number;
  /** Whether it is in the hot list (it asked something within `idleAfterMs`). */
  hot: boolean;
  /** Whether its HOT word says HOT_AWAKE (it is in `#awake`). */
  awake: boolean;
}

/** Serves every attached channel from one thread. */
export class Dispatcher {
  readonly #bell: Int32Array;
  readonly #handle: HcallHandler;
  readonly #request: RequestHandler;
  readonly #options: DispatcherOptions;
  /** Set by stop(); in no buffer a guest holds. */
  #stopping = false;
  #slots: Slot[] = [];
  /** The slots that asked something within `idleAfterMs`, and any active or waiting one. */
  #hot: Slot[] = [];
  /** Channels looked at by passes so far (what a pass costs grows with it). */
  #looks = 0;
  /** `COLD_BELL` as the last look at the cold channels found it. */
  #coldSeen = 0;
  /** When (ms) the cold channels were last looked at. */
  #coldLookedAt = -Infinity;
  /** Passes between looks at the cold channels when one rang (see COLD_SCAN_MAX_EVERY). */
  #coldEvery = COLD_SCAN_EVERY;
  /** Looks in a row that a ring made and that found nothing. */
  #spurious = 0;
  readonly #args: bigint[] = new Array(ARG_COUNT).fill(0n);
  #clock = performance.now();
  #passes = 0;
  /** Turns held by LPARs that stream: at most `maxActive`. */
  #streaming = 0;
  #waiting = 0;
  /** A turn just ended with its guest mid-stream: that guest wakes the next. */
  #handoff = false;
  readonly #idle: IdleWindow;
  #sleeps = 0;
  #yields = 0;
  /** When (ms, the pass clock) a pass last answered something. */
  #lastAnswered = -Infinity;
  /** Whether the hypervisor is going to sleep or asleep: no channel is marked HOT_AWAKE. */
  #watching = false;
  /**
   * The hot channels marked HOT_AWAKE since the last sleep: those answered
   * while awake, not every hot one, so going to sleep and waking cost what
   * the LPARs at work cost (hundreds of hot LPARs that think between hcalls
   * had the hypervisor mark them all on every wake-up, before it answered).
   */
  #awake: Slot[] = [];

  constructor(
    doorbell: SharedArrayBuffer,
    handle: HcallHandler,
    request: RequestHandler,
    options?: Partial<DispatcherOptions>,
  ) {
    this.#bell = new Int32Array(doorbell);
    this.#handle = handle;
    this.#request = request;
    this.#options = { ...DEFAULTS, ...options };
    this.#idle = new IdleWindow(this.#options.idleMinMs, this.#options.idleMaxMs);
  }

  /**
   * What the serve loop has learned (a wake-up's cost and its idle window,
   * in ms) and how often it slept on the doorbell or yielded to the event loop.
   */
  get idle(): { wakeMs: number; windowMs: number; sleeps: number; yields: number } {
    return {
      wakeMs: this.#idle.wakeMs,
      windowMs: this.#idle.ms,
      sleeps: this.#sleeps,
      yields: this.#yields,
    };
  }

  /** Channels looked at by every pass so far: a pass looks at the hot ones, now and then at all. */
  get looks(): number {
    return this.#looks;
  }

  /** Starts serving an LPAR's channel. */
  attach(lpar: LparId, channel: SharedArrayBuffer): void {
    if (this.#slots.some((s) => s.lpar === lpar)) {
      throw new RangeError(`LPAR ${lpar} attached twice`);
    }
    const views = channelViews(channel), header = views.header;
    // Not looked at on every pass yet: its first request rings COLD_BELL.
    Atomics.store(header, HOT, 0);
    // A request made before the attach may have rung while no slot read it:
    // the next look at the cold channels is due now, whatever the bell says.
    this.#coldLookedAt = -Infinity;
    this.#slots = [...this.#slots, {
      lpar,
      header,
      registers: registerFile(views),
      served: 0,
      lastActive: -Infinity,
      active: false,
      streams: false,
      lightCount: 0,
      lightSince: -Infinity,
      quota: 0,
      turnStart: 0,
      waiting: false,
      wakeGrace: 0,
      notifiedAt: 0,
      hot: false,
      awake: false,
    }];
  }

  /** Stops serving an LPAR's channel. */
  detach(lpar: LparId): void {
    const slot = this.#slots.find((s) => s.lpar === lpar);
    // Its channel is not marked again (attached anew, it says cold).
    if (slot) slot.awake = false;
    if (slot?.active) this.#deactivate(slot);
    if (slot?.waiting && --this.#waiting < 0) throw new Error("dispatcher: #waiting below 0");
    this.#slots = this.#slots.filter((s) => s.lpar !== lpar);
    this.#hot = this.#hot.filter((s) => s.lpar !== lpar);
  }

  /** Whether some LPAR has a request it is being held back on. */
  get holding(): boolean {
    return this.#waiting > 0;
  }

  /**
   * One pass over every channel; returns how many requests were answered.
   * While every turn is taken, the channels without one are looked at only
   * on every 16th pass; `full` looks at them now (before sleeping, a request
   * there must not be missed).
   */
  serveOnce(full = false): number {
    const options = this.#options;
    const pass = ++this.#passes;
    if ((pass & 31) === 0) this.#clock = performance.now();
    const now = this.#clock;
    let cold = false;
    if (full || pass % COLD_SCAN_EVERY === 0) {
      this.#cool();
      // The cold channels are looked at once COLD_LOOK_MS has passed, whatever
      // the bell says (a guest can tamper with it: a request it hides is late by
      // at most that, never lost), or when one rang, heard every #coldEvery passes.
      cold = now - this.#coldLookedAt >= COLD_LOOK_MS ||
        ((full || pass % this.#coldEvery === 0) &&
          Atomics.load(this.#bell, COLD_BELL) !== this.#coldSeen);
    }
    const hot = this.#hot;
    this.#looks += hot.length;
    let answered = 0;
    // Active LPARs first: answer, end turns that are used up or unused.
    for (const s of hot) {
      if (!s.active) continue;
      const header = s.header;
      const req = Atomics.load(header, REQ);
      if (req === header[RESP]) {
        // A hammering LPAR keeps its turn through short pauses (GC, preemption);
        // one that asked only a few times gives it up almost at once.
        const used = options.maxLead - s.quota;
        const release = used >= HAMMERING ? options.releaseAfterMs : QUICK_RELEASE_MS;
        const waking = used <= 1 && now < s.wakeGrace;
        if (now - s.lastActive > release && !waking) this.#deactivate(s);
        continue;
      }
      s.lastActive = now;
      this.#answer(s, req);
      answered++;
      if (!s.streams) {
        this.#countLight(s, now);
        if (!s.active) continue;
      }
      if (
        s.streams && this.#waiting > 0 &&
        (s.quota <= 0 || performance.now() - s.turnStart > options.maxTurnMs)
      ) {
        this.#deactivate(s);
        this.#handoff = true;
      }
    }
    // Then the others. One that thinks between hcalls is answered at once, in
    // a turn of its own; a free stream turn goes to the least-served one that
    // streams. While every stream turn is taken, this scan runs on every 16th
    // pass only, so the streams keep the hypervisor.
    if (!full && this.#streaming >= options.maxActive && (pass & 15) !== 0) return answered;
    if (cold) this.#lookAtCold();
    let best: Slot | undefined;
    for (const s of hot) {
      if (s.active) continue;
      const header = s.header;
      if (Atomics.load(header, REQ) === header[RESP] || Atomics.load(header, STOP) !== 0) {
        // Nothing asked, or the guest stopped and abandoned its request.
        if (s.waiting) this.#unwait(s);
        continue;
      }
      if (now - s.lastActive >= options.idleAfterMs) {
        // Back from idle: start level with the busy ones, not far behind them,
        // and as one that thinks between hcalls (a shorter gap than this may
        // be no pause but its thread waiting for a core).
        const floor = this.#busyFloor(now);
        if (floor !== Infinity && s.served < floor) s.served = floor;
        s.streams = false;
      }
      s.lastActive = now;
      if (!s.streams) {
        this.#activate(s);
        this.#answer(s, Atomics.load(header, REQ));
        answered++;
        this.#countLight(s, now);
        continue;
      }
      if (!best || s.served < best.served) best = s;
      if (!s.waiting) {
        s.waiting = true;
        this.#waiting++;
      }
    }
    while (best && this.#streaming < options.maxActive) {
      this.#activate(best);
      const req = Atomics.load(best.header, REQ);
      this.#answer(best, req);
      answered++;
      best = this.#waiting > 0 ? this.#leastWaiting() : undefined;
    }
    // A hand-off no turn was given for (the waiters took their requests back,
    // or stopped) is stale: a later turn's guest may sleep, so it is woken.
    this.#handoff = false;
    // Whoever still waits is told so, and stops spinning.
    if (this.#waiting > 0) {
      for (const s of hot) {
        if (s.waiting && s.header[DEFERRED] === 0) Atomics.store(s.header, DEFERRED, 1);
      }
    }
    return answered;
  }

  /**
   * Looks at the cold channels: one that asks is hot from now on. Its own
   * method: its lines run rarely (none while every LPAR is hot), and the
   * JIT's first run of them must not throw away `serveOnce`'s optimized code
   * (that cost an idle hypervisor a recompile of `serveOnce`, about 15 ms of
   * CPU, in the bench's idle second).
   */
  #lookAtCold(): void {
    const hot = this.#hot;
    // A ring after this load is seen by the next look.
    const seen = Atomics.load(this.#bell, COLD_BELL);
    const rang = seen !== this.#coldSeen;
    this.#coldSeen = seen;
    this.#coldLookedAt = this.#clock;
    this.#looks += this.#slots.length - hot.length;
    const before = hot.length;
    for (const s of this.#slots) {
      if (s.hot) continue;
      const header = s.header;
      if (Atomics.load(header, REQ) === header[RESP] || Atomics.load(header, STOP) !== 0) {
        continue;
      }
      s.hot = true;
      Atomics.store(header, HOT, HOT_WATCHED); // HOT_AWAKE once answered awake
      hot.push(s);
    }
    if (hot.length > before) {
      this.#coldEvery = COLD_SCAN_EVERY;
      this.#spurious = 0;
    } else if (rang && ++this.#spurious >= SPURIOUS_RINGS) {
      this.#coldEvery = Math.min(this.#coldEvery * 2, COLD_SCAN_MAX_EVERY);
      this.#spurious = 0;
    }
  }

  /**
   * Drops from the hot list the slots idle for `idleAfterMs` that hold no
   * turn and wait for none (every LPAR `#busyFloor` counts stays in it).
   */
  #cool(): void {
    const now = this.#clock;
    const idleAfter = this.#options.idleAfterMs;
    let kept = 0;
    const hot = this.#hot;
    for (const s of hot) {
      if (s.active || s.waiting || now - s.lastActive < idleAfter) {
        hot[kept++] = s;
        continue;
      }
      // HOT cleared, then REQ looked at; the guest stores REQ, then looks at
      // HOT. Both are sequentially consistent, so a request that raced with
      // this either rang COLD_BELL or is seen here and keeps the slot hot.
      const header = s.header;
      Atomics.store(header, HOT, 0);
      s.awake = false;
      if (Atomics.load(header, REQ) !== header[RESP] && Atomics.load(header, STOP) === 0) {
        Atomics.store(header, HOT, HOT_WATCHED);
        hot[kept++] = s;
      } else s.hot = false;
    }
    hot.length = kept;
  }

  #busyFloor(now: number): number {
    let floor = Infinity;
    for (const s of this.#hot) {
      if (now - s.lastActive < this.#options.idleAfterMs && s.served < floor) floor = s.served;
    }
    return floor;
  }

  #leastWaiting(): Slot | undefined {
    let best: Slot | undefined;
    for (const s of this.#hot) if (s.waiting && (!best || s.served < best.served)) best = s;
    return best;
  }

  #unwait(s: Slot): void {
    s.waiting = false;
    if (--this.#waiting < 0) throw new Error("dispatcher: #waiting below 0");
    if (s.header[DEFERRED] !== 0) Atomics.store(s.header, DEFERRED, 0);
  }

  /**
   * Counts an answer given outside a stream turn. An LPAR answered
   * `HAMMERING` times within `LIGHT_WINDOW_MS` streams from then on: it takes
   * one of the `maxActive` stream turns, or, none free, waits for one.
   */
  #countLight(s: Slot, now: number): void {
    if (now - s.lightSince > LIGHT_WINDOW_MS) {
      s.lightSince = now;
      s.lightCount = 0;
    }
    if (++s.lightCount < HAMMERING) return;
    s.streams = true;
    // A turn freed while others wait is theirs (the least served gets it):
    // taken here, it would go to whoever reached HAMMERING in that pass.
    if (this.#waiting === 0 && this.#streaming < this.#options.maxActive) {
      this.#streaming++;
      s.turnStart = performance.now(); // maxTurnMs bounds stream turns only
    } else s.active = false;
  }

  /** Gives a turn: a stream turn to one that `streams` (it waited for it), else a turn of its own. */
  #activate(s: Slot): void {
    if (s.waiting) this.#unwait(s);
    else if (s.header[DEFERRED] !== 0) Atomics.store(s.header, DEFERRED, 0);
    s.active = true;
    s.quota = this.#options.maxLead;
    s.wakeGrace = Atomics.load(s.header, GUEST_WAITING) !== 0 ? this.#clock + WAKE_GRACE_MS : 0;
    if (!s.streams) return;
    s.turnStart = performance.now();
    // Invariants at the seams (a compare a turn, not an answer): a broken
    // count would let streams past maxActive or shut them all out.
    if (++this.#streaming > this.#options.maxActive) {
      throw new Error(
        `dispatcher: ${this.#streaming} stream turns, maxActive ${this.#options.maxActive}`,
      );
    }
    if (this.#handoff) {
      this.#handoff = false; // the guest whose turn ended wakes this one
    } else {
      Atomics.add(this.#bell, TURN, 1);
      Atomics.notify(this.#bell, TURN);
    }
  }

  #deactivate(s: Slot): void {
    s.active = false;
    if (s.streams && --this.#streaming < 0) throw new Error("dispatcher: #streaming below 0");
  }

  /** Answers the request `req`, counted to the LPAR and against its turn. */
  #answer(s: Slot, req: number): void {
    s.served++;
    s.quota--;
    const args = this.#args;
    if (s.notifiedAt !== 0) {
      // The guest slept for its last answer: how soon it asked again is what
      // its wake-up cost (or more, if it also did other work).
      this.#idle.observeWake(performance.now() - s.notifiedAt);
      s.notifiedAt = 0;
    }
    const opcode = readRequest(s.registers, args);
    const kind = s.header[KIND];
    const { rc, rets } = kind === KIND_HCALL
      ? this.#handle(s.lpar, opcode, args)
      : this.#request(s.lpar, kind, args);
    writeAnswer(s.registers, rc, rets);
    // Only this thread writes ANSWERED: a plain increment, published by the
    // seq-cst RESP store below (no locked add on every hcall).
    s.header[ANSWERED] = (s.header[ANSWERED] + 1) | 0;
    // Answered awake: its guest need not ring until the next sleep. (Before
    // RESP: the guest's next request reads the mark, as the sleep's does.)
    if (!s.awake && !this.#watching) this.#markAwake(s);
    Atomics.store(s.header, RESP, req);
    if (Atomics.load(s.header, GUEST_WAITING) !== 0) {
      Atomics.notify(s.header, RESP);
      s.notifiedAt = performance.now();
    }
  }

  /** Whether stop() was called. */
  get stopping(): boolean {
    return this.#stopping;
  }

  /** Makes run() end (waking it if it sleeps). */
  stop(): void {
    this.#stopping = true;
    Atomics.add(this.#bell, BELL, 1);
    Atomics.notify(this.#bell, BELL);
  }

  /**
   * Serves until stop() is called. Serves synchronously while
   * requests flow, yields to the event loop every `sliceMs` so control
   * messages are answered, and sleeps with `Atomics.waitAsync` when idle, so
   * an idle hypervisor burns no CPU and still hears control messages.
   */
  async run(): Promise<void> {
    const { sliceMs } = this.#options;
    // When the event loop last ran: a sleep that a guest's ring ends inside
    // its synchronous millisecond lets no control message in, and a guest
    // can ring at will, so the slice counts from here, not from the last sleep.
    let turned = performance.now();
    while (!this.stopping) {
      this.#clock = performance.now();
      // Since when (ms) nothing was answered; -1 while requests flow.
      let idleSince = -1, sleep = false;
      for (let pass = 1;; pass++) {
        // Never sleep while holding someone back: their turn comes from here.
        const answered = this.serveOnce();
        if (answered > 0) this.#lastAnswered = this.#clock;
        if (answered > 0 || this.#waiting > 0) idleSince = -1;
        else if ((pass & 7) === 0) {
          // Keep looking for the learned window (longer than a wake-up), so
          // a guest that calls again at once never finds the hypervisor asleep.
          const now = performance.now();
          if (idleSince < 0) idleSince = now;
          else if (now - idleSince >= this.#idle.ms) {
            sleep = true;
            break;
          }
        }
        if ((pass & 127) === 0 && (this.stopping || performance.now() - turned > sliceMs)) break;
      }
      if (sleep) {
        this.#sleeps++;
        if (await this.#sleep()) {
          turned = performance.now();
          continue;
        }
        if (performance.now() - turned <= sliceMs) continue;
      }
      this.#yields++;
      await yieldToEventLoop();
      turned = performance.now();
    }
  }

  /** A full pass found something to do, someone waits for a turn, or the loop is to end. */
  #busy(): boolean {
    const answered = this.serveOnce(true);
    if (answered > 0) this.#lastAnswered = this.#clock; // the naps count from here too
    return answered > 0 || this.#waiting > 0 || this.stopping;
  }

  /** Tells a hot channel's guest that it need not ring (the hypervisor is awake). */
  #markAwake(s: Slot): void {
    s.awake = true;
    Atomics.store(s.header, HOT, HOT_AWAKE);
    const awake = this.#awake;
    // A channel cooled and asked again before a sleep is here twice: while
    // the hypervisor never sleeps the list must not grow without end.
    if (awake.length >= 2 * this.#slots.length + 64) {
      this.#awake = awake.filter((a) => a.awake);
      this.#awake.push(s);
    } else awake.push(s);
  }

  /**
   * Tells every channel marked `HOT_AWAKE` that its guest must ring
   * (`HOT_WATCHED`; the other hot channels say so already). Marked watched,
   * then looked at once more (`#busy`): a guest stores its request, then
   * reads the mark, so either that look finds the request or the guest rings.
   */
  #markWatched(): void {
    this.#watching = true;
    const awake = this.#awake;
    for (const s of awake) {
      if (!s.awake) continue; // cooled or detached since
      s.awake = false;
      Atomics.store(s.header, HOT, HOT_WATCHED);
    }
    awake.length = 0;
  }

  /** Sleeps on the doorbell; returns whether the event loop ran meanwhile. */
  async #sleep(): Promise<boolean> {
    this.#markWatched();
    try {
      return await this.#doze();
    } finally {
      this.#watching = false;
    }
  }

  async #doze(): Promise<boolean> {
    const bell = this.#bell;
    const seen = Atomics.load(bell, BELL);
    // A request that raced with going to sleep is served (or queued for a
    // turn) now, not missed: its doorbell ring may predate `seen`, so
    // nothing would wake us for it. Hence a full pass.
    if (this.#busy()) return false;
    const dozed = performance.now();
    if (Atomics.wait(bell, BELL, seen, SYNC_SLEEP_MS) === "ok") {
      if (!this.stopping) this.#idle.observeSleep(performance.now() - dozed);
      return false;
    }
    // Still nothing: sleep with the event loop free for control messages,
    // unless requests came lately (then the next nap, after run() has let
    // the event loop in if its slice is up).
    if (this.#busy() || performance.now() - this.#lastAnswered < BUSY_NAP_MS) return false;
    const waiting = Atomics.waitAsync(bell, BELL, seen, IDLE_SLEEP_MS);
    if (!waiting.async) return false;
    const asleep = performance.now();
    const outcome = await waiting.value;
    // A slice that ran out measures nothing of a wake-up.
    if (!this.stopping && outcome === "ok") this.#idle.observeSleep(performance.now() - asleep);
    return true;
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
