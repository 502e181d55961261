/**
 * Draws a schedule: about a hundred operations over the LPARs of a system,
 * weighted by the fault kinds switched on. Operations name LPARs and DRCs
 * and choose regions by `pick` (taken modulo what exists when they run), so
 * any schedule stays meaningful after shrinking removes parts of it.
 * @module
 */
import type { NvdimmConfig, SystemConfig } from "../actors/config.ts";
import type { KernelVersion } from "../guest/papr_scm/mod.ts";
import { SWARM_KERNELS } from "./kernels.ts";
import type { SeededRandom } from "../runtime/sim/random.ts";
import { EXCLUSIVE } from "./groups.ts";
import { type FaultSwitches, OP_NAMES, type SwarmOp } from "./types.ts";

/** Health bits a seed may start with or set later. */
export const HEALTH_BITS = [
  "UNARMED",
  "SHUTDOWN_DIRTY",
  "HEALTH_CRITICAL",
  "HEALTH_FATAL",
  "HEALTH_UNHEALTHY",
  "ENCRYPTED",
] as const;
/** Hcalls a panic point may name. */
export const PANIC_HCALLS = [
  "H_SCM_BIND_MEM",
  "H_SCM_QUERY_BLOCK_MEM_BINDING",
  "H_SCM_UNBIND_ALL",
  "H_SCM_UNBIND_MEM",
  "H_SCM_HEALTH",
  "H_SCM_PERFORMANCE_STATS",
] as const;

/** Operation kinds that may start together with the operation before them: all but the exclusive. */
const JOINABLE = new Set(OP_NAMES.filter((op) => !EXCLUSIVE.has(op)));

type Kind = SwarmOp["op"] | "storm";

/** The weight of each kind for the faults switched on (0: never drawn). */
function weights(faults: FaultSwitches): Array<[Kind, number]> {
  const table: Array<[Kind, number]> = [
    ["boot", 8],
    ["kexec", 10],
    ["write", 16],
    ["read", 8],
    ["flush", 4],
    ["panic", faults.panics ? 4 : 0],
    ["reboot", faults.reboots ? 4 : 0],
    ["shutdown", faults.shutdowns ? 3 : 0],
    ["storm", faults.kexecStorms ? 2 : 0],
    ["flushFailure", faults.flushFailures ? 2 : 0],
    ["health", faults.health ? 2 : 0],
    ["dlparAdd", faults.dlpar ? 2 : 0],
    ["dlparRemove", faults.dlpar ? 2 : 0],
    ["dlparMove", faults.dlpar ? 2 : 0],
    ["scatter", faults.scatter ? 6 : 0],
    ["hole", faults.holes ? 4 : 0],
    ["powerLoss", faults.powerLoss ? 1 : 0],
  ];
  return table.filter(([, w]) => w > 0);
}

function weighted(random: SeededRandom, table: Array<[Kind, number]>): Kind {
  let total = 0;
  for (const [, w] of table) total += w;
  let at = random.below(total);
  for (const [kind, w] of table) {
    if (at < w) return kind;
    at -= w;
  }
  return table[table.length - 1][0];
}

/**
 * Draws `about` operations (give or take a fifth) for `system`.
 * @example
 * ```ts
 * import { SeededRandom } from "../runtime/sim/random.ts";
 * import { drawSchedule } from "./schedule.ts";
 * const ops = drawSchedule(new SeededRandom(1), { lpars: [{ name: "a" }] }, [], {
 *   panicAt: false, panics: true, kexecStorms: false, reboots: false, shutdowns: false,
 *   dlpar: false, flushFailures: false, health: false, supervision: false,
 *   scatter: false, holes: false,
 * }, 20);
 * console.log(ops[0]); // { op: "boot", lpar: "a" }
 * ```
 */
