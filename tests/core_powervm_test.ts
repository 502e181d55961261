/**
 * Conformance of the `powervm` personality (reference §3b, §6, §7 and the
 * LNX-DOC return-code lists): each check with its exact code and outputs,
 * sliced binds and unbinds with continue-tokens, ownership, statistics and
 * flushes.
 */
import assert from "node:assert/strict";
import { BIND_ANY_ADDR, H, OP, rcName, RET_COUNT } from "../abi/hcalls.ts";
import { HEALTH, HEALTH_ALL } from "../abi/health.ts";
import { HypervisorCore, seededEnv } from "../core/hypervisor.ts";
import { POWERVM_DEFAULTS } from "../core/powervm.ts";
import {
  decodeStats,
  encodeStats,
  NOMINAL_NS,
  STAT_IDS,
  STATS_BUFFER_SIZE,
} from "../core/stats.ts";
import type { CoreEnv, DrcSpec, GuestMemory, PowerVmOptions } from "../core/types.ts";

const BS = 0x10000n;
const LABEL = 128 * 1024;
const U64_MAX = (1n << 64n) - 1n;
const ANY = BIND_ANY_ADDR;
const A = 0x4410_0001; // 4 blocks, LPAR 1, hcall flush required
const S = 0x4410_0002; // 8 blocks, shared by LPARs 1 and 2
const X = 0x4410_0003; // 2 blocks, LPAR 2 only
const NONE = 0x4410_0009;
const BASE = POWERVM_DEFAULTS.logicalBase;
const big = (n: number) => BigInt(n);
const enc = new TextEncoder();

/** Guest memory: one byte array per LPAR at [0, 64 KiB). */
class FakeMemory implements GuestMemory {
  readonly ram = new Map<number, Uint8Array>();
  writable = true;
  readable = true;
  #of(lpar: number) {
    let m = this.ram.get(lpar);
    if (!m) this.ram.set(lpar, m = new Uint8Array(0x10000));
    return m;
  }
  write(lpar: number, address: bigint, bytes: Uint8Array): boolean {
    if (!this.writable || address + BigInt(bytes.length) > 0x10000n) return false;
    this.#of(lpar).set(bytes, Number(address));
    return true;
  }
  read(lpar: number, address: bigint, length: number): Uint8Array | undefined {
    if (!this.readable || address + BigInt(length) > 0x10000n) return undefined;
    return this.#of(lpar).slice(Number(address), Number(address) + length);
  }
}

interface TestEnv extends CoreEnv {
  advance(ns: bigint): void;
  memory: FakeMemory;
  mediaReads: bigint;
  mediaWrites: bigint;
}

function testEnv(): TestEnv {
  let t = 1_000n;
  const seeded = seededEnv(11n);
  const env: TestEnv = {
    now: () => t,
    random64: seeded.random64,
    advance: (ns) => void (t += ns),
    memory: new FakeMemory(),
    mediaReads: 0n,
    mediaWrites: 0n,
    media: (drc) => (drc === A ? { reads: env.mediaReads, writes: env.mediaWrites } : {
      reads: 0n,
      writes: 0n,
    }),
  };
  env.guestMemory = env.memory;
  return env;
}

function spec(index: number, blocks: number, extra: Partial<DrcSpec> = {}): DrcSpec {
  return { index, blockSize: BS, blocks, metadataSize: LABEL, uuid: `uuid-${index}`, ...extra };
}

function setup(env: CoreEnv = testEnv(), powervm: Partial<PowerVmOptions> = {}) {
  const hv = new HypervisorCore({
    personality: "powervm",
    env,
    flushLatencyNs: 1_000_000n,
    powervm: { bindSliceBlocks: 8, unbindSliceBlocks: 8, ...powervm },
  });
  hv.addDrc(spec(A, 4, { hcallFlushRequired: true }));
  hv.addDrc(spec(S, 8));
  hv.addDrc(spec(X, 2, { health: HEALTH.SHUTDOWN_DIRTY }));
  hv.assign(A, 1);
  hv.assign(S, 1);
  hv.assign(S, 2);
  hv.assign(X, 2);
  return hv;
}

interface Case {
  name: string;
  op: number;
  args: bigint[];
  rc: number;
  /** Outputs r4, r5, ... (the rest must be zero). */
  outs?: bigint[];
  lpar?: number;
  /** `powervm` tunables for this case's core. */
  options?: Partial<PowerVmOptions>;
  before?: (hv: HypervisorCore, env: TestEnv) => void;
  after?: (hv: HypervisorCore, env: TestEnv) => void;
}

function rets(outs: bigint[] = []): bigint[] {
  return Array.from({ length: RET_COUNT }, (_, i) => outs[i] ?? 0n);
}

async function runCases(t: Deno.TestContext, cases: Case[]): Promise<void> {
  for (const c of cases) {
    await t.step(c.name, () => {
      const env = testEnv();
      const hv = setup(env, c.options);
      c.before?.(hv, env);
      const got = hv.hcall(c.lpar ?? 1, c.op, c.args);
      assert.equal(rcName(got.rc), rcName(c.rc));
      assert.deepEqual(got.rets, rets(c.outs));
      c.after?.(hv, env);
      assert.deepEqual(hv.invariants(), []);
    });
  }
}

