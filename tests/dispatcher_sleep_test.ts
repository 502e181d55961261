/**
 * How an idle hypervisor sleeps (channel/dispatcher.ts `#sleep`): for
 * `BUSY_NAP_MS` after it last answered, only in synchronous 1 ms naps (a
 * futex wake-up), then through the event loop for up to `IDLE_SLEEP_MS`.
 * `Atomics.wait`, `Atomics.waitAsync` and `performance.now` are stood in
 * for, so the sleeps are recorded and the times are virtual.
 */
import assert from "node:assert/strict";
import { HOT, HOT_AWAKE, HOT_WATCHED, REQ, RESP } from "../channel/layout.ts";
import { ask, dispatcherRig, stopAtLongSleep } from "./dispatcher_rig.ts";
import { withTickingClock } from "./virtual_clock.ts";

/** channel/dispatcher.ts's BUSY_NAP_MS and IDLE_SLEEP_MS. */
const BUSY_NAP_MS = 20, IDLE_SLEEP_MS = 1000;

Deno.test("dispatcher: after an answer it naps synchronously for BUSY_NAP_MS, then sleeps long", async () => {
  const naps: number[] = [];
  let longSleep: { at: number; timeout: number } | undefined;
  await withTickingClock(async (clock) => {
    const { bell, headers, dispatcher } = dispatcherRig(1);
    Atomics.wait = ((_: Int32Array, __: number, ___: number, timeout?: number) => {
      naps.push(clock.now);
      clock.now += timeout ?? 0; // a nap that ran its length: nothing rang
      return "timed-out";
    }) as typeof Atomics.wait;
    Atomics.waitAsync = ((_: Int32Array, __: number, ___: number, timeout?: number) => {
      longSleep = { at: clock.now, timeout: timeout ?? Infinity };
      dispatcher.stop();
      return { async: false, value: "timed-out" };
    }) as typeof Atomics.waitAsync;
    ask(headers[0], bell); // answered by run()'s first pass
    await dispatcher.run();
    assert.equal(headers[0][RESP], 1, "the request was not answered");
  });
  assert.ok(longSleep, "the hypervisor never went to its long sleep");
  assert.equal(longSleep.timeout, IDLE_SLEEP_MS);
  // Naps of 1 ms, back to back, from the answer until BUSY_NAP_MS had passed.
  assert.ok(naps.length >= BUSY_NAP_MS - 2, `${naps.length} naps before the long sleep`);
  assert.ok(naps.length <= BUSY_NAP_MS + 2, `${naps.length} naps before the long sleep`);
  assert.ok(longSleep.at - 1_000 >= BUSY_NAP_MS, `long sleep after ${longSleep.at - 1_000} ms`);
});

Deno.test("dispatcher: a hot channel says HOT_AWAKE while the hypervisor is awake, HOT_WATCHED while it sleeps", async () => {
  const marks: number[] = [];
  await withTickingClock(async (clock) => {
    const { bell, headers, dispatcher } = dispatcherRig(2);
    Atomics.wait = ((_: Int32Array, __: number, ___: number, timeout?: number) => {
      marks.push(headers[0][HOT]);
      clock.now += timeout ?? 0;
      return "timed-out";
    }) as typeof Atomics.wait;
    stopAtLongSleep(dispatcher, () => marks.push(headers[0][HOT]));
    ask(headers[0], bell);
    await dispatcher.run();
    assert.equal(headers[0][RESP], 1, "the request was not answered");
    // Not answered since it slept: it says HOT_AWAKE again once answered awake.
    assert.equal(headers[0][HOT], HOT_WATCHED, "a channel not answered since the sleep rings");
    dispatcher.serveOnce();
    assert.equal(headers[0][HOT], HOT_WATCHED, "a look that answers nothing marks nothing");
    ask(headers[0], bell);
    dispatcher.serveOnce();
    assert.equal(headers[0][HOT], HOT_AWAKE, "answered awake, the channel says not to ring");
    assert.equal(headers[1][HOT], 0, "a channel that never asked is not hot");
  });
  assert.ok(marks.length > 0, "the hypervisor never slept");
  assert.deepEqual(new Set(marks), new Set([HOT_WATCHED]), `marks while asleep: ${marks}`);
});

