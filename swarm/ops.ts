/**
 * Runs one operation of a schedule against the system. An operation whose
 * precondition does not hold when it runs (a kexec of a shut-down LPAR, a
 * write with no region) is a no-op, never a failure. Each returns what its
 * outcome must be, as expectations checked after its group.
 * @module
 */
import type { NvdimmConfig } from "../actors/config.ts";
import { flush, read, write } from "./data_ops.ts";
import type { OpOutcome } from "./expect.ts";
import { boot, kexec, panic, reboot, shutdown } from "./lifecycle.ts";
import { holeOp, scatterOp } from "./raw.ts";
import { dlparAdd, dlparMove, dlparRemove, flushFailure, health } from "./system_ops.ts";
import { powerLoss } from "./power_loss.ts";
import type { SwarmOp } from "./types.ts";
import { drcIndex, type World } from "./world.ts";

/**
 * Runs `op`; the returned expectations are checked after its group.
 * @example
 * ```ts ignore
 * const expectations = await runOp(world, { op: "kexec", lpar: "lpar1" });
 * ```
 */
export function runOp(world: World, op: SwarmOp): Promise<OpOutcome> {
  switch (op.op) {
    case "boot":
      return boot(world, op.lpar, op.kernel, op.panicAt);
    case "kexec":
      return kexec(world, op.lpar, op.kernel, op.panicAt);
    case "panic":
      return panic(world, op.lpar);
    case "reboot":
      return reboot(world, op.lpar, op.kernel, op.panicAt);
    case "shutdown":
      return shutdown(world, op.lpar);
    case "write":
      return write(world, op);
    case "read":
      return read(world, op.lpar, op.pick);
    case "flush":
      return flush(world, op.lpar, op.pick);
    case "flushFailure":
      return flushFailure(world, op.drc, op.failing);
    case "health":
      return health(world, op.drc, op.bits);
    case "dlparAdd":
      return dlparAdd(world, op.lpar, op.drc);
    case "dlparRemove":
      return dlparRemove(world, op.lpar, op.pick);
    case "dlparMove":
      return dlparMove(world, op.from, op.to, op.pick);
    case "scatter":
      return scatterOp(world, op);
    case "hole":
      return holeOp(world, op);
    case "powerLoss":
      return powerLoss(world, op.mode);
  }
}

/** The nvdimm descriptions of a case, by DRC index (configured first, then spares). */
export function nvdimmsOf(
  lpars: ReadonlyArray<{ nvdimms?: NvdimmConfig[] }>,
  spares: readonly NvdimmConfig[],
): Map<number, NvdimmConfig> {
  const map = new Map<number, NvdimmConfig>();
  for (const n of [...lpars.flatMap((l) => l.nvdimms ?? []), ...spares]) {
    if (!map.has(drcIndex(n))) map.set(drcIndex(n), n);
  }
  return map;
}
