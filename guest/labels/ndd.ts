/**
 * libnvdimm's per-dimm label state (`struct nvdimm_drvdata`): the cached
 * copy of the label area the dimm driver reads at every probe
 * (`nd_label_data_init`), the current and next index blocks, and the label
 * writes of namespace updates (`__pmem_label_update`, `del_labels`,
 * `init_labels`, `nd_label_write_index`), all as Linux
 * drivers/nvdimm/label.c does them as of v5.4. Every read and write goes
 * through the driver's config commands (READ/WRITE_METADATA hcalls).
 *
 * @example
 * ```ts
 * import { DimmLabels } from "./ndd.ts";
 * import { runSync } from "../task.ts";
 * const area = new Uint8Array(128 * 1024);
 * const ndd = new DimmLabels({
 *   size: area.length,
 *   maxXfer: 8,
 *   *get(offset, length) { return { rc: 0, data: area.slice(offset, offset + length) }; },
 *   *set(offset, data) { area.set(data, offset); return { rc: 0 }; },
 * });
 * runSync(ndd.init(), () => ({ rc: 0, rets: [] })); // 0: read the index blocks, none valid
 * ```
 * @module
 */
import { call, type Task } from "../task.ts";
import {
  decodeIndex,
  decodeLabel,
  encodeLabel,
  incSeq,
  INDEX_HEADER,
  type IndexLayout,
  indexLayout,
  type NamespaceLabel,
  setBit,
  slotValid,
  testBit,
  validateIndexes,
  writeIndexHeader,
} from "./format.ts";

/** A dimm's config commands as libnvdimm issues them (each split into `maxXfer` commands). */
export interface ConfigAccess {
  /** `config_size`. */
  size: number;
  /** `max_xfer`. */
  maxXfer: number;
  /** `nvdimm_get_config_data`: 0 and the bytes, or a negative errno. */
  get(offset: number, length: number): Task<{ rc: number; data?: Uint8Array }>;
  /** `nvdimm_set_config_data`: 0 or a negative errno. */
  set(offset: number, data: Uint8Array): Task<{ rc: number }>;
  /** Test only: write the index before the label slot (the order the kernel never uses). */
  indexBeforeLabel?: boolean;
}

/** An active label and the slot it is in. */
export interface ActiveLabel {
  /** Its slot. */
  slot: number;
  /** The label, decoded. */
  label: NamespaceLabel;
}

/** Linux errno values used here. */
const ENXIO = 6;

/** The label state of one dimm, as its driver keeps it. */
export class DimmLabels {
  /** The dimm's config commands. */
  readonly config: ConfigAccess;
  /**
   * What of `ndd->data` is held: its first bytes (at least those read so
   * far); the rest are zero. A probe of a fresh dimm reads only the index
   * blocks, and a system may probe thousands, so the whole area is made only
   * when something needs it (see `data`).
   */
  #data: Uint8Array = new Uint8Array(0);
  /** `ndd->nslabel_size`. */
  labelSize: number = 128;
  /** `ndd->ns_current`: -1 when no index block is valid. */
  current: number = -1;
  /** `ndd->ns_next`. */
  next: number = -1;

  /** State over a dimm's config commands; nothing is read until `init()`. */
  constructor(config: ConfigAccess) {
    this.config = config;
  }

  /** `ndd->data`: the kernel's copy of the label area (all `config.size` bytes). */
  get data(): Uint8Array {
    return this.#bytes(this.config.size);
  }

