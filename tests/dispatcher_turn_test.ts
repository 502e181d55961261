/**
 * A turn is bounded in time as well as in answers: an LPAR whose every hcall
 * is expensive, and which asks again while each answer is computed, cannot
 * keep the hypervisor for `maxLead` answers of its choosing while another
 * LPAR waits (found by an attack on the dispatcher). Only a stream needs a
 * turn, so the hcalls here cost 10 us: dearer ones (fewer than `HAMMERING` a
 * millisecond) are answered once a pass, beside the others, with no turn.
 * The clock is one the test moves, never the machine's speed.
 */
import assert from "node:assert/strict";
import { Dispatcher } from "../channel/dispatcher.ts";
import {
  channelViews,
  COLD_BELL,
  createChannel,
  createDoorbell,
  DEFERRED,
  HOT,
  HOT_AWAKE,
  REQ,
  RESP,
} from "../channel/layout.ts";
import type { HcallResult } from "../core/types.ts";
import { ask, HAMMERING, NO_RETS } from "./dispatcher_rig.ts";
import { withClock } from "./virtual_clock.ts";

const HOSTILE = 1, VICTIM = 2;
/** Hypervisor time (ms) of one of the hostile LPAR's hcalls, and the default maxTurnMs. */
const COSTLY_MS = 0.01, MAX_TURN_MS = 25;

Deno.test("dispatcher: an LPAR of costly hcalls gives its turn up to one that waits", () => {
  withClock((clock) => {
    const doorbell = createDoorbell();
    const bell = new Int32Array(doorbell);
    const hostile = channelViews(createChannel());
    const victim = channelViews(createChannel());
    let hostileAnswers = 0;
    const handle = (lpar: number): HcallResult => {
      if (lpar === HOSTILE) {
        hostileAnswers++;
        // 10 us of hypervisor work (costly, yet 100 a millisecond: it
        // streams, so it needs a stream turn), and the guest asks again at once.
        clock.now += COSTLY_MS;
        hostile.header[REQ] = (hostile.header[RESP] + 2) | 0;
      }
      return { rc: 0, rets: NO_RETS };
    };
    const dispatcher = new Dispatcher(doorbell, handle, () => ({ rc: -2, rets: NO_RETS }), {
      maxActive: 1,
    });
    dispatcher.attach(HOSTILE, hostile.header.buffer as SharedArrayBuffer);
    dispatcher.attach(VICTIM, victim.header.buffer as SharedArrayBuffer);
    ask(hostile.header, bell);
    for (let pass = 0; hostileAnswers < HAMMERING; pass++) {
      assert.ok(pass < 1_000, "the hostile LPAR was not answered");
      dispatcher.serveOnce();
    }
    // The victim streams too (64 answers in a millisecond), so waits for the turn.
    for (let i = 1; i <= HAMMERING; i++) {
      ask(victim.header, bell);
      for (let pass = 0; victim.header[RESP] !== i; pass++) {
        assert.ok(pass < 64, `the victim's ask ${i}, not streaming yet, waited`);
        dispatcher.serveOnce();
      }
    }
    ask(victim.header, bell);
    for (let pass = 0; pass < 64; pass++) dispatcher.serveOnce();
    assert.equal(victim.header[DEFERRED], 1, "the victim waits (else this test shows nothing)");
    const start = clock.now, before = hostileAnswers;
    for (let pass = 0; victim.header[RESP] !== HAMMERING + 1; pass++) {
      assert.ok(pass < 20_000, "the victim was never answered");
      dispatcher.serveOnce();
    }
    // Without a time bound, the rest of maxLead (8,192) answers, 80 ms of
    // hypervisor time; with it, what is left of the turn's maxTurnMs (25 ms).
    const waited = clock.now - start;
    assert.ok(waited <= MAX_TURN_MS + 1, `the victim waited ${waited} ms`);
    assert.ok(hostileAnswers - before < 3_000, `${hostileAnswers - before} answers first`);
  });
});

