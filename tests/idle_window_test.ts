import assert from "node:assert/strict";
import { IdleWindow } from "../channel/idle_window.ts";

Deno.test("idle window: learns past a wake-up's cost, and shrinks back when idle", async (t) => {
  await t.step("starts at 0.2 ms, within its bounds", () => {
    assert.equal(new IdleWindow(0.05, 2).ms, 0.2);
    assert.equal(new IdleWindow(0.5, 2).ms, 0.5);
    assert.equal(new IdleWindow(0.01, 0.1).ms, 0.1);
  });

  await t.step("slow wake-ups lengthen the window past twice their cost", () => {
    const idle = new IdleWindow(0.05, 2);
    // The old fixed window was about 38 us; a wake-up on this VM 50-70 us.
    for (let i = 0; i < 20; i++) idle.observeWake(0.07);
    assert.ok(idle.wakeMs > 0.069 && idle.wakeMs <= 0.1, `estimate ${idle.wakeMs}`);
    assert.ok(idle.ms >= 0.138, `window ${idle.ms} ms must outlast a 70 us wake-up twice`);
  });

  await t.step("rises fast, falls slowly", () => {
    const idle = new IdleWindow(0.01, 2);
    idle.observeWake(0.6);
    const high = idle.wakeMs;
    assert.ok(high > 0.3, `one slow sample moves the estimate half way: ${high}`);
    idle.observeWake(0.001);
    assert.ok(idle.wakeMs > 0.9 * high, `one fast sample barely lowers it: ${idle.wakeMs}`);
    for (let i = 0; i < 200; i++) idle.observeWake(0.001);
    assert.ok(idle.wakeMs < 0.01, `many fast samples bring it down: ${idle.wakeMs}`);
    assert.equal(idle.ms, 0.01, "never below the shortest window");
  });

  await t.step("never past the longest window; think time is not a wake-up", () => {
    const idle = new IdleWindow(0.05, 1);
    for (let i = 0; i < 50; i++) idle.observeWake(0.99);
    assert.equal(idle.ms, 1);
    const before = idle.wakeMs;
    idle.observeWake(5); // a guest that computed for 5 ms before asking again
    idle.observeWake(Number.NaN);
    idle.observeWake(-1);
    assert.equal(idle.wakeMs, before);
  });

  await t.step("a long sleep halves the estimate; a short one is a wake-up sample", () => {
    const idle = new IdleWindow(0.05, 2);
    for (let i = 0; i < 50; i++) idle.observeWake(0.5);
    const busy = idle.wakeMs;
    idle.observeSleep(1000);
    assert.equal(idle.wakeMs, busy / 2);
    for (let i = 0; i < 40; i++) idle.observeSleep(1000);
    assert.equal(idle.ms, 0.05, "a quiet system goes back to sleeping soon");
    idle.observeSleep(0.3);
    assert.ok(idle.ms > 0.3, `a sleep cut short by a request after 0.3 ms: window ${idle.ms}`);
  });

  await t.step("bad bounds are refused, naming what is accepted", () => {
    for (const [min, max] of [[0, 1], [-1, 1], [2, 1], [0.1, Infinity], [Number.NaN, 1]]) {
      assert.throws(
        () => new IdleWindow(min, max),
        (e: Error) =>
          e instanceof RangeError && /expected 0 < min <= max, both finite/.test(e.message),
      );
    }
  });
});