  /** `ndd->data` with at least its first `end` bytes held. */
  #bytes(end: number): Uint8Array {
    if (end <= this.#data.length) return this.#data;
    // The first growth holds what the first read needs; any later one, everything.
    const grown = new Uint8Array(this.#data.length === 0 ? end : this.config.size);
    grown.set(this.#data);
    return this.#data = grown;
  }

  /** The layout for the current label size. */
  get layout(): IndexLayout {
    return indexLayout(this.config.size, this.labelSize);
  }

  /**
   * `nd_label_data_init`: reads both index blocks in one read (rounded up
   * to `max_xfer`), picks the current one, then reads only the slots its
   * free bitmap says are in use. 0, or a negative errno from a read.
   */
  *init(): Task<number> {
    // Split in three, so the frame waiting on the index blocks' many reads is
    // small (a generator's frame is saved and restored on every hcall).
    const plan = this.#indexRead();
    if (!plan) return -ENXIO;
    // A call, not yield*: the probe above stays suspended through the read's many hcalls.
    const rc = yield* call(this.#read(0, plan.readSize));
    if (rc) return rc;
    return yield* this.#readInUse(plan.readSize, plan.maxXfer);
  }

  /**
   * The first read of `nd_label_data_init`: its size (both index blocks,
   * rounded up to the transfer size) and that transfer size; undefined when
   * the area is too small for index blocks or there are no config commands.
   */
  #indexRead(): { readSize: number; maxXfer: number } | undefined {
    const configSize = this.config.size;
    this.labelSize = 128;
    let readSize = indexLayout(configSize, 128).indexSize * 2;
    if (!readSize || this.config.maxXfer === 0) return undefined;
    let maxXfer = Math.min(this.config.maxXfer, configSize);
    if (readSize < maxXfer) {
      // Trim waste so the last read is not mostly padding, but read the indexes in one go.
      maxXfer -= Math.floor(
        ((maxXfer - 1) - (configSize - 1) % maxXfer) / Math.ceil(configSize / maxXfer),
      );
      if (maxXfer < readSize) maxXfer = readSize;
    }
    readSize = Math.min(Math.ceil(readSize / maxXfer) * maxXfer, configSize);
    return { readSize, maxXfer };
  }

  /** After the index blocks: picks the current index and reads the slots it has in use. */
  *#readInUse(readSize: number, maxXfer: number): Task<number> {
    const configSize = this.config.size;
    const choice = validateIndexes(this.#bytes(readSize), configSize);
    if (!choice) {
      // nd_label_validate tried 128 then 256: the size stays at the last one tried.
      this.labelSize = 256;
      this.current = this.next = -1;
      return 0;
    }
    this.labelSize = choice.labelSize;
    this.current = choice.current;
    this.next = 1 - choice.current;
    this.#copyIndex(this.current, this.next);
    const labelSize = this.labelSize;
    const idx = decodeIndex(this.#index(this.current));
    let offset = idx.labeloff;
    for (let i = 0; i < idx.nslot; i++, offset += labelSize) {
      if (testBit(idx.free, i)) {
        // Bytes not held are zero already.
        this.#data.fill(0, offset, Math.min(offset + labelSize, this.#data.length));
        continue;
      }
      if (offset + labelSize <= readSize) continue;
      if (readSize < offset) readSize = offset;
      let labelRead = Math.ceil((offset + labelSize - readSize) / maxXfer) * maxXfer;
      if (readSize + labelRead > configSize) labelRead = configSize - readSize;
      const rc = yield* this.#read(readSize, labelRead);
      if (rc) return rc;
      readSize += labelRead;
    }
    return 0;
  }

  *#read(offset: number, length: number): Task<number> {
    const r = yield* this.config.get(offset, length);
    if (r.rc) return r.rc;
    this.#bytes(offset + length).set(r.data!, offset);
    return 0;
  }

  #index(i: number): Uint8Array {
    const size = this.layout.indexSize;
    return this.#bytes((i + 1) * size).subarray(i * size, (i + 1) * size);
  }

  #copyIndex(from: number, to: number): void {
    this.#index(to).set(this.#index(from));
  }

  /** The offset of a slot in the label area. */
  slotOffset(slot: number): number {
    return 2 * this.layout.indexSize + slot * this.labelSize;
  }

