/**
 * Conformance of the `qemu` personality to QEMU's spapr_nvdimm.c (reference
 * §3a): each hcall's checks in QEMU's order, exact codes and output
 * registers (QEMU leaves every register it does not set as the caller put it).
 */
import assert from "node:assert/strict";
import { BIND_ANY_ADDR, H, OP, rcName, RET_COUNT } from "../abi/hcalls.ts";
import { HEALTH } from "../abi/health.ts";
import { HypervisorCore, seededEnv } from "../core/hypervisor.ts";
import { QEMU_BLOCK_SIZE, QEMU_DEFAULTS } from "../core/qemu.ts";
import type { CoreEnv, DrcSpec } from "../core/types.ts";

const BS = QEMU_BLOCK_SIZE;
const LABEL = 128 * 1024;
const U64_MAX = (1n << 64n) - 1n;
const A = 0x9000_0001; // 4 blocks, LPAR 1, flushable backend
const B = 0x9000_0002; // 2 blocks, LPAR 2 only
const C = 0x9000_0003; // 3 blocks, LPAR 1, read-only label, unarmed, no flush backend
const D = 0x9000_0004; // 1 block, shared by LPARs 1 and 2, flushable
const NONE = 0x9000_0009;
const BASE = QEMU_DEFAULTS.deviceMemoryBase;
const ADDR_A = BASE;
// LPAR 1 holds A (4 blocks), C (3) and D (1), placed first fit in its own space.
const ADDR_C = BASE + 4n * BS;

function spec(index: number, blocks: number, extra: Partial<DrcSpec> = {}): DrcSpec {
  return { index, blockSize: BS, blocks, metadataSize: LABEL, uuid: `uuid-${index}`, ...extra };
}

/** A clock the test moves by hand. */
function clockEnv(): CoreEnv & { advance(ns: bigint): void } {
  let t = 0n;
  const base = seededEnv(7n);
  return { now: () => t, random64: base.random64, advance: (ns) => void (t += ns) };
}

function setup(env: CoreEnv = clockEnv()) {
  const hv = new HypervisorCore({ personality: "qemu", env, flushLatencyNs: 1_000_000n });
  hv.addDrc(spec(A, 4, { hcallFlushRequired: true }));
  hv.addDrc(spec(B, 2));
  hv.addDrc(spec(C, 3, { readOnly: true, health: HEALTH.UNARMED | HEALTH.SHUTDOWN_DIRTY }));
  hv.addDrc(spec(D, 1, { hcallFlushRequired: true }));
  hv.assign(A, 1);
  hv.assign(B, 2);
  hv.assign(C, 1);
  hv.assign(D, 1);
  hv.assign(D, 2);
  return hv;
}

/** One conformance case: the call, and the code and outputs it must give. */
interface Case {
  name: string;
  op: number;
  args: bigint[];
  rc: number;
  /** Outputs QEMU sets (by index from r4); every other output echoes the input. */
  outs?: Record<number, bigint>;
  lpar?: number;
  /** Runs before the call (on a fresh core). */
  before?: (hv: HypervisorCore) => void;
}

function expectedRets(c: Case): bigint[] {
  const rets = Array.from({ length: RET_COUNT }, (_, i) => c.args[i] ?? 0n);
  for (const [i, v] of Object.entries(c.outs ?? {})) rets[Number(i)] = v;
  return rets;
}

/** Runs the cases as steps on fresh cores; returns how many ran. */
async function runCases(t: Deno.TestContext, cases: Case[]): Promise<number> {
  for (const c of cases) {
    await t.step(c.name, () => {
      const hv = setup();
      c.before?.(hv);
      const got = hv.hcall(c.lpar ?? 1, c.op, c.args);
      assert.equal(rcName(got.rc), rcName(c.rc));
      assert.deepEqual(got.rets, expectedRets(c));
      assert.deepEqual(hv.invariants(), []);
    });
  }
  return cases.length;
}

const big = (n: number) => BigInt(n);

