import assert from "node:assert/strict";
import { channelViews, createChannel } from "../channel/layout.ts";
import {
  readAnswer,
  readRequest,
  registerFile,
  writeAnswer,
  writeRequest,
} from "../channel/registers.ts";

const fresh = () => registerFile(channelViews(createChannel()));
const nine = () => new Array<bigint>(9).fill(0n);

Deno.test("channel registers: a request and its answer pass both ways, zeros included", () => {
  const file = fresh(), args = nine(), rets = nine();
  writeRequest(file, 0x3EC, [0x44100001n, 0n, 2n, 0xFFFF_FFFF_FFFF_FFFFn, 1n << 40n]);
  assert.equal(readRequest(file, args), 0x3EC);
  assert.deepEqual(args, [0x44100001n, 0n, 2n, 0xFFFF_FFFF_FFFF_FFFFn, 1n << 40n, 0n, 0n, 0n, 0n]);
  writeAnswer(file, -68, [0n, 5n, 0n, 0n, 0n, 0n, 0n, 0n, 1n << 63n]);
  assert.equal(readAnswer(file, rets), -68);
  assert.deepEqual(rets, [0n, 5n, 0n, 0n, 0n, 0n, 0n, 0n, 1n << 63n]);
  // r3 was sign-extended to 64 bits, as a kernel reads it.
  assert.equal(file.regs[0], BigInt.asUintN(64, -68n));
});

Deno.test("channel registers: a zero or a missing argument clears what the last answer left", () => {
  const file = fresh(), args = nine();
  writeAnswer(file, 0, [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n]);
  writeRequest(file, 0x400, [7n]);
  assert.equal(readRequest(file, args), 0x400);
  assert.deepEqual(args, [7n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]);
  writeRequest(file, 0x400, [0n, 0n, 9n]);
  readRequest(file, args);
  assert.deepEqual(args, [0n, 0n, 9n, 0n, 0n, 0n, 0n, 0n, 0n]);
  // The same for an answer with fewer outputs than registers.
  const rets = nine();
  writeAnswer(file, 0, [4n]);
  assert.equal(readAnswer(file, rets), 0);
  assert.deepEqual(rets, [4n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]);
});

Deno.test("channel registers: r3 beyond 32 bits is no opcode; a large return code reads whole", () => {
  const file = fresh(), args = nine(), rets = nine();
  writeRequest(file, 2 ** 32 + 0x400, []);
  assert.equal(readRequest(file, args), -1);
  writeRequest(file, -1, []);
  assert.equal(readRequest(file, args), -1);
  assert.throws(() => writeRequest(file, 1.5, []), RangeError);
  // A code outside 32 bits (not one an hcall returns) still reads as what r3 holds.
  file.regs[0] = 1n << 33n;
  assert.equal(readAnswer(file, rets), 2 ** 33);
});
