/**
 * Direct access to bound SCM: a load or store at a logical address goes
 * through the partition's mappings to the DRC's memory, with no hcall.
 * @module
 */
import type { Mapping } from "../core/types.ts";

/** Raised for an access to an address that no binding maps. */
export class MachineCheck extends Error {
  constructor(address: bigint, length: number) {
    super(`machine check: ${length} bytes at 0x${address.toString(16)} are not mapped`);
    this.name = "MachineCheck";
  }
}

/** Bytes per cache line: the unit the memory controller counts. */
export const CACHE_LINE = 64;

/**
 * Brackets each DAX copy, so the hypervisor can wait for copies in flight
 * when it takes mappings away (the threads runtime; one thread needs none).
 */
export interface DaxFence {
  enter(): void;
  leave(): void;
}

/** Bytes copied under one translation: a release waits at most for one such chunk. */
export const DAX_CHUNK = 64 * 1024;

/** Where the partition's logical addresses lead: its page table. */
export interface AddressTranslator {
  /** The mapping containing `[address, address + length)`, or undefined. */
  translate(address: bigint, length: number): Mapping | undefined;
}

/** One DRC's SCM as the guest reaches it. */
export interface ScmMemory {
  /** Bytes in the device. */
  readonly size: number;
  /** A copy of `length` bytes at `offset`. */
  read(offset: number, length: number): Uint8Array;
  /** Stores `bytes` at `offset`. */
  write(offset: number, bytes: Uint8Array): void;
  /**
   * The kernel's cache write-back of the device (storage/cpu_cache.ts); absent
   * where stores are not modelled as cached.
   */
  writeBack?(): number;
}

/** SCM held whole in one buffer (the worker runtime's SharedArrayBuffer per DRC). */
export class DenseScm implements ScmMemory {
  readonly #bytes: Uint8Array;
  constructor(buffer: ArrayBufferLike) {
    this.#bytes = new Uint8Array(buffer);
  }
  get size(): number {
    return this.#bytes.length;
  }
  read(offset: number, length: number): Uint8Array {
    return this.#bytes.slice(offset, offset + length);
  }
  write(offset: number, bytes: Uint8Array): void {
    this.#bytes.set(bytes, offset);
  }
}

/**
 * The guest's view of its SCM: the page table plus the DRC memory it holds.
 * Each access also counts, in the DRC's media counters, the cache lines it
 * loads or stores, as the memory controller would see them.
 */
export class DaxMemory {
  readonly #table: AddressTranslator;
  readonly #fence?: DaxFence;
  readonly #chunk: number;
  readonly #scm = new Map<number, ScmMemory>();
  /** Per DRC: [reads, writes] in cache lines, shared with the hypervisor. */
  readonly #counters = new Map<number, BigInt64Array>();

  constructor(table: AddressTranslator, fence?: DaxFence) {
    this.#table = table;
    this.#fence = fence;
    // Without a fence nothing runs beside the copy: one piece, all or nothing.
    this.#chunk = fence ? DAX_CHUNK : Number.MAX_SAFE_INTEGER;
  }

  /**
   * Makes a DRC's memory reachable (it was assigned to this LPAR), with the
   * hypervisor's media counters for it when given (two 64-bit words).
   */
  attach(drc: number, memory: ScmMemory, counters?: BigInt64Array): void {
    this.#scm.set(drc, memory);
    if (counters) this.#counters.set(drc, counters);
  }

  /** Writes a DRC's cached stores back (the pmem flush of its region); lines written back. */
  writeBack(drc: number): number {
    return this.#scm.get(drc)?.writeBack?.() ?? 0;
  }

  /** Forgets a DRC's memory (it was taken away). */
  detach(drc: number): void {
    this.#scm.delete(drc);
    this.#counters.delete(drc);
  }

  #locate(address: bigint, length: number, counter: 0 | 1, count: boolean): [ScmMemory, number] {
    const m = this.#table.translate(address, length);
    const memory = m && this.#scm.get(m.drc);
    if (!m || !memory) throw new MachineCheck(address, length);
    const start = Number(m.offset + (address - m.base));
    const counters = this.#counters.get(m.drc);
    if (count && counters && length > 0) {
      const lines = Math.floor((start + length - 1) / CACHE_LINE) - Math.floor(start / CACHE_LINE) +
        1;
      Atomics.add(counters, counter, BigInt(lines));
    }
    return [memory, start];
  }

  /**
   * Copies `length` bytes from a logical address, a chunk at a time, each
   * chunk translated afresh: a release in the middle faults the rest.
   */
  read(address: bigint, length: number): Uint8Array {
    // The whole range is mapped now, or it faults; its cache lines are counted once.
    this.#locate(address, length, 0, true);
    const out = new Uint8Array(length);
    for (let done = 0; done < length || length === 0; done += this.#chunk) {
      const n = Math.min(this.#chunk, length - done);
      this.#fenced(() => {
        const [memory, start] = this.#locate(address + BigInt(done), n, 0, false);
        out.set(memory.read(start, n), done);
      });
      if (length === 0) break;
    }
    return out;
  }

  /** Stores bytes at a logical address, a chunk at a time as `read` does. */
  write(address: bigint, bytes: Uint8Array): void {
    this.#locate(address, bytes.length, 1, true);
    for (let done = 0; done < bytes.length; done += this.#chunk) {
      const chunk = bytes.subarray(done, done + this.#chunk);
      this.#fenced(() => {
        const [memory, start] = this.#locate(address + BigInt(done), chunk.length, 1, false);
        memory.write(start, chunk);
      });
    }
  }

  #fenced(copy: () => void): void {
    this.#fence?.enter();
    try {
      copy();
    } finally {
      this.#fence?.leave();
    }
  }
}
