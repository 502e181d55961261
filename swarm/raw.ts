/**
 * Operations that drive the hcall ABI by hand, through `lpar.hcall`, to make
 * states the drivers never make on their own:
 *
 * - `scatter`: a DRC bound in pieces at addresses of the swarm's choosing
 *   (block 0 apart from the rest, the halves swapped, only a prefix, only a
 *   suffix), then a kexec. The next driver must notice the binding is not
 *   one contiguous range before it reuses it; a 5.4 driver that skipped the
 *   check would register a region over memory that is not bound.
 * - `hole`: one block under a live region unbound, DAX there must machine
 *   check while the rest reads, then the block is bound back in place.
 * @module
 */
import { H, OP } from "../abi/hcalls.ts";
import type { Lpar } from "../actors/lpar.ts";
import {
  acted,
  expectSurvivingData,
  freshRegions,
  type OpOutcome,
  regionFor,
  SKIPPED,
  viewOf,
} from "./expect.ts";
import { expectData, nvdimmOf } from "./invariants.ts";
import type { HoleOp, ScatterOp } from "./types.ts";
import { hex, lparNamed, msg, NO_PANIC, soleOwner, Violation, type World } from "./world.ts";

/** Where scattered pieces go in the LPAR's logical address space (far from what drivers pick). */
const SCATTER_BASE = 0x1000_0000_0000n;
/** Most BIND_MEM calls one piece may take (one per slice). */
const MAX_SLICES = 10_000;

/** BIND_MEM of `count` blocks from `first` at `target`, continued while H_BUSY. */
async function bindAt(
  lpar: Lpar,
  drc: number,
  first: number,
  count: number,
  target: bigint,
  invariant: string,
): Promise<void> {
  let token = 0n;
  for (let i = 0; i < MAX_SLICES; i++) {
    const r = await lpar.hcall(OP.H_SCM_BIND_MEM, drc, first, count, target, token);
    if (r.rc === H.BUSY) {
      token = r.rets[0];
      continue;
    }
    if (r.rc === H.SUCCESS && r.rets[1] === target) return;
    throw new Violation(
      invariant,
      `${lpar.name}: BIND_MEM of drc ${hex(drc)} blocks ${first}..${first + count - 1} at ` +
        `0x${target.toString(16)} gave ${r.rcName} (r5 0x${r.rets[1].toString(16)}); ` +
        `the blocks were free and the range unused`,
    );
  }
  throw new Violation(invariant, `${lpar.name}: BIND_MEM still busy after ${MAX_SLICES} calls`);
}

/**
 * The pieces of a scatter shape: [first block, count, target address].
 * @example
 * ```ts
 * import { scatterPieces } from "./raw.ts";
 * // Block 0 at the base, blocks 1..3 five blocks further: not one contiguous range.
 * console.log(scatterPieces({ shape: "apart", split: 0, gap: 0 }, 4, 65536n));
 * ```
 */
export function scatterPieces(
  op: Pick<ScatterOp, "shape" | "split" | "gap">,
  blocks: number,
  blockSize: bigint,
): Array<[number, number, bigint]> {
  const s = 1 + (op.split % (blocks - 1));
  const base = ((SCATTER_BASE + blockSize - 1n) / blockSize) * blockSize;
  const at = (n: number) => base + BigInt(n) * blockSize;
  switch (op.shape) {
    case "apart":
      return [[0, s, at(0)], [s, blocks - s, at(blocks + op.gap + 1)]];
    case "swapped":
      return [[s, blocks - s, at(0)], [0, s, at(blocks - s + op.gap)]];
    case "prefix":
      return [[0, s, at(0)]];
    case "suffix":
      return [[s, blocks - s, at(0)]];
  }
}

/**
 * Scatter then kexec (see the module doc). From a released partition and a
 * bare kernel (no papr_scm), so nothing else is bound and no panic is armed.
 */
