/**
 * The cold channels and COLD_BELL (channel/dispatcher.ts): the hypervisor
 * looks at the channels that asked nothing lately only when one rang
 * COLD_BELL, and at least every COLD_LOOK_MS whatever the bell says. Here
 * a seeded fuzz drives `Dispatcher.serveOnce` over random interleavings of
 * honest requests (as GuestPort.call makes them), hostile writes to a hostile
 * guest's own header and to the shared doorbell, full and ordinary passes,
 * detaches and attaches, on a clock the test moves (`performance.now` is
 * replaced for the test's length, so the bounds are in passes and virtual
 * milliseconds, never in the machine's speed).
 *
 * Invariants: with honest guests only, every request is answered within
 * COLD_SCAN_EVERY passes (at once by a full pass); with hostile guests too,
 * every honest request is answered within a few dozen passes once
 * COLD_LOOK_MS of clock has passed since it was asked (late, never lost).
 */
import assert from "node:assert/strict";
import { Dispatcher } from "../channel/dispatcher.ts";
import { GuestPort } from "../channel/guest_port.ts";
import {
  BELL,
  channelViews,
  COLD_BELL,
  createChannel,
  createDoorbell,
  HEADER_WORDS,
  HOT,
  HOT_AWAKE,
  HOT_WATCHED,
  REQ,
  RESP,
  STOP,
} from "../channel/layout.ts";
import { withClock, withTickingClock } from "./virtual_clock.ts";

const NO_RETS = new Array(9).fill(0n);
/** channel/dispatcher.ts's COLD_LOOK_MS, IDLE_SLEEP_MS and COLD_SCAN_EVERY. */
const COLD_LOOK_MS = 20, IDLE_SLEEP_MS = 1000, COLD_SCAN_EVERY = 16;
/**
 * Passes, once COLD_LOOK_MS has passed, within which a hidden request is
 * seen: the dispatcher reads the clock every 32 passes and looks at the cold
 * channels every 16th.
 */
const LATE_PASSES = 32 + COLD_SCAN_EVERY + 1;

