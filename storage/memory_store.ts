/**
 * Durable state kept in this process: it outlives a `ManagedSystem` (a
 * power loss, then a power-on of a new system on the same store), not the
 * process. Crash exploration builds its images as memory stores.
 * @module
 */
import { PAGE_BYTES, PageBudget, SparseScm } from "../runtime/sim/sparse_scm.ts";
import {
  type DrcFacts,
  type DrcGeometry,
  type DurableDrc,
  type DurableStore,
  freshFacts,
  geometryMismatch,
  StorageError,
} from "./types.ts";

/** One nvdimm's durable state as plain data: pages written, label area, facts. */
export interface DrcImage {
  /** The hypervisor's facts. */
  facts: DrcFacts;
  /** SCM pages written, by page number (64 KiB pages). */
  pages: Map<number, Uint8Array>;
  /** The label area. */
  label: Uint8Array;
}

/** Every nvdimm's durable state, by DRC index. */
export type StoreImage = Map<number, DrcImage>;

/** Default budget of durable pages of one memory store: 1 GiB. */
export const MEMORY_STORE_BUDGET = 1024 ** 3;

class MemoryDrc implements DurableDrc {
  readonly size: number;
  readonly memory: SparseScm;
  readonly labelArea: Uint8Array;
  #facts: DrcFacts;
  constructor(g: DrcGeometry, budget: PageBudget) {
    this.size = Number(g.blockSize) * g.blocks;
    this.memory = new SparseScm(this.size, budget);
    this.labelArea = new Uint8Array(g.metadataSize);
    this.#facts = freshFacts(g);
  }
  facts(): DrcFacts {
    return { ...this.#facts };
  }
  saveFacts(facts: DrcFacts): void {
    this.#facts = { ...facts };
  }
  read(offset: number, length: number): Uint8Array {
    return this.memory.read(offset, length);
  }
  write(offset: number, bytes: Uint8Array): void {
    this.memory.write(offset, bytes);
  }
  reserve(offset: number, length: number): void {
    this.memory.reserve(offset, length);
  }
  label(): Uint8Array {
    return this.labelArea.slice();
  }
  writeLabel(offset: number, bytes: Uint8Array): void {
    this.labelArea.set(bytes, offset);
  }
  usedBytes(): number {
    return this.memory.pages * PAGE_BYTES;
  }
  close(): void {}
}

/**
 * Nvdimms' durable state in memory, by DRC index.
 *
 * @example
 * ```ts
 * import { MemoryStore } from "./memory_store.ts";
 * const store = new MemoryStore();
 * const drc = store.open({ index: 1, uuid: "u", blockSize: 4096n, blocks: 1, metadataSize: 0 });
 * drc.write(0, new Uint8Array([1]));
 * console.log(store.open({ index: 1, uuid: "u", blockSize: 4096n, blocks: 1, metadataSize: 0 }).read(0, 1)); // [1]
 * ```
 */
export class MemoryStore implements DurableStore {
  readonly where = "memory";
  readonly #drcs = new Map<number, MemoryDrc>();
  readonly #budget: PageBudget;
  /** A store whose durable pages may take at most `budgetBytes` together. */
  constructor(budgetBytes = MEMORY_STORE_BUDGET) {
    this.#budget = new PageBudget(budgetBytes);
  }
  /** Divides the page budget among the nvdimms open now (later ones get what is left). */
  divide(): void {
    this.#budget.divide();
  }
  open(g: DrcGeometry): DurableDrc {
    let drc = this.#drcs.get(g.index);
    if (drc) {
      const mismatch = geometryMismatch(drc.facts(), g);
      if (mismatch) {
        throw new StorageError(`memory store, drc 0x${g.index.toString(16)}: ${mismatch}`);
      }
      return drc;
    }
    drc = new MemoryDrc(g, this.#budget);
    this.#drcs.set(g.index, drc);
    return drc;
  }
  /** The DRCs it holds. */
  indexes(): number[] {
    return [...this.#drcs.keys()];
  }

  /** A DRC's facts, or undefined when it holds none for it. */
  factsOf(index: number): DrcFacts | undefined {
    return this.#drcs.get(index)?.facts();
  }

  /** A copy of a DRC's durable SCM bytes, or undefined when it holds none for it. */
  read(index: number, offset: number, length: number): Uint8Array | undefined {
    return this.#drcs.get(index)?.read(offset, length);
  }

  /** A copy of everything it holds. */
  snapshot(): StoreImage {
    const image: StoreImage = new Map();
    for (const [index, drc] of this.#drcs) {
      const pages = new Map<number, Uint8Array>();
      for (const [n, bytes] of drc.memory.entries()) pages.set(n, bytes.slice());
      image.set(index, { facts: drc.facts(), pages, label: drc.labelArea.slice() });
    }
    return image;
  }

  /** A store holding a copy of `image`. */
  static fromImage(image: StoreImage, budgetBytes = MEMORY_STORE_BUDGET): MemoryStore {
    const store = new MemoryStore(budgetBytes);
    for (const [index, d] of image) {
      const drc = store.open({
        index,
        uuid: d.facts.uuid,
        blockSize: BigInt(d.facts.blockSize),
        blocks: d.facts.blocks,
        metadataSize: d.facts.metadataSize,
      }) as MemoryDrc;
      drc.saveFacts(d.facts);
      drc.labelArea.set(d.label);
      for (const [n, bytes] of d.pages) drc.memory.write(n * PAGE_BYTES, bytes);
    }
    return store;
  }
}
