/**
 * The checks run after every operation (or group of concurrent operations):
 *
 * - `hypervisor-failed`, `runtime-error`: the machine has not failed and no
 *   partition reported an error;
 * - `core`: the hypervisor core's own invariants hold;
 * - `region-bound`: every region of a running LPAR is fully bound to that
 *   LPAR, block `i` of its DRC at `start + i × blockSize` (powervm);
 * - `region-shape`: a region spans its whole DRC, the DRC is assigned to the
 *   LPAR, and no DRC has two regions;
 * - `aligned`: every bound block sits at an address that is a multiple of its
 *   block size (UNBIND_MEM refuses any other);
 * - `released`: an LPAR that is shut down (or was never activated) holds no
 *   binding;
 * - `dax` and `data`: whenever an LPAR's regions or bindings changed, a DAX
 *   read of each region (its first byte, across one of its block boundaries
 *   or its last byte, in turn) works and gives what the data model says, and
 *   so do the ranges written last.
 *
 * Each returns the snapshot the next operation starts from, or throws a
 * {@link Violation}.
 * @module
 */
import type { BindingView } from "../actors/managed_system.ts";
import type { Lpar } from "../actors/lpar.ts";
import type { ResolvedNvdimm } from "../actors/config.ts";
import type { RegionInfo } from "../guest/host.ts";
import { firstDifference } from "./model.ts";
import { hex, type LparView, type Snapshot, Violation, type World } from "./world.ts";

/** Written ranges re-read when an LPAR's regions change. */
const RECENT_RANGES = 2;
/** Core problems quoted in a message. */
const QUOTED = 3;

/** What may have changed since the last check, so only that is read again. */
export interface CheckScope {
  /** The hypervisor's state may have changed (hcalls, control operations): re-read it. */
  hypervisor: boolean;
  /** LPARs whose kernels may have changed (their regions are read again); all when absent. */
  lpars?: ReadonlySet<string>;
}

/**
 * Runs every check and returns the new snapshot. Parts that cannot have
 * changed (`scope`) are taken from the last snapshot instead of read again:
 * DAX reads and writes do not touch the hypervisor, and an LPAR's regions
 * change only by calls to that LPAR. The region and DAX checks of an LPAR
 * run again whenever its fingerprint (regions, nvdimms, bindings) changed.
 * @example
 * ```ts ignore
 * world.snapshot = await checkInvariants(world, { hypervisor: true });
 * ```
 */
export async function checkInvariants(world: World, scope: CheckScope): Promise<Snapshot> {
  const { system } = world;
  if (system.failure !== undefined) throw new Violation("hypervisor-failed", system.failure);
  if (system.errors.length) throw new Violation("runtime-error", system.errors.join("; "));
  // Nothing the checks read can have changed: they hold as they held.
  if (!scope.hypervisor && scope.lpars?.size === 0 && world.snapshot) return world.snapshot;
  if (scope.hypervisor) {
    const problems = await system.invariants();
    if (problems.length) {
      const more = problems.length > QUOTED ? ` (and ${problems.length - QUOTED} more)` : "";
      throw new Violation("core", problems.slice(0, QUOTED).join("; ") + more);
    }
  }
  const snapshot = await observe(world, scope);
  for (const view of snapshot.lpars.values()) {
    const name = view.lpar.name;
    if ((view.state === "shut down" || view.state === "not activated") && view.held.length) {
      const b = view.held[0];
      throw new Violation(
        "released",
        `${name} is ${view.state} but holds ${view.held.length} blocks ` +
          `(drc ${hex(b.drc)} block ${b.block} at 0x${b.address.toString(16)})`,
      );
    }
    // Region checks depend only on the LPAR's regions, nvdimms and bindings: its fingerprint.
    if (view.state !== "running" || world.verified.get(name) === view.fingerprint) continue;
    checkRegions(world, snapshot, view);
    await verifyDax(world, view);
    world.verified.set(name, view.fingerprint);
  }
  return snapshot;
}

interface Bindings {
  blocks: Snapshot["blocks"];
  held: Map<string, BindingView[]>;
  hashes: Map<string, number>;
}