const bind = (hv: HypervisorCore, lpar: number, drc: number, first: number, n: number) =>
  hv.hcall(lpar, OP.H_SCM_BIND_MEM, [big(drc), big(first), big(n), ANY, 0n]);

Deno.test("powervm H_SCM_BIND_MEM", async (t) => {
  const M = OP.H_SCM_BIND_MEM;
  await runCases(t, [
    {
      name: "no such drc → H_PARAMETER",
      op: M,
      args: [big(NONE), 0n, 1n, ANY, 0n],
      rc: H.PARAMETER,
    },
    {
      name: "a drc the caller does not own looks nonexistent → H_PARAMETER",
      op: M,
      args: [big(X), 0n, 1n, ANY, 0n],
      rc: H.PARAMETER,
    },
    { name: "first block = total → H_P2", op: M, args: [big(A), 4n, 1n, ANY, 0n], rc: H.P2 },
    { name: "first block huge → H_P2", op: M, args: [big(A), U64_MAX, 1n, ANY, 0n], rc: H.P2 },
    { name: "count 0 → H_P3", op: M, args: [big(A), 0n, 0n, ANY, 0n], rc: H.P3 },
    { name: "first + count > total → H_P3", op: M, args: [big(A), 2n, 3n, ANY, 0n], rc: H.P3 },
    {
      name: "target not block-aligned → H_P4",
      op: M,
      args: [big(A), 0n, 1n, BASE + 1n, 0n],
      rc: H.P4,
    },
    {
      name: "target range past 2^64 → H_P4",
      op: M,
      args: [big(A), 0n, 2n, U64_MAX - BS + 1n, 0n],
      rc: H.P4,
    },
    {
      name: "unknown token → H_P5",
      op: M,
      args: [big(A), 0n, 4n, ANY, 0xDEADn],
      rc: H.P5,
    },
    {
      name: "whole small device in one call",
      op: M,
      args: [big(A), 0n, 4n, ANY, 0n],
      rc: H.SUCCESS,
      outs: [0n, BASE, 4n],
      after: (hv) => assert.equal(hv.counters(A).binds, 4),
    },
    {
      name: "at a chosen target address",
      op: M,
      args: [big(A), 1n, 2n, BASE * 2n, 0n],
      rc: H.SUCCESS,
      outs: [0n, BASE * 2n, 2n],
    },
    {
      name: "next bind goes after the caller's existing ranges",
      op: M,
      args: [big(S), 0n, 2n, ANY, 0n],
      rc: H.SUCCESS,
      outs: [0n, BASE + 4n * BS, 2n],
      before: (hv) => bind(hv, 1, A, 0, 4),
    },
    {
      name: "a block already bound to the caller → H_OVERLAP",
      op: M,
      args: [big(A), 3n, 1n, ANY, 0n],
      rc: H.OVERLAP,
      before: (hv) => bind(hv, 1, A, 0, 4),
    },
    {
      name: "a block bound to another LPAR → H_OVERLAP",
      op: M,
      args: [big(S), 0n, 8n, ANY, 0n],
      rc: H.OVERLAP,
      before: (hv) => bind(hv, 2, S, 7, 1),
    },
    {
      name: "a block reserved by another LPAR's sliced bind → H_OVERLAP",
      op: M,
      args: [big(S), 7n, 1n, ANY, 0n],
      rc: H.OVERLAP,
      options: { bindSliceBlocks: 2 },
      before: (hv) => {
        hv.hcall(2, OP.H_SCM_BIND_MEM, [big(S), 0n, 8n, ANY, 0n]); // H_BUSY
      },
      after: (hv) => assert.ok(hv.bindings().some((b) => b.state === "pending")),
    },
    {
      name: "target overlapping a binding in the caller's space → H_OVERLAP",
      op: M,
      args: [big(S), 0n, 2n, BASE + 3n * BS, 0n],
      rc: H.OVERLAP,
      before: (hv) => bind(hv, 1, A, 0, 4),
    },
    {
      name: "the same address in another LPAR's space is fine",
      op: M,
      args: [big(X), 0n, 2n, BASE, 0n],
      rc: H.SUCCESS,
      outs: [0n, BASE, 2n],
      lpar: 2,
      before: (hv) => bind(hv, 1, A, 0, 4),
    },
  ]);

  await t.step("sliced bind: H_BUSY with the token in r4, resumed to the end", () => {
    const hv = setup(testEnv(), { bindSliceBlocks: 3 });
    const first = hv.hcall(1, M, [big(S), 0n, 8n, ANY, 0n]);
    assert.equal(rcName(first.rc), "H_BUSY");
    const token = first.rets[0];
    assert.notEqual(token, 0n);
    assert.deepEqual(first.rets, rets([token, BASE, 3n]));
    assert.equal(hv.mappings(1)[0].size, 3n * BS, "only the first slice is mapped");
    assert.deepEqual(hv.invariants(), []);
    const second = hv.hcall(1, M, [big(S), 0n, 8n, ANY, token]);
    assert.deepEqual([second.rc, ...second.rets], [H.BUSY, ...rets([token, BASE, 6n])]);
    const last = hv.hcall(1, M, [big(S), 0n, 8n, ANY, token]);
    assert.deepEqual([last.rc, ...last.rets], [H.SUCCESS, ...rets([0n, BASE, 8n])]);
    assert.equal(hv.hcall(1, M, [big(S), 0n, 8n, ANY, token]).rc, H.P5, "token used up");
    assert.deepEqual(hv.mappings(1), [{ base: BASE, size: 8n * BS, drc: S, offset: 0n }]);
    assert.deepEqual(hv.invariants(), []);
  });
  await t.step("another LPAR's token → H_P5", () => {
    const hv = setup(testEnv(), { bindSliceBlocks: 3 });
    const token = hv.hcall(2, M, [big(S), 0n, 8n, ANY, 0n]).rets[0];
    assert.equal(hv.hcall(1, M, [big(S), 0n, 8n, ANY, token]).rc, H.P5);
  });
  await t.step("a token of another drc → H_P5", () => {
    const hv = setup(testEnv(), { bindSliceBlocks: 3 });
    const token = hv.hcall(1, M, [big(S), 0n, 8n, ANY, 0n]).rets[0];
    assert.equal(hv.hcall(1, M, [big(A), 0n, 4n, ANY, token]).rc, H.P5);
  });
  await t.step("a new bind of the same drc abandons the old one's unreached blocks", () => {
    const hv = setup(testEnv(), { bindSliceBlocks: 2 });
    const token = hv.hcall(1, M, [big(S), 0n, 4n, ANY, 0n]).rets[0];
    assert.equal(hv.hcall(1, M, [big(S), 4n, 2n, ANY, 0n]).rc, H.SUCCESS);
    assert.equal(hv.hcall(1, M, [big(S), 0n, 4n, ANY, token]).rc, H.P5);
    assert.deepEqual(hv.bindings().map((b) => b.block), [0, 1, 4, 5]);
    assert.deepEqual(hv.invariants(), []);
  });
});

