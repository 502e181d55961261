/**
 * Property tests of the pure core, for both personalities: random register
 * values for the ten SCM opcodes and random others, from several LPARs,
 * interleaved with control-plane operations and the passing of time. The
 * core must never throw, must only answer defined return codes with 64-bit
 * outputs, and its invariants must hold after every step.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { BIND_ANY_ADDR, DEFINED_RCS, H, OP, RET_COUNT, UNBIND_SCOPE } from "../abi/hcalls.ts";
import { HEALTH_ALL } from "../abi/health.ts";
import { HypervisorCore, seededEnv } from "../core/hypervisor.ts";
import { POWERVM_DEFAULTS } from "../core/powervm.ts";
import { QEMU_DEFAULTS } from "../core/qemu.ts";
import { encodeStats } from "../core/stats.ts";
import type { CoreEnv, GuestMemory, Personality } from "../core/types.ts";

const U64_MAX = (1n << 64n) - 1n;
const OPCODES = Object.values(OP) as number[];
const LPARS = [1, 2, 3];

/** The world a run starts from, per personality. */
function world(personality: Personality) {
  const qemu = personality === "qemu";
  const bs = qemu ? 256n << 20n : 0x10000n;
  const drcs = qemu
    ? [0x9000_0001, 0x9000_0002, 0x9000_0003]
    : [0x4410_0001, 0x4410_0002, 0x4410_0003];
  const base = qemu ? QEMU_DEFAULTS.deviceMemoryBase : POWERVM_DEFAULTS.logicalBase;
  return { bs, drcs, base };
}

/**
 * Guest memory that accepts [0, 64 KiB) of every LPAR, holding the driver's
 * PERFORMANCE_STATS requests: all statistics at 0x100, "MemLife " at 0x400.
 */
function memory(): GuestMemory {
  const ram = new Map<number, Uint8Array>();
  const of = (l: number) => {
    let m = ram.get(l);
    if (!m) {
      ram.set(l, m = new Uint8Array(0x10000));
      m.set(encodeStats(0, []), 0x100);
      m.set(encodeStats(1, [[new TextEncoder().encode("MemLife "), 0n]]), 0x400);
    }
    return m;
  };
  return {
    write: (l, a, b) => a + BigInt(b.length) <= 0x10000n && (of(l).set(b, Number(a)), true),
    read: (l, a, n) =>
      a + BigInt(n) <= 0x10000n ? of(l).slice(Number(a), Number(a) + n) : undefined,
  };
}

type Reg = bigint | "lastR4";

/** Any register value: random, or one of the values that reach deeper checks. */
function register(personality: Personality): fc.Arbitrary<Reg> {
  const { bs, drcs, base } = world(personality);
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...drcs.map(BigInt)) },
    { weight: 3, arbitrary: fc.bigInt({ min: 0n, max: 9n }) },
    { weight: 2, arbitrary: fc.constant("lastR4" as const) },
    { weight: 2, arbitrary: fc.constantFrom(0n, BIND_ANY_ADDR, 8n, 32n, 272n, 0x100n) },
    { weight: 2, arbitrary: fc.bigInt({ min: 0n, max: 40n }).map((k) => base + k * bs) },
    { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: U64_MAX }) },
    { weight: 1, arbitrary: fc.bigInt({ min: -(1n << 70n), max: 1n << 70n }) },
  );
}

/** Registers shaped like a real call of `opcode`, so the deep paths are reached. */
function plausible(personality: Personality, opcode: number): fc.Arbitrary<Reg[]> {
  const { bs, drcs, base } = world(personality);
  const any = register(personality);
  const drc = fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...drcs.map(BigInt)) },
    { weight: 1, arbitrary: any },
  );
  const small = fc.oneof(
    { weight: 4, arbitrary: fc.bigInt({ min: 0n, max: 4n }) },
    { weight: 1, arbitrary: fc.bigInt({ min: 5n, max: 12n }) },
  );
  const token = fc.oneof(
    { weight: 3, arbitrary: fc.constant(0n) },
    { weight: 3, arbitrary: fc.constant("lastR4" as const) },
    { weight: 1, arbitrary: any },
  );
  const addr = fc.oneof(
    { weight: 4, arbitrary: fc.bigInt({ min: 0n, max: 20n }).map((k) => base + k * bs) },
    { weight: 1, arbitrary: any },
  );
  const offset = fc.oneof(
    fc.bigInt({ min: 0n, max: 64n }),
    fc.constantFrom(128n * 1024n - 8n, 128n * 1024n - 1n, 128n * 1024n, U64_MAX),
  );
  const length = fc.constantFrom(1n, 2n, 4n, 8n, 3n, 0n);
  const data = fc.oneof(small, fc.bigInt({ min: 0n, max: U64_MAX }));
  const target = fc.oneof(
    { weight: 4, arbitrary: fc.constant(BIND_ANY_ADDR) },
    { weight: 1, arbitrary: addr },
  );
  switch (opcode) {
    case OP.H_SCM_READ_METADATA:
      return fc.tuple(drc, offset, length);
    case OP.H_SCM_WRITE_METADATA:
      return fc.tuple(drc, offset, data, length);
    case OP.H_SCM_BIND_MEM:
      return fc.tuple(drc, small, small, target, token);
    case OP.H_SCM_UNBIND_MEM:
      return fc.tuple(drc, addr, small, token);
    case OP.H_SCM_QUERY_BLOCK_MEM_BINDING:
      return fc.tuple(drc, small);
    case OP.H_SCM_QUERY_LOGICAL_MEM_BINDING:
      return fc.tuple(addr);
    case OP.H_SCM_UNBIND_ALL:
      return fc.tuple(fc.constantFrom(1n, 2n, 2n, 0n, 3n), drc, token);
    case OP.H_SCM_HEALTH:
      return fc.tuple(drc);
    case OP.H_SCM_PERFORMANCE_STATS:
      return fc.tuple(
        drc,
        fc.constantFrom(0n, 0x100n, 0x400n, 0xFFF8n),
        fc.oneof(fc.constantFrom(0n, 16n, 32n, 272n, 4096n), any),
      );
    case OP.H_SCM_FLUSH:
      return fc.tuple(drc, token);
    default:
      return fc.array(any, { maxLength: RET_COUNT });
  }
}

