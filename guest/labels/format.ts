/**
 * The on-media namespace label format libnvdimm and ndctl share: two index
 * blocks (`struct nd_namespace_index`) followed by an array of label slots
 * (`struct nd_namespace_label`, 128 bytes in v1.1, 256 in v1.2). Layouts,
 * sizes and checks follow Linux drivers/nvdimm/label.h and label.c as of
 * v5.4 (`sizeof_namespace_index`, `__nd_label_validate`, `best_seq`,
 * `slot_valid`) and ndctl's ndctl/lib/dimm.c, which copies them. All
 * integers are little-endian; checksums are `nd_fletcher64`.
 *
 * @example
 * ```ts
 * import { encodeIndex, indexLayout, validateIndexes } from "./format.ts";
 * const area = new Uint8Array(128 * 1024);
 * const layout = indexLayout(area.length, 128);
 * area.set(encodeIndex(layout, 0, 3), 0);
 * area.set(encodeIndex(layout, 1, 2), layout.indexSize);
 * validateIndexes(area); // { current: 0, labelSize: 128, ... }
 * ```
 * @module
 */

/** `NSINDEX_SIGNATURE`: "NAMESPACE_INDEX" and its NUL, 16 bytes. */
export const NSINDEX_SIGNATURE = "NAMESPACE_INDEX\0";
/** Index blocks are a multiple of this (`NSINDEX_ALIGN`). */
export const NSINDEX_ALIGN = 256;
/** `sizeof(struct nd_namespace_index)` before the free bitmap. */
export const INDEX_HEADER = 72;
/** `NSLABEL_NAME_LEN`. */
export const NSLABEL_NAME_LEN = 64;
/** `NSLABEL_FLAG_UPDATING`: set in every label the kernel writes for pmem. */
export const NSLABEL_FLAG_UPDATING = 0x8;
/** `NSLABEL_FLAG_LOCAL`: a blk (dimm-local) label. */
export const NSLABEL_FLAG_LOCAL = 0x2;
/** `NVDIMM_PFN_GUID`: the abstraction GUID of an fsdax (pfn) claim, v1.2 labels. */
export const NVDIMM_PFN_GUID = "266400ba-fb9f-4677-bcb0-968f11d0d225";

/** Where the index blocks and label slots lie for one label size. */
export interface IndexLayout {
  /** `config_size`: bytes of label area. */
  configSize: number;
  /** Bytes per label: 128 (v1.1) or 256 (v1.2). */
  labelSize: number;
  /** `sizeof_namespace_index`: bytes of one index block (0: too small an area). */
  indexSize: number;
  /** `nvdimm_num_label_slots`. */
  nslot: number;
}

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/**
 * `nvdimm_num_label_slots` and `sizeof_namespace_index` (the UEFI 2.7
 * sizing of Linux 4.20 on): the slots that fit after two index blocks big
 * enough for their bitmap; `indexSize` 0 when fewer than two fit.
 */
export function indexLayout(configSize: number, labelSize: number): IndexLayout {
  const tmp = Math.floor(configSize / labelSize);
  const n = align(INDEX_HEADER + Math.ceil(tmp / 8), NSINDEX_ALIGN) / NSINDEX_ALIGN;
  const nslot = Math.max(0, Math.floor((configSize - NSINDEX_ALIGN * n * 2) / labelSize));
  const space = configSize - nslot * labelSize;
  const size = align(INDEX_HEADER + Math.ceil(nslot / 8), NSINDEX_ALIGN) * 2;
  const indexSize = size <= space && nslot >= 2 ? size / 2 : 0;
  return { configSize, labelSize, indexSize, nslot };
}