Deno.test("powervm H_SCM_UNBIND_MEM", async (t) => {
  const U = OP.H_SCM_UNBIND_MEM;
  const bound = (hv: HypervisorCore) => bind(hv, 1, A, 0, 4);
  await runCases(t, [
    { name: "no such drc → H_PARAMETER", op: U, args: [big(NONE), BASE, 1n, 0n], rc: H.PARAMETER },
    {
      name: "a drc the caller does not own → H_PARAMETER",
      op: U,
      args: [big(X), BASE, 1n, 0n],
      rc: H.PARAMETER,
    },
    { name: "unknown token → H_P4", op: U, args: [big(A), BASE, 1n, 0x77n], rc: H.P4 },
    {
      name: "address not block-aligned → H_P2",
      op: U,
      args: [big(A), BASE + 1n, 1n, 0n],
      rc: H.P2,
      before: bound,
    },
    {
      name: "address not bound by the caller → H_P2",
      op: U,
      args: [big(A), BASE, 1n, 0n],
      rc: H.P2,
    },
    { name: "count 0 → H_P3", op: U, args: [big(A), BASE, 0n, 0n], rc: H.P3, before: bound },
    {
      name: "count past the device → H_P3",
      op: U,
      args: [big(A), BASE + BS, 4n, 0n],
      rc: H.P3,
      before: bound,
    },
    {
      name: "range with a block not bound to the caller → H_P3",
      op: U,
      args: [big(S), BASE, 2n, 0n],
      rc: H.P3,
      before: (hv) => {
        hv.hcall(1, OP.H_SCM_BIND_MEM, [big(S), 0n, 1n, BASE, 0n]);
        bind(hv, 2, S, 1, 1);
      },
    },
    {
      name: "part of a binding → r5 = count",
      op: U,
      args: [big(A), BASE + BS, 2n, 0n],
      rc: H.SUCCESS,
      outs: [0n, 2n],
      before: bound,
      after: (hv) => assert.deepEqual(hv.bindings().map((b) => b.block), [0, 3]),
    },
    {
      name: "whole binding → r5 = count",
      op: U,
      args: [big(A), BASE, 4n, 0n],
      rc: H.SUCCESS,
      outs: [0n, 4n],
      before: bound,
      after: (hv) => {
        assert.deepEqual(hv.bindings(), []);
        assert.equal(hv.counters(A).unbinds, 4);
      },
    },
  ]);
  await t.step("sliced unbind: long busy with the token, resumed", () => {
    const hv = setup(testEnv(), { unbindSliceBlocks: 3 });
    bind(hv, 1, S, 0, 8);
    const r = hv.hcall(1, U, [big(S), BASE, 8n, 0n]);
    assert.equal(rcName(r.rc), "H_LONG_BUSY_ORDER_1_MSEC");
    const token = r.rets[0];
    assert.deepEqual(r.rets, rets([token, 3n]));
    assert.equal(hv.hcall(1, U, [big(S), BASE, 8n, token]).rc, H.LONG_BUSY_ORDER_1_MSEC);
    const last = hv.hcall(1, U, [big(S), BASE, 8n, token]);
    assert.deepEqual([last.rc, ...last.rets], [H.SUCCESS, ...rets([0n, 8n])]);
    assert.equal(hv.hcall(1, U, [big(S), BASE, 8n, token]).rc, H.P4);
  });
  await t.step("unbindContinue 'busy' answers H_BUSY instead", () => {
    const hv = setup(testEnv(), { unbindSliceBlocks: 3, unbindContinue: "busy" });
    bind(hv, 1, S, 0, 8);
    assert.equal(hv.hcall(1, U, [big(S), BASE, 8n, 0n]).rc, H.BUSY);
  });
  await t.step("an UNBIND_ALL token does not resume UNBIND_MEM → H_P4", () => {
    const hv = setup(testEnv(), { unbindSliceBlocks: 3 });
    bind(hv, 1, S, 0, 8);
    const token = hv.hcall(1, OP.H_SCM_UNBIND_ALL, [2n, big(S), 0n]).rets[0];
    assert.equal(hv.hcall(1, U, [big(S), BASE, 8n, token]).rc, H.P4);
  });
});

