/**
 * What the swarm knows SCM must hold: every byte it wrote through DAX, by
 * DRC and offset in the device. Persistent memory keeps what was written
 * whoever binds it later and wherever (kexec, DLPAR move, rebind), and only
 * the swarm writes data, so a read of any region must agree with this model.
 * @module
 */

/** Bytes per page of the model. */
const PAGE = 4096;
/** Written ranges remembered per DRC, newest last (re-read after each kexec). */
const MAX_RANGES = 8;

/** One written range of a device. */
export interface WrittenRange {
  /** Offset in the device (and in any region of it). */
  offset: number;
  /** Bytes. */
  length: number;
}

/**
 * The expected content of every DRC, sparse.
 * @example
 * ```ts
 * import { DataModel } from "./model.ts";
 * const model = new DataModel();
 * model.write(0x44100002, 4095, new Uint8Array([1, 2]));
 * console.log(model.expected(0x44100002, 4094, 4)); // Uint8Array [0, 1, 2, 0]
 * ```
 */
export class DataModel {
  readonly #pages = new Map<number, Map<number, Uint8Array>>();
  readonly #ranges = new Map<number, WrittenRange[]>();

  /** Records that `bytes` were written at `offset` of `drc`. */
  write(drc: number, offset: number, bytes: Uint8Array): void {
    let pages = this.#pages.get(drc);
    if (!pages) this.#pages.set(drc, pages = new Map());
    for (let done = 0; done < bytes.length;) {
      const at = offset + done, index = Math.floor(at / PAGE), within = at % PAGE;
      const n = Math.min(PAGE - within, bytes.length - done);
      let page = pages.get(index);
      if (!page) pages.set(index, page = new Uint8Array(PAGE));
      page.set(bytes.subarray(done, done + n), within);
      done += n;
    }
    const ranges = this.#ranges.get(drc) ?? [];
    ranges.push({ offset, length: bytes.length });
    if (ranges.length > MAX_RANGES) ranges.shift();
    this.#ranges.set(drc, ranges);
  }

  /** What `length` bytes at `offset` of `drc` must read as (never written: zero). */
  expected(drc: number, offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    const pages = this.#pages.get(drc);
    if (!pages) return out;
    for (let done = 0; done < length;) {
      const at = offset + done, index = Math.floor(at / PAGE), within = at % PAGE;
      const n = Math.min(PAGE - within, length - done);
      const page = pages.get(index);
      if (page) out.set(page.subarray(within, within + n), done);
      done += n;
    }
    return out;
  }

  /** Sets what SCM holds without recording a write (the media after a power loss). */
  overwrite(drc: number, offset: number, bytes: Uint8Array): void {
    const ranges = this.#ranges.get(drc)?.slice();
    this.write(drc, offset, bytes);
    if (ranges) this.#ranges.set(drc, ranges);
    else this.#ranges.delete(drc);
  }

  /** The DRCs and page offsets (4 KiB pages) the model holds bytes for. */
  pages(): Array<[drc: number, offset: number]> {
    const out: Array<[number, number]> = [];
    for (const [drc, pages] of this.#pages) for (const n of pages.keys()) out.push([drc, n * PAGE]);
    return out;
  }

  /** The ranges written to `drc`, oldest first (at most the last 8). */
  ranges(drc: number): readonly WrittenRange[] {
    return this.#ranges.get(drc) ?? [];
  }
}

/**
 * The first offset where two byte strings differ, or -1.
 * @example
 * ```ts
 * import { firstDifference } from "./model.ts";
 * console.log(firstDifference(new Uint8Array([1, 2]), new Uint8Array([1, 3]))); // 1
 * ```
 */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/**
 * The bytes a write operation stores: never zero, so they differ from unwritten SCM.
 * @example
 * ```ts
 * import { pattern } from "./model.ts";
 * console.log(pattern(1, 3)); // Uint8Array [2, 9, 16]
 * ```
 */
export function pattern(byte: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = 1 + ((byte + i * 7) % 255);
  return bytes;
}