/** `nd_fletcher64(addr, len, 1)`: over little-endian 32-bit words. */
export function fletcher64(bytes: Uint8Array): bigint {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let lo = 0, hi = 0;
  for (let i = 0; i + 4 <= bytes.length; i += 4) {
    lo = (lo + view.getUint32(i, true)) >>> 0;
    hi = (hi + lo) >>> 0;
  }
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** `nd_inc_seq`: 1 → 2 → 3 → 1 (0 is never valid). */
export function incSeq(seq: number): number {
  return [0, 2, 3, 1][seq & 3];
}

/** `best_seq`: which of two sequence numbers is the newer. */
export function bestSeq(a: number, b: number): number {
  a &= 3;
  b &= 3;
  if (a === 0 || a === b) return b;
  if (b === 0) return a;
  return incSeq(a) === b ? b : a;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** One index block, decoded. */
export interface NamespaceIndex {
  /** "NAMESPACE_INDEX" and a NUL when valid. */
  signature: string;
  labelsizeByte: number;
  seq: number;
  myoff: number;
  mysize: number;
  otheroff: number;
  labeloff: number;
  nslot: number;
  major: number;
  minor: number;
  checksum: bigint;
  /** The free bitmap: bit set = slot free. */
  free: Uint8Array;
}

/** Decodes the index block at the start of `bytes` (which holds at least its header). */
export function decodeIndex(bytes: Uint8Array): NamespaceIndex {
  const v = view(bytes);
  return {
    signature: String.fromCharCode(...bytes.subarray(0, 16)),
    labelsizeByte: bytes[19],
    seq: v.getUint32(20, true),
    myoff: Number(v.getBigUint64(24, true)),
    mysize: Number(v.getBigUint64(32, true)),
    otheroff: Number(v.getBigUint64(40, true)),
    labeloff: Number(v.getBigUint64(48, true)),
    nslot: v.getUint32(56, true),
    major: v.getUint16(60, true),
    minor: v.getUint16(62, true),
    checksum: v.getBigUint64(64, true),
    free: bytes.subarray(INDEX_HEADER),
  };
}

/**
 * A fresh index block `i` with sequence `seq` and every slot free, as
 * `write_label_index` (ndctl) and `nd_label_write_index(..., ND_NSINDEX_INIT)`
 * (Linux) write it. `setPastNslot` keeps ndctl's bitmap, whose bits past
 * `nslot` up to the next 64 are set too (the kernel clears them).
 */
export function encodeIndex(
  layout: IndexLayout,
  i: 0 | 1,
  seq: number,
  free?: Uint8Array,
  setPastNslot = false,
): Uint8Array {
  const out = new Uint8Array(layout.indexSize);
  if (free) {
    out.set(free.subarray(0, layout.indexSize - INDEX_HEADER), INDEX_HEADER);
  } else {
    const bits = setPastNslot ? align(layout.nslot, 64) : layout.nslot;
    for (let b = 0; b < bits; b++) out[INDEX_HEADER + (b >> 3)] |= 1 << (b & 7);
  }
  writeIndexHeader(out, layout, i, seq);
  return out;
}

/** Fills an index block's header (and checksum) in place; the bitmap stays. */
export function writeIndexHeader(out: Uint8Array, layout: IndexLayout, i: number, seq: number) {
  const v = view(out);
  for (let k = 0; k < 16; k++) out[k] = NSINDEX_SIGNATURE.charCodeAt(k);
  out[16] = out[17] = out[18] = 0;
  out[19] = layout.labelSize >> 8;
  v.setUint32(20, seq, true);
  v.setBigUint64(24, BigInt(i * layout.indexSize), true);
  v.setBigUint64(32, BigInt(layout.indexSize), true);
  v.setBigUint64(40, BigInt((1 - i) * layout.indexSize), true);
  v.setBigUint64(48, BigInt(2 * layout.indexSize), true);
  v.setUint32(56, layout.nslot, true);
  v.setUint16(60, 1, true);
  v.setUint16(62, layout.labelSize < 256 ? 1 : 2, true);
  v.setBigUint64(64, 0n, true);
  v.setBigUint64(64, fletcher64(out.subarray(0, layout.indexSize)), true);
}

/** Why index block `i` is not valid for `labelSize`, or undefined when it is. */
export function indexProblem(
  area: Uint8Array,
  i: 0 | 1,
  labelSize: number,
  configSize: number = area.length,
): string | undefined {
  const layout = indexLayout(configSize, labelSize);
  const size = layout.indexSize;
  if (size === 0) return `label area (${configSize}) too small to host ${labelSize}-byte labels`;
  const block = area.subarray(i * size, (i + 1) * size);
  const idx = decodeIndex(block);
  if (idx.signature !== NSINDEX_SIGNATURE) return `nsindex${i} signature invalid`;
  const version = idx.major * 100 + idx.minor;
  const size2 = version >= 102 ? 1 << (7 + idx.labelsizeByte) : 128;
  if (size2 !== labelSize) return `nsindex${i} labelsize ${idx.labelsizeByte} invalid`;
  const copy = block.slice();
  view(copy).setBigUint64(64, 0n, true);
  if (fletcher64(copy) !== idx.checksum) return `nsindex${i} checksum invalid`;
  if ((idx.seq & 3) === 0) return `nsindex${i} sequence: 0x${idx.seq.toString(16)} invalid`;
  if (idx.myoff !== i * size) return `nsindex${i} myoff invalid`;
  if (idx.otheroff !== (1 - i) * size) return `nsindex${i} otheroff invalid`;
  if (idx.labeloff !== 2 * size) return `nsindex${i} labeloff invalid`;
  if (idx.mysize > size || idx.mysize < INDEX_HEADER) return `nsindex${i} mysize invalid`;
  if (idx.nslot * labelSize + 2 * size > configSize) return `nsindex${i} nslot invalid`;
  return undefined;
}

/** What `nd_label_validate` found: the current index and the label size, or none. */
export interface IndexChoice {
  /** The current (newest valid) index block, 0 or 1. */
  current: 0 | 1;
  /** Label size the valid index blocks describe. */
  labelSize: number;
  /** The layout for that label size. */
  layout: IndexLayout;
}

/**
 * `nd_label_validate`: tries 128-byte then 256-byte labels; of the valid
 * index blocks the one with the newer sequence number (`best_seq`) wins.
 */
export function validateIndexes(
  area: Uint8Array,
  configSize: number = area.length,
): IndexChoice | undefined {
  for (const labelSize of [128, 256]) {
    const valid = ([0, 1] as const).filter((i) => !indexProblem(area, i, labelSize, configSize));
    if (valid.length === 0) continue;
    const layout = indexLayout(configSize, labelSize);
    if (valid.length === 1) return { current: valid[0], labelSize, layout };
    const seq0 = decodeIndex(area.subarray(0, layout.indexSize)).seq;
    const seq1 = decodeIndex(area.subarray(layout.indexSize, 2 * layout.indexSize)).seq;
    return { current: bestSeq(seq0, seq1) === (seq1 & 3) ? 1 : 0, labelSize, layout };
  }
  return undefined;
}

/** One namespace label (`nvdimm_efi_label`), decoded; v1.2 fields when 256 bytes. */
export interface NamespaceLabel {
  /** The namespace's uuid. */
  uuid: string;
  /** Its optional name (`alt_name`). */
  name: string;
  /** `NSLABEL_FLAG_*`. */
  flags: number;
  /** Labels in the set (1: one dimm). */
  nlabel: number;
  /** This label's position in the set. */
  position: number;
  /** The interleave-set cookie of the region it belongs to. */
  isetcookie: bigint;
  /** Sector size (0: the 512-byte default). */
  lbasize: bigint;
  /** Where the namespace starts on the dimm. */
  dpa: bigint;
  /** Its size on this dimm. */
  rawsize: bigint;
  /** The slot the label says it is in. */
  slot: number;
  /** v1.2: physical alignment. */
  align?: number;
  /** v1.2: the region type GUID. */
  typeGuid?: string;
  /** v1.2: the claim (`NVDIMM_PFN_GUID` for fsdax, null for raw). */
  abstractionGuid?: string;
  /** v1.2: fletcher64 of the label. */
  checksum?: bigint;
}

/** Formats 16 bytes as `uuid_unparse` does (lower-case, in byte order). */
export function uuidText(bytes: Uint8Array): string {
  const h = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Parses a uuid (`uuid_parse`), or undefined when it is not one. */
export function uuidBytes(text: string): Uint8Array | undefined {
  if (!/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(text)) {
    return undefined;
  }
  const hex = text.replace(/-/g, "");
  return Uint8Array.from({ length: 16 }, (_, i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16));
}

/** The null uuid. */
export const NULL_UUID = "00000000-0000-0000-0000-000000000000";

/** Decodes the label in `bytes` (128 or 256 bytes). */
export function decodeLabel(bytes: Uint8Array): NamespaceLabel {
  const v = view(bytes);
  const nameBytes = bytes.subarray(16, 16 + NSLABEL_NAME_LEN);
  const end = nameBytes.indexOf(0);
  const label: NamespaceLabel = {
    uuid: uuidText(bytes.subarray(0, 16)),
    name: String.fromCharCode(...nameBytes.subarray(0, end < 0 ? NSLABEL_NAME_LEN - 1 : end)),
    flags: v.getUint32(80, true),
    nlabel: v.getUint16(84, true),
    position: v.getUint16(86, true),
    isetcookie: v.getBigUint64(88, true),
    lbasize: v.getBigUint64(96, true),
    dpa: v.getBigUint64(104, true),
    rawsize: v.getBigUint64(112, true),
    slot: v.getUint32(120, true),
  };
  if (bytes.length >= 256) {
    label.align = bytes[124];
    label.typeGuid = uuidText(bytes.subarray(128, 144));
    label.abstractionGuid = uuidText(bytes.subarray(144, 160));
    label.checksum = v.getBigUint64(248, true);
  }
  return label;
}

/** Encodes a label into `labelSize` bytes; v1.2 labels get their checksum. */
export function encodeLabel(label: NamespaceLabel, labelSize: number): Uint8Array {
  const out = new Uint8Array(labelSize);
  const v = view(out);
  out.set(uuidBytes(label.uuid) ?? new Uint8Array(16), 0);
  const name = label.name.slice(0, NSLABEL_NAME_LEN - 1);
  for (let i = 0; i < name.length; i++) out[16 + i] = name.charCodeAt(i) & 0xFF;
  v.setUint32(80, label.flags, true);
  v.setUint16(84, label.nlabel, true);
  v.setUint16(86, label.position, true);
  v.setBigUint64(88, BigInt.asUintN(64, label.isetcookie), true);
  v.setBigUint64(96, label.lbasize, true);
  v.setBigUint64(104, label.dpa, true);
  v.setBigUint64(112, label.rawsize, true);
  v.setUint32(120, label.slot, true);
  if (labelSize >= 256) {
    out[124] = label.align ?? 0;
    out.set(uuidBytes(label.typeGuid ?? NULL_UUID)!, 128);
    out.set(uuidBytes(label.abstractionGuid ?? NULL_UUID)!, 144);
    v.setBigUint64(248, fletcher64(out), true);
  }
  return out;
}

/**
 * `slot_valid`: the label says it is in this slot, its dpa and size are
 * 4 KiB aligned, and (v1.2) its checksum holds.
 */
export function slotValid(bytes: Uint8Array, slot: number): boolean {
  const label = decodeLabel(bytes);
  if (label.slot !== slot) return false;
  if ((label.dpa | label.rawsize) % 4096n !== 0n) return false;
  if (bytes.length >= 256) {
    const copy = bytes.slice();
    view(copy).setBigUint64(248, 0n, true);
    if (fletcher64(copy) !== label.checksum) return false;
  }
  return true;
}

/** True when bit `i` of a little-endian bitmap is set. */
export function testBit(bitmap: Uint8Array, i: number): boolean {
  return ((bitmap[i >> 3] >> (i & 7)) & 1) === 1;
}

/** Sets or clears bit `i` of a little-endian bitmap. */
export function setBit(bitmap: Uint8Array, i: number, on: boolean): void {
  if (on) bitmap[i >> 3] |= 1 << (i & 7);
  else bitmap[i >> 3] &= ~(1 << (i & 7));
}