  /** `nd_label_active`: every valid label the current index marks in use. */
  activeLabels(): ActiveLabel[] {
    if (this.current < 0) return [];
    const idx = decodeIndex(this.#index(this.current));
    const out: ActiveLabel[] = [];
    for (let slot = 0; slot < idx.nslot; slot++) {
      if (testBit(idx.free, slot)) continue;
      const at = this.slotOffset(slot);
      const bytes = this.#bytes(at + this.labelSize).subarray(at, at + this.labelSize);
      if (slotValid(bytes, slot)) out.push({ slot, label: decodeLabel(bytes) });
    }
    return out;
  }

  /** Minor version of the index labels are written under (1 or 2); 0 with no index. */
  get minor(): number {
    return this.next < 0 ? 0 : decodeIndex(this.#index(this.next)).minor;
  }

  /**
   * `init_labels`: with no valid index, writes two fresh ones (sequence 3
   * and 2, every slot free) with the current label size.
   */
  *initLabels(): Task<number> {
    if (this.current >= 0) return 0;
    this.data.fill(0);
    const layout = this.layout;
    for (const i of [0, 1] as const) {
      const block = this.#index(i);
      for (let b = 0; b < layout.nslot; b++) setBit(block.subarray(INDEX_HEADER), b, true);
      writeIndexHeader(block, layout, i, 3 - i);
      const r = yield* this.config.set(i * layout.indexSize, block.slice());
      if (r.rc) return r.rc;
    }
    this.next = 1;
    this.current = 0;
    return 0;
  }

  /** `nd_label_write_index` of the next index with the next sequence; then it is current. */
  *writeNextIndex(): Task<number> {
    const layout = this.layout;
    const block = this.#index(this.next);
    writeIndexHeader(block, layout, this.next, incSeq(decodeIndex(block).seq));
    const r = yield* this.config.set(this.next * layout.indexSize, block.slice());
    if (r.rc) return r.rc;
    this.#copyIndex(this.next, this.current);
    [this.current, this.next] = [this.next, this.current];
    return 0;
  }

  /**
   * `__pmem_label_update`: writes `label` to the first free slot of the
   * next index, frees `victim` (the namespace's previous label) there, then
   * writes the index. The new slot, or a negative errno.
   */
  *writeLabel(label: Omit<NamespaceLabel, "slot">, victim?: number): Task<number> {
    if (this.next < 0) return -ENXIO;
    const free = this.#index(this.next).subarray(INDEX_HEADER);
    const nslot = this.layout.nslot;
    let slot = 0;
    while (slot < nslot && !testBit(free, slot)) slot++;
    if (slot === nslot) return -ENXIO;
    setBit(free, slot, false);
    const bytes = encodeLabel({ ...label, slot }, this.labelSize);
    const at = this.slotOffset(slot);
    this.#bytes(at + bytes.length).set(bytes, at);
    if (this.config.indexBeforeLabel) return yield* this.#indexThenLabel(at, bytes, slot, victim);
    // The label is durable before the index that points at it: a crash between
    // the two leaves the old index, which never names the slot
    // (drivers/nvdimm/label.c __pmem_label_update: nvdimm_set_config_data of the
    // label, then the victim reaped, then nd_label_write_index).
    const r = yield* this.config.set(at, bytes);
    if (r.rc) return r.rc;
    if (victim !== undefined) setBit(free, victim, true);
    const rc = yield* this.writeNextIndex();
    return rc < 0 ? rc : slot;
  }

  /** The broken order (test only): the index that names the slot, then the label. */
  *#indexThenLabel(at: number, bytes: Uint8Array, slot: number, victim?: number): Task<number> {
    if (victim !== undefined) setBit(this.#index(this.next).subarray(INDEX_HEADER), victim, true);
    const rc = yield* this.writeNextIndex();
    if (rc < 0) return rc;
    const r = yield* this.config.set(at, bytes);
    return r.rc ? r.rc : slot;
  }

  /** `del_labels`: frees the slots in `slots` in the next index and writes it. */
  *deleteLabels(slots: number[]): Task<number> {
    if (this.next < 0) return 0;
    const free = this.#index(this.next).subarray(INDEX_HEADER);
    for (const s of slots) setBit(free, s, true);
    return yield* this.writeNextIndex();
  }
}
