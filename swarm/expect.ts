/**
 * Outcomes that must follow from an operation, given the state it started
 * from: what each kernel version does after a kexec or kdump, that a fresh
 * boot binds every DRC the LPAR has alone, and so on. Each returns an
 * {@link Expectation}, checked against the snapshot taken after the
 * operation (or its group of concurrent operations).
 * @module
 */
import type { Lpar } from "../actors/lpar.ts";
import { atLeast, type KernelVersion } from "../guest/papr_scm/mod.ts";
import type { RegionInfo } from "../guest/host.ts";
import { expectData, regionProblem } from "./invariants.ts";
import { hex, type LparView, type Snapshot, soleOwner, Violation, type World } from "./world.ts";

/** A check of an operation's outcome against the snapshot taken after it. */
export type Expectation = (post: Snapshot) => Promise<void>;

/** What an operation did: whether it acted (a no-op did not), and what must follow. */
export interface OpOutcome {
  /** False when its precondition did not hold and it did nothing. */
  acted: boolean;
  /** Checked against the snapshot taken after its group. */
  expectations: Expectation[];
}

/** The outcome of an operation that did nothing. */
export const SKIPPED: OpOutcome = Object.freeze({ acted: false, expectations: [] });

/** The outcome of an operation that acted. */
export function acted(...expectations: Expectation[]): OpOutcome {
  return { acted: true, expectations };
}

/** The view of `lpar` in a snapshot. */
export function viewOf(snapshot: Snapshot, lpar: Lpar): LparView {
  return snapshot.lpars.get(lpar.name)!;
}

/** The region of `drc` in a view, if any. */
export function regionFor(view: LparView, drc: number): RegionInfo | undefined {
  return view.regions.find((r) => r.drc === drc);
}

/**
 * The regions of `lpar` (running or panicked) that are exactly bound and
 * whose DRC it has alone: those whose fate after a kexec is fixed.
 */
export function settledRegions(world: World, pre: Snapshot, lpar: Lpar): RegionInfo[] {
  const view = viewOf(pre, lpar);
  return view.regions.filter((r) =>
    soleOwner(pre, r.drc, lpar.name) && regionProblem(world, pre, lpar, r) === undefined
  );
}

async function dmesgHas(lpar: Lpar, drc: number, text: string): Promise<boolean> {
  const needle = `pmemory@${drc.toString(16)}: ${text}`;
  return (await lpar.dmesg()).some((line) => line.includes(needle));
}

function mustRun(post: Snapshot, lpar: Lpar, invariant: string, why: string): LparView {
  const view = viewOf(post, lpar);
  if (view.state !== "running") {
    throw new Violation(
      invariant,
      `${lpar.name} should be running after ${why}, it is ${view.state}`,
    );
  }
  return view;
}

/**
 * After a kexec or kdump into `version` of a kernel whose `regions` were
 * settled (see settledRegions): under powervm, 5.4 and mainline keep each
 * region at the same address; 5.2 loses it (`bind err: -68`); 5.3 retries
 * once (`Retrying bind after unbinding`) and gets one back. Under qemu every
 * version binds the device address again. The data stays either way.
 * @example
 * ```ts ignore
 * const regions = settledRegions(world, world.snapshot, lpar);
 * await lpar.kexec({ kernel: "5.2" });
 * await kexecOutcome(world, lpar, "5.2", regions, "kexec")(await checkInvariants(world, scope));
 * ```
 */
export function kexecOutcome(
  world: World,
  lpar: Lpar,
  version: KernelVersion,
  regions: RegionInfo[],
  why: string,
): Expectation {
  return async (post) => {
    const view = mustRun(post, lpar, "kexec-outcome", why);
    for (const before of regions) {
      const now = regionFor(view, before.drc);
      const what = `${lpar.name} drc ${hex(before.drc)} after ${why} into ${version}`;
      const at = (r: RegionInfo) => `0x${r.start.toString(16)}`;
      if (world.personality === "qemu" || atLeast(version, "5.4")) {
        if (!now || now.start !== before.start) {
          throw new Violation(
            "kexec-outcome",
            `${what}: the region at ${at(before)} should be kept at the same address, ` +
              (now ? `it is at ${at(now)}` : "it is gone"),
          );
        }
      } else if (version === "5.2") {
        if (now) {
          throw new Violation("kexec-outcome", `${what}: 5.2 cannot rebind, yet it has ${now.dev}`);
        }
        if (!(await dmesgHas(lpar, before.drc, "bind err: -68"))) {
          throw new Violation("kexec-outcome", `${what}: dmesg should say "bind err: -68"`);
        }
      } else {
        if (!(await dmesgHas(lpar, before.drc, "Retrying bind after unbinding"))) {
          throw new Violation(
            "kexec-outcome",
            `${what}: dmesg should say "Retrying bind after unbinding"`,
          );
        }
        if (!now) {
          throw new Violation("kexec-outcome", `${what}: the retried bind should give a region`);
        }
      }
      if (now) await expectSurvivingData(world, lpar, now, `kept across ${why}`);
    }
  };
}

/**
 * After a boot that started from no bindings (or a clean unbind) with no
 * panic point: the kernel runs and has a region for every DRC it has alone.
 */
export function freshRegions(
  lpar: Lpar,
  invariant: string,
  why: string,
  only?: readonly number[],
): Expectation {
  return (post) => {
    const view = mustRun(post, lpar, invariant, why);
    for (const n of lpar.nvdimms) {
      if (only && !only.includes(n.drc)) continue;
      if (!soleOwner(post, n.drc, lpar.name) || regionFor(view, n.drc)) continue;
      throw new Violation(
        invariant,
        `${lpar.name} after ${why}: drc ${hex(n.drc)} is free and its alone, ` +
          `yet the kernel has no region for it`,
      );
    }
    return Promise.resolve();
  };
}

/** Ranges re-read to show data survived a kexec or a rebind: the last one written. */
const SURVIVING_RANGES = 1;

/** The range written last to the region's DRC reads back through it. */
export async function expectSurvivingData(
  world: World,
  lpar: Lpar,
  region: RegionInfo,
  why: string,
): Promise<void> {
  const reads = world.data.ranges(region.drc).slice(-SURVIVING_RANGES).map((r) =>
    expectData(world, lpar, region, r.offset, r.length, why)
  );
  const results = await Promise.allSettled(reads);
  for (const r of results) if (r.status === "rejected") throw r.reason;
}
