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
  readonly #scm = new Map<number, ScmMemory>();
  /** Per DRC: [reads, writes] in cache lines, shared with the hypervisor. */
  readonly #counters = new Map<number, BigInt64Array>();

  constructor(table: AddressTranslator) {
    this.#table = table;
  }

  /**
   * Makes a DRC's memory reachable (it was assigned to this LPAR), with the
   * hypervisor's media counters for it when given (two 64-bit words).
   */
  attach(drc: number, memory: ScmMemory, counters?: BigInt64Array): void {
    this.#scm.set(drc, memory);
    if (counters) this.#counters.set(drc, counters);
  }

  /** Forgets a DRC's memory (it was taken away). */
  detach(drc: number): void {
    this.#scm.delete(drc);
    this.#counters.delete(drc);
  }

  #locate(address: bigint, length: number, counter: 0 | 1): [ScmMemory, number] {
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
    return [memory, start];
  }

  /** Copies `length` bytes from a logical address. */
  read(address: bigint, length: number): Uint8Array {
    const [memory, start] = this.#locate(address, length, 0);
    return memory.read(start, length);
  }

  /** Stores bytes at a logical address. */
  write(address: bigint, bytes: Uint8Array): void {
    const [memory, start] = this.#locate(address, bytes.length, 1);
    memory.write(start, bytes);
  }
}
