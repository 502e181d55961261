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

/** The guest's view of its SCM: the page table plus the DRC memory it holds. */
export class DaxMemory {
  readonly #table: PageTableReader;
  readonly #scm = new Map<number, Uint8Array>();

  constructor(table: PageTableReader) {
    this.#table = table;
  }

  /** Makes a DRC's memory reachable (it was assigned to this LPAR). */
  attach(drc: number, memory: SharedArrayBuffer): void {
    this.#scm.set(drc, new Uint8Array(memory));
  }

  /** Forgets a DRC's memory (it was taken away). */
  detach(drc: number): void {
    this.#scm.delete(drc);
  }

  #view(address: bigint, length: number): Uint8Array {
    const m = this.#table.translate(address, length);
    const memory = m && this.#scm.get(m.drc);
    if (!m || !memory) throw new MachineCheck(address, length);
    const start = Number(m.offset + (address - m.base));
    return memory.subarray(start, start + length);
  }

  /** Copies `length` bytes from a logical address. */
  read(address: bigint, length: number): Uint8Array {
    return this.#view(address, length).slice();
  }

  /** Stores bytes at a logical address. */
  write(address: bigint, bytes: Uint8Array): void {
    this.#view(address, bytes.length).set(bytes);
  }
}
