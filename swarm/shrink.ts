/**
 * Shrinking: from a failing case, find a smaller one that still fails with
 * the same invariant. Passes, repeated while any makes progress: drop what
 * follows the failing operation, drop LPARs, delta-debug the operation list
 * (ddmin: remove halves, then quarters, ... then single operations), strip
 * operations of their options (concurrency, kernel changes, panic points),
 * then make the system plainer (fewer nvdimms, fewer blocks, smaller blocks,
 * no supervision, default tunables). Every candidate is run in full, so the
 * result replays to the same failure.
 * @module
 */
import type { LparConfig, NvdimmConfig } from "../actors/config.ts";
import { lparsOf } from "./groups.ts";
import { runCase, type RunOptions } from "./run.ts";
import {
  type CaseResult,
  FAULT_KINDS,
  type SwarmCase,
  type SwarmFailure,
  type SwarmOp,
} from "./types.ts";
import { drcIndex } from "./world.ts";

/** How hard to shrink. */
export interface ShrinkOptions extends RunOptions {
  /** Most candidate runs (default 600). */
  budget?: number;
}

/** What shrinking gave. */
export interface ShrinkResult {
  /** The smallest failing case found (its `expect` filled in). */
  case: SwarmCase;
  /** Its run. */
  result: CaseResult;
  /** Candidate runs made. */
  runs: number;
}

/** The op kind of each fault switch, to say which faults a shrunk schedule still uses. */
const FAULT_OPS: Partial<Record<keyof SwarmCase["faults"], SwarmOp["op"][]>> = {
  panics: ["panic"],
  reboots: ["reboot"],
  shutdowns: ["shutdown"],
  dlpar: ["dlparAdd", "dlparRemove", "dlparMove"],
  flushFailures: ["flushFailure"],
  health: ["health"],
  scatter: ["scatter"],
  holes: ["hole"],
  powerLoss: ["powerLoss"],
};

/**
 * Shrinks a failing case.
 * @example
 * ```ts ignore
 * const result = await runCase(c);
 * if (result.failure) {
 *   const shrunk = await shrinkCase(c, result.failure);
 *   console.log(shrunk.case.ops.length, shrunk.case.system.lpars.length);
 * }
 * ```
 */
export async function shrinkCase(
  original: SwarmCase,
  failure: SwarmFailure,
  options: ShrinkOptions = {},
): Promise<ShrinkResult> {
  const budget = options.budget ?? 600;
  let runs = 0;
  let best = withoutExpect(original);
  let bestResult: CaseResult | undefined;
  /** Runs a candidate; keeps it when it fails with the same invariant. */
  const attempt = async (candidate: SwarmCase): Promise<boolean> => {
    if (runs >= budget) return false;
    runs++;
    let result: CaseResult;
    try {
      result = await runCase(candidate, options);
    } catch {
      return false; // not a valid system any more (e.g. a DRC described two ways)
    }
    if (result.failure?.invariant !== failure.invariant) return false;
    best = candidate;
    bestResult = result;
    return true;
  };

  if (failure.op + 1 < best.ops.length) {
    await attempt({ ...best, ops: best.ops.slice(0, failure.op + 1) });
  }
  for (let progress = true; progress && runs < budget;) {
    progress = false;
    for (const name of best.system.lpars.map((l) => l.name).reverse()) {
      if (best.system.lpars.length > 1) {
        progress = (await attempt(dropLpar(best, name))) || progress;
      }
    }
    progress = (await ddmin(attempt, () => best)) || progress;
    for (let i = 0; i < best.ops.length; i++) {
      for (const key of ["join", "kernel", "panicAt", "edge"] as const) {
        if (!(key in best.ops[i])) continue;
        const ops = best.ops.slice();
        const op = { ...ops[i] } as Record<string, unknown>;
        delete op[key];
        ops[i] = op as unknown as SwarmOp;
        progress = (await attempt({ ...best, ops })) || progress;
      }
    }
    // Candidates are drawn from the current best each time, so one success does not undo another.
    for (let k = 0; runs < budget;) {
      const candidates = [...systemSimplifications(best)];
      if (k >= candidates.length) break;
      if (await attempt(candidates[k])) progress = true;
      else k++;
    }
  }
  if (!bestResult) {
    bestResult = await runCase(best, options);
    runs++;
  }
  const shrunk: SwarmCase = {
    ...best,
    faults: usedFaults(best),
    expect: {
      traceHash: bestResult.traceHash,
      verdict: bestResult.verdict,
      ...(bestResult.failure ? { invariant: bestResult.failure.invariant } : {}),
    },
  };
  return { case: shrunk, result: bestResult, runs };
}

function withoutExpect(c: SwarmCase): SwarmCase {
  const { expect: _, ...rest } = c;
  return structuredClone(rest);
}

/** The case without an LPAR and every operation that names it. */
function dropLpar(c: SwarmCase, name: string): SwarmCase {
  return {
    ...c,
    system: { ...c.system, lpars: c.system.lpars.filter((l) => l.name !== name) },
    ops: c.ops.filter((op) => !lparsOf(op).includes(name)),
  };
}

