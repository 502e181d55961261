/**
 * DAX as the hypervisor serves it: a partition's loads and stores at logical
 * addresses, translated through that partition's mappings (its page table,
 * which only the hypervisor holds) to a DRC's memory.
 *
 * A guest never holds SCM itself. On the `sim` runtime its accesses call this
 * engine directly; on `threads` they travel over the partition's own channel
 * (see channel/guest_dax.ts), a chunk at a time through a bounce buffer, and
 * the hypervisor's thread does the copy. So a copy and a release of bindings
 * never overlap, and nothing a guest writes can reach memory it has not bound.
 * @module
 */
import type { LparId, Mapping, MediaCounters } from "./types.ts";
import { StorageIoError } from "../storage/types.ts";

/** Raised for an access to an address that no binding maps (or, see MediaError, that failed). */
export class MachineCheck extends Error {
  constructor(address: bigint, length: number, what = "are not mapped") {
    super(`machine check: ${length} bytes at 0x${address.toString(16)} ${what}`);
    this.name = "MachineCheck";
  }
}

/** What a failed access was doing, for its message. */
export type MediaAction = "loaded" | "stored" | "written back";

/**
 * An uncorrectable error on a mapped range: the host could not complete the
 * access to the device's backing (a StorageIoError: `EIO`, `ENOSPC`). On
 * POWER a load or store that hits an uncorrectable error in persistent
 * memory is a machine check on that address (Linux
 * arch/powerpc/platforms/pseries/papr_scm.c `handle_mce_ue`: an
 * `MCE_ERROR_TYPE_UE` inside a region marks one cache line bad,
 * `papr_scm_add_badblock`), so it reaches the partition that made the
 * access and no other. `hostError` is the host's error as the partition
 * may see it: the operation and the OS error, never a host path
 * (StorageIoError's `guestText`).
 */
export class MediaError extends MachineCheck {
  readonly hostError: string;
  constructor(address: bigint, length: number, action: MediaAction, hostError: string) {
    super(address, length, `could not be ${action}: uncorrectable error (${hostError})`);
    this.hostError = hostError;
  }
}

/** The host's I/O error on a device's backing, as the machine check it is to the asker. */
function mediaError(
  error: unknown,
  address: bigint,
  length: number,
  action: MediaAction,
): unknown {
  // Only the storage layer's I/O errors: anything else is a bug and stays one.
  return error instanceof StorageIoError
    ? new MediaError(address, length, action, error.guestText)
    : error;
}

/** Bytes per cache line: the unit the memory controller counts. */
export const CACHE_LINE = 64;

/** One DRC's SCM. */
export interface ScmMemory {
  /** Bytes in the device. */
  readonly size: number;
  /** A copy of `length` bytes at `offset`. */
  read(offset: number, length: number): Uint8Array;
  /** Stores `bytes` at `offset`. */
  write(offset: number, bytes: Uint8Array): void;
  /**
   * The cache write-back of the device (storage/cpu_cache.ts): its stores
   * become durable. Absent where stores are not modelled as cached.
   */
  writeBack?(): number;
}

/** SCM held whole in one buffer (the worker runtime's memory per DRC). */
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

/** A partition's loads and stores, as its guest kernel issues them. */
export interface DaxAccess {
  /** A copy of `length` bytes at a logical address; MachineCheck if unmapped. */
  read(address: bigint, length: number): Uint8Array;
  /** Stores `bytes` at a logical address; MachineCheck if unmapped. */
  write(address: bigint, bytes: Uint8Array): void;
  /**
   * The kernel's cache write-back of a range (`arch_wb_cache_pmem`): the
   * stores of every DRC mapped in it become durable (storage/cpu_cache.ts);
   * lines written back. Absent where stores are not modelled as cached.
   */
  writeBack?(address: bigint, length: number): number;
}

/** What the engine needs of the core: each partition's mappings and when they change. */
export interface MappingSource {
  mappings(lpar: LparId): Mapping[];
  mapVersion(lpar: LparId): number;
}

/** Serves every partition's DAX accesses, counting cache lines per DRC. */
export class DaxEngine {
  readonly #source: MappingSource;
  readonly #memoryOf: (drc: number) => ScmMemory | undefined;
  /** Per LPAR: its mappings, re-read only when its map version changed. */
  readonly #cache = new Map<LparId, { version: number; mappings: Mapping[] }>();
  /** Per DRC: cache lines loaded and stored. */
  readonly #media = new Map<number, { reads: bigint; writes: bigint }>();

  constructor(source: MappingSource, memoryOf: (drc: number) => ScmMemory | undefined) {
    this.#source = source;
    this.#memoryOf = memoryOf;
  }

  /** A DRC's media counters (loads and stores in cache lines). */
  media(drc: number): MediaCounters {
    const m = this.#media.get(drc);
    return m ? { reads: m.reads, writes: m.writes } : { reads: 0n, writes: 0n };
  }

