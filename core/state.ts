/**
 * The hypervisor's SCM state: nvdimms, who owns them, the binding table and
 * the operations left half-done between sliced hcalls. Plain data plus the
 * few queries every personality needs; no I/O.
 * @module
 */
import type { DrcSpec, LparId, Mapping } from "./types.ts";
import { MAX_LPAR_MAPPINGS } from "./limits.ts";

/** Marks a block nobody has bound. */
export const FREE = -1;

/** The per-LPAR mapping limit lives in core/limits.ts (the LPAR worker needs it alone). */
export { MAX_LPAR_MAPPINGS };

/** Blocks `first`.. of one DRC, bound to one LPAR at consecutive addresses from `base`. */
interface Run {
  first: number;
  count: number;
  base: bigint;
}

/** Counters the hypervisor keeps per nvdimm (reported by PERFORMANCE_STATS). */
export interface DrcCounters {
  /** Blocks bound. */
  binds: number;
  /** Blocks unbound. */
  unbinds: number;
  /** Successful READ_METADATA hcalls. */
  metadataReads: number;
  /** Successful WRITE_METADATA hcalls. */
  metadataWrites: number;
  /** Flush requests accepted. */
  flushes: number;
  /** Flushes that completed with H_HARDWARE. */
  flushFailures: number;
  /** Successful PERFORMANCE_STATS hcalls (size queries included). */
  statsQueries: number;
}

/** A flush the hypervisor runs in the background, polled with its token. */
export interface FlushOp {
  /** The LPAR that asked; only it may poll the token. */
  lpar: LparId;
  /** Hypervisor time of the request (ns). */
  requestedAt: bigint;
  /** Whether it will end in H_HARDWARE (decided when it is requested). */
  fails: boolean;
}

/** One nvdimm: its spec, owners and per-block binding state. */
export class DrcState {
  /** The nvdimm as configured. */
  readonly spec: DrcSpec;
  /** LPARs the DRC is assigned to. */
  readonly owners: Set<LparId> = new Set();
  /** Per block: the LPAR it is bound (or reserved) to, or FREE. */
  readonly boundTo: Int32Array;
  /** Per block: 1 while a sliced bind has reserved it but not reached it yet. */
  readonly pending: Uint8Array;
  /** Per block: its logical address in the binding LPAR's address space. */
  readonly address: BigUint64Array;
  /** Label area (metadata). */
  readonly metadata: Uint8Array;
  /** Current health bitmap. */
  health: bigint;
  /** Counters for statistics. */
  readonly counters: DrcCounters = {
    binds: 0,
    unbinds: 0,
    metadataReads: 0,
    metadataWrites: 0,
    flushes: 0,
    flushFailures: 0,
    statsQueries: 0,
  };
  /** Hypervisor time when the nvdimm was created (ns). */
  readonly createdAt: bigint;
  /**
   * Under `qemu`, where the whole device sits in each owner's address space
   * (its "plugged" memory), by owner: each partition is a machine of its own.
   */
  readonly deviceAddresses: Map<LparId, bigint> = new Map();
  /** Flushes in progress or completed but not yet collected, by token. */
  readonly flushOps: Map<bigint, FlushOp> = new Map();
  /** Last flush token handed out (tokens start at 1, per device, as in QEMU). */
  flushToken = 0n;
  /** While true, new flushes end in H_HARDWARE (control-plane fault injection). */
  flushFailure = false;

  /** A fresh nvdimm: nothing bound, label area zeroed, health from `spec`. */
  constructor(spec: DrcSpec, now: bigint) {
    this.spec = spec;
    this.boundTo = new Int32Array(spec.blocks).fill(FREE);
    this.pending = new Uint8Array(spec.blocks);
    this.address = new BigUint64Array(spec.blocks);
    this.metadata = new Uint8Array(spec.metadataSize);
    this.health = spec.health ?? 0n;
    this.createdAt = now;
  }

  /** Bytes of SCM (label excluded). */
  get size(): bigint {
    return this.spec.blockSize * BigInt(this.spec.blocks);
  }

