/** CallGate: calls settle on their own answer or on their target's death, and leave nothing. */
import assert from "node:assert/strict";
import { CallGate } from "../actors/call_gate.ts";

Deno.test("call gate: settled calls leave nothing behind; a failure rejects those in flight", async () => {
  const gate = new CallGate();
  for (let i = 0; i < 1000; i++) assert.equal(await gate.run(() => Promise.resolve(i)), i);
  await assert.rejects(gate.run(() => Promise.reject(new Error("own error"))), /own error/);
  await assert.rejects(
    gate.run(() => {
      throw new Error("thrown at once");
    }),
    /thrown at once/,
  );
  assert.equal(gate.pending, 0);
  const hanging = gate.run(() => new Promise(() => {}));
  assert.equal(gate.pending, 1);
  gate.fail(new Error("target died"));
  await assert.rejects(hanging, /target died/);
  await assert.rejects(gate.run(() => Promise.resolve(1)), /target died/);
  assert.equal(gate.pending, 0);
});