Deno.test("qemu H_SCM_READ_METADATA", async (t) => {
  const R = OP.H_SCM_READ_METADATA;
  const fill = (hv: HypervisorCore) => {
    hv.hcall(1, OP.H_SCM_WRITE_METADATA, [big(A), 0n, 0x0102030405060708n, 8n]);
    hv.hcall(1, OP.H_SCM_WRITE_METADATA, [big(A), big(LABEL - 1), 0xABn, 1n]);
  };
  await runCases(t, [
    { name: "no such drc → H_PARAMETER", op: R, args: [big(NONE), 0n, 1n], rc: H.PARAMETER },
    { name: "drc of another LPAR → H_PARAMETER", op: R, args: [big(B), 0n, 1n], rc: H.PARAMETER },
    {
      name: "bad drc wins over bad length",
      op: R,
      args: [big(NONE), 0n, 3n],
      rc: H.PARAMETER,
    },
    { name: "length 3 → H_P3", op: R, args: [big(A), 0n, 3n], rc: H.P3 },
    { name: "length 0 → H_P3", op: R, args: [big(A), 0n, 0n], rc: H.P3 },
    { name: "length 16 → H_P3", op: R, args: [big(A), 0n, 16n], rc: H.P3 },
    {
      name: "bad length wins over bad offset",
      op: R,
      args: [big(A), big(LABEL), 3n],
      rc: H.P3,
    },
    {
      name: "offset + length past the label → H_P2",
      op: R,
      args: [big(A), big(LABEL - 3), 4n],
      rc: H.P2,
    },
    {
      name: "offset + length wraps 2^64 → H_P2",
      op: R,
      args: [big(A), U64_MAX, 8n],
      rc: H.P2,
    },
    {
      name: "8 bytes read big-endian → r4",
      op: R,
      args: [big(A), 0n, 8n],
      rc: H.SUCCESS,
      outs: { 0: 0x0102030405060708n },
      before: fill,
    },
    {
      name: "2 bytes at offset 3",
      op: R,
      args: [big(A), 3n, 2n],
      rc: H.SUCCESS,
      outs: { 0: 0x0405n },
      before: fill,
    },
    {
      name: "4 bytes at offset 4",
      op: R,
      args: [big(A), 4n, 4n],
      rc: H.SUCCESS,
      outs: { 0: 0x05060708n },
      before: fill,
    },
    {
      name: "the very last byte is readable",
      op: R,
      args: [big(A), big(LABEL - 1), 1n],
      rc: H.SUCCESS,
      outs: { 0: 0xABn },
      before: fill,
    },
    {
      name: "upper 32 bits of the drc register are ignored (uint32_t)",
      op: R,
      args: [(1n << 32n) | big(A), 0n, 1n],
      rc: H.SUCCESS,
      outs: { 0: 0x01n },
      before: fill,
    },
  ]);
});