export function drawSchedule(
  random: SeededRandom,
  system: SystemConfig,
  spares: readonly NvdimmConfig[],
  faults: FaultSwitches,
  about: number,
): SwarmOp[] {
  const names = system.lpars.map((l) => l.name);
  const drcs = [
    ...new Set([
      ...system.lpars.flatMap((l) => (l.nvdimms ?? []).map((n) => String(n.drc))),
      ...spares.map((n) => String(n.drc)),
    ]),
  ];
  const table = weights(faults);
  const lpar = () => random.pick(names);
  const pick = () => random.below(2 ** 31);
  const kernel = (): KernelVersion | undefined =>
    random.chance(0.4) ? random.pick(SWARM_KERNELS) : undefined;
  const panicAt = () =>
    faults.panicAt && random.chance(0.3)
      ? { hcall: random.pick(PANIC_HCALLS), nth: random.between(1, 4) }
      : undefined;
  const withOptional = <T extends SwarmOp>(op: T, extra: Record<string, unknown>): T => {
    for (const [key, value] of Object.entries(extra)) {
      if (value !== undefined) (op as unknown as Record<string, unknown>)[key] = value;
    }
    return op;
  };

  // Most seeds start by booting every LPAR at once: their probes race.
  const ops: SwarmOp[] = [];
  const together = random.chance(0.8);
  for (const name of names) {
    ops.push(withOptional({ op: "boot", lpar: name }, { join: together && ops.length > 0 }));
  }
  const total = Math.max(1, about + random.between(-Math.floor(about / 5), Math.floor(about / 5)));
  while (ops.length < total) {
    const kind = weighted(random, table);
    const before = ops.length;
    switch (kind) {
      case "boot":
        ops.push(
          withOptional({ op: "boot", lpar: lpar() }, { kernel: kernel(), panicAt: panicAt() }),
        );
        break;
      case "kexec":
        ops.push(
          withOptional({ op: "kexec", lpar: lpar() }, { kernel: kernel(), panicAt: panicAt() }),
        );
        break;
      case "storm": {
        // kexec after kexec on one LPAR, some into other versions, some with panics between.
        const target = lpar();
        for (let n = random.between(3, 6); n > 0; n--) {
          if (faults.panics && random.chance(0.3)) ops.push({ op: "panic", lpar: target });
          ops.push(withOptional({ op: "kexec", lpar: target }, { kernel: kernel() }));
        }
        break;
      }
      case "panic":
        ops.push({ op: "panic", lpar: lpar() });
        break;
      case "reboot":
        ops.push(
          withOptional({ op: "reboot", lpar: lpar() }, { kernel: kernel(), panicAt: panicAt() }),
        );
        break;
      case "shutdown":
        ops.push({ op: "shutdown", lpar: lpar() });
        break;
      case "write": {
        const length = random.chance(0.9) ? random.between(1, 64) : random.between(65, 4096);
        ops.push(withOptional({
          op: "write",
          lpar: lpar(),
          pick: pick(),
          offset: pick(),
          length,
          byte: random.between(1, 255),
        }, { edge: random.chance(0.3) ? pick() : undefined }));
        break;
      }
      case "read":
        ops.push({ op: "read", lpar: lpar(), pick: pick() });
        break;
      case "flush":
        ops.push({ op: "flush", lpar: lpar(), pick: pick() });
        break;
      case "flushFailure":
        ops.push({ op: "flushFailure", drc: random.pick(drcs), failing: random.chance(0.6) });
        break;
      case "health": {
        const bits = HEALTH_BITS.filter(() => random.chance(0.25));
        ops.push({ op: "health", drc: random.pick(drcs), bits });
        break;
      }
      case "dlparAdd":
        ops.push({ op: "dlparAdd", lpar: lpar(), drc: random.pick(drcs) });
        break;
      case "dlparRemove":
        ops.push({ op: "dlparRemove", lpar: lpar(), pick: pick() });
        break;
      case "dlparMove":
        ops.push({ op: "dlparMove", from: lpar(), to: lpar(), pick: pick() });
        break;
      case "scatter":
        ops.push(withOptional({
          op: "scatter",
          lpar: lpar(),
          pick: pick(),
          shape: random.pick(["apart", "swapped", "prefix", "suffix"] as const),
          split: pick(),
          gap: random.between(0, 3),
        }, { kernel: kernel() }));
        break;
      case "hole":
        ops.push({ op: "hole", lpar: lpar(), pick: pick(), block: pick() });
        break;
      case "powerLoss":
        ops.push({
          op: "powerLoss",
          mode: random.pick(["none", "all", "subset", "torn"] as const),
        });
        break;
    }
    // Some operations start together with the one before, so their hcalls interleave.
    const first = ops[before];
    if (first && JOINABLE.has(first.op) && before > 0 && random.chance(0.35)) first.join = true;
  }
  return ops;
}