type Step =
  | { kind: "hcall"; lpar: number; opcode: number; args: Reg[] }
  | { kind: "time"; ns: bigint }
  | { kind: "health"; drc: number; bitmap: bigint }
  | { kind: "flushFailure"; drc: number; failing: boolean }
  | { kind: "release"; lpar: number }
  | { kind: "unassign" | "assign"; drc: number; lpar: number };

function steps(personality: Personality): fc.Arbitrary<Step[]> {
  const { drcs } = world(personality);
  // LPAR 1 owns the most, so it reaches the deep paths; 2 and 3 probe ownership.
  const lpar = fc.constantFrom(1, 1, 1, 2, 3);
  const drc = fc.constantFrom(...drcs);
  const opcode = fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...OPCODES) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 0x500 }) },
  );
  const hcall = fc.tuple(lpar, opcode, fc.boolean()).chain(([lpar, opcode, shaped]) =>
    (shaped ? plausible(personality, opcode) : fc.array(register(personality), {
      maxLength: RET_COUNT,
    })).map((args): Step => ({ kind: "hcall", lpar, opcode, args }))
  );
  const step: fc.Arbitrary<Step> = fc.oneof(
    { weight: 20, arbitrary: hcall },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant("time" as const),
        ns: fc.bigInt({ min: 0n, max: 5_000_000n }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("health" as const),
        drc,
        bitmap: fc.bigInt({ min: 0n, max: U64_MAX }).map((b) => b & HEALTH_ALL),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("flushFailure" as const),
        drc,
        failing: fc.boolean(),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("release" as const), lpar }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constantFrom("unassign" as const, "assign" as const),
        drc,
        lpar,
      }),
    },
  );
  return fc.array(step, { minLength: 1, maxLength: 60, size: "max" });
}

function build(personality: Personality) {
  const { bs, drcs } = world(personality);
  let t = 0n;
  const seeded = seededEnv(3n);
  const env: CoreEnv = {
    now: () => t,
    random64: seeded.random64,
    guestMemory: memory(),
    media: (drc) => ({ reads: BigInt(drc & 0xFF) * 10n, writes: BigInt(drc & 0xFF) }),
  };
  const hv = new HypervisorCore({
    personality,
    env,
    flushLatencyNs: 1_000_000n,
    powervm: { bindSliceBlocks: 3, unbindSliceBlocks: 2 },
  });
  drcs.forEach((index, i) => {
    hv.addDrc({
      index,
      blockSize: bs,
      blocks: 2 + 3 * i,
      metadataSize: 128 * 1024,
      uuid: `u${i}`,
      hcallFlushRequired: i !== 1,
      readOnly: i === 2,
    });
  });
  // LPAR 1 owns all, LPAR 2 shares the second, LPAR 3 owns nothing at first.
  drcs.forEach((d) => hv.assign(d, 1));
  hv.assign(drcs[1], 2);
  return { hv, advance: (ns: bigint) => void (t += ns) };
}