Deno.test("qemu H_SCM_WRITE_METADATA", async (t) => {
  const W = OP.H_SCM_WRITE_METADATA;
  await runCases(t, [
    { name: "no such drc → H_PARAMETER", op: W, args: [big(NONE), 0n, 0n, 1n], rc: H.PARAMETER },
    {
      name: "drc of another LPAR → H_PARAMETER",
      op: W,
      args: [big(B), 0n, 0n, 1n],
      rc: H.PARAMETER,
    },
    {
      name: "bad drc wins over bad length",
      op: W,
      args: [big(NONE), 0n, 0n, 5n],
      rc: H.PARAMETER,
    },
    { name: "length 5 → H_P4", op: W, args: [big(A), 0n, 0n, 5n], rc: H.P4 },
    {
      name: "bad length wins over bad range and wide data",
      op: W,
      args: [big(A), big(LABEL), U64_MAX, 0n],
      rc: H.P4,
    },
    {
      name: "offset + length past the label → H_P2",
      op: W,
      args: [big(A), big(LABEL - 1), 0n, 2n],
      rc: H.P2,
    },
    {
      name: "offset + length wraps 2^64 → H_P2",
      op: W,
      args: [big(A), U64_MAX - 1n, 0n, 4n],
      rc: H.P2,
    },
    { name: "read-only device → H_P2", op: W, args: [big(C), 0n, 1n, 1n], rc: H.P2 },
    { name: "data wider than 1 byte → H_P2", op: W, args: [big(A), 0n, 0x100n, 1n], rc: H.P2 },
    {
      name: "data wider than 2 bytes → H_P2",
      op: W,
      args: [big(A), 0n, 0x1_0000n, 2n],
      rc: H.P2,
    },
    {
      name: "data wider than 4 bytes → H_P2",
      op: W,
      args: [big(A), 0n, 1n << 32n, 4n],
      rc: H.P2,
    },
    { name: "1 byte written", op: W, args: [big(A), 9n, 0xFFn, 1n], rc: H.SUCCESS },
    { name: "8 bytes of all ones written", op: W, args: [big(A), 0n, U64_MAX, 8n], rc: H.SUCCESS },
    {
      name: "last 8 bytes written",
      op: W,
      args: [big(A), big(LABEL - 8), 1n, 8n],
      rc: H.SUCCESS,
    },
  ]);
  await t.step("written bytes land big-endian in the label", () => {
    const hv = setup();
    assert.equal(hv.hcall(1, W, [big(A), 2n, 0xA1B2n, 2n]).rc, H.SUCCESS);
    assert.equal(hv.hcall(1, W, [big(A), 4n, 0xC3D4E5F6n, 4n]).rc, H.SUCCESS);
    assert.deepEqual([...hv.metadata(A).subarray(0, 8)], [
      0,
      0,
      0xA1,
      0xB2,
      0xC3,
      0xD4,
      0xE5,
      0xF6,
    ]);
    assert.equal(hv.counters(A).metadataWrites, 2);
  });
});

Deno.test("qemu H_SCM_BIND_MEM", async (t) => {
  const M = OP.H_SCM_BIND_MEM;
  const ANY = BIND_ANY_ADDR;
  await runCases(t, [
    {
      name: "no such drc → H_PARAMETER",
      op: M,
      args: [big(NONE), 0n, 1n, ANY, 0n],
      rc: H.PARAMETER,
    },
    {
      name: "drc of another LPAR → H_PARAMETER",
      op: M,
      args: [big(B), 0n, 1n, ANY, 0n],
      rc: H.PARAMETER,
    },
    {
      name: "bad drc wins over a token",
      op: M,
      args: [big(NONE), 0n, 1n, 0n, 7n],
      rc: H.PARAMETER,
    },
    { name: "token ≠ 0 → H_P5", op: M, args: [big(A), 0n, 1n, ANY, 1n], rc: H.P5 },
    {
      name: "token wins over a target address",
      op: M,
      args: [big(A), 99n, 1n, 0n, 1n],
      rc: H.P5,
    },
    { name: "target ≠ ~0 → H_OVERLAP", op: M, args: [big(A), 0n, 1n, 0n, 0n], rc: H.OVERLAP },
    {
      name: "target wins over a bad first block",
      op: M,
      args: [big(A), 99n, 1n, ADDR_A, 0n],
      rc: H.OVERLAP,
    },
    { name: "first block > total → H_P2", op: M, args: [big(A), 5n, 0n, ANY, 0n], rc: H.P2 },
    {
      name: "bad first block wins over a bad count",
      op: M,
      args: [big(A), 5n, U64_MAX, ANY, 0n],
      rc: H.P2,
    },
    {
      name: "first block = total with count 0 is accepted",
      op: M,
      args: [big(A), 4n, 0n, ANY, 0n],
      rc: H.SUCCESS,
      outs: { 1: ADDR_A + 4n * BS, 2: 0n },
    },
    { name: "first + count > total → H_P3", op: M, args: [big(A), 1n, 4n, ANY, 0n], rc: H.P3 },
    {
      name: "first + count wraps 2^64 → H_P3",
      op: M,
      args: [big(A), 1n, U64_MAX, ANY, 0n],
      rc: H.P3,
    },
    {
      name: "whole device → device address, count",
      op: M,
      args: [big(A), 0n, 4n, ANY, 0n],
      rc: H.SUCCESS,
      outs: { 1: ADDR_A, 2: 4n },
    },
    {
      name: "from block 1 → device address + 1 block",
      op: M,
      args: [big(A), 1n, 3n, ANY, 0n],
      rc: H.SUCCESS,
      outs: { 1: ADDR_A + BS, 2: 3n },
    },
    {
      name: "second device's address follows the first ones",
      op: M,
      args: [big(C), 0n, 3n, ANY, 0n],
      rc: H.SUCCESS,
      outs: { 1: ADDR_C, 2: 3n },
    },
    {
      name: "no binding state: binding again succeeds too",
      op: M,
      args: [big(A), 0n, 4n, ANY, 0n],
      rc: H.SUCCESS,
      outs: { 1: ADDR_A, 2: 4n },
      before: (hv) => hv.hcall(1, M, [big(A), 0n, 4n, ANY, 0n]),
    },
  ]);
  await t.step("memory is mapped while assigned, whatever BIND_MEM says", () => {
    const hv = setup();
    assert.deepEqual(hv.bindings(), []);
    assert.deepEqual(hv.mappings(1).map((m) => [m.drc, m.base, m.size]), [
      [A, ADDR_A, 4n * BS],
      [C, ADDR_C, 3n * BS],
      [D, BASE + 7n * BS, BS],
    ]);
    const v = hv.mapVersion(1);
    hv.unassign(C, 1);
    assert.notEqual(hv.mapVersion(1), v);
    assert.equal(hv.mappings(1).length, 2);
  });
});

