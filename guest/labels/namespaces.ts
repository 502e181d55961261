/**
 * libnvdimm's pmem namespaces of a labelled region, as Linux (v5.4) makes
 * them: the region's probe scans the dimm's active labels
 * (drivers/nvdimm/namespace_devs.c `scan_labels`, named `namespaceR.N` in
 * dpa order, plus one zero-size seed for userspace to configure), each
 * namespace's probe looks for a pfn info block on the media (fsdax) or
 * stays raw, and the sysfs writes ndctl makes (`uuid`, `alt_name`, `size`,
 * `sector_size`, `holder_class`) each rewrite the namespace's label through
 * `nd_namespace_label_update`. papr_scm dimms are labelled
 * (`NDD_ALIASING`, later `NDD_LABELING`), one mapping per region.
 *
 * @example
 * ```ts
 * import { availableSize } from "./namespaces.ts";
 * import type { Region } from "../libnvdimm.ts";
 * declare const region: Region;
 * availableSize(region); // the whole region when no label allocates any of it
 * ```
 * @module
 */
import type { Media, Namespace, Nvdimm, Region } from "../libnvdimm.ts";
import type { Task } from "../task.ts";
import { MachineCheck } from "../../core/dax.ts";
import { NSLABEL_FLAG_UPDATING, NULL_UUID, NVDIMM_PFN_GUID } from "./format.ts";
import { decodePfnInfo, encodePfnInfo, fsdaxLayout, PFN_ALIGN, PFN_INFO_OFFSET } from "./pfn.ts";

/** Linux errno values. */
const ENXIO = 6, ENOSPC = 28, EBUSY = 16, EIO = 5;

/** The interleave-set cookie a label of this index version carries (`nd_region_interleave_set_cookie`). */
export function labelCookie(region: Region, minor: number): bigint {
  return minor === 1 ? region.cookie1 ?? region.isetId : region.isetId;
}

/** The region's dimm's label state, if its driver read it. */
function ndd(region: Region) {
  return region.dimm.ndd;
}