export async function scatterOp(world: World, op: ScatterOp): Promise<OpOutcome> {
  const lpar = lparNamed(world, op.lpar);
  if (!lpar || world.personality !== "powervm") return SKIPPED;
  const candidates = lpar.nvdimms.filter((n) =>
    n.blocks >= 2 && soleOwner(world.snapshot, n.drc, lpar.name)
  );
  if (candidates.length === 0) return SKIPPED;
  const n = candidates[op.pick % candidates.length];
  const version = op.kernel ?? lpar.kernel;
  await lpar.shutdown();
  await lpar.boot({ paprScm: false, panicAt: NO_PANIC });
  for (const [first, count, target] of scatterPieces(op, n.blocks, n.blockSize)) {
    await bindAt(lpar, n.drc, first, count, target, "scatter-outcome");
  }
  const actions = lpar.supervisorActions.length;
  await lpar.kexec({ kernel: op.kernel });
  world.armed.delete(lpar.name);
  if (lpar.supervisorActions.length !== actions) return acted();
  const others = lpar.nvdimms.map((m) => m.drc).filter((d) => d !== n.drc);
  const why = `drc ${hex(n.drc)} bound ${op.shape} and a kexec into ${version}`;
  return acted(
    freshRegions(lpar, "scatter-outcome", why, others),
    async (post) => {
      const view = viewOf(post, lpar);
      const region = regionFor(view, n.drc);
      if (version === "5.2") {
        if (region) {
          throw new Violation(
            "scatter-outcome",
            `${lpar.name} after ${why}: 5.2 got ${region.dev}`,
          );
        }
        const needle = `pmemory@${n.drc.toString(16)}: bind err: -68`;
        if (!(await lpar.dmesg()).some((l) => l.includes(needle))) {
          throw new Violation("scatter-outcome", `${lpar.name} after ${why}: no "${needle}"`);
        }
        return;
      }
      // 5.3 unbinds and binds again; 5.4 and later see the range is not whole and do the same.
      if (!region) {
        throw new Violation(
          "scatter-outcome",
          `${lpar.name} after ${why}: the driver should unbind and bind again, it has no region`,
        );
      }
      await expectSurvivingData(world, lpar, region, "after the rebind");
    },
  );
}

/** Unbinds one block under a live region, checks DAX there and beside it, binds it back. */
export async function holeOp(world: World, op: HoleOp): Promise<OpOutcome> {
  const lpar = lparNamed(world, op.lpar);
  if (!lpar || world.personality !== "powervm" || lpar.state !== "running") return SKIPPED;
  // A raw caller cannot sleep out a long-busy unbind in virtual time, so only free unbinds.
  if (world.system.config.hypervisor.costs.unbindMsPerBlock > 0) return SKIPPED;
  const regions = viewOf(world.snapshot, lpar).regions;
  if (regions.length === 0) return SKIPPED;
  const region = regions[op.pick % regions.length];
  const n = nvdimmOf(lpar, region.drc)!;
  const bs = Number(n.blockSize);
  const i = op.block % n.blocks;
  const address = region.start + BigInt(i) * n.blockSize;
  const where = `${lpar.name} ${region.dev} (drc ${hex(region.drc)}) block ${i}`;
  const unbind = await lpar.hcall(OP.H_SCM_UNBIND_MEM, region.drc, address, 1, 0);
  if (unbind.rc !== H.SUCCESS) {
    throw new Violation(
      "hole-outcome",
      `${where}: UNBIND_MEM of the bound block at 0x${address.toString(16)} gave ${unbind.rcName}`,
    );
  }
  try {
    await lpar.read(region.dev, i * bs, 1);
    throw new Violation("dax", `${where}: DAX read of the unbound block succeeded`);
  } catch (error) {
    if (error instanceof Violation) throw error;
    if ((error as Error)?.name !== "MachineCheck") {
      throw new Violation("dax", `${where}: expected a machine check, got ${msg(error)}`);
    }
  }
  const query = await lpar.hcall(OP.H_SCM_QUERY_LOGICAL_MEM_BINDING, address);
  if (query.rc !== H.NOT_FOUND) {
    throw new Violation(
      "hole-outcome",
      `${where}: QUERY_LOGICAL_MEM_BINDING of the unbound 0x${address.toString(16)} gave ` +
        `${query.rcName}, expected H_NOT_FOUND`,
    );
  }
  if (n.blocks > 1) {
    const j = (i + 1) % n.blocks;
    await expectData(world, lpar, region, j * bs, 1, `block ${j}, beside the hole`);
  }
  await bindAt(lpar, region.drc, i, 1, address, "hole-outcome");
  await expectData(world, lpar, region, i * bs, 1, "the block bound back");
  return acted();
}