Deno.test("powervm H_SCM_UNBIND_ALL", async (t) => {
  const U = OP.H_SCM_UNBIND_ALL;
  await runCases(t, [
    { name: "scope 0 → H_PARAMETER", op: U, args: [0n, big(A), 0n], rc: H.PARAMETER },
    { name: "scope 3 → H_PARAMETER", op: U, args: [3n, big(A), 0n], rc: H.PARAMETER },
    { name: "unknown token → H_P3", op: U, args: [2n, big(A), 0x55n], rc: H.P3 },
    { name: "scope DRC, no such drc → H_P2", op: U, args: [2n, big(NONE), 0n], rc: H.P2 },
    { name: "scope DRC, a drc not owned → H_P2", op: U, args: [2n, big(X), 0n], rc: H.P2 },
    {
      name: "scope DRC, nothing bound → r5 = 0",
      op: U,
      args: [2n, big(A), 0n],
      rc: H.SUCCESS,
      outs: [0n, 0n],
    },
    {
      name: "scope DRC releases only the caller's blocks of it",
      op: U,
      args: [2n, big(S), 0n],
      rc: H.SUCCESS,
      outs: [0n, 2n],
      before: (hv) => {
        bind(hv, 1, S, 0, 2);
        bind(hv, 2, S, 2, 2);
        bind(hv, 1, A, 0, 4);
      },
      after: (hv) => assert.equal(hv.bindings().length, 6),
    },
    {
      name: "scope ALL releases every block of the caller",
      op: U,
      args: [1n, 0n, 0n],
      rc: H.SUCCESS,
      outs: [0n, 6n],
      before: (hv) => {
        bind(hv, 1, S, 0, 2);
        bind(hv, 2, S, 2, 2);
        bind(hv, 1, A, 0, 4);
      },
      after: (hv) => assert.deepEqual(hv.bindings().map((b) => b.lpar), [2, 2]),
    },
    {
      name: "scope ALL drops the caller's bind in progress (r5 counts bound blocks only)",
      op: U,
      args: [1n, 0n, 0n],
      rc: H.SUCCESS,
      outs: [0n, 2n],
      options: { bindSliceBlocks: 2 },
      before: (hv) => {
        hv.hcall(1, OP.H_SCM_BIND_MEM, [big(S), 0n, 8n, ANY, 0n]);
      },
      after: (hv) => assert.deepEqual(hv.bindings(), []),
    },
  ]);
  await t.step("sliced: long busy with the token, resumed; a wrong token → H_P3", () => {
    const hv = setup(testEnv(), { unbindSliceBlocks: 5 });
    bind(hv, 1, S, 0, 8);
    const r = hv.hcall(1, U, [2n, big(S), 0n]);
    assert.equal(r.rc, H.LONG_BUSY_ORDER_1_MSEC);
    assert.deepEqual(r.rets, rets([r.rets[0], 5n]));
    assert.equal(hv.hcall(1, U, [2n, big(S), r.rets[0] ^ 1n]).rc, H.P3);
    assert.equal(hv.hcall(2, U, [2n, big(S), r.rets[0]]).rc, H.P3, "not the caller's");
    const last = hv.hcall(1, U, [2n, big(S), r.rets[0]]);
    assert.deepEqual([last.rc, ...last.rets], [H.SUCCESS, ...rets([0n, 8n])]);
  });
});

