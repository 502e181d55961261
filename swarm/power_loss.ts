/**
 * The power-loss operation: the system loses power (the mode says which
 * unflushed lines survive), a new system powers on on the same durable
 * state, and what must follow is checked at once: every byte the model
 * holds outside the unflushed ranges is on the media as it was written, and
 * each DRC's persistence-failed count rose by one exactly when it lost data
 * (a DRC not powered on yet keeps its unflushed mark for its power-on).
 * @module
 */
import { acted, type OpOutcome } from "./expect.ts";
import type { PowerLossOp } from "./types.ts";
import { hex, Violation, type World } from "./world.ts";

const PAGE = 4096;

/** Runs a power loss and the power-on after it. */
export async function powerLoss(world: World, mode: PowerLossOp["mode"]): Promise<OpOutcome> {
  const power = world.power;
  if (!power) {
    throw new Violation("power-loss", "a powerLoss operation on a system without durable state");
  }
  const { store } = power;
  const before = new Map(
    store.indexes().map((drc) => [drc, store.factsOf(drc)!.persistenceFailedCount]),
  );
  const report = await world.system.powerLoss(mode);
  power.earlier.push(world.system.simulation()!);
  const system = await power.powerOn();
  world.system = system;
  await system.traceStart();
  const created = new Set(system.config.lpars.flatMap((l) => l.nvdimms.map((n) => n.drc)));
  // What was flushed survived.
  for (const [drc, offset] of world.data.pages()) {
    const media = store.read(drc, offset, PAGE);
    if (!media) continue;
    const want = world.data.expected(drc, offset, PAGE);
    const ranges = world.unflushed.get(drc) ?? [];
    for (let i = 0; i < PAGE; i++) {
      if (media[i] === want[i]) continue;
      const at = offset + i;
      if (ranges.some((r) => r.offset <= at && at < r.offset + r.length)) continue;
      throw new Violation(
        "durability",
        `drc ${hex(drc)} byte ${at}: reads ${media[i]} after a power loss (${report.mode}), ` +
          `but ${want[i]} was written and flushed`,
      );
    }
  }
  // What was not flushed reads as the media holds it now.
  for (const [drc, ranges] of world.unflushed) {
    for (const r of ranges) {
      const media = store.read(drc, r.offset, r.length);
      if (media) world.data.overwrite(drc, r.offset, media);
    }
  }
  // The count rose exactly where data was lost.
  for (const d of report.drcs) {
    const facts = store.factsOf(d.drc)!;
    const lost = d.lostLines > 0;
    if (!created.has(d.drc)) {
      if (facts.unflushed !== lost) {
        throw new Violation(
          "dirty-shutdown",
          `drc ${
            hex(d.drc)
          } (not powered on): unflushed mark ${facts.unflushed}, lost ${d.lostLines} lines`,
        );
      }
      continue;
    }
    const want = (before.get(d.drc) ?? 0) + (lost ? 1 : 0);
    if (facts.persistenceFailedCount !== want) {
      throw new Violation(
        "dirty-shutdown",
        `drc ${hex(d.drc)}: persistence-failed count ${facts.persistenceFailedCount} after a ` +
          `power loss that lost ${d.lostLines} lines; expected ${want}`,
      );
    }
  }
  world.unflushed.clear();
  world.created = created;
  world.flushFailing.clear();
  world.armed.clear();
  world.verified.clear();
  return acted();
}
