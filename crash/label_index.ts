/**
 * A small, faithful model of libnvdimm's namespace label area update
 * protocol (Linux drivers/nvdimm/label.c, e.g. at torvalds/linux 0288176):
 * two index blocks followed by label slots; nothing is updated in place. An
 * update writes the new label into a slot that is free in the *next* index,
 * marks the old label's slot free there, then writes that whole index with
 * the next sequence number (1 → 2 → 3 → 1, `nd_inc_seq`) and a fletcher64
 * checksum (`nd_label_write_index`). A reader takes the valid index with
 * the better sequence number (`__nd_label_validate`, `best_seq`) and the
 * labels whose slots are clear in its free bitmap and that say they sit in
 * that slot (`slot_valid`). The byte layout is `struct nd_namespace_index`
 * and the 128-byte v1.1 `struct nd_namespace_label`; only what the protocol
 * needs is modelled (one label per namespace, no DPA allocation).
 *
 * It reads and writes through a `LabelIo` (an LPAR's readLabel/writeLabel:
 * libnvdimm's config-data commands, which papr_scm turns into 8-byte
 * WRITE_METADATA hcalls, each durable when it returns).
 * @module
 */

/** Label bytes in, label bytes out. */
export interface LabelIo {
  read(offset: number, length: number): Promise<Uint8Array>;
  write(offset: number, bytes: Uint8Array): Promise<void>;
}

/** v1.1 label size. */
export const LABEL_SIZE = 128;
/** `NSINDEX_ALIGN`. */
const NSINDEX_ALIGN = 256;
/** Bytes of `struct nd_namespace_index` before `free[]`. */
const INDEX_HEADER = 72;
const SIGNATURE = "NAMESPACE_INDEX\0";
/** `NSINDEX_SEQ_MASK`. */
const SEQ_MASK = 3;

/** Where things are in a label area of `configSize` bytes. */
export interface LabelLayout {
  nslot: number;
  indexSize: number;
  labelBase: number;
}

/** `nvdimm_num_label_slots` and `sizeof_namespace_index` for 128-byte labels. */
export function layoutFor(configSize: number): LabelLayout {
  const nslot = Math.floor(configSize / (LABEL_SIZE + 1));
  const one = Math.ceil((INDEX_HEADER + Math.ceil(nslot / 8)) / NSINDEX_ALIGN) * NSINDEX_ALIGN;
  return { nslot, indexSize: one, labelBase: 2 * one };
}

/** `nd_fletcher64` over little-endian u32 words. */
export function fletcher64(bytes: Uint8Array): bigint {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let lo = 0, hi = 0n;
  for (let i = 0; i + 4 <= bytes.length; i += 4) {
    lo = (lo + view.getUint32(i, true)) >>> 0;
    hi = (hi + BigInt(lo)) & 0xFFFF_FFFF_FFFF_FFFFn;
  }
  return ((hi << 32n) | BigInt(lo)) & 0xFFFF_FFFF_FFFF_FFFFn;
}

/** `nd_inc_seq`. */
export function incSeq(seq: number): number {
  const next = (seq + 1) & SEQ_MASK;
  return next || 1;
}

/** `best_seq`: which of two sequence numbers is newer. */
export function bestSeq(a: number, b: number): number {
  a &= SEQ_MASK;
  b &= SEQ_MASK;
  if (a === 0 || a === b) return b;
  if (b === 0) return a;
  return incSeq(a) === b ? b : a;
}

interface Index {
  seq: number;
  /** Bit set: slot free. */
  free: Uint8Array;
}

function encodeIndex(layout: LabelLayout, which: 0 | 1, index: Index): Uint8Array {
  const bytes = new Uint8Array(layout.indexSize);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < 16; i++) bytes[i] = SIGNATURE.charCodeAt(i);
  bytes[19] = LABEL_SIZE >> 8; // labelsize byte (0 for 128-byte labels)
  view.setUint32(20, index.seq, true);
  view.setBigUint64(24, BigInt(which * layout.indexSize), true);
  view.setBigUint64(32, BigInt(layout.indexSize), true);
  view.setBigUint64(40, BigInt((1 - which) * layout.indexSize), true);
  view.setBigUint64(48, BigInt(layout.labelBase), true);
  view.setUint32(56, layout.nslot, true);
  view.setUint16(60, 1, true);
  view.setUint16(62, 1, true);
  bytes.set(index.free.subarray(0, layout.indexSize - INDEX_HEADER), INDEX_HEADER);
  view.setBigUint64(64, fletcher64(bytes), true);
  return bytes;
}

function decodeIndex(layout: LabelLayout, which: 0 | 1, bytes: Uint8Array): Index | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < 16; i++) if (bytes[i] !== SIGNATURE.charCodeAt(i)) return undefined;
  const saved = view.getBigUint64(64, true);
  const copy = bytes.slice();
  new DataView(copy.buffer).setBigUint64(64, 0n, true);
  if (fletcher64(copy) !== saved) return undefined;
  const seq = view.getUint32(20, true);
  if ((seq & SEQ_MASK) === 0) return undefined;
  if (view.getBigUint64(24, true) !== BigInt(which * layout.indexSize)) return undefined;
  if (view.getBigUint64(40, true) !== BigInt((1 - which) * layout.indexSize)) return undefined;
  const size = view.getBigUint64(32, true);
  if (size > BigInt(layout.indexSize) || size < BigInt(INDEX_HEADER)) return undefined;
  if (view.getUint32(56, true) !== layout.nslot) return undefined;
  return { seq, free: bytes.slice(INDEX_HEADER) };
}

