/**
 * The data operations: DAX writes (read back at once) and reads checked
 * against the data model, and `nvdimm_flush` of a region with its expected
 * return code.
 * @module
 */
import type { Lpar } from "../actors/lpar.ts";
import { atLeast } from "../guest/papr_scm/mod.ts";
import { acted, type OpOutcome, SKIPPED, viewOf } from "./expect.ts";
import { nvdimmOf } from "./invariants.ts";
import { firstDifference, pattern } from "./model.ts";
import type { WriteOp } from "./types.ts";
import { hex, lparNamed, msg, noteUnflushed, Violation, type World } from "./world.ts";

/** The running LPAR's regions as the last check saw them (none if it is not running). */
function regionsOf(world: World, lpar: Lpar | undefined) {
  if (!lpar || lpar.state !== "running") return [];
  return viewOf(world.snapshot, lpar).regions;
}

/** Writes a pattern into the chosen region by DAX and reads it back. */
export async function write(world: World, op: WriteOp): Promise<OpOutcome> {
  const lpar = lparNamed(world, op.lpar);
  const regions = regionsOf(world, lpar);
  if (!lpar || regions.length === 0) return SKIPPED;
  const region = regions[op.pick % regions.length];
  const n = nvdimmOf(lpar, region.drc)!;
  const size = Number(region.size), bs = Number(n.blockSize);
  const length = Math.max(1, Math.min(op.length, size));
  let offset = op.offset % (size - length + 1);
  if (op.edge !== undefined && n.blocks > 1) {
    // Straddle a block boundary: the two blocks must be mapped contiguously.
    const boundary = (1 + (op.edge % (n.blocks - 1))) * bs;
    offset = Math.max(0, Math.min(size - length, boundary - Math.floor(length / 2)));
  }
  const bytes = pattern(op.byte, length);
  const where = `${lpar.name} ${region.dev} (drc ${hex(region.drc)}) offset ${offset}`;
  if (region.readOnly) {
    // An unarmed dimm's region is read-only (papr_scm from 5.13): the write is refused.
    const refused = await lpar.write(region.dev, offset, bytes).then(() => false, () => true);
    if (!refused) throw new Violation("dax", `${where}: a read-only region took a DAX write`);
    return acted();
  }
  try {
    await lpar.write(region.dev, offset, bytes);
  } catch (error) {
    throw new Violation("dax", `${where}: DAX write of ${length} bytes failed: ${msg(error)}`);
  }
  world.data.write(region.drc, offset, bytes);
  noteUnflushed(world, region.drc, offset, bytes.length);
  const back = await lpar.read(region.dev, offset, length).catch((error) => {
    throw new Violation("dax", `${where}: reading back ${length} bytes failed: ${msg(error)}`);
  });
  const at = firstDifference(back, bytes);
  if (at >= 0) {
    throw new Violation(
      "data",
      `${where}: byte ${at} read back as ${back[at]}, wrote ${bytes[at]}`,
    );
  }
  return acted();
}

/** Reads back a range written earlier to the chosen region's DRC. */
export async function read(world: World, name: string, pick: number): Promise<OpOutcome> {
  const lpar = lparNamed(world, name);
  const regions = regionsOf(world, lpar);
  if (!lpar || regions.length === 0) return SKIPPED;
  const region = regions[pick % regions.length];
  const ranges = world.data.ranges(region.drc);
  const range = ranges.length ? ranges[pick % ranges.length] : { offset: 0, length: 16 };
  const length = Math.min(range.length, Number(region.size) - range.offset);
  const got = await lpar.read(region.dev, range.offset, length).catch((error) => {
    throw new Violation("dax", `${lpar.name} ${region.dev}: read failed: ${msg(error)}`);
  });
  const want = world.data.expected(region.drc, range.offset, length);
  const at = firstDifference(got, want);
  if (at >= 0) {
    throw new Violation(
      "data",
      `${lpar.name} ${region.dev} (drc ${hex(region.drc)}): byte at offset ` +
        `${range.offset + at} reads ${got[at]}, SCM should hold ${want[at]}`,
    );
  }
  return acted();
}

/** Flushes the chosen region; the return code follows from the kernel, device and faults. */
export async function flush(world: World, name: string, pick: number): Promise<OpOutcome> {
  const lpar = lparNamed(world, name);
  const regions = regionsOf(world, lpar);
  if (!lpar || regions.length === 0 || world.armed.has(name)) return SKIPPED;
  const region = regions[pick % regions.length];
  const n = nvdimmOf(lpar, region.drc)!;
  // papr_scm gives a region a flush from 5.13, and only when the device asks for the hcall.
  const expected = atLeast(lpar.kernel, "5.13") && n.hcallFlushRequired
    ? (world.flushFailing.has(region.drc) ? "H_HARDWARE" : "H_SUCCESS")
    : "none";
  const rc = await lpar.flush(region.dev);
  if (rc !== expected) {
    throw new Violation(
      "flush-outcome",
      `${lpar.name} ${region.dev} (drc ${hex(region.drc)}, ${lpar.kernel}): flush gave ${rc}, ` +
        `expected ${expected}${world.flushFailing.has(region.drc) ? " (failure injected)" : ""}`,
    );
  }
  // The write-back made the DRC's stores durable, unless they wait for a flush hcall that did not succeed.
  if (!n.hcallFlushRequired || rc === "H_SUCCESS") world.unflushed.delete(region.drc);
  return acted();
}
