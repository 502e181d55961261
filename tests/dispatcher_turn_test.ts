/**
 * A turn is bounded in time as well as in answers: an LPAR whose every hcall
 * is expensive, and which asks again while each answer is computed, cannot
 * keep the hypervisor for `maxLead` answers of its choosing while another
 * LPAR waits (found by an attack on the dispatcher).
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
  REQ,
  RESP,
} from "../channel/layout.ts";
import type { HcallResult } from "../core/types.ts";

const HOSTILE = 1, VICTIM = 2;
const NO_RETS = new Array(9).fill(0n);

/** Asks as GuestPort.call does: a new REQ, and COLD_BELL rung if the channel is not hot. */
function ask(header: Int32Array, bell: Int32Array): void {
  Atomics.store(header, REQ, (header[REQ] + 1) | 0);
  if (Atomics.load(header, HOT) === 0) Atomics.add(bell, COLD_BELL, 1);
}

Deno.test("dispatcher: an LPAR of costly hcalls gives its turn up to one that waits", () => {
  const hostile = channelViews(createChannel());
  const victim = channelViews(createChannel());
  let hostileAnswers = 0;
  const handle = (lpar: number): HcallResult => {
    if (lpar === HOSTILE) {
      hostileAnswers++;
      // Half a millisecond of hypervisor work, and the guest asks again at once.
      const until = performance.now() + 0.5;
      while (performance.now() < until) { /* the costly hcall */ }
      hostile.header[REQ] = (hostile.header[RESP] + 2) | 0;
    }
    return { rc: 0, rets: NO_RETS };
  };
  const dispatcher = new Dispatcher(createDoorbell(), handle, () => ({ rc: -2, rets: NO_RETS }), {
    maxActive: 1,
  });
  dispatcher.attach(HOSTILE, hostile.header.buffer as SharedArrayBuffer);
  dispatcher.attach(VICTIM, victim.header.buffer as SharedArrayBuffer);
  hostile.header[REQ] = 1;
  dispatcher.serveOnce(); // the hostile LPAR takes the one turn
  victim.header[REQ] = 1;
  for (let pass = 0; victim.header[RESP] !== 1; pass++) {
    assert.ok(pass < 20_000, "the victim was never answered");
    dispatcher.serveOnce();
  }
  // 16,384 answers (8 s of hypervisor time) without a time bound; now about
  // 25 ms of turn plus the passes before the victim is seen: far fewer.
  assert.ok(hostileAnswers < 2_000, `the hostile LPAR got ${hostileAnswers} answers first`);
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
  assert.equal(busy[HOT], 1, "a channel looked at on every pass is marked hot");
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
  assert.equal(channel.header[HOT], 1);
  // Idle past idleAfterMs (0 here), its turn given up: the next look cools it.
  // (The dispatcher reads the clock every 32 passes: a few thousand passes let time move.)
  for (let i = 0; i < 1_000_000 && channel.header[HOT] === 1; i++) dispatcher.serveOnce(true);
  assert.equal(channel.header[HOT], 0, "an idle channel stays marked hot");
  const rung = bell[COLD_BELL];
  ask(channel.header, bell);
  assert.equal(bell[COLD_BELL], rung + 1, "a request on a cold channel rings COLD_BELL");
  dispatcher.serveOnce(true);
  assert.equal(channel.header[RESP], 2);
});
