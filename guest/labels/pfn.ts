/**
 * The fsdax (pfn) info block: what makes a namespace fsdax lives on the
 * media, not in the label. `nd_pfn_init` (Linux drivers/nvdimm/pfn_devs.c)
 * writes a `struct nd_pfn_sb` 4 KiB into the namespace, and the memmap
 * (`--map=dev`, 64 bytes per page) after it; the namespace's usable size is
 * what is left past `dataoff`. At every probe `nd_pfn_validate` reads it
 * back, so the mode survives kexec, kdump and reboot with the data.
 *
 * The simulator models a POWER hash-MMU guest: 64 KiB pages and a 16 MiB
 * PMD, so the info block, memmap and padding take 16 MiB up to a 16 GiB
 * namespace (`ALIGN(8K + 64 * npfns, 16M)`); start_pad and end_trunc are 0
 * because regions start and end on block (256 MiB) boundaries.
 *
 * @example
 * ```ts
 * import { fsdaxLayout } from "./pfn.ts";
 * fsdaxLayout(1n << 30n).size; // 1056964608n: 1 GiB less 16 MiB
 * ```
 * @module
 */
import { fletcher64, uuidBytes, uuidText } from "./format.ts";

/** `PFN_SIG`. */
export const PFN_SIG = "NVDIMM_PFN_INFO\0";
/** Where the info block sits in the namespace (`SZ_4K`). */
export const PFN_INFO_OFFSET = 4096;
/** `sizeof(struct nd_pfn_sb)`. */
export const PFN_SB_SIZE = 4096;
/** The guest's page size (ppc64: 64 KiB). */
export const PAGE_SIZE = 65536n;
/** The default pfn alignment (`nd_pfn_default_alignment`: the hash MMU's 16 MiB PMD). */
export const PFN_ALIGN = 16n << 20n;
/** `MAX_STRUCT_PAGE_SIZE`. */
const STRUCT_PAGE = 64n;
/** `PFN_MODE_PMEM`: memmap on the device (`--map=dev`). */
const PFN_MODE_PMEM = 2;

/** Where an fsdax namespace's data starts and how big it is. */
export interface FsdaxLayout {
  /** `dataoff`: bytes before the data (info block, memmap, padding). */
  dataoff: bigint;
  /** `npfns`. */
  npfns: bigint;
  /** What ndctl lists as the namespace size: raw size less `dataoff`. */
  size: bigint;
}

/** `nd_pfn_init`'s arithmetic for `--map=dev` with the default alignment. */
export function fsdaxLayout(rawSize: bigint): FsdaxLayout {
  const npfns = (rawSize - 8192n) / PAGE_SIZE;
  const end = 8192n + STRUCT_PAGE * npfns;
  const dataoff = (end + PFN_ALIGN - 1n) / PFN_ALIGN * PFN_ALIGN;
  return { dataoff, npfns, size: rawSize - dataoff };
}

/** A pfn info block, decoded. */
export interface PfnInfo {
  /** The pfn device's uuid (what ndctl lists as an fsdax namespace's `uuid`). */
  uuid: string;
  /** The namespace's uuid. */
  parentUuid: string;
  /** Bytes before the data. */
  dataoff: bigint;
  /** Pages the memmap describes. */
  npfns: bigint;
  /** Alignment of the mapping. */
  align: bigint;
}

/** Encodes `struct nd_pfn_sb` (version 1.4) with its checksum. */
export function encodePfnInfo(info: PfnInfo): Uint8Array {
  const out = new Uint8Array(PFN_SB_SIZE);
  const v = new DataView(out.buffer);
  for (let i = 0; i < 16; i++) out[i] = PFN_SIG.charCodeAt(i);
  out.set(uuidBytes(info.uuid)!, 16);
  out.set(uuidBytes(info.parentUuid)!, 32);
  v.setUint16(52, 1, true);
  v.setUint16(54, 4, true);
  v.setBigUint64(56, info.dataoff, true);
  v.setBigUint64(64, info.npfns, true);
  v.setUint32(72, PFN_MODE_PMEM, true);
  v.setUint32(84, Number(info.align), true);
  v.setUint32(88, Number(PAGE_SIZE), true);
  v.setUint16(92, Number(STRUCT_PAGE), true);
  v.setBigUint64(PFN_SB_SIZE - 8, fletcher64(out), true);
  return out;
}

/**
 * `nd_pfn_validate`, in part: the signature, the checksum and the parent
 * uuid must match; anything else is not an fsdax namespace (it is raw).
 */
export function decodePfnInfo(bytes: Uint8Array, parentUuid: string): PfnInfo | undefined {
  if (bytes.length < PFN_SB_SIZE) return undefined;
  if (String.fromCharCode(...bytes.subarray(0, 16)) !== PFN_SIG) return undefined;
  const copy = bytes.slice(0, PFN_SB_SIZE);
  const v = new DataView(copy.buffer);
  const sum = v.getBigUint64(PFN_SB_SIZE - 8, true);
  v.setBigUint64(PFN_SB_SIZE - 8, 0n, true);
  if (fletcher64(copy) !== sum) return undefined;
  const info: PfnInfo = {
    uuid: uuidText(copy.subarray(16, 32)),
    parentUuid: uuidText(copy.subarray(32, 48)),
    dataoff: v.getBigUint64(56, true),
    npfns: v.getBigUint64(64, true),
    align: BigInt(v.getUint32(84, true)),
  };
  return info.parentUuid === parentUuid ? info : undefined;
}
