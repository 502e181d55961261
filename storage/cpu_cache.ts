/**
 * The durability model of one nvdimm's SCM: a guest store first lands in a
 * model of the CPU cache (dirty 64-byte lines); the kernel's pmem flush of
 * the region writes the lines back (on POWER: `dcbf`/`dcbst` over the range
 * and `sync`; the kernel's `arch_wb_cache_pmem`), and then they are durable
 * (the region's persistence domain is the memory controller:
 * `ND_REGION_PERSIST_MEMCTRL`, sysfs `persistence_domain`). For a device with
 * `ibm,hcall-flush-required` the written-back lines sit in the host's buffer
 * until H_SCM_FLUSH completes (papr_scm's `papr_scm_pmem_flush`, Linux
 * commit 75b7c05ebf90, 5.16): only then are they durable. A cache that is
 * full evicts its oldest line, which then goes where a write-back would;
 * when every line it holds is a failing neighbour's, a store goes straight
 * to its own device's media instead (one device's failing file refuses no
 * other device's stores).
 *
 * A batch that leaves the device holding nothing volatile (a write-back of
 * a normal device; a completed H_SCM_FLUSH with no dirty line left) is
 * announced to the durable store first (`DurableDrc.intendFlush`), so a
 * store that outlives the process can tell, after a kill inside the batch,
 * whether every line arrived (storage/flush_intent.ts).
 * @module
 */
import type { ScmMemory } from "../core/dax.ts";
import { type DurableDrc, StorageIoError } from "./types.ts";

/** Bytes per cache line: the unit that is durable or not. */
export const LINE_BYTES = 64;
/** Default capacity of the modelled cache, every nvdimm together: 65,536 lines (4 MiB). */
export const DEFAULT_CACHE_LINES = 1 << 16;
/** What withdraws a flush intent when a write of its batch failed. */
const NO_LINES: ReadonlyMap<number, Uint8Array> = new Map();

/** What the model tells whoever watches it (the persistence controller, a crash recorder). */
export interface CacheEvents {
  /** The device went from holding nothing volatile to holding something, or back. */
  holding(drc: number, holding: boolean): void;
  /** A store changed a cached line; `bytes` is its whole content now. */
  stored(drc: number, line: number, bytes: Uint8Array): void;
  /** A line's content became durable. */
  durable(drc: number, line: number, bytes: Uint8Array): void;
}

/** The lines the machine's cache holds, every nvdimm together (bounded: a full cache evicts). */
export class CpuCache {
  readonly capacity: number;
  used = 0;
  readonly members = new Set<CachedScm>();
  constructor(capacity = DEFAULT_CACHE_LINES) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError(`cache capacity ${capacity}: expected a whole number of lines from 1`);
    }
    this.capacity = capacity;
  }
  /**
   * Makes room for one line, evicting the writer's oldest line first, else
   * anyone's; false when there is none to be had. A line whose write-back
   * fails stays cached: the writer's own failure is its error (a device
   * whose file fails takes no one's room); a neighbour's passes to the next
   * device, and when every line left is a failing neighbour's the answer is
   * false: the writer's store then goes through to its own media (as a store
   * the cache cannot hold goes to memory), so one device's failing file
   * never refuses another device's stores.
   */
  makeRoom(writer: CachedScm): boolean {
    if (this.used < this.capacity) return true;
    if (writer.evictOne()) return true;
    let failed = false;
    for (const other of this.members) {
      try {
        if (other.evictOne()) return true;
      } catch (error) {
        // Only the host's I/O failing is the neighbour's own; anything else is a bug.
        if (!(error instanceof StorageIoError)) throw error;
        failed = true;
      }
    }
    if (failed) return false;
    // Nothing held, yet full: the count is wrong, a bug.
    throw new Error(`the CPU cache counts ${this.used} lines and holds none`);
  }
}

/** One nvdimm's SCM seen through the cache model. */
export class CachedScm implements ScmMemory {
  readonly index: number;
  readonly size: number;
  readonly durable: DurableDrc;
  readonly hcallFlush: boolean;
  /** Lines in the CPU cache, oldest first. */
  readonly dirty = new Map<number, Uint8Array>();
  /** Lines written back to an hcall-flush device, durable at the next completed H_SCM_FLUSH. */
  readonly pending = new Map<number, Uint8Array>();
  readonly #cache: CpuCache;
  readonly #events: CacheEvents;
  /**
   * A flush intent may be in the store's mark and not known withdrawn or
   * cleared (its withdrawal or clear failed): no store may land until the
   * plain mark is back, or a kill would judge by lines that leave it out.
   */
  #intentOpen = false;

