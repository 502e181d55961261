/**
 * Stream turns bound only the LPARs that stream hcalls (channel/dispatcher.ts
 * `#countLight`): one that thinks between hcalls, as a booting kernel does, is
 * answered while another streams, and one that asks `HAMMERING` times within
 * a millisecond waits for a stream turn like any stream, however it paces
 * itself inside that millisecond. The clock is one the test moves, so the
 * bounds are in virtual milliseconds, never in the machine's speed.
 */
import assert from "node:assert/strict";
import { DEFERRED, GUEST_WAITING, REQ, RESP, TURN } from "../channel/layout.ts";
import { ask, CLOCK_PASSES, dispatcherRig, HAMMERING } from "./dispatcher_rig.ts";
import { withClock } from "./virtual_clock.ts";

/** One stream turn; LPAR 1 takes it and asks again after every answer. */
function oneStream(lpars: number) {
  // Turns long enough that the stream keeps its turn through each test.
  const { bell, headers, dispatcher } = dispatcherRig(lpars, { maxActive: 1, maxLead: 1 << 20 });
  const streamer = headers[0];
  /** One pass, the streamer asking again first if it was answered. */
  const pass = () => {
    if (streamer[RESP] === streamer[REQ]) ask(streamer, bell);
    dispatcher.serveOnce();
  };
  for (let i = 0; i < HAMMERING; i++) {
    ask(streamer, bell);
    dispatcher.serveOnce(true);
  }
  assert.equal(streamer[RESP], HAMMERING);
  return { bell, headers, streamer, pass };
}

Deno.test("dispatcher: LPARs that think between hcalls are answered while another streams", () => {
  withClock((clock) => {
    const { bell, headers, streamer, pass } = oneStream(4);
    const thinkers = headers.slice(1);
    for (let round = 1; round <= 20; round++) {
      // Each thinks 0.2 ms, then asks once; the streamer asks all along.
      clock.now += 0.2;
      for (const h of thinkers) ask(h, bell);
      for (let p = 0; thinkers.some((h) => h[RESP] !== round); p++) {
        assert.ok(p < CLOCK_PASSES, `round ${round}: a thinking LPAR waited ${p} passes`);
        pass();
      }
      for (const h of thinkers) assert.equal(h[DEFERRED], 0, "a thinking LPAR was held back");
    }
    assert.ok(streamer[RESP] > HAMMERING + 20, "the stream was not answered meanwhile");
  });
});

Deno.test("dispatcher: HAMMERING answers within a millisecond make an LPAR wait for a stream turn", () => {
  withClock((clock) => {
    const { bell, headers, pass } = oneStream(3);
    const [, paced, greedy] = headers;
    // Paced below the bound (one ask every 0.02 ms is 50 a millisecond): never held back.
    for (let i = 1; i <= 200; i++) {
      clock.now += 0.02;
      ask(paced, bell);
      for (let p = 0; paced[RESP] !== i; p++) {
        assert.ok(p < CLOCK_PASSES, `ask ${i} of an LPAR below the bound waited ${p} passes`);
        pass();
      }
      // The dispatcher reads the clock every 32 passes: let it see this step.
      for (let p = 0; p < CLOCK_PASSES; p++) pass();
    }
    assert.equal(paced[DEFERRED], 0);
    // Greedy: pauses between its asks (so each gets a turn of its own) but
    // asks 64 times within a millisecond; from then on it waits like a stream.
    for (let i = 1; i <= HAMMERING; i++) {
      ask(greedy, bell);
      for (let p = 0; greedy[RESP] !== i; p++) {
        assert.ok(p < CLOCK_PASSES, `ask ${i} of the greedy LPAR waited ${p} passes`);
        pass();
      }
      clock.now += 0.01;
    }
    ask(greedy, bell);
    for (let p = 0; p < CLOCK_PASSES; p++) pass();
    assert.equal(greedy[RESP], HAMMERING, "an LPAR past the bound was answered without a turn");
    assert.equal(greedy[DEFERRED], 1, "an LPAR waiting for a turn was not told so");
  });
});