  /** Forgets a partition's cached mappings (it went away). */
  forget(lpar: LparId): void {
    this.#cache.delete(lpar);
  }

  /**
   * Checks that `[address, address + length)` is mapped for `lpar` and
   * counts its cache lines as one access; MachineCheck if not.
   */
  touch(lpar: LparId, address: bigint, length: number, store: boolean): void {
    const [drc, start] = this.check(lpar, address, length);
    if (length <= 0) return;
    const lines = BigInt(
      Math.floor((start + length - 1) / CACHE_LINE) - Math.floor(start / CACHE_LINE) + 1,
    );
    let m = this.#media.get(drc);
    if (!m) this.#media.set(drc, m = { reads: 0n, writes: 0n });
    if (store) m.writes = BigInt.asUintN(64, m.writes + lines);
    else m.reads = BigInt.asUintN(64, m.reads + lines);
  }

  /**
   * Checks that `[address, address + length)` is mapped for `lpar`, without
   * counting; [drc, offset in its memory], or MachineCheck.
   */
  check(lpar: LparId, address: bigint, length: number): [number, number] {
    return this.#locate(lpar, address, length);
  }

  /** Copies `length` bytes at a logical address into `out` at `at` (no counting). */
  copyOut(lpar: LparId, address: bigint, length: number, out: Uint8Array, at = 0): void {
    const [drc, start] = this.#locate(lpar, address, length);
    let bytes: Uint8Array;
    try {
      bytes = this.#memoryOf(drc)!.read(start, length);
    } catch (error) {
      throw mediaError(error, address, length, "loaded");
    }
    out.set(bytes, at);
  }

  /** Stores `bytes` at a logical address (no counting). */
  copyIn(lpar: LparId, address: bigint, bytes: Uint8Array): void {
    const [drc, start] = this.#locate(lpar, address, bytes.length);
    try {
      this.#memoryOf(drc)!.write(start, bytes);
    } catch (error) {
      throw mediaError(error, address, bytes.length, "stored");
    }
  }

  /** One whole load: checked, counted, copied. */
  read(lpar: LparId, address: bigint, length: number): Uint8Array {
    this.touch(lpar, address, length, false);
    const out = new Uint8Array(length);
    if (length > 0) this.copyOut(lpar, address, length, out);
    return out;
  }

  /** One whole store: checked, counted, copied. */
  write(lpar: LparId, address: bigint, bytes: Uint8Array): void {
    this.touch(lpar, address, bytes.length, true);
    if (bytes.length > 0) this.copyIn(lpar, address, bytes);
  }

  /**
   * The cache write-back of `[address, address + length)` for `lpar`: each
   * DRC mapped there writes its cached stores back (a DRC at a time, as the
   * cache model keeps them); parts not mapped are passed over. A device
   * whose backing fails makes it a MediaError on the range (its lines stay
   * cached for a later write-back).
   */
  writeBack(lpar: LparId, address: bigint, length: number): number {
    const end = address + BigInt(length);
    const drcs = new Set<number>();
    for (const m of this.#mappings(lpar)) {
      if (m.base < end && address < m.base + m.size) drcs.add(m.drc);
    }
    let lines = 0;
    try {
      for (const drc of drcs) lines += this.#memoryOf(drc)?.writeBack?.() ?? 0;
    } catch (error) {
      throw mediaError(error, address, length, "written back");
    }
    return lines;
  }

  /** The DAX view of one partition (what its guest kernel is given on `sim`). */
  accessFor(lpar: LparId): DaxAccess {
    return {
      read: (address, length) => this.read(lpar, address, length),
      write: (address, bytes) => this.write(lpar, address, bytes),
      writeBack: (address, length) => this.writeBack(lpar, address, length),
    };
  }

  /** [drc, offset in its memory] of a mapped range; MachineCheck if not mapped. */
  #locate(lpar: LparId, address: bigint, length: number): [number, number] {
    const end = address + BigInt(length);
    for (const m of this.#mappings(lpar)) {
      if (m.base <= address && end <= m.base + m.size) {
        const memory = this.#memoryOf(m.drc);
        const start = Number(m.offset + (address - m.base));
        // A mapping always lies inside its DRC: the core only maps bound blocks.
        if (memory && start + length <= memory.size) return [m.drc, start];
      }
    }
    throw new MachineCheck(address, length);
  }

  #mappings(lpar: LparId): Mapping[] {
    const version = this.#source.mapVersion(lpar);
    let entry = this.#cache.get(lpar);
    if (!entry || entry.version !== version) {
      entry = { version, mappings: this.#source.mappings(lpar) };
      this.#cache.set(lpar, entry);
    }
    return entry.mappings;
  }
}
