/**
 * The sim runtime's trace hash: an hcall folded from its numbers hashes
 * exactly as its record string does, for every kind of value a record can
 * hold (negative and huge registers, negative codes, fractional times).
 */
import assert from "node:assert/strict";
import { hcallRecord, TraceHash } from "../runtime/sim/trace_hash.ts";

type Hcall = Parameters<typeof hcallRecord>;

const CASES: Hcall[] = [
  [0, 1, 0xF000, [], 0, []],
  [1000, 7, 0x3EC, [0x44100002n, 0n, 4n, 0xFFFF_FFFF_FFFF_FFFFn, 0n], 0, [0n, 1n, 2n]],
  [123456789012, 1000, 0x3F4, [2n ** 53n - 1n, 2n ** 53n, 2n ** 64n], -68, [9n, 10n, 15n, 16n]],
  [2.5, 0, 0, [-1n, -(2n ** 70n)], -9999, [0xABCDEFn]],
  [1e21, 12, 0xFFFF_FFFF, [1n], 1, []],
  [-0, -3, 16, [0n], 9007199254740993, [0n]],
  [
    4294967296,
    2,
    0x3F4,
    [0xFFFF_FFFFn, 0x1_0000_0000n, 0x1_0000_0001n, 0x10_0000_000Fn, 2n ** 63n, 0x8000_0000n],
    0,
    [2n ** 64n - 1n, 2n ** 53n + 0xFn, 0xABCD_0000_0000_0001n],
  ],
  // Longer than the hash's character buffer: folded in parts.
  [7, 1, 1, new Array(100).fill(2n ** 53n - 1n), 0, [2n ** 5000n, 1n]],
];

Deno.test("addHcall folds exactly what add(hcallRecord(...)) folds", () => {
  const fromText = new TraceHash(), fromNumbers = new TraceHash();
  for (const c of CASES) {
    fromText.add(hcallRecord(...c));
    fromNumbers.addHcall(...c);
    assert.equal(fromNumbers.hex(), fromText.hex(), hcallRecord(...c));
  }
  assert.equal(fromNumbers.count, CASES.length);
  fromText.add("1 boot done");
  fromNumbers.add("1 boot done");
  assert.equal(fromNumbers.hex(), fromText.hex());
});

Deno.test("hcallRecord writes time, LPAR, opcode and registers as the trace shows them", () => {
  assert.equal(
    hcallRecord(1000, 1, 0x3EC, [0x44100002n, 0n, 4n], -68, [0n, 0xFFn]),
    "1000 1 h3ec 44100002,0,4 -68 0,ff",
  );
});