Deno.test("powervm H_SCM_QUERY_BLOCK_MEM_BINDING", async (t) => {
  const Q = OP.H_SCM_QUERY_BLOCK_MEM_BINDING;
  await runCases(t, [
    { name: "no such drc → H_PARAMETER", op: Q, args: [big(NONE), 0n], rc: H.PARAMETER },
    { name: "a drc not owned → H_PARAMETER", op: Q, args: [big(X), 0n], rc: H.PARAMETER },
    { name: "block = total → H_P2", op: Q, args: [big(A), 4n], rc: H.P2 },
    { name: "unbound block → H_NOT_FOUND", op: Q, args: [big(A), 0n], rc: H.NOT_FOUND },
    {
      name: "block bound to another LPAR → H_NOT_FOUND",
      op: Q,
      args: [big(S), 0n],
      rc: H.NOT_FOUND,
      before: (hv) => bind(hv, 2, S, 0, 1),
    },
    {
      name: "block only reserved by a bind in progress → H_NOT_FOUND",
      op: Q,
      args: [big(S), 7n],
      rc: H.NOT_FOUND,
      options: { bindSliceBlocks: 2 },
      before: (hv) => {
        hv.hcall(1, OP.H_SCM_BIND_MEM, [big(S), 0n, 8n, ANY, 0n]);
      },
    },
    {
      name: "bound block → r4 its address",
      op: Q,
      args: [big(A), 3n],
      rc: H.SUCCESS,
      outs: [BASE + 3n * BS],
      before: (hv) => bind(hv, 1, A, 0, 4),
    },
  ]);
});

Deno.test("powervm H_SCM_QUERY_LOGICAL_MEM_BINDING", async (t) => {
  const Q = OP.H_SCM_QUERY_LOGICAL_MEM_BINDING;
  await runCases(t, [
    { name: "nothing bound there → H_NOT_FOUND", op: Q, args: [BASE], rc: H.NOT_FOUND },
    {
      name: "address bound in another LPAR only → H_NOT_FOUND",
      op: Q,
      args: [BASE],
      rc: H.NOT_FOUND,
      before: (hv) => bind(hv, 2, X, 0, 2),
    },
    {
      name: "inside a bound block → r4 drc, r5 block",
      op: Q,
      args: [BASE + 2n * BS + 5n],
      rc: H.SUCCESS,
      outs: [big(A), 2n],
      before: (hv) => bind(hv, 1, A, 0, 4),
    },
    {
      name: "just past the binding → H_NOT_FOUND",
      op: Q,
      args: [BASE + 4n * BS],
      rc: H.NOT_FOUND,
      before: (hv) => bind(hv, 1, A, 0, 4),
    },
  ]);
});

Deno.test("powervm H_SCM_HEALTH", async (t) => {
  const M = OP.H_SCM_HEALTH;
  await runCases(t, [
    { name: "no such drc → H_PARAMETER", op: M, args: [big(NONE)], rc: H.PARAMETER },
    { name: "a drc not owned → H_PARAMETER", op: M, args: [big(X)], rc: H.PARAMETER },
    {
      name: "healthy → r4 0, r5 every defined bit",
      op: M,
      args: [big(A)],
      rc: H.SUCCESS,
      outs: [0n, HEALTH_ALL],
    },
    {
      name: "initial bitmap from the spec",
      op: M,
      args: [big(X)],
      rc: H.SUCCESS,
      outs: [HEALTH.SHUTDOWN_DIRTY, HEALTH_ALL],
      lpar: 2,
    },
    {
      name: "runtime injection is seen",
      op: M,
      args: [big(A)],
      rc: H.SUCCESS,
      outs: [HEALTH.HEALTH_FATAL | HEALTH.ENCRYPTED, HEALTH_ALL],
      before: (hv) => hv.setHealth(A, HEALTH.HEALTH_FATAL | HEALTH.ENCRYPTED),
    },
  ]);
});