  /** Whether block `b` is bound (not merely reserved) to `lpar`. */
  isBoundTo(b: number, lpar: LparId): boolean {
    return this.boundTo[b] === lpar && this.pending[b] === 0;
  }
}

/** A bind that the hypervisor does in slices, resumed by its token. */
export interface BindOp {
  /** Discriminant. */
  kind: "bind";
  /** The LPAR binding. */
  lpar: LparId;
  /** DRC index. */
  drc: number;
  /** First block to bind. */
  first: number;
  /** Blocks to bind. */
  count: number;
  /** Blocks bound so far. */
  done: number;
  /** Logical address of the first block. */
  base: bigint;
}

/** An unbind done in slices: the blocks to release, in order. */
export interface UnbindOp {
  /** Discriminant. */
  kind: "unbind";
  /** The LPAR unbinding. */
  lpar: LparId;
  /** Which hcall started it; a token only resumes the same hcall. */
  opcode: number;
  /** The blocks to release, in order. */
  blocks: Array<[drc: number, block: number]>;
  /** Blocks released so far. */
  done: number;
  /** Hypervisor time (ns) when the slice in progress is finished in the background. */
  readyAt: bigint;
}

/** An operation in progress. */
export type PendingOp = BindOp | UnbindOp;

/** The whole SCM state of one hypervisor. */
export class ScmState {
  /** Every nvdimm, by DRC index. */
  readonly drcs: Map<number, DrcState> = new Map();
  /** In-progress sliced operations by continue-token. */
  readonly ops: Map<bigint, PendingOp> = new Map();
  /** Per LPAR, bumped whenever its mappings change (so page tables are refreshed). */
  readonly mapVersions: Map<LparId, number> = new Map();
  /** Bumped whenever any LPAR's mappings change: one number to watch per hcall. */
  mappingsVersion = 0;
  /**
   * Per LPAR, per DRC: its fully bound blocks as maximal runs (its mappings),
   * sorted by first block. Kept up to date block by block, so an hcall's work
   * is bounded by its slice and the LPAR's mappings, not by the DRC's size.
   */
  readonly #runs: Map<LparId, Map<number, Run[]>> = new Map();
  /** Per LPAR, how many runs it has (its mapping count). */
  readonly #runCounts: Map<LparId, number> = new Map();

  /** The DRC if it exists and `lpar` owns it; else undefined (no probing of others). */
  owned(index: number | undefined, lpar: LparId): DrcState | undefined {
    if (index === undefined) return undefined;
    const drc = this.drcs.get(index);
    return drc && drc.owners.has(lpar) ? drc : undefined;
  }

  /** Records that `lpar`'s mappings changed. */
  touch(lpar: LparId): void {
    this.mapVersions.set(lpar, (this.mapVersions.get(lpar) ?? 0) + 1);
    this.mappingsVersion++;
  }

  /** How many mappings `lpar` has now (runs of fully bound blocks). */
  mappingCount(lpar: LparId): number {
    return this.#runCounts.get(lpar) ?? 0;
  }