Deno.test("qemu H_SCM_UNBIND_MEM", async (t) => {
  const U = OP.H_SCM_UNBIND_MEM;
  await runCases(t, [
    {
      name: "no such drc → H_PARAMETER",
      op: U,
      args: [big(NONE), ADDR_A, 1n, 0n],
      rc: H.PARAMETER,
    },
    {
      name: "drc of another LPAR → H_PARAMETER",
      op: U,
      args: [big(B), BASE, 1n, 0n],
      rc: H.PARAMETER,
    },
    {
      name: "bad drc wins over a token",
      op: U,
      args: [big(NONE), 1n, 0n, 1n],
      rc: H.PARAMETER,
    },
    { name: "token ≠ 0 → H_P4", op: U, args: [big(A), ADDR_A, 1n, 1n], rc: H.P4 },
    {
      name: "token wins over a misaligned address",
      op: U,
      args: [big(A), 1n, 0n, 9n],
      rc: H.P4,
    },
    {
      name: "address not block-aligned → H_P2",
      op: U,
      args: [big(A), ADDR_A + 4096n, 1n, 0n],
      rc: H.P2,
    },
    {
      name: "misalignment wins over count 0",
      op: U,
      args: [big(A), ADDR_A + 1n, 0n, 0n],
      rc: H.P2,
    },
    { name: "count 0 → H_P3", op: U, args: [big(A), ADDR_A, 0n, 0n], rc: H.P3 },
    {
      name: "count × block size overflows → H_P3",
      op: U,
      args: [big(A), ADDR_A, 1n << 40n, 0n],
      rc: H.P3,
    },
    {
      name: "range before the device → H_P3",
      op: U,
      args: [big(A), ADDR_A - BS, 1n, 0n],
      rc: H.P3,
    },
    {
      name: "range running past the device → H_P3",
      op: U,
      args: [big(A), ADDR_A + 3n * BS, 2n, 0n],
      rc: H.P3,
    },
    {
      name: "another device's range → H_P3",
      op: U,
      args: [big(A), ADDR_C, 1n, 0n],
      rc: H.P3,
    },
    {
      name: "range wrapping 2^64 → H_P3",
      op: U,
      args: [big(A), (U64_MAX / BS) * BS, 2n, 0n],
      rc: H.P3,
    },
    {
      name: "inside the device → r5 = count",
      op: U,
      args: [big(A), ADDR_A + BS, 3n, 0n],
      rc: H.SUCCESS,
      outs: { 1: 3n },
    },
    {
      name: "whole device → r5 = count",
      op: U,
      args: [big(A), ADDR_A, 4n, 0n],
      rc: H.SUCCESS,
      outs: { 1: 4n },
    },
  ]);
});

