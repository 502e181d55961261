/**
 * The hypervisor's SCM state: nvdimms, who owns them, the binding table and
 * the operations left half-done between sliced hcalls. Plain data plus the
 * few queries every personality needs; no I/O.
 * @module
 */
import type { DrcSpec, LparId, Mapping } from "./types.ts";

/** Marks a block nobody has bound. */
export const FREE = -1;

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
  /** Fixed guest address of the whole device (the `qemu` personality's "plugged" memory). */
  readonly deviceAddress: bigint;
  /** Flushes in progress or completed but not yet collected, by token. */
  readonly flushOps: Map<bigint, FlushOp> = new Map();
  /** Last flush token handed out (tokens start at 1, per device, as in QEMU). */
  flushToken = 0n;
  /** While true, new flushes end in H_HARDWARE (control-plane fault injection). */
  flushFailure = false;

  /** A fresh nvdimm: nothing bound, label area zeroed, health from `spec`. */
  constructor(spec: DrcSpec, now: bigint, deviceAddress = 0n) {
    this.spec = spec;
    this.boundTo = new Int32Array(spec.blocks).fill(FREE);
    this.pending = new Uint8Array(spec.blocks);
    this.address = new BigUint64Array(spec.blocks);
    this.metadata = new Uint8Array(spec.metadataSize);
    this.health = spec.health ?? 0n;
    this.createdAt = now;
    this.deviceAddress = deviceAddress;
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
  /** Where the next added DRC's device address starts (see QemuOptions). */
  nextDeviceAddress = 0n;

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

  /** Every [start, end) logical range `lpar` has bound or reserved, sorted. */
  rangesOf(lpar: LparId): Array<[bigint, bigint]> {
    const ranges: Array<[bigint, bigint]> = [];
    for (const drc of this.drcs.values()) {
      const bs = drc.spec.blockSize;
      for (let b = 0; b < drc.spec.blocks; b++) {
        if (drc.boundTo[b] === lpar) ranges.push([drc.address[b], drc.address[b] + bs]);
      }
    }
    ranges.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    return ranges;
  }

  /** The fully bound ranges of `lpar`, merged where contiguous in both spaces. */
  mappings(lpar: LparId): Mapping[] {
    const out: Mapping[] = [];
    for (const drc of this.drcs.values()) {
      const bs = drc.spec.blockSize;
      let current: Mapping | undefined;
      for (let b = 0; b < drc.spec.blocks; b++) {
        if (!drc.isBoundTo(b, lpar)) {
          current = undefined;
          continue;
        }
        const addr = drc.address[b];
        if (current && current.base + current.size === addr) {
          current.size += bs;
        } else {
          current = { base: addr, size: bs, drc: drc.spec.index, offset: BigInt(b) * bs };
          out.push(current);
        }
      }
    }
    return out.sort((x, y) => (x.base < y.base ? -1 : x.base > y.base ? 1 : 0));
  }

  /** Releases every block `lpar` holds on `drc` (all DRCs when omitted). */
  releaseBlocks(lpar: LparId, drcIndex?: number): number {
    let released = 0;
    for (const drc of this.drcs.values()) {
      if (drcIndex !== undefined && drc.spec.index !== drcIndex) continue;
      for (let b = 0; b < drc.spec.blocks; b++) {
        if (drc.boundTo[b] !== lpar) continue;
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
