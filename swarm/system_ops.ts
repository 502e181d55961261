/**
 * The operations on the machine: flush failures and health switched by the
 * swarm, and DLPAR add, remove and move of nvdimms, with what must follow.
 * @module
 */
import type { Lpar } from "../actors/lpar.ts";
import { HEALTH, healthFromNames } from "../abi/health.ts";
import { atLeast } from "../guest/papr_scm/mod.ts";
import { flagsWords } from "../guest/papr_scm/v5_8.ts";
import { acted, type Expectation, type OpOutcome, regionFor, SKIPPED, viewOf } from "./expect.ts";
import { nvdimmOf } from "./invariants.ts";
import { hex, lparNamed, soleOwner, Violation, type World } from "./world.ts";

/** Switches a DRC's flush failures on or off. */
export async function flushFailure(
  world: World,
  drc: string,
  failing: boolean,
): Promise<OpOutcome> {
  const index = parseInt(drc, 16);
  if (!world.created.has(index)) return SKIPPED;
  await world.system.setFlushFailure(index, failing);
  if (failing) world.flushFailing.add(index);
  else world.flushFailing.delete(index);
  return acted();
}

/**
 * Sets a DRC's health; running kernels from 5.18 with its dimm must show it
 * once their 60 s health cache is dropped (an empty PAPR_PDSM_SMART_INJECT
 * drops it); 5.8 to 5.14 may show the cached bits for up to 60 s, so they are
 * not checked here.
 */
export async function health(world: World, drc: string, bits: string[]): Promise<OpOutcome> {
  const index = parseInt(drc, 16);
  if (!world.created.has(index)) return SKIPPED;
  await world.system.setHealth(index, bits);
  const mask = world.personality === "qemu" ? HEALTH.UNARMED : ~0n;
  const want = flagsWords(healthFromNames(bits) & mask);
  const text = want ? `${want}\n` : "";
  // Every running kernel from 5.18 with that dimm reads the new bits once its cache is dropped.
  return acted(async (post) => {
    for (const view of post.lpars.values()) {
      const lpar = view.lpar;
      if (view.state !== "running" || !atLeast(lpar.kernel, "5.18")) continue;
      if (world.armed.has(lpar.name) || !regionFor(view, index)) continue;
      await lpar.smartInject(index, {});
      const flags = await lpar.papr(index, "flags");
      if (flags !== text) {
        throw new Violation(
          "health-outcome",
          `${lpar.name} drc ${drc}: papr/flags is ${JSON.stringify(flags)} after setting ` +
            `[${bits.join(", ")}], expected ${JSON.stringify(text)}`,
        );
      }
    }
  });
}

/** DLPAR add of a known DRC. */
export async function dlparAdd(world: World, name: string, drc: string): Promise<OpOutcome> {
  const lpar = lparNamed(world, name);
  const index = parseInt(drc, 16);
  const nvdimm = world.nvdimms.get(index);
  if (!lpar || !nvdimm || nvdimmOf(lpar, index)) return SKIPPED;
  const free = (world.snapshot.owners.get(index) ?? []).length === 0;
  const running = lpar.state === "running" && !world.armed.has(name);
  const result = await world.system.dlparAdd(lpar, nvdimm);
  world.created.add(index);
  if (!free || !running) return acted();
  return acted(addOutcome(lpar, index, result.probe, "dlpar add of a free drc"));
}

function addOutcome(lpar: Lpar, drc: number, probe: number | undefined, why: string): Expectation {
  return (post) => {
    const view = viewOf(post, lpar);
    if (probe !== 0 || !regionFor(view, drc)) {
      throw new Violation(
        "dlpar-outcome",
        `${lpar.name} ${why} ${hex(drc)}: the running kernel should probe it and get a ` +
          `region; probe gave ${probe}, regions: ${view.regions.map((r) => r.dev).join(", ")}`,
      );
    }
    return Promise.resolve();
  };
}

function removeOutcome(lpar: Lpar, drc: number, why: string): Expectation {
  return (post) => {
    const view = viewOf(post, lpar);
    const still = view.held.find((b) => b.drc === drc);
    if (still) {
      throw new Violation(
        "dlpar-outcome",
        `${lpar.name} after ${why} ${hex(drc)}: block ${still.block} is still bound to it`,
      );
    }
    if (view.state === "running" && regionFor(view, drc)) {
      throw new Violation(
        "dlpar-outcome",
        `${lpar.name} after ${why} ${hex(drc)}: the running kernel still has its region`,
      );
    }
    return Promise.resolve();
  };
}

/** After a DLPAR remove from a kernel that could panic in it: the state must say so. */
function stateOutcome(world: World, lpar: Lpar): Expectation[] {
  if (!world.armed.has(lpar.name)) return [];
  return [async (post) => {
    if (viewOf(post, lpar).state !== "running") return;
    const line = (await lpar.dmesg()).find((l) => l.includes("Kernel panic"));
    if (line) {
      throw new Violation(
        "lpar-state",
        `${lpar.name} is "running" but its kernel panicked in the DLPAR remove ` +
          `(${line.trim()}); no supervision ran`,
      );
    }
  }];
}

/** DLPAR remove of the chosen nvdimm. */
export async function dlparRemove(world: World, name: string, pick: number): Promise<OpOutcome> {
  const lpar = lparNamed(world, name);
  if (!lpar || lpar.nvdimms.length === 0) return SKIPPED;
  const drc = lpar.nvdimms[pick % lpar.nvdimms.length].drc;
  await world.system.dlparRemove(lpar, drc);
  return acted(removeOutcome(lpar, drc, "dlpar remove of"), ...stateOutcome(world, lpar));
}

/** DLPAR move of the chosen nvdimm. */
export async function dlparMove(
  world: World,
  fromName: string,
  toName: string,
  pick: number,
): Promise<OpOutcome> {
  const from = lparNamed(world, fromName), to = lparNamed(world, toName);
  if (!from || !to || from === to || from.nvdimms.length === 0) return SKIPPED;
  const drc = from.nvdimms[pick % from.nvdimms.length].drc;
  if (nvdimmOf(to, drc)) return SKIPPED;
  const free = soleOwner(world.snapshot, drc, from.name);
  const running = to.state === "running" && !world.armed.has(to.name);
  const { added } = await world.system.dlparMove(drc, from, to);
  const expectations = [removeOutcome(from, drc, "dlpar move of"), ...stateOutcome(world, from)];
  if (free && running) expectations.push(addOutcome(to, drc, added.probe, "dlpar move in of"));
  return acted(...expectations);
}
