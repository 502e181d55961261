import assert from "node:assert/strict";
import {
  DEFINED_RCS,
  H,
  isLongBusy,
  longBusyMsecs,
  OP,
  opByName,
  opName,
  paramError,
  rcName,
} from "../abi/hcalls.ts";
import { HEALTH, healthFromNames, healthNames } from "../abi/health.ts";

Deno.test("abi: opcodes and return codes have the values of hvcall.h", () => {
  assert.equal(OP.H_SCM_BIND_MEM, 0x3EC);
  assert.equal(OP.H_SCM_UNBIND_ALL, 0x3FC);
  assert.equal(OP.H_SCM_FLUSH, 0x44C);
  assert.equal(H.OVERLAP, -68);
  assert.equal(H.P5, -58);
  assert.equal(opName(0x3EC), "H_SCM_BIND_MEM");
  assert.equal(opName(0x123), "0x123");
  assert.equal(opByName("H_SCM_HEALTH"), 0x400);
  assert.equal(opByName("H_NOPE"), undefined);
  assert.equal(rcName(-68), "H_OVERLAP");
  assert.equal(rcName(12345), "12345");
  assert.ok(DEFINED_RCS.has(H.LONG_BUSY_ORDER_100_SEC));
});

Deno.test("abi: long busy codes and the kernel's sleep times", () => {
  assert.equal(isLongBusy(9899), false);
  assert.equal(isLongBusy(9900), true);
  assert.equal(isLongBusy(9905), true);
  assert.equal(isLongBusy(9906), false);
  assert.equal(longBusyMsecs(9900), 1);
  assert.equal(longBusyMsecs(9901), 10);
  assert.equal(longBusyMsecs(9905), 100000);
  assert.equal(longBusyMsecs(H.BUSY), 1);
});

Deno.test("abi: parameter error by position", () => {
  assert.equal(paramError(1), H.PARAMETER);
  assert.equal(paramError(2), H.P2);
  assert.equal(paramError(9), H.P9);
  assert.throws(() => paramError(10), RangeError);
});

Deno.test("abi: health bits are numbered from the most significant bit", () => {
  assert.equal(HEALTH.UNARMED, 1n << 63n);
  assert.equal(HEALTH.SCRUBBED_AND_LOCKED, 1n << 54n);
  assert.deepEqual(healthNames(HEALTH.UNARMED | HEALTH.HEALTH_FATAL), ["UNARMED", "HEALTH_FATAL"]);
  assert.equal(healthFromNames(["SHUTDOWN_DIRTY"]), HEALTH.SHUTDOWN_DIRTY);
  assert.throws(
    () => healthFromNames(["BROKEN"]),
    /unknown health bit "BROKEN"; accepted: UNARMED/,
  );
});

Deno.test("abi: names inherited from Object.prototype are not hcalls or health bits", () => {
  assert.equal(opByName("toString"), undefined);
  assert.equal(opByName("constructor"), undefined);
  assert.throws(() => healthFromNames(["toString"]), /unknown health bit "toString"; accepted:/);
});