function run(personality: Personality, script: Step[]): void {
  const { hv, advance } = build(personality);
  const lastR4 = new Map<number, bigint>();
  for (const step of script) {
    switch (step.kind) {
      case "hcall": {
        const args = step.args.map((a) => (a === "lastR4" ? lastR4.get(step.lpar) ?? 0n : a));
        const r = hv.hcall(step.lpar, step.opcode, args);
        assert.ok(DEFINED_RCS.has(r.rc), `rc ${r.rc} from opcode ${step.opcode}`);
        assert.equal(r.rets.length, RET_COUNT);
        for (const v of r.rets) assert.ok(v >= 0n && v <= U64_MAX, `output ${v}`);
        lastR4.set(step.lpar, r.rets[0]);
        break;
      }
      case "time":
        advance(step.ns);
        break;
      case "health":
        hv.setHealth(step.drc, step.bitmap);
        break;
      case "flushFailure":
        hv.setFlushFailure(step.drc, step.failing);
        break;
      case "release":
        hv.releaseLpar(step.lpar);
        break;
      case "unassign":
        hv.unassign(step.drc, step.lpar);
        break;
      case "assign":
        hv.assign(step.drc, step.lpar);
        break;
    }
    assert.deepEqual(
      hv.invariants(),
      [],
      JSON.stringify(step, (_, v) => typeof v === "bigint" ? `${v}n` : v),
    );
    for (const lpar of LPARS) {
      const maps = hv.mappings(lpar);
      for (let i = 1; i < maps.length; i++) {
        assert.ok(maps[i - 1].base + maps[i - 1].size <= maps[i].base, "mappings overlap");
      }
    }
  }
}

for (const personality of ["powervm", "qemu"] as const) {
  Deno.test(`${personality}: random hcalls never throw, answer defined codes, keep invariants`, () => {
    fc.assert(fc.property(steps(personality), (script) => run(personality, script)), {
      numRuns: 300,
      seed: personality === "qemu" ? 4242 : 2424,
    });
  });
}

Deno.test("powervm: after any history, UNBIND_ALL(ALL) followed to the end frees the caller", () => {
  fc.assert(
    fc.property(steps("powervm"), fc.constantFrom(...LPARS), (script, lpar) => {
      const { hv } = build("powervm");
      for (const s of script) {
        if (s.kind === "hcall") {
          hv.hcall(s.lpar, s.opcode, s.args.map((a) => (a === "lastR4" ? 0n : a)));
        }
      }
      let token = 0n;
      for (let i = 0; i < 100; i++) {
        const r = hv.hcall(lpar, OP.H_SCM_UNBIND_ALL, [BigInt(UNBIND_SCOPE.ALL), 0n, token]);
        if (r.rc === H.SUCCESS) break;
        assert.ok(r.rc === H.LONG_BUSY_ORDER_1_MSEC, `rc ${r.rc}`);
        token = r.rets[0];
      }
      assert.deepEqual(hv.bindings().filter((b) => b.lpar === lpar), []);
      assert.deepEqual(hv.mappings(lpar), []);
      assert.deepEqual(hv.invariants(), []);
    }),
    { numRuns: 150, seed: 99 },
  );
});

Deno.test("qemu: a valid BIND_MEM answers device address + first × block size", () => {
  const { hv } = build("qemu");
  const { bs, drcs } = world("qemu");
  fc.assert(
    fc.property(fc.nat({ max: 2 }), fc.nat({ max: 10 }), fc.nat({ max: 10 }), (d, first, count) => {
      const blocks = 2 + 3 * d;
      const r = hv.hcall(1, OP.H_SCM_BIND_MEM, [
        BigInt(drcs[d]),
        BigInt(first),
        BigInt(count),
        BIND_ANY_ADDR,
        0n,
      ]);
      if (first > blocks) assert.equal(r.rc, H.P2);
      else if (first + count > blocks) assert.equal(r.rc, H.P3);
      else {
        assert.equal(r.rc, H.SUCCESS);
        assert.equal(r.rets[1], hv.deviceAddress(drcs[d], 1)! + BigInt(first) * bs);
        assert.equal(r.rets[2], BigInt(count));
      }
    }),
    { numRuns: 200, seed: 7 },
  );
});

Deno.test("powervm tokens: an LPAR's continue-tokens do not depend on other LPARs' operations", () => {
  // LPAR 1's first three sliced binds, alone and with LPAR 2 binding in between.
  const tokensOf1 = (busyNeighbour: boolean) => {
    const hv = new HypervisorCore({ personality: "powervm", powervm: { bindSliceBlocks: 1 } });
    for (const [drc, lpar] of [[0x100, 1], [0x200, 2]]) {
      hv.addDrc({ index: drc, blockSize: 65536n, blocks: 8, metadataSize: 1024, uuid: `u${drc}` });
      hv.assign(drc, lpar);
    }
    const tokens: bigint[] = [];
    for (let i = 0; i < 3; i++) {
      if (busyNeighbour) {
        const n = hv.hcall(2, OP.H_SCM_BIND_MEM, [0x200n, BigInt(2 * i), 2n, BIND_ANY_ADDR, 0n]);
        assert.equal(n.rc, H.BUSY, "the neighbour draws a token too");
      }
      const r = hv.hcall(1, OP.H_SCM_BIND_MEM, [0x100n, BigInt(2 * i), 2n, BIND_ANY_ADDR, 0n]);
      assert.equal(r.rc, H.BUSY);
      tokens.push(r.rets[0]); // r4: the continue-token
    }
    return tokens;
  };
  assert.deepEqual(tokensOf1(true), tokensOf1(false));
});