Deno.test("qemu H_SCM_UNBIND_ALL", async (t) => {
  const U = OP.H_SCM_UNBIND_ALL;
  await runCases(t, [
    { name: "token ≠ 0 → H_P4", op: U, args: [2n, big(A), 1n], rc: H.P4 },
    { name: "token wins over a bad scope", op: U, args: [7n, big(A), 1n], rc: H.P4 },
    { name: "token wins over a bad drc", op: U, args: [2n, big(NONE), 1n], rc: H.P4 },
    { name: "scope DRC, no such drc → H_P2", op: U, args: [2n, big(NONE), 0n], rc: H.P2 },
    { name: "scope DRC, another LPAR's drc → H_P2", op: U, args: [2n, big(B), 0n], rc: H.P2 },
    {
      name: "scope DRC → r5 = its blocks",
      op: U,
      args: [2n, big(A), 0n],
      rc: H.SUCCESS,
      outs: { 1: 4n },
    },
    {
      name: "scope ALL → r5 = every device's blocks (LPAR 1)",
      op: U,
      args: [1n, big(NONE), 0n],
      rc: H.SUCCESS,
      outs: { 1: 8n },
    },
    {
      name: "scope ALL → r5 = every device's blocks (LPAR 2)",
      op: U,
      args: [1n, 0n, 0n],
      rc: H.SUCCESS,
      outs: { 1: 3n },
      lpar: 2,
    },
    { name: "scope 0 → H_PARAMETER", op: U, args: [0n, big(A), 0n], rc: H.PARAMETER },
    { name: "scope 3 → H_PARAMETER", op: U, args: [3n, big(A), 0n], rc: H.PARAMETER },
  ]);
});

Deno.test("qemu H_SCM_HEALTH", async (t) => {
  const M = OP.H_SCM_HEALTH;
  await runCases(t, [
    { name: "no such drc → H_PARAMETER", op: M, args: [big(NONE)], rc: H.PARAMETER },
    { name: "drc of another LPAR → H_PARAMETER", op: M, args: [big(B)], rc: H.PARAMETER },
    {
      name: "armed → r4 = 0, r5 = UNARMED",
      op: M,
      args: [big(A)],
      rc: H.SUCCESS,
      outs: { 0: 0n, 1: HEALTH.UNARMED },
    },
    {
      name: "unarmed (and dirty) → only the UNARMED bit",
      op: M,
      args: [big(C)],
      rc: H.SUCCESS,
      outs: { 0: HEALTH.UNARMED, 1: HEALTH.UNARMED },
    },
    {
      name: "runtime injection of UNARMED is seen",
      op: M,
      args: [big(A)],
      rc: H.SUCCESS,
      outs: { 0: HEALTH.UNARMED, 1: HEALTH.UNARMED },
      before: (hv) => hv.setHealth(A, HEALTH.UNARMED | HEALTH.HEALTH_FATAL),
    },
    {
      name: "other bits are invisible under qemu",
      op: M,
      args: [big(A)],
      rc: H.SUCCESS,
      outs: { 0: 0n, 1: HEALTH.UNARMED },
      before: (hv) => hv.setHealth(A, HEALTH.HEALTH_FATAL),
    },
  ]);
});

