/**
 * The wake-up grace (channel/dispatcher.ts `WAKE_GRACE_MS`): a stream turn
 * given to a guest whose `GUEST_WAITING` word is set waits up to 3 ms for its
 * next hcall. (Only LPARs that stream wait for turns: one that thinks between
 * hcalls is answered at once, so both LPARs here stream first.) The word is
 * the guest's to write, so a hostile guest can claim the grace while it
 * spins. What that buys it is bounded: the grace is set only
 * when a turn is given, and lasts only until the turn's second answer; after
 * it, a waiting neighbour gets the turn. Any guest can hold a turn idle far
 * longer by the turn rules alone, with no word forged: 64 answers, then one
 * hcall every `releaseAfterMs` (2 ms) keeps it until `maxTurnMs` (25 ms).
 * The clock is one the test moves (`performance.now` replaced), so the
 * bounds are in virtual milliseconds, never in the machine's speed.
 */
import assert from "node:assert/strict";
import { Dispatcher } from "../channel/dispatcher.ts";
import {
  channelViews,
  createChannel,
  createDoorbell,
  GUEST_WAITING,
  RESP,
} from "../channel/layout.ts";
import type { HcallResult } from "../core/types.ts";
import { ask, CLOCK_PASSES, HAMMERING, NO_RETS } from "./dispatcher_rig.ts";
import { withClock } from "./virtual_clock.ts";

const HOSTILE = 1, NEIGHBOUR = 2;
/** channel/dispatcher.ts's WAKE_GRACE_MS, and its default maxTurnMs. */
const WAKE_GRACE_MS = 3, MAX_TURN_MS = 25;

/** One turn for two LPARs; the hostile one holds it, the neighbour asks. */
function twoLpars() {
  const doorbell = createDoorbell();
  const bell = new Int32Array(doorbell);
  const hostile = channelViews(createChannel()).header;
  const neighbour = channelViews(createChannel()).header;
  const answers = new Map<number, number>();
  const dispatcher = new Dispatcher(
    doorbell,
    (lpar): HcallResult => {
      answers.set(lpar, (answers.get(lpar) ?? 0) + 1);
      return { rc: 0, rets: NO_RETS };
    },
    () => ({ rc: -2, rets: NO_RETS }),
    { maxActive: 1 },
  );
  dispatcher.attach(HOSTILE, hostile.buffer as SharedArrayBuffer);
  dispatcher.attach(NEIGHBOUR, neighbour.buffer as SharedArrayBuffer);
  const passes = (n = CLOCK_PASSES) => {
    for (let i = 0; i < n; i++) dispatcher.serveOnce();
  };
  /** Asks and is answered `HAMMERING` times with the clock still: the LPAR streams from then on. */
  const stream = (header: Int32Array) => {
    for (let i = 0; i < HAMMERING; i++) {
      const before = header[RESP];
      ask(header, bell);
      dispatcher.serveOnce(true);
      assert.equal(
        header[RESP],
        before + 1,
        "an LPAR that does not stream yet is answered at once",
      );
    }
  };
  return { bell, hostile, neighbour, answers, dispatcher, passes, stream };
}

Deno.test("dispatcher: a guest that sets its own GUEST_WAITING holds a turn at most the grace", () => {
  withClock((clock) => {
    const { bell, hostile, neighbour, answers, dispatcher, passes, stream } = twoLpars();
    // Both stream; the hostile one holds the one stream turn, then pauses and loses it.
    stream(hostile);
    stream(neighbour);
    clock.now += 2.5;
    passes();
    // It spins, yet says it sleeps: the turn is given back to it with the grace.
    Atomics.store(hostile, GUEST_WAITING, 1);
    ask(hostile, bell);
    dispatcher.serveOnce(true);
    assert.equal(hostile[RESP], HAMMERING + 1);
    const start = clock.now;
    ask(neighbour, bell);
    passes();
    assert.equal(neighbour[RESP], HAMMERING, "the neighbour waits for the one turn");
    // It never asks again; the grace holds the turn almost to its end...
    clock.now = start + WAKE_GRACE_MS - 0.1;
    passes();
    assert.equal(
      neighbour[RESP],
      HAMMERING,
      "the grace held the turn (else this test shows nothing)",
    );
    // ...and no longer: the neighbour is answered once it has passed.
    clock.now = start + WAKE_GRACE_MS + 0.1;
    passes();
    assert.equal(
      neighbour[RESP],
      HAMMERING + 1,
      `not answered ${WAKE_GRACE_MS + 0.1} ms after it asked`,
    );
    assert.equal(answers.get(HOSTILE), HAMMERING + 1);
  });
});

Deno.test("dispatcher: without forging a word, a guest can hold a turn idle for maxTurnMs", () => {
  withClock((clock) => {
    const { bell, hostile, neighbour, answers, passes, stream } = twoLpars();
    // 64 answers in a millisecond make it stream: it holds the one stream turn
    // and keeps it through 2 ms pauses. The neighbour streams too, so waits.
    stream(hostile);
    stream(neighbour);
    const start = clock.now;
    ask(neighbour, bell);
    passes();
    assert.equal(neighbour[RESP], HAMMERING, "the neighbour waits for the one turn");
    // Then one hcall every 1.9 ms: the turn is held, nearly idle, until maxTurnMs.
    while (neighbour[RESP] === HAMMERING) {
      assert.ok(clock.now - start < 2 * MAX_TURN_MS, "the neighbour was never answered");
      clock.now += 1.9;
      passes();
      if (neighbour[RESP] !== HAMMERING) break;
      ask(hostile, bell);
      passes();
    }
    const held = clock.now - start;
    assert.ok(held >= MAX_TURN_MS - 2, `held ${held} ms: the grace would be the larger hold`);
    assert.ok(held > 5 * WAKE_GRACE_MS);
    assert.ok(
      answers.get(HOSTILE)! < HAMMERING + 20,
      `${answers.get(HOSTILE)} answers to hold it`,
    );
  });
});