  #runsOf(lpar: LparId, drc: number, create: boolean): Run[] | undefined {
    let byDrc = this.#runs.get(lpar);
    if (!byDrc) {
      if (!create) return undefined;
      this.#runs.set(lpar, byDrc = new Map());
    }
    let runs = byDrc.get(drc);
    if (!runs && create) byDrc.set(drc, runs = []);
    return runs;
  }

  #count(lpar: LparId, delta: number): void {
    this.#runCounts.set(lpar, (this.#runCounts.get(lpar) ?? 0) + delta);
  }

  /**
   * Records that block `b` of `drc` is now fully bound to `lpar` at
   * `drc.address[b]` (the caller sets the block's state). O(log runs).
   */
  mapBlock(lpar: LparId, drc: DrcState, b: number): void {
    const runs = this.#runsOf(lpar, drc.spec.index, true)!;
    const bs = drc.spec.blockSize;
    const address = drc.address[b];
    const at = upperBound(runs, b);
    const prev = runs[at - 1];
    const next = runs[at];
    if (prev && prev.first + prev.count > b) return;
    const joinPrev = prev !== undefined && prev.first + prev.count === b &&
      prev.base + BigInt(prev.count) * bs === address;
    const joinNext = next !== undefined && next.first === b + 1 && next.base === address + bs;
    if (joinPrev && joinNext) {
      prev.count += 1 + next.count;
      runs.splice(at, 1);
      this.#count(lpar, -1);
    } else if (joinPrev) {
      prev.count++;
    } else if (joinNext) {
      next.first = b;
      next.base = address;
      next.count++;
    } else {
      runs.splice(at, 0, { first: b, count: 1, base: address });
      this.#count(lpar, 1);
    }
  }

  /** Records that block `b` of `drc` is no longer fully bound to `lpar`. O(log runs). */
  unmapBlock(lpar: LparId, drc: DrcState, b: number): void {
    const runs = this.#runsOf(lpar, drc.spec.index, false);
    if (!runs) return;
    const at = upperBound(runs, b) - 1;
    const run = runs[at];
    if (!run || run.first + run.count <= b) return;
    const offset = b - run.first;
    const bs = drc.spec.blockSize;
    if (run.count === 1) {
      runs.splice(at, 1);
      this.#count(lpar, -1);
    } else if (offset === 0) {
      run.first++;
      run.base += bs;
      run.count--;
    } else if (offset === run.count - 1) {
      run.count--;
    } else {
      const rest = {
        first: b + 1,
        count: run.count - offset - 1,
        base: run.base + BigInt(offset + 1) * bs,
      };
      runs.splice(at + 1, 0, rest);
      run.count = offset;
      this.#count(lpar, 1);
    }
  }

  /**
   * Every [start, end) logical range `lpar` has bound or reserved, sorted:
   * its mappings and the parts of its binds in progress not reached yet.
   */
  rangesOf(lpar: LparId): Array<[bigint, bigint]> {
    const ranges: Array<[bigint, bigint]> = [];
    for (const [index, runs] of this.#runs.get(lpar) ?? []) {
      const bs = this.drcs.get(index)?.spec.blockSize ?? 0n;
      for (const r of runs) ranges.push([r.base, r.base + BigInt(r.count) * bs]);
    }
    for (const op of this.ops.values()) {
      if (op.kind !== "bind" || op.lpar !== lpar || op.done >= op.count) continue;
      const bs = this.drcs.get(op.drc)?.spec.blockSize ?? 0n;
      ranges.push([op.base + BigInt(op.done) * bs, op.base + BigInt(op.count) * bs]);
    }
    ranges.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    return ranges;
  }

  /**
   * The blocks of `drc` that `lpar` holds (bound or reserved), in block order,
   * found from its runs and its binds in progress (not by a scan of the DRC).
   */
  heldBlocks(lpar: LparId, drc: DrcState): number[] {
    const blocks: number[] = [];
    for (const r of this.#runsOf(lpar, drc.spec.index, false) ?? []) {
      for (let i = 0; i < r.count; i++) blocks.push(r.first + i);
    }
    for (const op of this.ops.values()) {
      if (op.kind !== "bind" || op.lpar !== lpar || op.drc !== drc.spec.index) continue;
      for (let i = op.done; i < op.count; i++) {
        const b = op.first + i;
        if (drc.boundTo[b] === lpar && drc.pending[b]) blocks.push(b);
      }
    }
    return blocks.sort((x, y) => x - y);
  }

  /** The block of `drc` `lpar` holds (bound or reserved) at logical `address`, if any. */
  blockAt(lpar: LparId, drc: DrcState, address: bigint): number | undefined {
    const bs = drc.spec.blockSize;
    for (const r of this.#runsOf(lpar, drc.spec.index, false) ?? []) {
      if (address < r.base || (address - r.base) % bs !== 0n) continue;
      const i = (address - r.base) / bs;
      if (i < BigInt(r.count)) return r.first + Number(i);
    }
    for (const op of this.ops.values()) {
      if (op.kind !== "bind" || op.lpar !== lpar || op.drc !== drc.spec.index) continue;
      if (address < op.base || (address - op.base) % bs !== 0n) continue;
      const i = Number((address - op.base) / bs);
      const b = op.first + i;
      if (i >= op.done && i < op.count && drc.boundTo[b] === lpar && drc.pending[b]) return b;
    }
    return undefined;
  }

  /** The fully bound block of `lpar` whose range holds logical `address`, if any. */
  blockHolding(lpar: LparId, address: bigint): [drc: DrcState, block: number] | undefined {
    for (const [index, runs] of this.#runs.get(lpar) ?? []) {
      const drc = this.drcs.get(index);
      if (!drc || !drc.owners.has(lpar)) continue;
      const bs = drc.spec.blockSize;
      for (const r of runs) {
        if (r.base <= address && address < r.base + BigInt(r.count) * bs) {
          return [drc, r.first + Number((address - r.base) / bs)];
        }
      }
    }
    return undefined;
  }

  /** The fully bound ranges of `lpar`, merged where contiguous in both spaces. */
  mappings(lpar: LparId): Mapping[] {
    const out: Mapping[] = [];
    for (const [index, runs] of this.#runs.get(lpar) ?? []) {
      const bs = this.drcs.get(index)?.spec.blockSize ?? 0n;
      for (const r of runs) {
        out.push({
          base: r.base,
          size: BigInt(r.count) * bs,
          drc: index,
          offset: BigInt(r.first) * bs,
        });
      }
    }
    return out.sort(byBase);
  }

  /**
   * Every LPAR's mappings computed by one scan of every block: what
   * `mappings` must equal (checked by the core's invariants).
   */
  scanMappings(): Map<LparId, Mapping[]> {
    const all = new Map<LparId, Mapping[]>();
    for (const drc of this.drcs.values()) {
      const bs = drc.spec.blockSize;
      let current: Mapping | undefined;
      let holder = FREE;
      for (let b = 0; b < drc.spec.blocks; b++) {
        const lpar = drc.boundTo[b];
        if (lpar === FREE || drc.pending[b]) {
          current = undefined;
          continue;
        }
        const addr = drc.address[b];
        if (current && holder === lpar && current.base + current.size === addr) {
          current.size += bs;
          continue;
        }
        current = { base: addr, size: bs, drc: drc.spec.index, offset: BigInt(b) * bs };
        holder = lpar;
        let list = all.get(lpar);
        if (!list) all.set(lpar, list = []);
        list.push(current);
      }
    }
    for (const list of all.values()) list.sort(byBase);
    return all;
  }

  /** Every LPAR that has a mapping now. */
  lparsMapped(): LparId[] {
    return [...this.#runCounts].filter(([, n]) => n > 0).map(([lpar]) => lpar);
  }

  /** Releases every block `lpar` holds on `drc` (all DRCs when omitted). */
  releaseBlocks(lpar: LparId, drcIndex?: number): number {
    let released = 0;
    for (const drc of this.drcs.values()) {
      if (drcIndex !== undefined && drc.spec.index !== drcIndex) continue;
      for (const b of this.heldBlocks(lpar, drc)) {
        if (drc.boundTo[b] !== lpar) continue;
        if (!drc.pending[b]) this.unmapBlock(lpar, drc, b);
        drc.boundTo[b] = FREE;
        drc.pending[b] = 0;
        drc.address[b] = 0n;
        released++;
      }
    }
    for (const [token, op] of this.ops) {
      if (op.lpar !== lpar) continue;
      const touches = drcIndex === undefined ||
        (op.kind === "bind" ? op.drc === drcIndex : op.blocks.some(([d]) => d === drcIndex));
      // An unbind still holding released blocks would later free a new binding of them.
      if (touches) this.ops.delete(token);
    }
    // Its flushes go too: nobody is left to collect them.
    for (const drc of this.drcs.values()) {
      if (drcIndex !== undefined && drc.spec.index !== drcIndex) continue;
      for (const [token, op] of drc.flushOps) if (op.lpar === lpar) drc.flushOps.delete(token);
    }
    if (released) this.touch(lpar);
    return released;
  }
}

function byBase(x: Mapping, y: Mapping): number {
  return x.base < y.base ? -1 : x.base > y.base ? 1 : 0;
}

/** The index of the first run starting after block `b`. */
function upperBound(runs: readonly Run[], b: number): number {
  let lo = 0;
  let hi = runs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (runs[mid].first <= b) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
