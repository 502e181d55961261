/**
 * A sysfs-like view of one running kernel's nvdimm devices: the directories
 * and attributes a kernel developer looks at under `/sys/bus/nd/devices`
 * (`nmemN/papr/flags`, `regionN/size`, `regionN/resource`, `namespaceN.M/mode`, ...). Driver
 * attributes (`papr/`) appear only where the kernel's driver has them.
 *
 * @example
 * ```ts
 * import { sysfsRead } from "./sysfs.ts";
 * import { Libnvdimm } from "./libnvdimm.ts";
 * const listing = sysfsRead(new Libnvdimm(), "/sys/bus/nd/devices").next();
 * console.log(listing.value); // "" (no devices: the read finished without an hcall)
 * ```
 * @module
 */
import type { Libnvdimm, Namespace, Nvdimm, Region } from "./libnvdimm.ts";
import { availableSize, maxAvailableExtent } from "./labels/namespaces.ts";
import { regionCookie } from "./ndctl.ts";
import type { Task } from "./task.ts";

/** Where the listing starts. */
export const SYSFS_ROOT = "/sys/bus/nd/devices";

/** A file's text (driver attributes may issue hcalls to make it), or a directory's entries. */
type Entry = (() => string | Task<string>) | Tree;
interface Tree {
  [name: string]: Entry;
}

function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}

function dimmTree(dimm: Nvdimm): Tree {
  const papr: Tree = {};
  for (const [name, read] of Object.entries(dimm.papr)) papr[name] = read;
  const tree: Tree = { devtype: () => "nvdimm", modalias: () => "nd:t1" };
  if (Object.keys(papr).length) tree.papr = papr;
  return tree;
}

function regionTree(region: Region): Tree {
  const tree: Tree = {
    size: () => region.size.toString(),
    resource: () => hex(region.start),
    // align_show prints "%#lx" (Linux 5.7 on, 2522afb86a8c).
    ...(region.align === undefined ? {} : { align: () => hex(region.align!) }),
    read_only: () => region.readOnly ? "1" : "0",
    available_size: () => availableSize(region).toString(),
    max_available_extent: () => maxAvailableExtent(region).toString(),
    mappings: () => "1",
    mapping0: () => `${region.dimm.dev},0,${region.size},0`,
    set_cookie: () => hex(BigInt.asUintN(64, regionCookie(region))),
    persistence_domain: () =>
      region.persistenceDomain === "none" || region.persistenceDomain === "unknown"
        ? ""
        : region.persistenceDomain,
    devtype: () => region.volatile ? "nd_volatile" : "nd_pmem",
  };
  if (region.seed) tree.namespace_seed = () => region.seed!.dev;
  for (const ns of region.namespaces ?? []) tree[ns.dev] = namespaceTree(region, ns);
  return tree;
}

/** A pmem namespace's attributes (drivers/nvdimm/namespace_devs.c). */
function namespaceTree(region: Region, ns: Namespace): Tree {
  return {
    devtype: () => "nd_namespace_pmem",
    mode: () => ns.pfn ? "fsdax" : "raw",
    size: () => ns.size.toString(),
    uuid: () => ns.uuid ?? "",
    alt_name: () => ns.name,
    resource: () => hex(region.start + ns.dpa),
    sector_size: () => String(ns.lbasize || 512),
    holder_class: () => ns.claim === "pfn" ? "pfn" : "",
  };
}

/** The tree under /sys/bus/nd/devices for a kernel's libnvdimm. */
export function sysfsTree(lib: Libnvdimm): Tree {
  const root: Tree = {};
  for (const bus of lib.buses) {
    root[bus.dev] = { provider: () => bus.provider, devtype: () => "nvdimm_bus" };
    if (bus.dimm) root[bus.dimm.dev] = dimmTree(bus.dimm);
    if (bus.region) {
      root[bus.region.dev] = regionTree(bus.region);
      for (const ns of bus.region.namespaces ?? []) {
        root[ns.dev] = namespaceTree(bus.region, ns);
      }
    }
  }
  return root;
}

/**
 * Reads a path: a directory gives its entries one per line (directories end
 * in `/`), a file gives its text. Paths may be absolute or relative to
 * /sys/bus/nd/devices. Throws RangeError naming what exists when not found.
 */
export function* sysfsRead(lib: Libnvdimm, path = SYSFS_ROOT): Task<string> {
  const rel = path.startsWith(SYSFS_ROOT) ? path.slice(SYSFS_ROOT.length) : path;
  const parts = rel.split("/").filter((p) => p !== "" && p !== ".");
  let entry: Entry = sysfsTree(lib);
  let where = SYSFS_ROOT;
  for (const part of parts) {
    if (typeof entry === "function" || !(part in entry)) {
      const there = typeof entry === "function" ? "(a file)" : Object.keys(entry).join(", ");
      throw new RangeError(`${where}/${part}: no such file or directory; ${where} has: ${there}`);
    }
    entry = entry[part];
    where += `/${part}`;
  }
  if (typeof entry === "function") {
    const text = entry();
    return typeof text === "string" ? text : yield* text;
  }
  return Object.entries(entry)
    .map(([name, e]) => typeof e === "function" ? name : `${name}/`)
    .sort()
    .join("\n");
}
