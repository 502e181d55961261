import assert from "node:assert/strict";
import { HeldSlots, Slots } from "../runtime/slots.ts";

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("slots: at most `limit` held at once, handed out in the order asked", async (t) => {
  await t.step("a full set queues the next asker until a release", async () => {
    const slots = new Slots(2);
    const a = await slots.acquire(), b = await slots.acquire();
    assert.equal(slots.used, 2);
    const order: string[] = [];
    const c = slots.acquire().then((r) => (order.push("c"), r));
    const d = slots.acquire().then((r) => (order.push("d"), r));
    await tick();
    assert.deepEqual(order, [], "nobody gets a third slot");
    assert.equal(slots.waiting, 2);
    a();
    a(); // a second release of the same slot gives nothing back
    await tick();
    assert.deepEqual(order, ["c"]);
    b();
    await tick();
    assert.deepEqual(order, ["c", "d"]);
    (await c)();
    (await d)();
    assert.equal(slots.used, 0);
    assert.equal(slots.waiting, 0);
  });

  await t.step("a bad limit is refused, naming what is accepted", () => {
    for (const limit of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => new Slots(limit), /expected a whole number from 1/);
    }
  });
});

Deno.test("held slots: a stopped partition gives its slots back and runs nothing more", async (t) => {
  await t.step("a call holds a slot until it settles, even when it fails", async () => {
    const slots = new Slots(1);
    const held = new HeldSlots(slots);
    const stopped = () => new Error("stopped");
    assert.equal(await held.run(() => Promise.resolve(7), stopped), 7);
    await assert.rejects(held.run(() => Promise.reject(new Error("boom")), stopped), /boom/);
    assert.equal(slots.used, 0);
  });

  await t.step("stop frees a slot whose call never settles; later calls reject", async () => {
    const slots = new Slots(1);
    const dead = new HeldSlots(slots), other = new HeldSlots(slots);
    const stopped = () => new Error("LPAR x stopped");
    dead.run(() => new Promise<never>(() => {}), stopped).catch(() => {});
    await tick();
    assert.equal(slots.used, 1);
    let ran = false;
    const waiting = other.run(() => Promise.resolve(ran = true), stopped);
    const queued = dead.run(() => Promise.resolve("must not run"), stopped);
    await tick();
    assert.equal(ran, false, "the other partition waits for the slot");
    dead.stop();
    assert.equal(await waiting, true, "the stuck call's slot went to the other partition");
    await assert.rejects(queued, /LPAR x stopped/);
    await assert.rejects(dead.run(() => Promise.resolve(1), stopped), /LPAR x stopped/);
    assert.equal(slots.used, 0);
  });
});
