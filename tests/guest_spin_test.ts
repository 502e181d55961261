/**
 * How long a guest spins for its answer before it sleeps
 * (channel/guest_port.ts): more when answers come just after it slept, but
 * never for answers that come only because it slept (the hypervisor shares
 * its core), and its full spin again once an answer comes while it spins.
 * `Atomics.load` and `Atomics.wait` are stood in for: loads of RESP are
 * counted, and the hypervisor answers when the guest sleeps (or, in one
 * call, while it spins); the clock stands still, so every sleep is short.
 */
import assert from "node:assert/strict";
import { GuestPort } from "../channel/guest_port.ts";
import {
  channelViews,
  createChannel,
  createDoorbell,
  HOT,
  HOT_AWAKE,
  RESP,
} from "../channel/layout.ts";
import { withClock } from "./virtual_clock.ts";

/** channel/guest_port.ts's SPIN_MIN, SPIN_MAX, FUTILE_LATE and PROBE_EVERY. */
const SPIN_MIN = 256, SPIN_MAX = 1 << 14, FUTILE_LATE = 4, PROBE_EVERY = 16;

Deno.test("GuestPort: stops spinning when answers come only once it sleeps, and spins again when one comes while it spins", () => {
  const channel = createChannel();
  const header = channelViews(channel).header;
  Atomics.store(header, HOT, HOT_AWAKE); // no rings: the test is about the spin
  const port = new GuestPort(channel, createDoorbell());
  const { load, wait } = Atomics;
  let spins = 0, answerAtSpin = Infinity;
  const spun: number[] = [];
  const ours = (array: unknown, index: number) =>
    (array as Int32Array).buffer === header.buffer && index === RESP;
  try {
    Atomics.load = ((array: Int32Array, index: number) => {
      if (ours(array, index) && ++spins === answerAtSpin) {
        Atomics.store(header, RESP, (header[RESP] + 1) | 0); // answered mid-spin
      }
      return load(array, index);
    }) as typeof Atomics.load;
    Atomics.wait = ((array: Int32Array, index: number, value: number, timeout?: number) => {
      if (!ours(array, index)) return wait(array, index, value, timeout);
      Atomics.store(header, RESP, value + 1); // answered as soon as it sleeps
      return "ok";
    }) as typeof Atomics.wait;
    const call = () => {
      spins = 0;
      port.call(0x4, [], new Array(9).fill(0n));
      spun.push(spins);
    };
    withClock(() => {
      for (let i = 0; i < 40; i++) call();
      // Answered mid-spin: the futile mode ends.
      answerAtSpin = SPIN_MIN / 2;
      call();
      answerAtSpin = Infinity;
      call();
    });
  } finally {
    Atomics.load = load;
    Atomics.wait = wait;
  }
  // Each call spins its budget, then a few loads around the sleep.
  const budget = (n: number) => n - (n % SPIN_MIN);
  const before = spun.slice(0, FUTILE_LATE).map(budget);
  assert.deepEqual(before, [1024, 2048, 4096, 8192], `spins before futility: ${spun}`);
  // Futile from the FUTILE_LATE-th late answer: the least spin, but every
  // PROBE_EVERY-th call the learned one (8,192: not doubled by the last).
  const futile = spun.slice(FUTILE_LATE, 40).map(budget);
  const expected = futile.map((_, i) => (i + 1) % PROBE_EVERY === 0 ? 8192 : SPIN_MIN);
  assert.deepEqual(futile, expected, `spins while futile: ${futile}`);
  assert.equal(spun[40], SPIN_MIN / 2, "the answer mid-spin ended the call");
  assert.equal(budget(spun[41]), 8192, `after an answer mid-spin it spins again: ${spun[41]}`);
  assert.ok(8192 < SPIN_MAX);
});