  constructor(
    index: number,
    durable: DurableDrc,
    hcallFlush: boolean,
    cache: CpuCache,
    events: CacheEvents,
  ) {
    this.index = index;
    this.size = durable.size;
    this.durable = durable;
    this.hcallFlush = hcallFlush;
    this.#cache = cache;
    this.#events = events;
    cache.members.add(this);
  }

  /** Whether anything of it is not durable. */
  get holding(): boolean {
    return this.dirty.size + this.pending.size > 0;
  }

  #check(offset: number, length: number): void {
    if (!(offset >= 0 && length >= 0 && offset + length <= this.size)) {
      throw new RangeError(`${offset}+${length} is outside the device (${this.size} bytes)`);
    }
  }

  read(offset: number, length: number): Uint8Array {
    this.#check(offset, length);
    if (length === 0) return new Uint8Array(0);
    const first = Math.floor(offset / LINE_BYTES);
    const last = Math.floor((offset + length - 1) / LINE_BYTES);
    // A load the cache serves whole does not touch the media (nor fail with it).
    const out = this.#cachedWhole(first, last)
      ? new Uint8Array(length)
      : this.durable.read(offset, length);
    if (!this.holding) return out;
    const overlay = (line: number, bytes: Uint8Array) => {
      if (line < first || line > last) return;
      const start = line * LINE_BYTES;
      const from = Math.max(start, offset), to = Math.min(start + LINE_BYTES, offset + length);
      out.set(bytes.subarray(from - start, to - start), from - offset);
    };
    const lines = last - first + 1;
    for (const map of [this.pending, this.dirty]) {
      if (lines < map.size) {
        for (let line = first; line <= last; line++) {
          const bytes = map.get(line);
          if (bytes) overlay(line, bytes);
        }
      } else {
        for (const [line, bytes] of map) overlay(line, bytes);
      }
    }
    return out;
  }

  /** Whether every line from `first` to `last` is cached (dirty, or in the host's buffer). */
  #cachedWhole(first: number, last: number): boolean {
    if (last - first + 1 > this.dirty.size + this.pending.size) return false;
    for (let line = first; line <= last; line++) {
      if (!this.dirty.has(line) && !this.pending.has(line)) return false;
    }
    return true;
  }

  write(offset: number, bytes: Uint8Array): void {
    this.#check(offset, bytes.length);
    if (bytes.length === 0) return;
    // Room in the store first: when the line is evicted (maybe by another
    // device's store) or written back, its write cannot fail on a budget.
    this.durable.reserve?.(offset, bytes.length);
    // A store the open intent does not list: the plain mark first, or no store.
    if (this.#intentOpen) {
      this.durable.intendFlush?.(NO_LINES);
      this.#intentOpen = false;
    }
    if (!this.holding) this.#events.holding(this.index, true);
    const first = Math.floor(offset / LINE_BYTES);
    const last = Math.floor((offset + bytes.length - 1) / LINE_BYTES);
    try {
      for (let line = first; line <= last; line++) {
        let cached = this.dirty.get(line);
        if (cached) {
          // Oldest first: a line stored again moves to the end.
          this.dirty.delete(line);
        } else {
          const room = this.#cache.makeRoom(this);
          cached = this.pending.get(line)?.slice() ??
            this.durable.read(line * LINE_BYTES, LINE_BYTES);
          if (!room) {
            this.#writeThrough(line, cached, offset, bytes);
            continue;
          }
          this.#cache.used++;
        }
        this.#merge(line, cached, offset, bytes);
        this.dirty.set(line, cached);
        this.#events.stored(this.index, line, cached);
      }
    } finally {
      // Every line written through, or a failure after some were stored: a
      // device left holding nothing volatile has its mark cleared again.
      this.#settled();
    }
  }

  /** Puts the part of `bytes` (stored at `offset`) that falls in `line` into its content. */
  #merge(line: number, content: Uint8Array, offset: number, bytes: Uint8Array): void {
    const start = line * LINE_BYTES;
    const from = Math.max(start, offset), to = Math.min(start + LINE_BYTES, offset + bytes.length);
    content.set(bytes.subarray(from - offset, to - offset), from - start);
  }

  /**
   * A store the full cache cannot take (every line left is a failing
   * neighbour's): the line goes to the media now, durable, and an older copy
   * in the host's buffer is dropped so a later commit cannot undo it. Its
   * failure is the writer's own error, and then nothing changed.
   */
  #writeThrough(line: number, content: Uint8Array, offset: number, bytes: Uint8Array): void {
    this.#merge(line, content, offset, bytes);
    this.durable.write(line * LINE_BYTES, content);
    this.pending.delete(line);
    this.#events.stored(this.index, line, content);
    this.#events.durable(this.index, line, content);
  }

  /**
   * The kernel's cache write-back of the whole device: dirty lines go to
   * memory. A write that fails throws; that line and the ones after it stay
   * dirty, for a later write-back to retry.
   */
  writeBack(): number {
    // A normal device holds nothing volatile after it (an hcall-flush one still holds them).
    const settling = this.dirty.size > 0 && !this.hcallFlush;
    return this.#drain(this.dirty, settling, (line, bytes) => this.#toMemory(line, bytes));
  }

  /** H_SCM_FLUSH completed: what was written back is durable (a failed write stays pending). */
  commit(): number {
    const settling = this.pending.size > 0 && this.dirty.size === 0;
    return this.#drain(this.pending, settling, (line, bytes) => this.#persist(line, bytes));
  }

  /**
   * Writes `lines` out with `write` in order, each leaving `lines` once
   * written. A settling drain (one that leaves the device holding nothing
   * volatile) announces its lines as a flush intent first, and withdraws it
   * when a write fails: the lines not written stay, for a retry.
   */
  #drain(
    lines: Map<number, Uint8Array>,
    settling: boolean,
    write: (line: number, bytes: Uint8Array) => void,
  ): number {
    const n = lines.size;
    if (settling && this.durable.intendFlush) {
      // Open from before its write: a failed write may have left it on the media.
      this.#intentOpen = true;
      this.durable.intendFlush(lines);
    }
    try {
      for (const [line, bytes] of lines) {
        write(line, bytes);
        lines.delete(line);
      }
    } catch (error) {
      if (this.#intentOpen) this.#withdraw();
      throw error;
    }
    this.#settled();
    return n;
  }

  /**
   * Withdraws the open intent after a failed batch; when that fails too it
   * stays open (the next store retries it) and the batch's error is the one
   * the asker hears.
   */
  #withdraw(): void {
    try {
      this.durable.intendFlush?.(NO_LINES);
      this.#intentOpen = false;
    } catch (error) {
      if (!(error instanceof StorageIoError)) throw error;
    }
  }

  /** Evicts its oldest dirty line; false when it holds none. A failed write keeps it, and throws. */
  evictOne(): boolean {
    for (const [line, bytes] of this.dirty) {
      this.#toMemory(line, bytes);
      this.dirty.delete(line);
      return true;
    }
    return false;
  }

  /** Every line not durable, with its content (a dirty line over a pending one). */
  volatileLines(): Map<number, Uint8Array> {
    const all = new Map(this.pending);
    for (const [line, bytes] of this.dirty) all.set(line, bytes);
    return all;
  }

  /** Forgets every line not durable (a power loss took them). */
  drop(): void {
    this.#cache.used -= this.dirty.size;
    this.dirty.clear();
    this.pending.clear();
    this.#cache.members.delete(this);
  }

  /**
   * A line leaves the CPU cache: durable, or for an hcall-flush device into
   * the host's buffer (as many lines as the cache holds; past that the host
   * writes its oldest back, durable). Nothing changes when a write fails:
   * the caller still holds the line.
   */
  #toMemory(line: number, bytes: Uint8Array): void {
    if (!this.hcallFlush) {
      this.#persist(line, bytes);
    } else {
      if (!this.pending.has(line) && this.pending.size >= this.#cache.capacity) {
        const [oldest, content] = this.pending.entries().next().value!;
        this.#persist(oldest, content);
        this.pending.delete(oldest);
      }
      this.pending.delete(line);
      this.pending.set(line, bytes);
    }
    this.#cache.used--;
  }

  #persist(line: number, bytes: Uint8Array): void {
    this.durable.write(line * LINE_BYTES, bytes);
    this.#events.durable(this.index, line, bytes);
  }

  #settled(): void {
    if (this.holding) return;
    // A failed clear keeps an intent open: the next store sets the plain mark.
    this.#events.holding(this.index, false);
    this.#intentOpen = false;
  }
}
