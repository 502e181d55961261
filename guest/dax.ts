/**
 * Direct access to bound SCM: a load or store at a logical address goes
 * through the partition page table to the DRC's shared memory, with no hcall.
 * @module
 */
import type { PageTableReader } from "../channel/page_table.ts";

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
 * The guest's view of its SCM: the page table plus the DRC memory it holds.
 * Each access also counts, in the DRC's shared media counters, the cache
 * lines it loads or stores, as the memory controller would see them.
 */
export class DaxMemory {
  readonly #table: PageTableReader;
  readonly #scm = new Map<number, Uint8Array>();
  /** Per DRC: [reads, writes] in cache lines, shared with the hypervisor. */
  readonly #counters = new Map<number, BigInt64Array>();

  constructor(table: PageTableReader) {
    this.#table = table;
  }

  /**
   * Makes a DRC's memory reachable (it was assigned to this LPAR), with the
   * hypervisor's media counters for it when given (two 64-bit words).
   */
  attach(drc: number, memory: SharedArrayBuffer, counters?: SharedArrayBuffer): void {
    this.#scm.set(drc, new Uint8Array(memory));
    if (counters) this.#counters.set(drc, new BigInt64Array(counters, 0, 2));
  }

  /** Forgets a DRC's memory (it was taken away). */
  detach(drc: number): void {
    this.#scm.delete(drc);
    this.#counters.delete(drc);
  }

  #view(address: bigint, length: number, counter: 0 | 1): Uint8Array {
    const m = this.#table.translate(address, length);
    const memory = m && this.#scm.get(m.drc);
    if (!m || !memory) throw new MachineCheck(address, length);
    const start = Number(m.offset + (address - m.base));
    const counters = this.#counters.get(m.drc);
    if (counters && length > 0) {
      const lines = Math.floor((start + length - 1) / CACHE_LINE) - Math.floor(start / CACHE_LINE) +
        1;
      Atomics.add(counters, counter, BigInt(lines));
    }
    return memory.subarray(start, start + length);
  }

  /** Copies `length` bytes from a logical address. */
  read(address: bigint, length: number): Uint8Array {
    return this.#view(address, length, 0).slice();
  }

  /** Stores bytes at a logical address. */
  write(address: bigint, bytes: Uint8Array): void {
    this.#view(address, bytes.length, 1).set(bytes);
  }
}
