/**
 * How an idle hypervisor sleeps (channel/dispatcher.ts `#sleep`): for
 * `BUSY_NAP_MS` after it last answered, only in synchronous 1 ms naps (a
 * futex wake-up), then through the event loop for up to `IDLE_SLEEP_MS`.
 * `Atomics.wait`, `Atomics.waitAsync` and `performance.now` are stood in
 * for, so the sleeps are recorded and the times are virtual.
 */
import assert from "node:assert/strict";
import { RESP } from "../channel/layout.ts";
import { ask, dispatcherRig } from "./dispatcher_rig.ts";

/** channel/dispatcher.ts's BUSY_NAP_MS and IDLE_SLEEP_MS. */
const BUSY_NAP_MS = 20, IDLE_SLEEP_MS = 1000;

Deno.test("dispatcher: after an answer it naps synchronously for BUSY_NAP_MS, then sleeps long", async () => {
  const clock = { now: 1_000 };
  const naps: number[] = [];
  let longSleep: { at: number; timeout: number } | undefined;
  const { wait, waitAsync } = Atomics;
  Object.defineProperty(performance, "now", {
    // Time moves a little at each reading, so the idle window runs out.
    value: () => (clock.now += 0.001),
    configurable: true,
  });
  try {
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
  } finally {
    Atomics.wait = wait;
    Atomics.waitAsync = waitAsync;
    delete (performance as unknown as Record<string, unknown>).now;
  }
  assert.ok(longSleep, "the hypervisor never went to its long sleep");
  assert.equal(longSleep.timeout, IDLE_SLEEP_MS);
  // Naps of 1 ms, back to back, from the answer until BUSY_NAP_MS had passed.
  assert.ok(naps.length >= BUSY_NAP_MS - 2, `${naps.length} naps before the long sleep`);
  assert.ok(naps.length <= BUSY_NAP_MS + 2, `${naps.length} naps before the long sleep`);
  assert.ok(longSleep.at - 1_000 >= BUSY_NAP_MS, `long sleep after ${longSleep.at - 1_000} ms`);
});