Deno.test("powervm metadata hcalls", async (t) => {
  const R = OP.H_SCM_READ_METADATA;
  const W = OP.H_SCM_WRITE_METADATA;
  const fill = (hv: HypervisorCore) => {
    hv.hcall(1, W, [big(A), 0n, 0x1122334455667788n, 8n]);
  };
  await runCases(t, [
    { name: "read: no such drc → H_PARAMETER", op: R, args: [big(NONE), 0n, 1n], rc: H.PARAMETER },
    { name: "read: a drc not owned → H_PARAMETER", op: R, args: [big(X), 0n, 3n], rc: H.PARAMETER },
    { name: "read: length 3 → H_P3", op: R, args: [big(A), big(LABEL), 3n], rc: H.P3 },
    { name: "read: past the label → H_P2", op: R, args: [big(A), big(LABEL - 1), 2n], rc: H.P2 },
    {
      name: "read: 8 bytes → r4 big-endian",
      op: R,
      args: [big(A), 0n, 8n],
      rc: H.SUCCESS,
      outs: [0x1122334455667788n],
      before: fill,
    },
    {
      name: "read: 2 bytes at offset 6",
      op: R,
      args: [big(A), 6n, 2n],
      rc: H.SUCCESS,
      outs: [0x7788n],
      before: fill,
    },
    {
      name: "read: 8 bytes with every high bit set",
      op: R,
      args: [big(A), 0n, 8n],
      rc: H.SUCCESS,
      outs: [0xFFEEDDCCBBAA9988n],
      before: (hv) => void hv.hcall(1, W, [big(A), 0n, 0xFFEEDDCCBBAA9988n, 8n]),
    },
    {
      name: "read: 4 bytes with the high bit set",
      op: R,
      args: [big(A), 4n, 4n],
      rc: H.SUCCESS,
      outs: [0xBBAA9988n],
      before: (hv) => void hv.hcall(1, W, [big(A), 0n, 0xFFEEDDCCBBAA9988n, 8n]),
    },
    {
      name: "read: the last 8 bytes of the label",
      op: R,
      args: [big(A), big(LABEL - 8), 8n],
      rc: H.SUCCESS,
      outs: [0n],
    },
    {
      name: "read: an offset that wraps to 0 in 64 bits → H_P2",
      op: R,
      args: [big(A), U64_MAX, 1n],
      rc: H.P2,
    },
    { name: "read: an offset past 2^53 → H_P2", op: R, args: [big(A), 2n ** 53n, 1n], rc: H.P2 },
    {
      name: "write: a drc not owned → H_PARAMETER",
      op: W,
      args: [big(X), 0n, 0n, 9n],
      rc: H.PARAMETER,
    },
    { name: "write: length 9 → H_P4", op: W, args: [big(A), big(LABEL), 0n, 9n], rc: H.P4 },
    { name: "write: past the label → H_P2", op: W, args: [big(A), big(LABEL), 0n, 1n], rc: H.P2 },
    { name: "write: data too wide → H_P2", op: W, args: [big(A), 0n, 0x1FFn, 1n], rc: H.P2 },
    {
      name: "write: 4 bytes",
      op: W,
      args: [big(A), 4n, 0xCAFEF00Dn, 4n],
      rc: H.SUCCESS,
      after: (hv) => {
        assert.deepEqual([...hv.metadata(A).subarray(4, 8)], [0xCA, 0xFE, 0xF0, 0x0D]);
        assert.equal(hv.counters(A).metadataWrites, 1);
      },
    },
  ]);
});

/** Writes the driver's request header (and ids) into LPAR 1's memory at `at`. */
function request(env: TestEnv, at: number, ids: string[]): void {
  const bytes = encodeStats(ids.length, ids.map((id) => [enc.encode(id), 0n]));
  env.memory.write(1, BigInt(at), bytes);
}

function readStats(env: TestEnv, at: number, size: number) {
  return decodeStats(env.memory.read(1, BigInt(at), size)!);
}