Deno.test("dispatcher: a stream turn freed while an LPAR waits goes to it, not to one that starts streaming", () => {
  // Else a guest that times its 64th answer to a turn's end takes the turn
  // from the one waiting for it, for up to maxTurnMs; LPARs that take turns
  // at it (each light again after idleAfterMs) could keep it from the waiter for good.
  withClock(() => {
    // Turns of 100 answers; the clock stands still, so only answers end them.
    const { bell, headers, dispatcher, passes, answered } = dispatcherRig(3, {
      maxActive: 1,
      maxLead: 100,
    });
    const [holder, waiter, jumper] = headers;
    // The holder streams and takes the one stream turn (36 answers of it left).
    for (let i = 0; i < HAMMERING; i++) answered(holder);
    // The waiter streams too, so waits for that turn.
    for (let i = 0; i < HAMMERING; i++) answered(waiter);
    ask(waiter, bell);
    passes();
    assert.equal(waiter[DEFERRED], 1, "the waiter is held back (else this test shows nothing)");
    // A third LPAR is answered 63 times, one short of streaming.
    for (let i = 1; i < HAMMERING; i++) answered(jumper);
    // The holder's turn runs out in the pass that gives the third its 64th answer.
    for (let i = 0; i < 35; i++) answered(holder);
    ask(holder, bell);
    ask(jumper, bell);
    dispatcher.serveOnce();
    assert.equal(holder[RESP], 100, "the holder's turn ran out in this pass");
    assert.equal(jumper[RESP], HAMMERING, "the third was answered (it needed no turn yet)");
    assert.equal(waiter[RESP], HAMMERING + 1, "the freed turn went past the LPAR waiting for it");
    assert.equal(waiter[DEFERRED], 0);
    // The third streams from now on, so waits its turn.
    ask(jumper, bell);
    passes();
    assert.equal(jumper[RESP], HAMMERING);
    assert.equal(jumper[DEFERRED], 1);
  });
});

Deno.test("dispatcher: a hand-off nobody took does not keep a later turn's guest asleep", () => {
  // A turn that ends while another waits is handed off: the guest that lost
  // it wakes the next (bumps TURN), so the hypervisor does not. A waiter that
  // withdraws its request (or is stopped) leaves nobody to hand off to; the
  // next turn given to a sleeping guest must still wake it, or it sleeps out
  // the guest's TURN slice (2 ms) holding its turn.
  withClock((clock) => {
    const { bell, headers, passes, answered } = dispatcherRig(4, { maxActive: 1, maxLead: 100 });
    const [holder, quitter, taker, sleeper] = headers;
    // The holder takes the one stream turn; the quitter streams, and waits.
    for (let i = 0; i < HAMMERING; i++) answered(holder);
    for (let i = 0; i < HAMMERING; i++) answered(quitter);
    ask(quitter, bell);
    passes();
    assert.equal(quitter[DEFERRED], 1);
    // The holder's turn runs out as the quitter takes its request back.
    for (let i = 0; i < 35; i++) answered(holder);
    Atomics.store(quitter, REQ, quitter[RESP]);
    answered(holder);
    // A third starts streaming on the free turn; a fourth streams, and sleeps for a turn.
    for (let i = 0; i < HAMMERING; i++) answered(taker);
    for (let i = 0; i < HAMMERING; i++) answered(sleeper);
    ask(sleeper, bell);
    Atomics.store(sleeper, GUEST_WAITING, 1);
    passes();
    assert.equal(sleeper[DEFERRED], 1, "the fourth waits (else this test shows nothing)");
    // The third pauses and loses its turn, which goes to the sleeping fourth.
    const turn = bell[TURN];
    clock.now += 2.5;
    passes();
    assert.equal(sleeper[RESP], HAMMERING + 1, "the fourth got the turn");
    assert.ok(bell[TURN] > turn, "the fourth was given its turn and not woken for it");
  });
});