Deno.test("dispatcher: a request whose guest saw HOT_AWAKE just before the hypervisor marked it for sleep is answered without a sleep", async () => {
  // The guest stores REQ, reads HOT (still HOT_AWAKE: it rings nothing), and
  // only then the hypervisor marks the channel HOT_WATCHED. The look after
  // the mark must find the request: a sleep here would wait for a ring that
  // never comes (up to the guest's 20 ms re-ring).
  let naps = 0;
  await withTickingClock(async (clock) => {
    const { store } = Atomics;
    const { bell, headers, dispatcher } = dispatcherRig(1);
    const header = headers[0];
    let raced = false;
    Atomics.store = ((array: Int32Array, index: number, value: number) => {
      if (!raced && array.buffer === header.buffer && index === HOT && value === HOT_WATCHED) {
        raced = true;
        store(header, REQ, (header[REQ] + 1) | 0); // and it read HOT_AWAKE: no ring
      }
      return store(array, index, value);
    }) as typeof Atomics.store;
    Atomics.wait = ((_: Int32Array, __: number, ___: number, timeout?: number) => {
      if (header[RESP] !== header[REQ]) naps++;
      clock.now += timeout ?? 0;
      return "timed-out";
    }) as typeof Atomics.wait;
    stopAtLongSleep(dispatcher);
    ask(header, bell); // the first request makes the channel hot
    await dispatcher.run();
    assert.ok(raced, "the hypervisor never marked the channel for sleep");
    assert.equal(header[RESP], 2, "the raced request was not answered");
  });
  assert.equal(naps, 0, "the hypervisor slept with the raced request pending");
});

Deno.test("dispatcher: waking marks only the channels it answers HOT_AWAKE, not every hot one", async () => {
  // 1,000 hot LPARs that think between hcalls: the hypervisor sleeps between
  // most of them. Marking every hot channel on each wake-up (before the
  // answer that woke it) and again before each sleep cost the hypervisor a
  // store on every hot channel's page per sleep, however few asked.
  let hotStores = 0, sleeps = 0, woke = -1, beforeAnswer = -1, cycle = -1;
  await withTickingClock(async (clock) => {
    const { store } = Atomics;
    const { bell, headers, dispatcher } = dispatcherRig(1_000, { idleAfterMs: 1e9 });
    for (const h of headers) ask(h, bell);
    for (let p = 0; p < 64; p++) dispatcher.serveOnce(true);
    assert.ok(headers.every((h) => h[RESP] === 1), "not every channel was answered");
    const ours = new Set(headers.map((h) => h.buffer));
    const asker = headers[7];
    Atomics.store = ((array: Int32Array, index: number, value: number) => {
      if (ours.has(array.buffer) && index === HOT) hotStores++;
      if (array.buffer === asker.buffer && index === RESP && value === 2 && beforeAnswer < 0) {
        beforeAnswer = hotStores - woke;
      }
      return store(array, index, value);
    }) as typeof Atomics.store;
    Atomics.wait = ((_: Int32Array, __: number, ___: number, timeout?: number) => {
      if (++sleeps === 1) {
        // One LPAR asks while the hypervisor sleeps, and rings.
        ask(asker, bell);
        woke = hotStores;
        return "ok";
      }
      if (cycle < 0) cycle = hotStores - woke; // from the wake-up to the next sleep
      dispatcher.stop();
      clock.now += timeout ?? 0;
      return "timed-out";
    }) as typeof Atomics.wait;
    stopAtLongSleep(dispatcher);
    await dispatcher.run();
    assert.equal(asker[RESP], 2, "the request that woke the hypervisor was not answered");
  });
  assert.ok(sleeps >= 2, `${sleeps} sleeps`);
  assert.ok(beforeAnswer <= 1, `${beforeAnswer} HOT stores between the wake-up and its answer`);
  assert.ok(cycle <= 4, `${cycle} HOT stores from a wake-up to the next sleep, 1 LPAR asking`);
});