Deno.test("powervm H_SCM_PERFORMANCE_STATS", async (t) => {
  const P = OP.H_SCM_PERFORMANCE_STATS;
  const ALL = big(STATS_BUFFER_SIZE);
  await runCases(t, [
    { name: "no such drc → H_PARAMETER", op: P, args: [big(NONE), 0n, 0n], rc: H.PARAMETER },
    { name: "a drc not owned → H_PARAMETER", op: P, args: [big(X), 0n, 0n], rc: H.PARAMETER },
    {
      name: "size 0 → r4 = bytes for every statistic",
      op: P,
      args: [big(A), 0n, 0n],
      rc: H.SUCCESS,
      outs: [big(16 + 16 * 16)],
    },
    {
      name: "size under a header → H_P3",
      op: P,
      args: [big(A), 0x100n, 15n],
      rc: H.P3,
      before: (_, env) => request(env, 0x100, []),
    },
    {
      name: "bad eye-catcher → H_P2",
      op: P,
      args: [big(A), 0x100n, ALL],
      rc: H.P2,
    },
    {
      name: "bad version → H_P2",
      op: P,
      args: [big(A), 0x100n, ALL],
      rc: H.P2,
      before: (_, env) => {
        request(env, 0x100, []);
        env.memory.write(1, 0x108n, new Uint8Array([0, 0, 0, 2]));
      },
    },
    {
      name: "all statistics in a buffer too small → H_P3",
      op: P,
      args: [big(A), 0x100n, ALL - 1n],
      rc: H.P3,
      before: (_, env) => request(env, 0x100, []),
    },
    {
      name: "two ids in a buffer for one → H_P3",
      op: P,
      args: [big(A), 0x100n, 32n],
      rc: H.P3,
      before: (_, env) => request(env, 0x100, ["MemLife ", "PonSecs "]),
    },
    {
      name: "more than 1024 ids → H_P3",
      op: P,
      args: [big(A), 0x100n, U64_MAX],
      rc: H.P3,
      before: (_, env) => {
        request(env, 0x100, []);
        env.memory.write(1, 0x10Cn, new Uint8Array([0, 0, 4, 1]));
      },
    },
    {
      name: "buffer outside guest memory → H_P2",
      op: P,
      args: [big(A), 0xFFF0n, ALL],
      rc: H.P2,
    },
    {
      name: "guest memory refuses the write → H_P2",
      op: P,
      args: [big(A), 0x100n, ALL],
      rc: H.P2,
      before: (_, env) => {
        request(env, 0x100, []);
        env.memory.writable = false;
      },
    },
    {
      name: "every statistic → SCMSTATS v1 with 16 entries",
      op: P,
      args: [big(A), 0x100n, ALL],
      rc: H.SUCCESS,
      before: (_, env) => request(env, 0x100, []),
      after: (_, env) => {
        const { version, stats } = readStats(env, 0x100, STATS_BUFFER_SIZE);
        assert.equal(version, 1);
        assert.deepEqual([...stats.keys()], [...STAT_IDS]);
        const raw = env.memory.read(1, 0x100n, 8)!;
        assert.equal(new TextDecoder().decode(raw), "SCMSTATS");
      },
    },
    {
      name: "one requested statistic is filled in place",
      op: P,
      args: [big(A), 0x100n, 32n],
      rc: H.SUCCESS,
      before: (_, env) => request(env, 0x100, ["MemLife "]),
      after: (_, env) => {
        assert.deepEqual([...readStats(env, 0x100, 32).stats], [["MemLife ", 100n]]);
      },
    },
    {
      name: "an unknown id → H_PARTIAL, r4 = that id",
      op: P,
      args: [big(A), 0x100n, 48n],
      rc: H.PARTIAL,
      outs: [0x4E6F537563684964n], // "NoSuchId"
      before: (_, env) => request(env, 0x100, ["MemLife ", "NoSuchId"]),
      after: (_, env) => {
        const { stats } = readStats(env, 0x100, 48);
        assert.deepEqual([...stats], [["MemLife ", 100n], ["NoSuchId", 0n]]);
      },
    },
  ]);
  await t.step("no guest memory → H_P2", () => {
    const hv = setup({ ...seededEnv(), guestMemory: undefined });
    assert.equal(hv.hcall(1, P, [big(A), 0x100n, ALL]).rc, H.P2);
    assert.equal(hv.hcall(1, P, [big(A), 0n, 0n]).rc, H.SUCCESS, "size query needs no memory");
  });
  await t.step("guest memory without read → every statistic", () => {
    const env = testEnv();
    const memory = env.memory;
    const hv = setup({ ...env, guestMemory: { write: (l, a, b) => memory.write(l, a, b) } });
    assert.equal(hv.hcall(1, P, [big(A), 0x200n, 32n]).rc, H.P3, "too small for all");
    assert.equal(hv.hcall(1, P, [big(A), 0x200n, ALL]).rc, H.SUCCESS);
    assert.equal(readStats(env, 0x200, STATS_BUFFER_SIZE).stats.size, 16);
  });
  await t.step("CritRscU counts bound blocks, not those a sliced bind only reserved", () => {
    const env = testEnv();
    const hv = setup(env, { bindSliceBlocks: 1 });
    // First slice of a 4-block bind: 1 block bound, 3 reserved.
    assert.equal(hv.hcall(1, OP.H_SCM_BIND_MEM, [big(A), 0n, 4n, ANY, 0n]).rc, H.BUSY);
    request(env, 0x100, ["CritRscU"]);
    assert.equal(hv.hcall(1, P, [big(A), 0x100n, BigInt(STATS_BUFFER_SIZE)]).rc, H.SUCCESS);
    assert.equal(readStats(env, 0x100, STATS_BUFFER_SIZE).stats.get("CritRscU"), 25n);
  });
  await t.step("the values are the real counters", () => {
    const env = testEnv();
    const hv = setup(env);
    hv.setHealth(A, HEALTH.HEALTH_CRITICAL);
    bind(hv, 1, A, 0, 2);
    hv.hcall(1, OP.H_SCM_READ_METADATA, [big(A), 0n, 8n]);
    hv.hcall(1, OP.H_SCM_READ_METADATA, [big(A), 0n, 8n]);
    hv.hcall(1, OP.H_SCM_WRITE_METADATA, [big(A), 0n, 1n, 8n]);
    hv.hcall(1, OP.H_SCM_FLUSH, [big(A), 0n]);
    env.mediaReads = 100n;
    env.mediaWrites = 40n;
    env.advance(3_500_000_000n);
    request(env, 0x100, []);
    assert.equal(hv.hcall(1, P, [big(A), 0x100n, ALL]).rc, H.SUCCESS);
    const { stats } = readStats(env, 0x100, STATS_BUFFER_SIZE);
    assert.deepEqual(Object.fromEntries(stats), {
      "CtlResCt": 0n,
      "CtlResTm": 0n,
      "PonSecs ": 3n,
      "MemLife ": 5n,
      "CritRscU": 50n,
      "HostLCnt": 102n,
      "HostSCnt": 41n,
      "HostSDur": 41n * NOMINAL_NS.store,
      "HostLDur": 102n * NOMINAL_NS.load,
      "MedRCnt ": 100n,
      "MedWCnt ": 40n,
      "MedRDur ": 100n * NOMINAL_NS.load,
      "MedWDur ": 40n * NOMINAL_NS.store,
      "CchRHCnt": 2n,
      "CchWHCnt": 1n,
      "FastWCnt": 1n,
    });
    hv.setHealth(A, HEALTH.HEALTH_FATAL);
    request(env, 0x100, ["MemLife "]);
    hv.hcall(1, P, [big(A), 0x100n, 32n]);
    assert.equal(readStats(env, 0x100, 32).stats.get("MemLife "), 0n);
  });
});

