/**
 * Draws a swarm case from a seed: the system (personality, LPARs, kernels,
 * nvdimms, shared DRCs, hypervisor tunables), which fault kinds are on, and
 * the schedule (see `schedule.ts`). Only the project's SeededRandom is used,
 * so a seed always gives the same case.
 * @module
 */
import type { LparConfig, NvdimmConfig, SystemConfig } from "../actors/config.ts";
import { SWARM_KERNELS } from "./kernels.ts";
import { SeededRandom } from "../runtime/sim/random.ts";
import { drawSchedule, HEALTH_BITS, PANIC_HCALLS } from "./schedule.ts";
import { CASE_FORMAT, FAULT_KINDS, type FaultSwitches, type SwarmCase } from "./types.ts";

/** The random stream of the generator (the runtime uses streams 1 and 2 of the same seed). */
const GENERATOR_STREAM = 7;
/** The stream of the power-loss switch (drawn apart from the rest). */
const POWER_LOSS_STREAM = 9;
/** First DRC index handed out. */
const DRC_BASE = 0x4410_0000;
/** How to draw cases. */
export interface GenerateOptions {
  /** Fewest LPARs (default 1). */
  minLpars?: number;
  /** Most LPARs (default 8). */
  maxLpars?: number;
  /** Operations per schedule, about (default 100). */
  ops?: number;
}

/**
 * Draws the whole case of `seed`.
 * @example
 * ```ts
 * import { generateCase } from "./generate.ts";
 * const c = generateCase(17);
 * console.log(c.system.lpars.length, c.ops.length); // the same numbers on every machine
 * ```
 */
export function generateCase(seed: number, options: GenerateOptions = {}): SwarmCase {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(`seed ${seed}: expected a whole number from 0`);
  }
  const random = new SeededRandom(seed, GENERATOR_STREAM);
  const faults = drawFaults(random);
  faults.powerLoss = new SeededRandom(seed, POWER_LOSS_STREAM).chance(0.5);
  const { system, spares } = drawSystem(
    random,
    faults,
    [options.minLpars ?? 1, options.maxLpars ?? 8],
  );
  const ops = drawSchedule(random, system, spares, faults, options.ops ?? 100);
  const c: SwarmCase = { swarm: CASE_FORMAT, seed, system, spares, faults, ops };
  return c;
}

/**
 * Each fault kind on with probability one half, as BUGGIFY switches them per run.
 * @example
 * ```ts
 * import { SeededRandom } from "../runtime/sim/random.ts";
 * import { drawFaults } from "./generate.ts";
 * console.log(drawFaults(new SeededRandom(1, 7)).scatter); // true or false, the same every time
 * ```
 */
export function drawFaults(random: SeededRandom): FaultSwitches {
  const faults = {} as FaultSwitches;
  for (const kind of FAULT_KINDS) {
    // Power losses came later: their switch has a stream of its own, so older seeds keep their cases.
    if (kind !== "powerLoss") faults[kind] = random.chance(0.5);
  }
  faults.powerLoss = false;
  return faults;
}

function drawNvdimm(random: SeededRandom, drc: number, oddBlockSizes: boolean): NvdimmConfig {
  // Small blocks keep the sparse SCM cheap; many blocks exercise the slicing.
  const nvdimm: NvdimmConfig = {
    drc: `0x${drc.toString(16)}`,
    blocks: random.chance(0.85) ? random.between(1, 8) : random.between(9, 64),
    blockSize: oddBlockSizes ? 4096 * random.between(16, 256) : 65536 << random.between(0, 4),
  };
  if (random.chance(0.3)) nvdimm.hcallFlushRequired = true;
  if (random.chance(0.1)) nvdimm.health = [random.pick(HEALTH_BITS)];
  return nvdimm;
}

/**
 * Draws the system and the spare nvdimms DLPAR may add.
 * @example
 * ```ts
 * import { SeededRandom } from "../runtime/sim/random.ts";
 * import { drawFaults, drawSystem } from "./generate.ts";
 * const random = new SeededRandom(1, 7);
 * const { system } = drawSystem(random, drawFaults(random), [4, 4]);
 * console.log(system.lpars.length); // 4
 * ```
 */
export function drawSystem(
  random: SeededRandom,
  faults: FaultSwitches,
  [minLpars, maxLpars]: [number, number],
): { system: SystemConfig; spares: NvdimmConfig[] } {
  let next = DRC_BASE;
  // Half the seeds draw block sizes that are not powers of two (they need not divide
  // the hypervisor's logical base: the first binding must still be aligned).
  const oddBlockSizes = random.chance(0.5);
  const count = random.between(minLpars, maxLpars);
  const lpars: LparConfig[] = [];
  for (let i = 1; i <= count; i++) {
    const lpar: LparConfig = {
      name: `lpar${i}`,
      kernel: random.pick(SWARM_KERNELS),
      nvdimms: Array.from(
        { length: random.between(1, 3) },
        () => drawNvdimm(random, next++, oddBlockSizes),
      ),
    };
    if (faults.supervision && random.chance(0.6)) {
      const onPanic = random.pick(["kdump", "reboot", "stay-down"] as const);
      lpar.supervision = {
        onPanic,
        maxRestarts: random.between(0, 3),
        windowSeconds: random.between(1, 60),
      };
      // A panic point in the configuration makes every restart panic again: a storm.
      if (onPanic === "reboot" && random.chance(0.4)) {
        lpar.faults = { panicAt: { hcall: random.pick(PANIC_HCALLS), nth: random.between(1, 3) } };
      }
    }
    lpars.push(lpar);
  }
  // Some DRCs are shared by two LPARs, described identically.
  if (count >= 2 && random.chance(0.35)) {
    for (let n = random.between(1, 2); n > 0; n--) {
      const from = random.pick(lpars), to = random.pick(lpars);
      const nvdimm = random.pick(from.nvdimms!);
      if (from === to || to.nvdimms!.some((m) => m.drc === nvdimm.drc)) continue;
      to.nvdimms!.push(structuredClone(nvdimm));
    }
  }
  const system: SystemConfig = {
    hypervisor: {
      personality: random.chance(0.85) ? "powervm" : "qemu",
      bindSliceBlocks: random.between(1, 16),
      unbindSliceBlocks: random.between(1, 16),
      unbindContinue: random.chance(0.8) ? "long-busy" : "busy",
      flushLatencyMs: random.between(0, 5),
    },
    lpars,
  };
  if (random.chance(0.3)) {
    const unbindMsPerBlock = random.between(0, 4) / 4;
    system.hypervisor!.costs = { bindMsPerBlock: random.between(0, 4) / 4, unbindMsPerBlock };
  }
  if (random.chance(0.3)) {
    system.guest = { bootMs: random.between(0, 20), registerMsPerGiB: random.between(0, 50) };
  }
  const spares = faults.dlpar
    ? Array.from({ length: random.between(0, 3) }, () => drawNvdimm(random, next++, oddBlockSizes))
    : [];
  return { system, spares };
}
