/**
 * What the dispatcher tests share: a guest's request made by hand, and a
 * dispatcher over a few channels that the test serves pass by pass.
 * @module
 */
import assert from "node:assert/strict";
import { Dispatcher, type DispatcherOptions } from "../channel/dispatcher.ts";
import {
  channelViews,
  COLD_BELL,
  createChannel,
  createDoorbell,
  HOT,
  REQ,
  RESP,
} from "../channel/layout.ts";

/** Nine zero return registers. */
export const NO_RETS: bigint[] = new Array(9).fill(0n);
/** channel/dispatcher.ts's HAMMERING: answers within 1 ms that make an LPAR stream. */
export const HAMMERING = 64;
/** Passes that let the dispatcher read the clock (it does every 32) and scan (every 16). */
export const CLOCK_PASSES = 64;

/** Asks as GuestPort.call does: a new REQ, and COLD_BELL rung if the channel is not hot. */
export function ask(header: Int32Array, bell: Int32Array): void {
  Atomics.store(header, REQ, (header[REQ] + 1) | 0);
  if (Atomics.load(header, HOT) === 0) Atomics.add(bell, COLD_BELL, 1);
}

/**
 * A dispatcher over `lpars` channels (LPAR ids 1..lpars, in `headers`
 * order) whose every hcall succeeds.
 */
export function dispatcherRig(lpars: number, options?: Partial<DispatcherOptions>) {
  const doorbell = createDoorbell();
  const bell = new Int32Array(doorbell);
  const headers = Array.from({ length: lpars }, () => channelViews(createChannel()).header);
  const dispatcher = new Dispatcher(
    doorbell,
    () => ({ rc: 0, rets: NO_RETS }),
    () => ({ rc: -2, rets: NO_RETS }),
    options,
  );
  headers.forEach((h, i) => dispatcher.attach(i + 1, h.buffer as SharedArrayBuffer));
  /** Runs `n` passes. */
  const passes = (n = CLOCK_PASSES) => {
    for (let p = 0; p < n; p++) dispatcher.serveOnce();
  };
  /** Asks once and runs passes until answered (an LPAR that does not stream is, at once). */
  const answered = (header: Int32Array) => {
    const before = header[RESP];
    ask(header, bell);
    for (let p = 0; header[RESP] === before; p++) {
      assert.ok(p < CLOCK_PASSES, "an LPAR that does not stream yet waited");
      dispatcher.serveOnce();
    }
  };
  return { bell, headers, dispatcher, passes, answered };
}

/**
 * Stands in for `Atomics.waitAsync`, the serve loop's long sleep: calls
 * `asleep` (if given), then stops `dispatcher`, so `run()` ends there.
 * The caller puts the real one back (tests/virtual_clock.ts `withTickingClock`).
 */
export function stopAtLongSleep(dispatcher: Dispatcher, asleep?: () => void): void {
  Atomics.waitAsync = (() => {
    asleep?.();
    dispatcher.stop();
    return { async: false, value: "timed-out" };
  }) as typeof Atomics.waitAsync;
}