/** The binding table, indexed; every bound block checked for alignment. */
async function readBindings(world: World): Promise<Bindings> {
  const bindings = await world.system.bindings();
  const blocks = new Map<number, Array<BindingView | undefined>>();
  const held = new Map<string, BindingView[]>();
  const hashes = new Map<string, number>();
  for (const b of bindings) {
    // Addresses below 2^53 are exact as numbers, and number arithmetic is far cheaper.
    const address = Number(b.address), bs = world.blockSizes.get(b.drc) ?? 0;
    const misaligned = address <= Number.MAX_SAFE_INTEGER
      ? bs > 0 && address % bs !== 0
      : bs > 0 && b.address % BigInt(bs) !== 0n;
    if (misaligned) {
      throw new Violation(
        "aligned",
        `drc ${hex(b.drc)} block ${b.block} is ${b.state} to ${b.lpar} at ` +
          `0x${b.address.toString(16)}, not a multiple of its block size ${bs}`,
      );
    }
    let table = blocks.get(b.drc);
    if (!table) blocks.set(b.drc, table = []);
    table[b.block] = b;
    let list = held.get(b.lpar);
    if (!list) held.set(b.lpar, list = []);
    list.push(b);
    // A cheap hash of what the LPAR holds: its fingerprint changes with any binding.
    let h = hashes.get(b.lpar) ?? 0x811C9DC5;
    h = Math.imul(h ^ b.drc, 0x01000193);
    h = Math.imul(h ^ b.block, 0x01000193);
    h = Math.imul(h ^ (address % 0x1_0000_0000), 0x01000193);
    h = Math.imul(h ^ Math.floor(address / 0x1_0000_0000), 0x01000193);
    hashes.set(b.lpar, Math.imul(h ^ (b.state === "bound" ? 1 : 2), 0x01000193));
  }
  return { blocks, held, hashes };
}

/** The binding part of the last snapshot, when the hypervisor cannot have changed. */
function previousBindings(snapshot: Snapshot): Bindings {
  const held = new Map<string, BindingView[]>();
  const hashes = new Map<string, number>();
  for (const [name, view] of snapshot.lpars) {
    held.set(name, view.held);
    hashes.set(name, view.heldHash);
  }
  return { blocks: snapshot.blocks, held, hashes };
}

/** Reads what may have changed and builds the snapshot. */
async function observe(world: World, scope: CheckScope): Promise<Snapshot> {
  const { system } = world;
  const previous = world.snapshot as Snapshot | undefined;
  const { blocks, held, hashes } = scope.hypervisor || !previous
    ? await readBindings(world)
    : previousBindings(previous);
  const owners = new Map<number, string[]>();
  const lpars = system.lpars;
  const regionLists = await Promise.all(lpars.map((l) => {
    const before = previous?.lpars.get(l.name);
    if (before && scope.lpars && !scope.lpars.has(l.name)) return Promise.resolve(before.regions);
    return l.state === "running" || l.state === "panicked" ? l.regions() : Promise.resolve([]);
  }));
  const views = new Map<string, LparView>();
  lpars.forEach((lpar, i) => {
    for (const n of lpar.nvdimms) {
      const list = owners.get(n.drc);
      if (list) list.push(lpar.name);
      else owners.set(n.drc, [lpar.name]);
    }
    const regions = regionLists[i];
    const heldHash = hashes.get(lpar.name) ?? 0;
    const before = previous?.lpars.get(lpar.name);
    // Regions reused from the last snapshot are the same array: so is the fingerprint.
    const fingerprint = before && before.regions === regions && before.heldHash === heldHash
      ? before.fingerprint
      : regions.map((r) => `${r.dev}:${r.drc}@${r.start.toString(16)}+${r.size.toString(16)}`)
        .join(",") + `|${heldHash}|${lpar.nvdimms.map((n) => n.drc).join(",")}`;
    views.set(lpar.name, {
      lpar,
      state: lpar.state,
      regions,
      held: held.get(lpar.name) ?? [],
      heldHash,
      fingerprint,
    });
  });
  return { blocks, lpars: views, owners };
}

/** The nvdimm of `drc` as `lpar` has it now. */
export function nvdimmOf(lpar: Lpar, drc: number): ResolvedNvdimm | undefined {
  return lpar.nvdimms.find((n) => n.drc === drc);
}