/** xorshift32: reproducible from the seed a failure names. */
function rng(seed: number): (n: number) => number {
  let x = (seed >>> 0) || 1;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

interface Honest {
  lpar: number;
  header: Int32Array;
  attached: boolean;
  /** The request asked and not answered yet, with when (virtual ms and pass). */
  pending?: { seq: number; at: number; pass: number; lateFrom?: number };
}

/** One seeded run: `steps` random steps; `hostiles` guests misbehave. */
function fuzz(seed: number, steps: number, hostiles: number): void {
  withClock((clock) => {
    const next = rng(seed);
    const doorbell = createDoorbell();
    const bell = new Int32Array(doorbell);
    const honest: Honest[] = Array.from({ length: 5 }, (_, i) => ({
      lpar: i + 1,
      header: channelViews(createChannel()).header,
      attached: false,
    }));
    const hostile = Array.from({ length: hostiles }, () => channelViews(createChannel()).header);
    const dispatcher = new Dispatcher(
      doorbell,
      () => ({ rc: 0, rets: NO_RETS }),
      () => ({ rc: -2, rets: NO_RETS }),
      // Every LPAR can hold a turn, so a seen request is answered in its
      // pass; a short idleAfterMs makes channels go cold (and race) often.
      { maxActive: honest.length + hostiles, idleAfterMs: 1 + next(8) },
    );
    for (const h of honest) {
      dispatcher.attach(h.lpar, h.header.buffer as SharedArrayBuffer);
      h.attached = true;
    }
    hostile.forEach((header, i) => dispatcher.attach(100 + i, header.buffer as SharedArrayBuffer));
    /** COLD_BELL values seen so far: a hostile guest puts old ones back. */
    const bells: number[] = [0];
    let pass = 0;
    const where = (step: number) => `seed ${seed}, step ${step}, pass ${pass}`;

    const check = (step: number, full: boolean) => {
      for (const h of honest) {
        const p = h.pending;
        if (!p) continue;
        if (Atomics.load(h.header, RESP) === p.seq) {
          h.pending = undefined;
          continue;
        }
        if (hostiles === 0) {
          assert.ok(!full, `${where(step)}: a full pass missed LPAR ${h.lpar}'s request`);
          assert.ok(
            pass - p.pass < COLD_SCAN_EVERY,
            `${where(step)}: LPAR ${h.lpar}'s request waited ${pass - p.pass} passes`,
          );
        }
        if (clock.now - p.at >= COLD_LOOK_MS) p.lateFrom ??= pass;
        assert.ok(
          p.lateFrom === undefined || pass - p.lateFrom < LATE_PASSES,
          `${where(step)}: LPAR ${h.lpar}'s request (asked at ${p.at} ms, now ${clock.now}) ` +
            `unanswered ${pass - p.lateFrom!} passes after COLD_LOOK_MS`,
        );
      }
    };

    for (let step = 0; step < steps; step++) {
      const what = next(100);
      if (what < 25) {
        // An honest guest asks, as GuestPort.call does.
        const h = honest[next(honest.length)];
        if (!h.attached || h.pending) continue;
        const seq = (h.header[REQ] + 1) | 0;
        Atomics.store(h.header, REQ, seq);
        const hot = Atomics.load(h.header, HOT);
        if (hot === 0) Atomics.add(bell, COLD_BELL, 1);
        if (hot !== HOT_AWAKE) Atomics.add(bell, BELL, 1);
        h.pending = { seq, at: clock.now, pass };
      } else if (what < 45 && hostiles > 0) {
        // A hostile guest writes anything in its own header or the doorbell.
        const header = hostile[next(hostile.length)];
        const choice = next(10);
        if (choice < 3) {
          // Hide the honest rings: an old COLD_BELL value back.
          Atomics.store(bell, COLD_BELL, bells[next(bells.length)]);
        } else if (choice < 4) {
          Atomics.store(bell, next(3), next(1 << 30) - (1 << 29));
        } else if (choice < 6) {
          Atomics.store(header, HOT, next(3));
        } else if (choice < 8) {
          // A request, with or without a ring.
          Atomics.store(header, REQ, (header[REQ] + 1) | 0);
          if (next(2) === 0) Atomics.add(bell, COLD_BELL, 1);
        } else {
          Atomics.store(header, next(HEADER_WORDS), next(4) === 0 ? -1 : next(5));
        }
      } else if (what < 80) {
        for (let n = 1 + next(40); n > 0; n--) {
          dispatcher.serveOnce();
          pass++;
          check(step, false);
        }
      } else if (what < 86) {
        dispatcher.serveOnce(true);
        pass++;
        check(step, true);
      } else if (what < 96) {
        clock.now += next(4) === 0 ? next(30) : next(300) / 100;
      } else {
        // Detach an honest LPAR (its request goes with it), or attach it
        // again on a fresh channel, as the threads runtime does.
        const h = honest[next(honest.length)];
        if (h.attached) {
          dispatcher.detach(h.lpar);
          h.attached = false;
          h.pending = undefined;
        } else {
          h.header = channelViews(createChannel()).header;
          dispatcher.attach(h.lpar, h.header.buffer as SharedArrayBuffer);
          h.attached = true;
        }
      }
      const b = Atomics.load(bell, COLD_BELL);
      if (bells.at(-1) !== b && bells.length < 64) bells.push(b);
    }
    // Every request still pending is answered once the slice has passed.
    clock.now += COLD_LOOK_MS;
    for (let n = 0; n < LATE_PASSES; n++) {
      dispatcher.serveOnce();
      pass++;
    }
    for (const h of honest) {
      assert.ok(
        !h.pending || Atomics.load(h.header, RESP) === h.pending.seq,
        `seed ${seed}: LPAR ${h.lpar}'s request was lost`,
      );
    }
  });
}

Deno.test("dispatcher fuzz: honest guests only, every request answered within 16 passes", () => {
  for (let seed = 1; seed <= 300; seed++) fuzz(seed, 2_000, 0);
});

Deno.test("dispatcher fuzz: hostile guests delay an honest request by COLD_LOOK_MS at most", () => {
  for (let seed = 1; seed <= 300; seed++) fuzz(seed, 2_000, 2);
});

Deno.test("dispatcher: a hostile guest hiding another's COLD_BELL ring delays it, never loses it", () => {
  withClock((clock) => {
    const doorbell = createDoorbell();
    const bell = new Int32Array(doorbell);
    const victim = channelViews(createChannel()).header;
    const dispatcher = new Dispatcher(doorbell, () => ({ rc: 0, rets: NO_RETS }), () => ({
      rc: -2,
      rets: NO_RETS,
    }));
    dispatcher.attach(1, victim.buffer as SharedArrayBuffer);
    dispatcher.serveOnce(true); // the first look at the cold channels
    const before = Atomics.load(bell, COLD_BELL);
    Atomics.store(victim, REQ, 1);
    Atomics.add(bell, COLD_BELL, 1);
    Atomics.store(bell, COLD_BELL, before); // the hostile guest puts it back
    for (let i = 0; i < 100; i++) dispatcher.serveOnce(i % 2 === 0);
    assert.equal(victim[RESP], 0, "answered before the slice: the test shows nothing");
    clock.now += COLD_LOOK_MS;
    for (let i = 0; i < LATE_PASSES && Atomics.load(victim, RESP) !== 1; i++) {
      dispatcher.serveOnce();
    }
    assert.equal(victim[RESP], 1);
    assert.equal(victim[STOP], 0);
  });
});

Deno.test("dispatcher: an idle hypervisor sleeps up to IDLE_SLEEP_MS, and the pass a ring wakes it to looks at the quiet channels", async () => {
  // It need not wake every COLD_LOOK_MS to look for rings a guest hid: the
  // guest that waits rings again (see the GuestPort test below), and the
  // pass that ring wakes it to looks at every quiet channel, COLD_LOOK_MS
  // having passed. The sleep's timeouts are recorded; the ring is a notify
  // that leaves BELL as it was (a hostile guest put the old value back).
  const timeouts: number[] = [];
  const hidden = channelViews(createChannel()).header;
  let dispatcher: Dispatcher | undefined;
  await withTickingClock(async (clock) => {
    Atomics.wait = () => "timed-out";
    Atomics.waitAsync = ((_: Int32Array, __: number, ___: number, timeout?: number) => {
      timeouts.push(timeout ?? Infinity);
      if (timeouts.length === 1) {
        // Asleep: the request, with no COLD_BELL (hidden), then 25 ms later the re-ring.
        Atomics.store(hidden, REQ, 1);
        clock.now += 25;
        return { async: true, value: Promise.resolve("ok") };
      }
      dispatcher!.stop();
      return { async: false, value: "timed-out" };
    }) as typeof Atomics.waitAsync;
    dispatcher = new Dispatcher(createDoorbell(), () => ({ rc: 0, rets: NO_RETS }), () => ({
      rc: -2,
      rets: NO_RETS,
    }));
    dispatcher.attach(1, hidden.buffer as SharedArrayBuffer);
    dispatcher.serveOnce(true); // the look at the cold channels, at 1,000 ms
    await dispatcher.run();
  });
  assert.equal(timeouts[0], IDLE_SLEEP_MS, `an idle hypervisor slept ${timeouts[0]} ms at most`);
  assert.equal(Atomics.load(hidden, RESP), 1, "the hidden request was not seen after the wake-up");
});

/**
 * A guest's port with no hypervisor: `onSleep` stands in for its every
 * `Atomics.wait` on RESP (given the timeout, and whether to answer), while
 * `body` runs; other waits are real.
 */
function loneGuest(
  onSleep: (timeout: number) => boolean,
  body: (port: GuestPort, bell: Int32Array, header: Int32Array) => void,
): void {
  const doorbell = createDoorbell();
  const channel = createChannel();
  const header = channelViews(channel).header;
  const { wait } = Atomics;
  try {
    Atomics.wait = ((array: Int32Array, index: number, value: number, timeout?: number) => {
      if (array.buffer !== header.buffer || index !== RESP) {
        return wait(array, index, value, timeout);
      }
      if (!onSleep(timeout ?? Infinity)) return "timed-out";
      Atomics.store(header, RESP, value + 1);
      return "ok";
    }) as typeof Atomics.wait;
    body(new GuestPort(channel, doorbell), new Int32Array(doorbell), header);
  } finally {
    Atomics.wait = wait;
  }
}

Deno.test("GuestPort: a guest waiting for its answer rings the doorbell again after each 20 ms sleep", () => {
  const sleeps: number[] = [];
  let rung = 0;
  // Each sleep on RESP times out; the third one is answered.
  loneGuest((timeout) => sleeps.push(timeout) >= 3, (port, bell) => {
    port.call(0x4, [], new Array(9).fill(0n));
    rung = bell[BELL];
  });
  assert.deepEqual(sleeps, [20, 20, 20]);
  // The ring of the call, and one after each of the two sleeps that ended unanswered.
  assert.equal(rung, 3);
});

Deno.test("GuestPort: rings COLD_BELL and BELL on a cold channel, BELL when watched, nothing to an awake hypervisor", () => {
  const rings: string[] = [];
  // The guest's first sleep on RESP is answered at once.
  loneGuest(() => true, (port, bell, header) => {
    for (const mark of [0, HOT_WATCHED, HOT_AWAKE]) {
      Atomics.store(header, HOT, mark);
      const cold = bell[COLD_BELL], rung = bell[BELL];
      port.call(0x4, [], new Array(9).fill(0n));
      rings.push(`${bell[COLD_BELL] - cold}/${bell[BELL] - rung}`);
    }
  });
  assert.deepEqual(rings, ["1/1", "0/1", "0/0"], "COLD_BELL/BELL rings for HOT 0, 1, 2");
});

Deno.test("dispatcher: a guest ringing COLD_BELL at will cannot make passes look at every channel", () => {
  // 1,000 LPARs; one hostile guest rings COLD_BELL on every pass. Each look
  // at the cold channels costs all 1,000: heeded every 16th pass, the rings
  // would cost 62 looks a pass, against the 1 or 2 of the channels at work.
  withClock(() => {
    const lpars = 1000;
    const doorbell = createDoorbell();
    const bell = new Int32Array(doorbell);
    const headers = Array.from({ length: lpars }, () => channelViews(createChannel()).header);
    // Turns to spare: a request seen is answered in its pass (the clock
    // stands still, so no turn is given up).
    const dispatcher = new Dispatcher(doorbell, () => ({ rc: 0, rets: NO_RETS }), () => ({
      rc: -2,
      rets: NO_RETS,
    }), { maxActive: 8 });
    headers.forEach((h, i) => dispatcher.attach(i + 1, h.buffer as SharedArrayBuffer));
    const passes = 25_600;
    const before = dispatcher.looks;
    for (let i = 0; i < passes; i++) {
      Atomics.add(bell, COLD_BELL, 1);
      dispatcher.serveOnce();
    }
    const looks = dispatcher.looks - before;
    // 1 look a pass (the backoff's first looks, at 16, 32, 64 and 128 passes,
    // cost 16 x 1,000 in all), then one look at all every 256 passes.
    assert.ok(looks <= passes * 5, `${looks} channels looked at in ${passes} passes`);
    // Still ringing: an honest cold request is seen within COLD_SCAN_MAX_EVERY passes...
    const victim = headers[700];
    Atomics.store(victim, REQ, 1);
    Atomics.add(bell, COLD_BELL, 1);
    let waited = 0;
    while (Atomics.load(victim, RESP) !== 1) {
      assert.ok(++waited <= 256, `an honest cold request waited ${waited} passes`);
      Atomics.add(bell, COLD_BELL, 1);
      dispatcher.serveOnce();
    }
    // ... and a look that finds one heeds rings every 16th pass again.
    const next = headers[701];
    Atomics.store(next, REQ, 1);
    Atomics.add(bell, COLD_BELL, 1);
    for (waited = 0; Atomics.load(next, RESP) !== 1;) {
      assert.ok(++waited <= COLD_SCAN_EVERY, `the next cold request waited ${waited} passes`);
      dispatcher.serveOnce();
    }
    // A pass before sleeping heeds a ring at once, whatever the interval.
    for (let i = 0; i < 4096; i++) {
      Atomics.add(bell, COLD_BELL, 1);
      dispatcher.serveOnce();
    }
    Atomics.store(headers[702], REQ, 1);
    Atomics.add(bell, COLD_BELL, 1);
    dispatcher.serveOnce(true);
    assert.equal(Atomics.load(headers[702], RESP), 1);
  });
});

Deno.test("dispatcher: a request made on a channel before it is attached is seen by the next look", () => {
  withClock(() => {
    const doorbell = createDoorbell();
    const bell = new Int32Array(doorbell);
    const dispatcher = new Dispatcher(doorbell, () => ({ rc: 0, rets: NO_RETS }), () => ({
      rc: -2,
      rets: NO_RETS,
    }));
    dispatcher.attach(1, createChannel());
    // The guest asks (and rings) before its channel is attached; a look at
    // the cold channels then takes the ring with it.
    const late = channelViews(createChannel()).header;
    Atomics.store(late, REQ, 1);
    Atomics.add(bell, COLD_BELL, 1);
    dispatcher.serveOnce(true);
    dispatcher.attach(2, late.buffer as SharedArrayBuffer);
    dispatcher.serveOnce(true);
    assert.equal(Atomics.load(late, RESP), 1, "seen only COLD_LOOK_MS later");
  });
});