/**
 * Delta debugging over the operation list: removes chunks of 1/n of it for
 * n = 2, 4, ... while the case still fails. True when anything was removed.
 */
async function ddmin(
  attempt: (c: SwarmCase) => Promise<boolean>,
  current: () => SwarmCase,
): Promise<boolean> {
  let removed = false;
  let n = 2;
  while (current().ops.length >= 1) {
    const ops = current().ops;
    const size = Math.ceil(ops.length / n);
    let cut = false;
    for (let at = 0; at < ops.length; at += size) {
      const rest = [...ops.slice(0, at), ...ops.slice(at + size)];
      if (await attempt({ ...current(), ops: rest })) {
        cut = removed = true;
        break;
      }
    }
    if (cut) {
      n = Math.max(n - 1, 2);
      continue;
    }
    if (size <= 1) break;
    n = Math.min(ops.length, n * 2);
  }
  return removed;
}

/** Every nvdimm description of a DRC in the case (a shared DRC is described in several places). */
function descriptions(c: SwarmCase, drc: number): NvdimmConfig[] {
  return [...c.system.lpars.flatMap((l) => l.nvdimms ?? []), ...c.spares].filter((n) =>
    drcIndex(n) === drc
  );
}

/** Candidates with a plainer system, one change each. */
function* systemSimplifications(c: SwarmCase): Generator<SwarmCase> {
  const edit = (change: (copy: SwarmCase) => boolean): SwarmCase | undefined => {
    const copy = structuredClone(c);
    return change(copy) ? copy : undefined;
  };
  const candidates: Array<SwarmCase | undefined> = [];
  // Fewer nvdimms, then no spares.
  c.system.lpars.forEach((l, i) => {
    (l.nvdimms ?? []).forEach((_, j) => {
      candidates.push(edit((copy) => {
        copy.system.lpars[i].nvdimms!.splice(j, 1);
        return true;
      }));
    });
  });
  if (c.spares.length) candidates.push(edit((copy) => ((copy.spares = []), true)));
  // Smaller nvdimms: fewer blocks, smaller blocks; every description of a DRC alike.
  const drcs = new Set(
    [...c.system.lpars.flatMap((l) => l.nvdimms ?? []), ...c.spares].map(drcIndex),
  );
  for (const drc of drcs) {
    const blocks = descriptions(c, drc)[0].blocks;
    for (const fewer of new Set([1, 2, Math.floor(blocks / 2)])) {
      if (fewer < 1 || fewer >= blocks) continue;
      candidates.push(edit((copy) => {
        for (const n of descriptions(copy, drc)) n.blocks = fewer;
        return true;
      }));
    }
    for (const key of ["health", "hcallFlushRequired"] as const) {
      if (!descriptions(c, drc).some((n) => key in n)) continue;
      candidates.push(edit((copy) => {
        for (const n of descriptions(copy, drc)) delete n[key];
        return true;
      }));
    }
    if (descriptions(c, drc).some((n) => n.blockSize !== 65536)) {
      candidates.push(edit((copy) => {
        for (const n of descriptions(copy, drc)) n.blockSize = 65536;
        return true;
      }));
    }
  }
  // No supervision, no configured faults, the default kernel.
  c.system.lpars.forEach((l, i) => {
    for (const key of ["supervision", "faults", "kernel"] as const) {
      if (!(key in l)) continue;
      candidates.push(edit((copy) => {
        delete (copy.system.lpars[i] as LparConfig)[key];
        return true;
      }));
    }
  });
  // Default hypervisor tunables and guest costs.
  for (
    const key of [
      "costs",
      "bindSliceBlocks",
      "unbindSliceBlocks",
      "unbindContinue",
      "flushLatencyMs",
    ] as const
  ) {
    if (c.system.hypervisor && key in c.system.hypervisor) {
      candidates.push(edit((copy) => {
        delete copy.system.hypervisor![key];
        return true;
      }));
    }
  }
  for (const key of ["bindMsPerBlock", "unbindMsPerBlock"] as const) {
    if (c.system.hypervisor?.costs && key in c.system.hypervisor.costs) {
      candidates.push(edit((copy) => (delete copy.system.hypervisor!.costs![key], true)));
    }
  }
  if (c.system.guest) candidates.push(edit((copy) => (delete copy.system.guest, true)));
  for (const candidate of candidates) if (candidate) yield candidate;
}

/** The fault switches a schedule still uses, so a shrunk case says what it needs. */
function usedFaults(c: SwarmCase): SwarmCase["faults"] {
  const faults = { ...c.faults };
  const kinds = new Set(c.ops.map((op) => op.op));
  for (const kind of FAULT_KINDS) {
    const ops = FAULT_OPS[kind];
    if (ops) faults[kind] = ops.some((op) => kinds.has(op));
  }
  faults.panicAt = c.ops.some((op) => "panicAt" in op) ||
    c.system.lpars.some((l) => l.faults?.panicAt !== undefined);
  faults.supervision = c.system.lpars.some((l) => l.supervision !== undefined);
  faults.kexecStorms = faults.kexecStorms && kinds.has("kexec");
  return faults;
}
