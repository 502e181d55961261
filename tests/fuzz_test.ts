/**
 * A fuzz run through the real channel (threads): LPARs issue raw hcalls with
 * random registers, interleaved with life cycles and DLPAR, all at once. No
 * call may fail the hypervisor or go unanswered, every answer is a defined
 * return code, and after every round the binding table keeps its invariants
 * and no LPAR holds a block of a DRC that is not assigned to it. Bounded by a
 * count of operations, not by time; seeded, so a failure names its round.
 */
import assert from "node:assert/strict";
import { BIND_ANY_ADDR, DEFINED_RCS, OP, UNBIND_SCOPE } from "../abi/hcalls.ts";
import { ManagedSystem } from "../actors/managed_system.ts";
import type { Lpar } from "../actors/lpar.ts";
import { SeededRandom } from "../runtime/sim/random.ts";
import { workerTest } from "./worker_test.ts";

const ROUNDS = 60;
const SHARED = 0x44200000;
const OWN = (i: number) => 0x44100000 + i;
const OPCODES = [...Object.values(OP), 0x3E0, 0x404, 0xFFFF, 0];

/** A register: a valid DRC or block, an edge value, or any 64 bits. */
function register(random: SeededRandom, drcs: number[]): bigint {
  switch (random.below(6)) {
    case 0:
      return BigInt(random.pick(drcs));
    case 1:
      return BigInt(random.below(8));
    case 2:
      return BIND_ANY_ADDR;
    case 3:
      return BigInt(random.pick([UNBIND_SCOPE.ALL, UNBIND_SCOPE.DRC]));
    case 4:
      return 0n;
    default:
      return random.random64();
  }
}

async function rawHcalls(random: SeededRandom, lpar: Lpar, drcs: number[], round: number) {
  if (lpar.state === "not activated" || lpar.state === "shut down") return;
  for (let i = 0; i < 8; i++) {
    const opcode = random.pick(OPCODES);
    const args = Array.from({ length: random.below(10) }, () => register(random, drcs));
    const answer = await lpar.hcall(opcode, ...args);
    assert.ok(
      DEFINED_RCS.has(answer.rc),
      `round ${round}: ${lpar.name} hcall 0x${opcode.toString(16)} answered ${answer.rc}`,
    );
    assert.equal(answer.rets.length, 9);
  }
}

function lifeCycle(random: SeededRandom, system: ManagedSystem, lpar: Lpar): Promise<unknown> {
  const pick = random.below(6);
  const ignore = (p: Promise<unknown>) =>
    p.catch((e: Error) => assert.doesNotMatch(String(e), /TypeError/));
  if (pick === 0) return ignore(lpar.state === "running" ? lpar.kexec() : lpar.boot());
  if (pick === 1) return ignore(lpar.panic());
  if (pick === 2) return ignore(lpar.reboot());
  if (pick === 3) return ignore(lpar.shutdown());
  if (pick === 4 && lpar.nvdimms.some((n) => n.drc === SHARED)) {
    return ignore(system.dlparRemove(lpar, SHARED));
  }
  if (!lpar.nvdimms.some((n) => n.drc === SHARED)) {
    return ignore(system.dlparAdd(lpar, { drc: SHARED, blocks: 4 }));
  }
  return Promise.resolve();
}

workerTest(
  "fuzz (threads): random hcalls and operations from many LPARs keep the machine whole",
  async () => {
    const random = new SeededRandom(20261129);
    const names = ["l0", "l1", "l2", "l3"];
    await using system = await ManagedSystem.start({
      hypervisor: { bindSliceBlocks: 2, unbindSliceBlocks: 2 },
      lpars: names.map((name, i) => ({
        name,
        kernel: (["5.2", "5.3", "5.4", "mainline"] as const)[i],
        nvdimms: [{ drc: OWN(i), blocks: 8 }, ...(i < 2 ? [{ drc: SHARED, blocks: 4 }] : [])],
        supervision: { onPanic: i % 2 ? "kdump" : "stay-down" },
      })),
    });
    const drcs = [SHARED, ...names.map((_, i) => OWN(i)), 0x12345678];
    await Promise.all(system.lpars.map((l) => l.boot()));
    for (let round = 0; round < ROUNDS; round++) {
      await Promise.all(
        system.lpars.map((lpar) =>
          random.chance(0.3)
            ? lifeCycle(random, system, lpar)
            : rawHcalls(random, lpar, drcs, round)
        ),
      );
      assert.equal(system.failure, undefined, `round ${round}: the hypervisor failed`);
      assert.deepEqual(await system.invariants(), [], `round ${round}`);
      for (const b of await system.bindings()) {
        const owner = system.lpar(b.lpar);
        assert.ok(
          owner.nvdimms.some((n) => n.drc === b.drc),
          `round ${round}: ${b.lpar} holds drc 0x${b.drc.toString(16)} it does not have`,
        );
        if (owner.state === "shut down") {
          assert.fail(
            `round ${round}: shut-down ${b.lpar} holds a block`,
          );
        }
      }
    }
    // Every LPAR still works: shut down, activated again, its own nvdimm bound.
    for (const lpar of system.lpars) {
      await lpar.shutdown();
      await lpar.boot();
      assert.ok(
        (await lpar.regions()).some((r) => r.drc === OWN(system.lpars.indexOf(lpar))),
        lpar.name,
      );
    }
    assert.deepEqual(await system.invariants(), []);
  },
);