/**
 * Why `region` of `lpar` is not exactly its DRC's bound blocks, or
 * undefined when it is. Under qemu, which keeps no binding table, only the
 * shape is checked (DAX reads check the mapping).
 */
export function regionProblem(
  world: World,
  snapshot: Snapshot,
  lpar: Lpar,
  region: RegionInfo,
): { invariant: string; message: string } | undefined {
  const where = `${lpar.name} ${region.dev} (drc ${hex(region.drc)})`;
  const n = nvdimmOf(lpar, region.drc);
  if (!n) {
    return { invariant: "region-shape", message: `${where}: the DRC is not assigned to it` };
  }
  const size = n.blockSize * BigInt(n.blocks);
  if (region.size !== size) {
    return {
      invariant: "region-shape",
      message: `${where}: ${region.size} bytes, the DRC has ${size} (${n.blocks} × ${n.blockSize})`,
    };
  }
  if (world.personality === "qemu") return undefined;
  const table = snapshot.blocks.get(region.drc) ?? [];
  let address = region.start;
  for (let i = 0; i < n.blocks; i++, address += n.blockSize) {
    const b = table[i];
    if (b && b.lpar === lpar.name && b.state === "bound" && b.address === address) continue;
    const found = b
      ? `${b.state} to ${b.lpar} at 0x${b.address.toString(16)}`
      : "not bound to anyone";
    return {
      invariant: "region-bound",
      message: `${where} at 0x${region.start.toString(16)}: block ${i} should be bound to ` +
        `${lpar.name} at 0x${address.toString(16)} but is ${found}`,
    };
  }
  return undefined;
}

function checkRegions(world: World, snapshot: Snapshot, view: LparView): void {
  const seen = new Set<number>();
  for (const region of view.regions) {
    if (seen.has(region.drc)) {
      throw new Violation(
        "region-shape",
        `${view.lpar.name} has two regions for drc ${hex(region.drc)}`,
      );
    }
    seen.add(region.drc);
    const problem = regionProblem(world, snapshot, view.lpar, region);
    if (problem) throw new Violation(problem.invariant, problem.message);
  }
}

/** Reads `length` bytes of a region and compares them with the model. */
export async function expectData(
  world: World,
  lpar: Lpar,
  region: RegionInfo,
  offset: number,
  length: number,
  why: string,
): Promise<void> {
  let got: Uint8Array;
  try {
    got = await lpar.read(region.dev, offset, length);
  } catch (error) {
    throw new Violation(
      "dax",
      `${lpar.name} ${region.dev} (drc ${hex(region.drc)}): DAX read of ${length} bytes at ` +
        `offset ${offset} (${why}) failed: ${(error as Error).message}`,
    );
  }
  const want = world.data.expected(region.drc, offset, length);
  const at = firstDifference(got, want);
  if (at >= 0) {
    throw new Violation(
      "data",
      `${lpar.name} ${region.dev} (drc ${hex(region.drc)}): byte at offset ${offset + at} ` +
        `(${why}) reads ${got[at]}, SCM should hold ${want[at]}`,
    );
  }
}

/**
 * DAX through each region at one place, which moves along with each check
 * (the first byte, the boundary between block k-1 and k, the last byte), and
 * the last writes to its DRC.
 */
async function verifyDax(world: World, view: LparView): Promise<void> {
  const { lpar } = view;
  const reads: Array<Promise<void>> = [];
  for (const region of view.regions) {
    const n = nvdimmOf(lpar, region.drc)!;
    const size = Number(region.size), bs = Number(n.blockSize);
    const k = world.probes++ % (n.blocks + 1);
    reads.push(
      k === 0
        ? expectData(world, lpar, region, 0, 1, "first byte")
        : k === n.blocks
        ? expectData(world, lpar, region, size - 1, 1, "last byte")
        : expectData(world, lpar, region, k * bs - 1, 2, `across block ${k}`),
    );
    for (const r of world.data.ranges(region.drc).slice(-RECENT_RANGES)) {
      reads.push(expectData(world, lpar, region, r.offset, r.length, "written earlier"));
    }
  }
  // Issued together: the partition answers them in order, in one scheduler turn.
  const results = await Promise.allSettled(reads);
  for (const r of results) if (r.status === "rejected") throw r.reason;
}