const isFree = (free: Uint8Array, slot: number) => (free[slot >> 3] >> (slot & 7)) & 1;
const setFree = (free: Uint8Array, slot: number, on: boolean) => {
  if (on) free[slot >> 3] |= 1 << (slot & 7);
  else free[slot >> 3] &= ~(1 << (slot & 7));
};

/** What a reader finds: the current index (0 or 1, -1 for none) and the namespaces' names. */
export interface LabelSet {
  current: -1 | 0 | 1;
  seq: number;
  names: string[];
  /** Slot of each name. */
  slots: Map<string, number>;
}

/** Reads the label area as the kernel does at probe: both indexes, then the labels in use. */
export async function readLabels(io: LabelIo, configSize: number): Promise<LabelSet> {
  const layout = layoutFor(configSize);
  const raw = await io.read(0, layout.labelBase);
  const indexes = ([0, 1] as const).map((i) =>
    decodeIndex(layout, i, raw.subarray(i * layout.indexSize, (i + 1) * layout.indexSize))
  );
  let current: -1 | 0 | 1 = -1;
  if (indexes[0] && indexes[1]) {
    const best = bestSeq(indexes[0].seq, indexes[1].seq);
    current = best === (indexes[1].seq & SEQ_MASK) ? 1 : 0;
  } else if (indexes[0]) current = 0;
  else if (indexes[1]) current = 1;
  const names: string[] = [];
  const slots = new Map<string, number>();
  if (current === -1) return { current, seq: 0, names, slots };
  const index = indexes[current]!;
  for (let slot = 0; slot < layout.nslot; slot++) {
    if (isFree(index.free, slot)) continue;
    const label = await io.read(layout.labelBase + slot * LABEL_SIZE, LABEL_SIZE);
    const view = new DataView(label.buffer, label.byteOffset, LABEL_SIZE);
    if (view.getUint32(120, true) !== slot) continue; // slot_valid
    const name = new TextDecoder().decode(label.subarray(16, 80)).replace(/\0.*$/s, "");
    names.push(name);
    slots.set(name, slot);
  }
  return { current, seq: index.seq, names: names.sort(), slots };
}

/** `nd_label_data_init`'s `init_labels`: both indexes, every slot free (seq 3 and 2). */
export async function formatLabels(io: LabelIo, configSize: number): Promise<void> {
  const layout = layoutFor(configSize);
  const free = new Uint8Array(layout.indexSize - INDEX_HEADER);
  for (let slot = 0; slot < layout.nslot; slot++) setFree(free, slot, true);
  for (const which of [0, 1] as const) {
    await io.write(which * layout.indexSize, encodeIndex(layout, which, { seq: 3 - which, free }));
  }
}

/** Where the next index goes and what it starts from (the current one's state). */
async function nextIndex(io: LabelIo, configSize: number) {
  const layout = layoutFor(configSize);
  const set = await readLabels(io, configSize);
  if (set.current === -1) throw new Error("no valid namespace index: format the label area first");
  const raw = await io.read(set.current * layout.indexSize, layout.indexSize);
  const index = decodeIndex(layout, set.current, raw)!;
  const next = (1 - set.current) as 0 | 1;
  return { layout, set, next, free: index.free.slice(), seq: incSeq(index.seq) };
}

/**
 * `create-namespace`: a label in a free slot, then the next index with it
 * allocated. `inPlace` writes the current index over itself instead: the
 * broken single-index update the second index exists to prevent (tests).
 */
export async function createNamespace(
  io: LabelIo,
  configSize: number,
  name: string,
  inPlace = false,
): Promise<void> {
  const found = await nextIndex(io, configSize);
  const { layout, free, seq, set } = found;
  const next = inPlace ? (1 - found.next) as 0 | 1 : found.next;
  if (set.slots.has(name)) throw new Error(`namespace ${name} exists`);
  let slot = 0;
  while (slot < layout.nslot && !isFree(free, slot)) slot++;
  if (slot === layout.nslot) throw new Error("no free label slot");
  const label = new Uint8Array(LABEL_SIZE);
  const view = new DataView(label.buffer);
  label.set(new TextEncoder().encode(name).subarray(0, 63), 16);
  view.setUint16(84, 1, true); // nlabel
  view.setBigUint64(96, 512n, true); // lbasize
  view.setUint32(120, slot, true);
  await io.write(layout.labelBase + slot * LABEL_SIZE, label);
  setFree(free, slot, false);
  await io.write(next * layout.indexSize, encodeIndex(layout, next, { seq, free }));
}

/** `destroy-namespace`: its slot marked free in the next index, written whole. */
export async function destroyNamespace(
  io: LabelIo,
  configSize: number,
  name: string,
): Promise<void> {
  const { layout, next, free, seq, set } = await nextIndex(io, configSize);
  const slot = set.slots.get(name);
  if (slot === undefined) throw new Error(`no namespace ${name}`);
  setFree(free, slot, true);
  await io.write(next * layout.indexSize, encodeIndex(layout, next, { seq, free }));
}