Deno.test("qemu H_SCM_FLUSH", async (t) => {
  const F = OP.H_SCM_FLUSH;
  const LB = H.LONG_BUSY_ORDER_10_MSEC;
  await runCases(t, [
    { name: "no such drc → H_PARAMETER", op: F, args: [big(NONE), 0n], rc: H.PARAMETER },
    { name: "drc of another LPAR → H_PARAMETER", op: F, args: [big(B), 0n], rc: H.PARAMETER },
    { name: "bad drc wins over a token", op: F, args: [big(NONE), 1n], rc: H.PARAMETER },
    {
      name: "new request without a file backend → H_UNSUPPORTED",
      op: F,
      args: [big(C), 0n],
      rc: H.UNSUPPORTED,
    },
    { name: "unknown token → H_P2", op: F, args: [big(A), 5n], rc: H.P2 },
    {
      name: "a token without a backend is just unknown → H_P2",
      op: F,
      args: [big(C), 1n],
      rc: H.P2,
    },
    {
      name: "new request → long busy 10 ms, r4 = token 1",
      op: F,
      args: [big(A), 0n],
      rc: LB,
      outs: { 0: 1n },
    },
    {
      name: "second request on the device → token 2",
      op: F,
      args: [big(A), 0n],
      rc: LB,
      outs: { 0: 2n },
      before: (hv) => hv.hcall(1, F, [big(A), 0n]),
    },
    {
      name: "tokens are per device (first is 1 on each)",
      op: F,
      args: [big(D), 0n],
      rc: LB,
      outs: { 0: 1n },
      before: (hv) => hv.hcall(1, F, [big(A), 0n]),
    },
    {
      name: "another LPAR's token is unknown → H_P2",
      op: F,
      args: [big(D), 1n],
      rc: H.P2,
      lpar: 2,
      before: (hv) => hv.hcall(1, F, [big(D), 0n]),
    },
  ]);
  await t.step("pending → long busy with the token; done → H_SUCCESS once", () => {
    const env = clockEnv();
    const hv = setup(env);
    assert.equal(hv.hcall(1, F, [big(A), 0n]).rc, LB);
    env.advance(999_999n);
    let r = hv.hcall(1, F, [big(A), 1n]);
    assert.equal(r.rc, LB);
    assert.equal(r.rets[0], 1n);
    env.advance(1n);
    r = hv.hcall(1, F, [big(A), 1n]);
    assert.equal(rcName(r.rc), "H_SUCCESS");
    assert.deepEqual(r.rets, expectedRets({ name: "", op: F, args: [big(A), 1n], rc: 0 }));
    assert.equal(hv.hcall(1, F, [big(A), 1n]).rc, H.P2, "token consumed");
    assert.deepEqual(hv.pendingFlushes(A), []);
  });
  await t.step("setFlushFailure → the flush ends in H_HARDWARE", () => {
    const env = clockEnv();
    const hv = setup(env);
    hv.setFlushFailure(A, true);
    assert.equal(hv.hcall(1, F, [big(A), 0n]).rc, LB);
    hv.setFlushFailure(A, false);
    env.advance(1_000_000n);
    assert.equal(rcName(hv.hcall(1, F, [big(A), 1n]).rc), "H_HARDWARE");
    assert.equal(hv.hcall(1, F, [big(A), 1n]).rc, H.P2);
    assert.equal(hv.counters(A).flushFailures, 1);
  });
  await t.step("unassigning drops the LPAR's flushes", () => {
    const hv = setup();
    hv.hcall(2, F, [big(D), 0n]);
    hv.unassign(D, 2);
    assert.deepEqual(hv.pendingFlushes(D), []);
  });
  await t.step("a device moved to another LPAR starts its flush tokens afresh", () => {
    const hv = setup();
    for (let i = 0; i < 5; i++) hv.hcall(1, F, [big(A), 0n]);
    hv.unassign(A, 1);
    hv.assign(A, 2);
    // The new owner's first token is 1, not 6: it tells nothing of the old owner's flushes.
    assert.equal(hv.hcall(2, F, [big(A), 0n]).rets[0], 1n);
    assert.deepEqual(hv.invariants(), []);
  });
});