Deno.test("powervm H_SCM_FLUSH", async (t) => {
  const F = OP.H_SCM_FLUSH;
  await runCases(t, [
    { name: "no such drc → H_PARAMETER", op: F, args: [big(NONE), 0n], rc: H.PARAMETER },
    { name: "a drc not owned → H_PARAMETER", op: F, args: [big(X), 1n], rc: H.PARAMETER },
    {
      name: "no flush hcall needed → H_SUCCESS at once",
      op: F,
      args: [big(S), 0n],
      rc: H.SUCCESS,
    },
    { name: "unknown token → H_P2", op: F, args: [big(A), 3n], rc: H.P2 },
    {
      name: "new flush → long busy, r4 = token 1",
      op: F,
      args: [big(A), 0n],
      rc: H.LONG_BUSY_ORDER_1_MSEC,
      outs: [1n],
    },
    {
      name: "still running → long busy with the token",
      op: F,
      args: [big(A), 1n],
      rc: H.LONG_BUSY_ORDER_1_MSEC,
      outs: [1n],
      before: (hv, env) => {
        hv.hcall(1, F, [big(A), 0n]);
        env.advance(999_999n);
      },
    },
    {
      name: "done → H_SUCCESS",
      op: F,
      args: [big(A), 1n],
      rc: H.SUCCESS,
      before: (hv, env) => {
        hv.hcall(1, F, [big(A), 0n]);
        env.advance(1_000_000n);
      },
      after: (hv) => assert.equal(hv.hcall(1, F, [big(A), 1n]).rc, H.P2, "token consumed"),
    },
    {
      name: "fault injected → H_HARDWARE",
      op: F,
      args: [big(A), 1n],
      rc: H.HARDWARE,
      before: (hv, env) => {
        hv.setFlushFailure(A, true);
        hv.hcall(1, F, [big(A), 0n]);
        env.advance(1_000_000n);
      },
    },
    {
      name: "partition shutdown drops its flushes",
      op: F,
      args: [big(A), 1n],
      rc: H.P2,
      before: (hv) => {
        hv.hcall(1, F, [big(A), 0n]);
        hv.releaseLpar(1);
      },
    },
  ]);
});

Deno.test("powervm ownership, unknown opcodes and control operations", async (t) => {
  await runCases(t, [
    {
      name: "unknown opcode → H_FUNCTION, outputs zero",
      op: 0x404,
      args: [1n, 2n],
      rc: H.FUNCTION,
    },
    { name: "opcode 0 → H_FUNCTION", op: 0, args: [], rc: H.FUNCTION },
  ]);
  await t.step("partition shutdown releases every binding and op of it", () => {
    const hv = setup(testEnv(), { bindSliceBlocks: 2 });
    bind(hv, 1, A, 0, 2);
    bind(hv, 1, A, 2, 2);
    assert.equal(bind(hv, 2, S, 0, 4).rc, H.BUSY);
    assert.equal(hv.releaseLpar(2), 4, "the bound slice and the reserved rest");
    assert.deepEqual(hv.bindings().map((b) => b.lpar), [1, 1, 1, 1]);
    assert.equal(hv.state.ops.size, 0);
    assert.deepEqual(hv.invariants(), []);
  });
  await t.step("unassign releases the LPAR's blocks of that drc", () => {
    const hv = setup();
    bind(hv, 1, S, 0, 3);
    assert.equal(hv.unassign(S, 1), 3);
    assert.equal(hv.hcall(1, OP.H_SCM_HEALTH, [big(S)]).rc, H.PARAMETER);
    assert.deepEqual(hv.invariants(), []);
  });
  await t.step("control operations name the missing drc", () => {
    const hv = setup();
    assert.throws(() => hv.setFlushFailure(NONE, true), /no drc 0x44100009/);
    assert.throws(() => hv.metadata(NONE), /no drc/);
    assert.throws(() => hv.addDrc(spec(A, 1)), /already exists/);
    assert.throws(() => hv.removeDrc(A), /still assigned/);
  });
});

Deno.test("powervm: the first binding is aligned to a block size that does not divide the logical base", () => {
  const core = new HypervisorCore({ personality: "powervm" });
  const drc = 0x44100002;
  core.addDrc({ index: drc, blockSize: 12288n, blocks: 2, metadataSize: 1 << 17, uuid: "u" });
  core.assign(drc, 1);
  const bound = core.hcall(1, OP.H_SCM_BIND_MEM, [BigInt(drc), 0n, 2n, BIND_ANY_ADDR, 0n]);
  assert.equal(bound.rc, H.SUCCESS);
  assert.equal(bound.rets[1] % 12288n, 0n);
  const unbound = core.hcall(1, OP.H_SCM_UNBIND_MEM, [BigInt(drc), bound.rets[1], 2n, 0n]);
  assert.equal(unbound.rc, H.SUCCESS);
});
