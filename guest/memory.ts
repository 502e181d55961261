/**
 * The LPAR's real memory: a small buffer (shared, in the worker runtime) the hypervisor can also
 * write into (the PERFORMANCE_STATS buffer). A guest real address is an
 * offset into it. The kernel allocates from it with a first-fit allocator,
 * as `kzalloc` + `virt_to_phys` would hand the hypervisor a real address.
 * @module
 */

/** Thrown when an allocation does not fit (the kernel's -ENOMEM). */
export class OutOfMemory extends Error {
  constructor(size: number) {
    super(`out of real memory allocating ${size} bytes`);
    this.name = "OutOfMemory";
  }
}

/** Bytes kept free at real address 0, so no buffer ever sits at address 0. */
export const RESERVED_LOW = 4096;
/** Allocation granule: buffers are 16-byte aligned, as kmalloc's. */
const GRANULE = 16;

/** A first-fit allocator over one LPAR's real memory. */
export class RealMemory {
  readonly #bytes: Uint8Array;
  /** Free ranges [start, end), sorted and coalesced. */
  #free: Array<[number, number]>;
  readonly #used = new Map<number, number>();

  /** An allocator over `buffer`; its first `RESERVED_LOW` bytes are never handed out. */
  constructor(buffer: ArrayBufferLike) {
    this.#bytes = new Uint8Array(buffer);
    this.#free = buffer.byteLength > RESERVED_LOW ? [[RESERVED_LOW, buffer.byteLength]] : [];
  }

  /** Size of the real memory in bytes. */
  get size(): number {
    return this.#bytes.length;
  }

  /** `kzalloc`: a zeroed buffer; returns its real address. */
  alloc(size: number): bigint {
    const need = Math.max(GRANULE, Math.ceil(size / GRANULE) * GRANULE);
    const i = this.#free.findIndex(([s, e]) => e - s >= need);
    if (i < 0) throw new OutOfMemory(size);
    const [start, end] = this.#free[i];
    if (end - start === need) this.#free.splice(i, 1);
    else this.#free[i] = [start + need, end];
    this.#used.set(start, need);
    this.#bytes.fill(0, start, start + need);
    return BigInt(start);
  }

  /** `kfree`. */
  free(address: bigint): void {
    const start = Number(address);
    const size = this.#used.get(start);
    if (size === undefined) throw new RangeError(`kfree of unallocated 0x${address.toString(16)}`);
    this.#used.delete(start);
    this.#free.push([start, start + size]);
    this.#free.sort((a, b) => a[0] - b[0]);
    const merged: Array<[number, number]> = [];
    for (const range of this.#free) {
      const last = merged[merged.length - 1];
      if (last && last[1] === range[0]) last[1] = range[1];
      else merged.push([range[0], range[1]]);
    }
    this.#free = merged;
  }

  /** A live view of `length` bytes at a real address. */
  view(address: bigint, length: number): Uint8Array {
    const start = Number(address);
    if (start < 0 || start + length > this.#bytes.length) {
      throw new RangeError(`real address 0x${address.toString(16)}+${length} is outside memory`);
    }
    return this.#bytes.subarray(start, start + length);
  }

  /** Bytes allocated now (for leak checks). */
  get allocated(): number {
    let n = 0;
    for (const size of this.#used.values()) n += size;
    return n;
  }
}