Deno.test("qemu unimplemented hcalls → H_FUNCTION, registers untouched", async (t) => {
  await runCases(t, [
    {
      name: "QUERY_BLOCK_MEM_BINDING",
      op: OP.H_SCM_QUERY_BLOCK_MEM_BINDING,
      args: [big(A), 0n],
      rc: H.FUNCTION,
    },
    {
      name: "QUERY_LOGICAL_MEM_BINDING",
      op: OP.H_SCM_QUERY_LOGICAL_MEM_BINDING,
      args: [ADDR_A],
      rc: H.FUNCTION,
    },
    {
      name: "PERFORMANCE_STATS",
      op: OP.H_SCM_PERFORMANCE_STATS,
      args: [big(A), 0n, 0n],
      rc: H.FUNCTION,
    },
    { name: "unknown opcode 0x404", op: 0x404, args: [1n, 2n, 3n], rc: H.FUNCTION },
  ]);
});

Deno.test("qemu devices: addresses and what QEMU refuses to plug", async (t) => {
  await t.step("device addresses: first fit in each LPAR's own space", () => {
    const hv = setup();
    assert.equal(hv.deviceAddress(A, 1), BASE);
    assert.equal(hv.deviceAddress(C, 1), BASE + 4n * BS);
    assert.equal(hv.deviceAddress(D, 1), BASE + 7n * BS);
    // LPAR 2 sees only its own devices: B first, then the shared D.
    assert.equal(hv.deviceAddress(B, 2), BASE);
    assert.equal(hv.deviceAddress(D, 2), BASE + 2n * BS);
    assert.equal(hv.deviceAddress(B, 1), undefined);
    assert.deepEqual(hv.invariants(), []);
  });
  await t.step("an address says nothing of other partitions' nvdimms", () => {
    // Same LPAR 1 devices; whatever LPAR 2 holds, LPAR 1's addresses are the same.
    const small = new HypervisorCore({ personality: "qemu" });
    const large = new HypervisorCore({ personality: "qemu" });
    for (const hv of [small, large]) {
      hv.addDrc(spec(B, hv === large ? 40 : 1));
      hv.assign(B, 2);
      hv.addDrc(spec(A, 2));
      hv.assign(A, 1);
    }
    assert.equal(small.deviceAddress(A, 1), BASE);
    assert.equal(large.deviceAddress(A, 1), BASE);
    const bindAddress = (hv: HypervisorCore) =>
      hv.hcall(1, OP.H_SCM_BIND_MEM, [big(A), 0n, 2n, BIND_ANY_ADDR, 0n]).rets[1];
    assert.equal(bindAddress(small), bindAddress(large));
  });
  await t.step("the base is injectable; addresses are block-aligned; a freed gap is reused", () => {
    const hv = new HypervisorCore({ personality: "qemu", qemu: { deviceMemoryBase: 0x1000n } });
    hv.addDrc({ ...spec(A, 1), blockSize: 0x10000n });
    hv.addDrc({ ...spec(B, 2), blockSize: 0x20000n });
    hv.addDrc({ ...spec(C, 1), blockSize: 0x10000n });
    hv.assign(A, 1);
    hv.assign(B, 1);
    assert.equal(hv.deviceAddress(A, 1), 0x10000n);
    assert.equal(hv.deviceAddress(B, 1), 0x20000n);
    hv.unassign(A, 1);
    hv.assign(C, 1);
    assert.equal(hv.deviceAddress(C, 1), 0x10000n, "first fit: the gap A left");
    hv.assign(A, 1);
    assert.equal(hv.deviceAddress(A, 1), 0x60000n, "no gap fits: after B");
    assert.deepEqual(hv.invariants(), []);
  });
  await t.step("a label under 128 KiB is refused", () => {
    const hv = new HypervisorCore({ personality: "qemu" });
    assert.throws(() => hv.addDrc(spec(A, 1, { metadataSize: LABEL - 1 })), /128 KiB/);
  });
  await t.step("strictBlockSize refuses anything but 256 MiB", () => {
    const hv = new HypervisorCore({ personality: "qemu", qemu: { strictBlockSize: true } });
    assert.throws(() => hv.addDrc(spec(A, 1, { blockSize: 1n << 20n })), /256 MiB/);
    hv.addDrc(spec(B, 1));
  });
});