/** Allocated extents of the region's dimm, sorted by dpa (labels of namespaces with a size). */
function extents(region: Region): Array<[bigint, bigint]> {
  return (region.namespaces ?? [])
    .filter((n) => n.size > 0n)
    .map((n): [bigint, bigint] => [n.dpa, n.dpa + n.size])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** Free extents of the region, lowest dpa first. */
function freeExtents(region: Region): Array<[bigint, bigint]> {
  const out: Array<[bigint, bigint]> = [];
  let at = 0n;
  for (const [start, end] of extents(region)) {
    if (start > at) out.push([at, start]);
    if (end > at) at = end;
  }
  if (at < region.size) out.push([at, region.size]);
  return out;
}

/** `available_size`: the region's capacity no namespace has allocated. */
export function availableSize(region: Region): bigint {
  return freeExtents(region).reduce((sum, [s, e]) => sum + e - s, 0n);
}

/** `max_available_extent`: the largest free contiguous range. */
export function maxAvailableExtent(region: Region): bigint {
  return freeExtents(region).reduce((max, [s, e]) => (e - s > max ? e - s : max), 0n);
}

/** The block device of a namespace (`nvdimm_namespace_disk_name`): `pmemR`, or `pmemR.N`. */
export function blockDevice(region: Region, ns: Namespace): string {
  const r = region.dev.slice("region".length);
  return ns.id === 0 ? `pmem${r}` : `pmem${r}.${ns.id}`;
}

function newNamespace(region: Region, fields: Partial<Namespace>): Namespace {
  const id = region.nextNsId ?? 0;
  region.nextNsId = id + 1;
  return {
    dev: `namespace${region.dev.slice("region".length)}.${id}`,
    id,
    name: "",
    dpa: 0n,
    size: 0n,
    lbasize: 0,
    claim: "none",
    enabled: false,
    ...fields,
  };
}

/** `nd_region_create_ns_seed`: a fresh zero-size namespace for the next create. */
function createSeed(region: Region): void {
  const seed = newNamespace(region, {});
  region.namespaces!.push(seed);
  region.seed = seed;
}

/**
 * The region's probe: its dimm must have probed (a labelled dimm whose
 * label area could not be read fails the region with -ENXIO, as
 * `init_active_labels`), then one namespace per active label whose cookie
 * is the region's, in dpa order, then the seed; each namespace with a size
 * is probed (`nd_pmem_probe`: an fsdax info block on the media claims it).
 */
export function enableRegion(region: Region, media?: Media): number {
  const labels = ndd(region);
  if (!labels || region.dimm.enabled === false) {
    disableRegion(region);
    return -ENXIO;
  }
  region.namespaces = [];
  region.nextNsId = 0;
  const found = labels.activeLabels()
    .filter(({ label }) =>
      label.isetcookie === BigInt.asUintN(64, labelCookie(region, 1)) ||
      label.isetcookie === BigInt.asUintN(64, region.isetId)
    )
    .sort((a, b) => (a.label.dpa < b.label.dpa ? -1 : a.label.dpa > b.label.dpa ? 1 : 0));
  for (const { slot, label } of found) {
    const ns = newNamespace(region, {
      uuid: label.uuid,
      name: label.name,
      dpa: label.dpa,
      size: label.rawsize,
      lbasize: Number(label.lbasize),
      claim: label.abstractionGuid === NVDIMM_PFN_GUID ? "pfn" : "none",
      labelSlot: slot,
    });
    region.namespaces.push(ns);
    probeNamespace(region, ns, media);
  }
  createSeed(region);
  region.enabled = true;
  return 0;
}

/** `nd_pmem_probe` with its `nd_pfn_probe`: fsdax when a valid info block names this namespace. */
export function probeNamespace(region: Region, ns: Namespace, media?: Media): number {
  if (ns.size < 16n << 20n || !ns.uuid) return -19;
  ns.pfn = undefined;
  if (media) {
    const at = region.start + ns.dpa + BigInt(PFN_INFO_OFFSET);
    const info = readInfoBlock(media, at);
    if (info) ns.pfn = decodePfnInfo(info, ns.uuid);
  }
  ns.enabled = true;
  return 0;
}

/**
 * The info block as `nd_pfn_validate` reads it, through `nvdimm_read_bytes`:
 * the pmem copy there is machine-check safe (drivers/nvdimm/claim.c
 * `nsio_rw_bytes`, `copy_mc_to_kernel`), so a read the media cannot
 * complete is -EIO, not a crash; the pfn probe then fails and
 * `nd_pmem_probe` attaches the namespace as raw pmem
 * (drivers/nvdimm/pmem.c). Undefined for that read.
 */
function readInfoBlock(media: Media, at: bigint): Uint8Array | undefined {
  try {
    return media.read(at, 4096);
  } catch (error) {
    if (error instanceof MachineCheck) return undefined;
    throw error;
  }
}

/** Disabling a region unregisters its namespaces (the nd_region driver's remove). */
export function disableRegion(region: Region): void {
  region.enabled = false;
  region.namespaces = [];
  region.seed = undefined;
}

/** True when a region the dimm is in is enabled (`ndctl_dimm_is_active`). */
export function dimmActive(regions: Region[], dimm: Nvdimm): boolean {
  return regions.some((r) => r.dimm === dimm && r.enabled);
}

/**
 * `nd_namespace_label_update`: a namespace with a size gets its label
 * (re)written (`init_labels` first when the dimm has no index); one without
 * a size has its labels deleted. 0 or a negative errno.
 */
export function* labelUpdate(region: Region, ns: Namespace): Task<number> {
  const labels = ndd(region);
  if (!labels) return -ENXIO;
  if (ns.size === 0n) {
    if (!ns.uuid) return 0;
    const slots = ns.labelSlot === undefined ? [] : [ns.labelSlot];
    const rc = yield* labels.deleteLabels(slots);
    if (rc === 0) ns.labelSlot = undefined;
    return rc;
  }
  if (!ns.uuid) return 0;
  const rc = yield* labels.initLabels();
  if (rc) return rc;
  // nd_pmem_namespace_label_update: the label with NSLABEL_FLAG_UPDATING, then
  // again without it ("Clear the UPDATING flag per UEFI 2.7 expectations").
  for (const flags of [NSLABEL_FLAG_UPDATING, 0]) {
    const slot = yield* labels.writeLabel({
      uuid: ns.uuid,
      name: ns.name,
      flags,
      nlabel: 1,
      position: 0,
      isetcookie: BigInt.asUintN(64, labelCookie(region, labels.minor)),
      lbasize: BigInt(ns.lbasize),
      dpa: ns.dpa,
      rawsize: ns.size,
      abstractionGuid: ns.claim === "pfn" ? NVDIMM_PFN_GUID : NULL_UUID,
    }, ns.labelSlot);
    if (slot < 0) return slot;
    ns.labelSlot = slot;
  }
  return 0;
}

/**
 * `size` store: allocates the lowest free extent that fits (or frees the
 * allocation with 0), writes the label, and gives the region a new seed
 * when its seed gained a size. 0 or a negative errno.
 */
export function* setSize(region: Region, ns: Namespace, size: bigint): Task<number> {
  if (!ns.uuid) return -ENXIO;
  if (ns.enabled) return -EBUSY;
  if (size === 0n) {
    ns.size = 0n;
    const rc = yield* labelUpdate(region, ns);
    ns.uuid = undefined;
    // A zero-size namespace other than the 0th and the seed is unregistered.
    if (ns.id !== 0 && ns !== region.seed) {
      region.namespaces = region.namespaces!.filter((n) => n !== ns);
    }
    return rc;
  }
  const fit = freeExtents(region).find(([s, e]) => e - s >= size);
  if (!fit) return -ENOSPC;
  ns.dpa = fit[0];
  ns.size = size;
  const rc = yield* labelUpdate(region, ns);
  if (rc) {
    ns.size = 0n;
    return rc;
  }
  if (ns === region.seed) createSeed(region);
  return 0;
}

/**
 * The pfn device's probe for a new fsdax namespace (`nd_pfn_init`): the
 * info block is written 4 KiB into the namespace, on the media, as
 * `nvdimm_write_bytes` does it (drivers/nvdimm/claim.c `nsio_rw_bytes`:
 * `memcpy_flushcache`, then `nvdimm_flush` of the region), so it is durable
 * before the namespace is enabled. 0, or -EIO when the block could not be
 * written or the region's flush failed.
 */
export function* writePfnInfo(
  region: Region,
  ns: Namespace,
  uuid: string,
  media: Media,
): Task<number> {
  const layout = fsdaxLayout(ns.size);
  ns.pfn = {
    uuid,
    parentUuid: ns.uuid!,
    dataoff: layout.dataoff,
    npfns: layout.npfns,
    align: PFN_ALIGN,
  };
  const at = region.start + ns.dpa + BigInt(PFN_INFO_OFFSET);
  const info = encodePfnInfo(ns.pfn);
  try {
    media.write(at, info);
    media.writeBack?.(at, info.length);
  } catch (error) {
    // The host could not take the block (a machine check on the range):
    // nvdimm_write_bytes fails the info block's write with -EIO.
    if (!(error instanceof MachineCheck)) throw error;
    ns.pfn = undefined;
    return -EIO;
  }
  // nvdimm_flush: the provider's flush (H_SCM_FLUSH for an hcall-flush region).
  if (region.flush && (yield* region.flush()) !== 0) return -EIO;
  return 0;
}