Deno.test("dispatcher: a pass looks at the LPARs at work; a cold one is answered within a bound", () => {
  const lpars = 1000;
  const channels = Array.from({ length: lpars }, () => channelViews(createChannel()));
  const answered: number[] = [];
  const handle = (lpar: number): HcallResult => {
    answered.push(lpar);
    return { rc: 0, rets: NO_RETS };
  };
  const doorbell = createDoorbell();
  const bell = new Int32Array(doorbell);
  const dispatcher = new Dispatcher(doorbell, handle, () => ({ rc: -2, rets: NO_RETS }), {
    maxActive: 1,
  });
  channels.forEach((c, i) => dispatcher.attach(i + 1, c.header.buffer as SharedArrayBuffer));
  // One LPAR, cold so far, asks: it is seen within COLD_SCAN_EVERY (16) passes.
  const busy = channels[500].header;
  ask(busy, bell);
  let passes = 0;
  while (busy[RESP] !== 1) {
    assert.ok(++passes <= 16, `a cold LPAR's request waited ${passes} passes`);
    dispatcher.serveOnce();
  }
  assert.deepEqual(answered, [501]);
  assert.equal(busy[HOT], HOT_AWAKE, "a channel looked at on every pass is marked hot");
  // It keeps asking (hot now, so it rings no COLD_BELL): 6,400 passes look
  // at it, and at the 999 others only as often as COLD_LOOK_MS allows.
  const before = dispatcher.looks;
  for (let i = 0; i < 6400; i++) {
    if (busy[RESP] === busy[REQ]) ask(busy, bell);
    dispatcher.serveOnce();
  }
  const looks = dispatcher.looks - before;
  assert.ok(looks <= 6400 * 2 + 100 * lpars, `${looks} channels looked at in 6,400 passes`);
  // A pass before sleeping looks at the cold channels only if one rang: with
  // none rung it costs the hot ones, not the 1,000.
  const quiet = dispatcher.looks;
  dispatcher.serveOnce(true);
  assert.ok(dispatcher.looks - quiet < lpars, "a pass before sleeping looked at every channel");
  // One rings: the pass before sleeping sees its request at once, and answers
  // it (the one stream turn is taken, but an LPAR that asked once needs none).
  ask(channels[900].header, bell);
  dispatcher.serveOnce(true);
  assert.equal(channels[900].header[RESP], 1);
  assert.equal(channels[900].header[DEFERRED], 0);
});

Deno.test("dispatcher: a cold request whose guest rang nothing is seen within COLD_LOOK_MS", async () => {
  const channels = Array.from({ length: 4 }, () => channelViews(createChannel()));
  const answered: number[] = [];
  const dispatcher = new Dispatcher(createDoorbell(), (lpar) => {
    answered.push(lpar);
    return { rc: 0, rets: NO_RETS };
  }, () => ({ rc: -2, rets: NO_RETS }));
  channels.forEach((c, i) => dispatcher.attach(i + 1, c.header.buffer as SharedArrayBuffer));
  dispatcher.serveOnce(true); // the first look at the cold channels
  // A hostile (or lying) guest: a request, and no COLD_BELL.
  Atomics.store(channels[2].header, REQ, 1);
  dispatcher.serveOnce(true);
  assert.deepEqual(answered, [], "seen before any bell or slice: the test shows nothing");
  // Never lost: once COLD_LOOK_MS (20 ms) has passed, a look finds it.
  await new Promise((resolve) => setTimeout(resolve, 25));
  for (let pass = 0; answered.length === 0; pass++) {
    assert.ok(pass < 64, "the request was not seen after COLD_LOOK_MS");
    dispatcher.serveOnce(true);
  }
  assert.deepEqual(answered, [3]);
});

Deno.test("dispatcher: a channel that goes quiet is marked cold, and rings again", () => {
  const channel = channelViews(createChannel());
  const doorbell = createDoorbell();
  const bell = new Int32Array(doorbell);
  const dispatcher = new Dispatcher(doorbell, () => ({ rc: 0, rets: NO_RETS }), () => ({
    rc: -2,
    rets: NO_RETS,
  }), { idleAfterMs: 0 });
  dispatcher.attach(1, channel.header.buffer as SharedArrayBuffer);
  ask(channel.header, bell);
  dispatcher.serveOnce(true);
  assert.equal(channel.header[RESP], 1);
  assert.equal(channel.header[HOT], HOT_AWAKE);
  // Idle past idleAfterMs (0 here), its turn given up: the next look cools it.
  // (The dispatcher reads the clock every 32 passes: a few thousand passes let time move.)
  for (let i = 0; i < 1_000_000 && channel.header[HOT] === HOT_AWAKE; i++) {
    dispatcher.serveOnce(true);
  }
  assert.equal(channel.header[HOT], 0, "an idle channel stays marked hot");
  const rung = bell[COLD_BELL];
  ask(channel.header, bell);
  assert.equal(bell[COLD_BELL], rung + 1, "a request on a cold channel rings COLD_BELL");
  dispatcher.serveOnce(true);
  assert.equal(channel.header[RESP], 2);
});
