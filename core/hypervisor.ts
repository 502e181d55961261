/**
 * The hypervisor core: a pure, synchronous state machine.
 * `(lpar, opcode, registers) → (rc, outputs)`, one handler per hcall in a
 * table chosen by the personality; time and randomness are injected.
 *
 * @example
 * ```ts
 * import { HypervisorCore } from "./hypervisor.ts";
 * import { OP, rcName } from "../abi/hcalls.ts";
 * const hv = new HypervisorCore({ personality: "powervm" });
 * hv.addDrc({ index: 0x44100002, blockSize: 1n << 28n, blocks: 4, metadataSize: 1 << 17, uuid: "..." });
 * hv.assign(0x44100002, 1);
 * const { rc } = hv.hcall(1, OP.H_SCM_BIND_MEM, [0x44100002n, 0n, 4n, ~0n & (2n ** 64n - 1n), 0n]);
 * console.log(rcName(rc)); // H_SUCCESS
 * ```
 * @module
 */
import { ARG_COUNT, H } from "../abi/hcalls.ts";
import type { CoreContext, HandlerTable } from "./context.ts";
import { POWERVM_DEFAULTS, POWERVM_HANDLERS } from "./powervm.ts";
import { QEMU_DEFAULTS, QEMU_HANDLERS, qemuReply, validateQemuDrc } from "./qemu.ts";
import { fail } from "./registers.ts";
import { TokenStreams } from "./tokens.ts";
import { type DrcCounters, DrcState, FREE, MAX_LPAR_MAPPINGS, ScmState } from "./state.ts";
import type {
  BlockBinding,
  CoreEnv,
  DrcSpec,
  HcallResult,
  LparId,
  Mapping,
  Personality,
  PowerVmOptions,
  QemuOptions,
} from "./types.ts";

/** Default time a flush takes to complete: 2 ms. */
export const DEFAULT_FLUSH_LATENCY_NS = 2_000_000n;

/** How to build a core. */
export interface CoreOptions {
  /** Which hypervisor to behave like. */
  personality: Personality;
  /** `powervm` tunables (slice sizes, logical base, ...). */
  powervm?: Partial<PowerVmOptions>;
  /** `qemu` tunables (device-memory base, strict block size). */
  qemu?: Partial<QemuOptions>;
  /** Injected time time a flush needs to complete (default 2 ms). */
  flushLatencyNs?: bigint;
  /** Injected time and randomness; defaults to a seeded generator and a counter clock. */
  env?: CoreEnv;
}

/** What an unregistered opcode answers, per personality. */
type UnknownOpcode = (args: readonly bigint[]) => HcallResult;

interface PersonalityDef {
  table: HandlerTable;
  unknown: UnknownOpcode;
}

const PERSONALITIES: Record<Personality, PersonalityDef> = {
  powervm: { table: POWERVM_HANDLERS, unknown: () => fail(H.FUNCTION) },
  // QEMU leaves the registers alone for an hcall it does not know.
  qemu: { table: QEMU_HANDLERS, unknown: (args) => qemuReply(args, H.FUNCTION) },
};

const U64 = (1n << 64n) - 1n;

/** A deterministic environment: xorshift64* tokens from `seed`, a ticking clock. */
export function seededEnv(seed = 0x9E3779B97F4A7C15n): CoreEnv {
  let x = seed & 0xFFFF_FFFF_FFFF_FFFFn || 1n;
  let t = 0n;
  return {
    now: () => (t += 1000n),
    random64() {
      x ^= x >> 12n;
      x ^= (x << 25n) & 0xFFFF_FFFF_FFFF_FFFFn;
      x ^= x >> 27n;
      return (x * 0x2545F4914F6CDD1Dn) & 0xFFFF_FFFF_FFFF_FFFFn;
    },
  };
}

/** The hypervisor's state machine, with the control operations an HMC uses. */
export class HypervisorCore {
  /** Which hypervisor it behaves like (`powervm` or `qemu`). */
  readonly personality: Personality;
  readonly #ctx: CoreContext;
  readonly #def: PersonalityDef;
  /**
   * How many nvdimms each LPAR holds (kept with `owners`, which only
   * `assign` and `unassign` change), so an assign is not a walk of every DRC.
   */
  readonly #held = new Map<LparId, number>();
  /** The register file `hcall` hands the handlers (they do not keep it). */
  readonly #regs: bigint[] = [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n];

  /** An empty hypervisor; throws RangeError on an unknown personality or a negative flush latency. */
  constructor(options: CoreOptions) {
    this.personality = options.personality;
    const def = PERSONALITIES[options.personality];
    if (!def) {
      const accepted = Object.keys(PERSONALITIES).join(", ");
      throw new RangeError(`unknown personality "${options.personality}"; accepted: ${accepted}`);
    }
    const latency = options.flushLatencyNs ?? DEFAULT_FLUSH_LATENCY_NS;
    if (latency < 0n) throw new RangeError(`flushLatencyNs ${latency}: must be 0 or more`);
    this.#def = def;
    const env = options.env ?? seededEnv();
    this.#ctx = {
      state: new ScmState(),
      options: { ...POWERVM_DEFAULTS, ...options.powervm },
      qemu: { ...QEMU_DEFAULTS, ...options.qemu },
      flushLatencyNs: latency,
      env,
      // One draw of the machine's seeded randomness keys every LPAR's token stream.
      tokens: new TokenStreams(env.random64()),
      elapsedNs: 0n,
    };
    const { bindNsPerBlock, unbindNsPerBlock } = this.#ctx.options;
    if (bindNsPerBlock < 0n || unbindNsPerBlock < 0n) {
      throw new RangeError(
        `bindNsPerBlock ${bindNsPerBlock}, unbindNsPerBlock ${unbindNsPerBlock}: must be 0 or more`,
      );
    }
  }

  /** The state, read-only by convention, for inspection and invariant checks. */
  get state(): ScmState {
    return this.#ctx.state;
  }

  /**
   * Executes one hcall for `lpar`. `args` are r4..r12 (missing ones read as 0).
   * Never throws for any register values: a bad call gets an error code.
   */
  hcall(lpar: LparId, opcode: number, args: readonly bigint[]): HcallResult {
    // Registers are unsigned 64-bit: reduce whatever the caller passed. Handlers do
    // not keep the register file, so one serves every call; a value already in
    // range (the usual case) is used as it is, with no new bigint made.
    const regs = this.#regs;
    for (let i = 0; i < ARG_COUNT; i++) {
      const value = args[i];
      regs[i] = value === undefined ? 0n : value >= 0n && value <= U64 ? value : value & U64;
    }
    return this.hcallRegisters(lpar, opcode, regs);
  }

  /**
   * The same for a register file as the channel delivers it: exactly nine
   * unsigned 64-bit values, used as they are (no copy on the hcall path).
   * Handlers do not keep `regs`, so the caller may reuse the array.
   */
  hcallRegisters(lpar: LparId, opcode: number, regs: readonly bigint[]): HcallResult {
    const handler = this.#def.table.get(opcode);
    if (!handler) return this.#def.unknown(regs);
    return handler(this.#ctx, lpar, regs);
  }

  /**
   * Creates an nvdimm (unassigned). Under `qemu`, refuses what QEMU refuses
   * (see `validateQemuDrc`).
   */
  addDrc(spec: DrcSpec): void {
    if (this.#ctx.state.drcs.has(spec.index)) {
      throw new RangeError(`drc 0x${spec.index.toString(16)} already exists`);
    }
    if (this.personality === "qemu") validateQemuDrc(spec, this.#ctx.qemu);
    this.#ctx.state.drcs.set(spec.index, new DrcState(spec, this.#ctx.env.now()));
  }

  /** Removes an nvdimm; it must have no owner left. */
  removeDrc(index: number): void {
    const drc = this.#drc(index);
    if (drc.owners.size) {
      throw new RangeError(
        `drc 0x${index.toString(16)} is still assigned to LPAR ${[...drc.owners].join(", ")}; ` +
          `unassign it first`,
      );
    }
    this.#ctx.state.drcs.delete(index);
  }

  /**
   * Assigns an nvdimm to an LPAR (several LPARs may share one). An LPAR holds
   * at most MAX_LPAR_MAPPINGS nvdimms: under `qemu` each is one mapping at
   * once, and under `powervm` each bound nvdimm needs at least one.
   * @throws {RangeError} past that limit (the LPAR and the hypervisor are unchanged).
   */
  assign(index: number, lpar: LparId): void {
    const drc = this.#drc(index);
    if (drc.owners.has(lpar)) return;
    const held = this.#held.get(lpar) ?? 0;
    if (held >= MAX_LPAR_MAPPINGS) {
      throw new RangeError(
        `drc 0x${index.toString(16)}: LPAR ${lpar} already holds ${held} nvdimms; ` +
          `at most ${MAX_LPAR_MAPPINGS} (MAX_LPAR_MAPPINGS) per LPAR`,
      );
    }
    // A device that comes to a partition with nobody else holding it starts its flush
    // tokens afresh, as a device plugged anew does: the new owner's first token says
    // nothing of how many flushes the last owner made.
    if (drc.owners.size === 0 && drc.flushOps.size === 0) drc.flushToken = 0n;
    drc.owners.add(lpar);
    this.#held.set(lpar, held + 1);
    // Under qemu the device's memory appears in the partition at once.
    if (this.personality === "qemu") {
      drc.deviceAddresses.set(lpar, this.#freeDeviceAddress(lpar, drc));
      this.#ctx.state.touch(lpar);
    }
  }

  /** Takes an nvdimm from an LPAR, releasing what it still has bound there and its flushes. */
  unassign(index: number, lpar: LparId): number {
    const drc = this.#drc(index);
    const released = this.#ctx.state.releaseBlocks(lpar, index);
    drc.deviceAddresses.delete(lpar);
    if (drc.owners.delete(lpar)) {
      this.#held.set(lpar, this.#held.get(lpar)! - 1);
      if (this.personality === "qemu") this.#ctx.state.touch(lpar);
    }
    return released;
  }

  /** Partition shutdown: releases every binding and operation of `lpar`. */
  releaseLpar(lpar: LparId): number {
    return this.#ctx.state.releaseBlocks(lpar);
  }

  /** Sets an nvdimm's health bitmap (`qemu` reports only its UNARMED bit). */
  setHealth(index: number, bitmap: bigint): void {
    this.#drc(index).health = bitmap & U64;
  }

  /**
   * Fault injection: while `failing`, flushes requested on the nvdimm end in
   * H_HARDWARE (a flush already requested keeps the outcome it was given).
   */
  setFlushFailure(index: number, failing: boolean): void {
    this.#drc(index).flushFailure = failing;
  }

  /** A copy of an nvdimm's label area (metadata). */
  metadata(index: number): Uint8Array {
    return this.#drc(index).metadata.slice();
  }

  /** A copy of an nvdimm's hypervisor-side counters. */
  counters(index: number): DrcCounters {
    return { ...this.#drc(index).counters };
  }

  /**
   * Where an nvdimm's memory sits in `lpar`'s address space under `qemu`
   * (see assign), or undefined if `lpar` does not hold it.
   */
  deviceAddress(index: number, lpar: LparId): bigint | undefined {
    return this.#drc(index).deviceAddresses.get(lpar);
  }

  /**
   * The first gap in `lpar`'s device memory, from `qemu.deviceMemoryBase`,
   * that fits the whole device at its block alignment, as QEMU places a
   * plugged memory device (hw/mem/memory-device.c, memory_device_get_free_addr:
   * first fit among the machine's devices). Only this partition's devices
   * count: each LPAR is a machine of its own, so an address says nothing of
   * other partitions' nvdimms.
   */
  #freeDeviceAddress(lpar: LparId, drc: DrcState): bigint {
    const taken: [bigint, bigint][] = [];
    for (const other of this.#ctx.state.drcs.values()) {
      const at = other.deviceAddresses.get(lpar);
      if (at !== undefined && other.size > 0n) taken.push([at, at + other.size]);
    }
    taken.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    const bs = drc.spec.blockSize > 0n ? drc.spec.blockSize : 1n;
    const align = (a: bigint) => ((a + bs - 1n) / bs) * bs;
    let address = align(this.#ctx.qemu.deviceMemoryBase);
    for (const [start, end] of taken) {
      if (address + drc.size <= start) break;
      if (end > address) address = align(end);
    }
    return address;
  }

  /** Tokens of the flushes of an nvdimm not yet collected (pending or done). */
  pendingFlushes(index: number): bigint[] {
    return [...this.#drc(index).flushOps.keys()];
  }

  /**
   * The ranges of `lpar`'s logical address space backed by SCM: the fully
   * bound blocks (`powervm`); every assigned nvdimm at its device address
   * (`qemu`, where memory is bound while plugged).
   */
  mappings(lpar: LparId): Mapping[] {
    if (this.personality !== "qemu") return this.#ctx.state.mappings(lpar);
    const out: Mapping[] = [];
    for (const drc of this.#ctx.state.drcs.values()) {
      if (!drc.owners.has(lpar) || drc.spec.blocks === 0) continue;
      const base = drc.deviceAddresses.get(lpar)!;
      out.push({ base, size: drc.size, drc: drc.spec.index, offset: 0n });
    }
    return out.sort((x, y) => (x.base < y.base ? -1 : x.base > y.base ? 1 : 0));
  }

  /**
   * Hypervisor time (ns) spent inside the hcalls answered since the last
   * call of this method (binding costs); a simulation charges it to the caller.
   */
  takeElapsedNs(): bigint {
    const elapsed = this.#ctx.elapsedNs;
    this.#ctx.elapsedNs = 0n;
    return elapsed;
  }

  /** A number that changes whenever any LPAR's mappings change. */
  get mappingsVersion(): number {
    return this.#ctx.state.mappingsVersion;
  }

  /** A number that changes whenever `lpar`'s mappings change. */
  mapVersion(lpar: LparId): number {
    return this.#ctx.state.mapVersions.get(lpar) ?? 0;
  }

  /** Every bound or reserved block. */
  bindings(): BlockBinding[] {
    const out: BlockBinding[] = [];
    for (const drc of this.#ctx.state.drcs.values()) {
      for (let b = 0; b < drc.spec.blocks; b++) {
        if (drc.boundTo[b] === FREE) continue;
        out.push({
          drc: drc.spec.index,
          block: b,
          lpar: drc.boundTo[b],
          address: drc.address[b],
          state: drc.pending[b] ? "pending" : "bound",
        });
      }
    }
    return out;
  }

  /**
   * Checks the invariants that must hold after any sequence of hcalls and
   * returns a description of each violation (none when all is well):
   * - a block is bound only to an owner of its DRC; no two blocks of one LPAR
   *   overlap in its logical address space;
   * - a block is "pending" exactly while a bind op of its holder has reserved
   *   but not reached it; every op and flush belongs to an owner of its DRC;
   *   no op has token 0;
   * - `qemu` keeps no binding state, and device address ranges are disjoint.
   */
  invariants(): string[] {
    const problems: string[] = [];
    const state = this.#ctx.state;
    const hex = (n: number) => `0x${n.toString(16)}`;
    const blockName = (drc: number, b: number) => `drc ${hex(drc)} block ${b}`;
    // Ranges as [start, end, drc, block]; names are made only for a problem.
    type Range = [bigint, bigint, number, number];
    const byLpar = new Map<LparId, Range[]>();
    // Per DRC, the blocks a bind op still has to reach.
    const expectPending = new Map<number, Set<number>>();
    for (const [token, op] of state.ops) {
      if (token === 0n) problems.push(`an op of LPAR ${op.lpar} has token 0`);
      if (op.kind !== "bind") continue;
      const drc = state.drcs.get(op.drc);
      if (!drc || !drc.owners.has(op.lpar)) {
        problems.push(`bind op of LPAR ${op.lpar} on drc ${hex(op.drc)} it does not own`);
        continue;
      }
      if (op.done > op.count) problems.push(`bind op on drc ${hex(op.drc)} past its end`);
      for (let i = 0; i < op.count; i++) {
        const b = op.first + i;
        if (drc.boundTo[b] !== op.lpar) {
          problems.push(`bind op of LPAR ${op.lpar}: drc ${hex(op.drc)} block ${b} not reserved`);
        }
        if (i >= op.done) {
          let blocks = expectPending.get(op.drc);
          if (!blocks) expectPending.set(op.drc, blocks = new Set());
          blocks.add(b);
        }
      }
    }
    const devices = new Map<LparId, Range[]>();
    const qemu = this.personality === "qemu";
    for (const drc of state.drcs.values()) {
      const bs = drc.spec.blockSize;
      const index = drc.spec.index;
      const pendingHere = expectPending.get(index);
      for (const [owner, at] of drc.deviceAddresses) {
        if (!drc.owners.has(owner)) problems.push(`drc ${hex(index)} placed in non-owner ${owner}`);
        let list = devices.get(owner);
        if (!list) devices.set(owner, list = []);
        list.push([at, at + drc.size, index, -1]);
      }
      for (const [token, op] of drc.flushOps) {
        if (!drc.owners.has(op.lpar)) {
          problems.push(`drc ${hex(index)} flush ${token} of non-owner ${op.lpar}`);
        }
        if (token === 0n || token > drc.flushToken) {
          problems.push(`drc ${hex(index)} bad flush token ${token}`);
        }
      }
      for (let b = 0; b < drc.spec.blocks; b++) {
        const lpar = drc.boundTo[b];
        if (Boolean(drc.pending[b]) !== (pendingHere?.has(b) ?? false)) {
          problems.push(`${blockName(index, b)} pending flag disagrees with the bind ops`);
        }
        if (lpar === FREE) continue;
        if (qemu) problems.push(`${blockName(index, b)} bound under qemu`);
        if (!drc.owners.has(lpar)) {
          problems.push(`${blockName(index, b)} bound to non-owner LPAR ${lpar}`);
        }
        let list = byLpar.get(lpar);
        if (!list) byLpar.set(lpar, list = []);
        list.push([drc.address[b], drc.address[b] + bs, index, b]);
      }
    }
    const name = ([, , drc, b]: Range) => b < 0 ? `drc ${hex(drc)}` : blockName(drc, b);
    const overlaps = (ranges: Range[], what: string) => {
      ranges.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
      for (let i = 1; i < ranges.length; i++) {
        if (ranges[i][0] < ranges[i - 1][1]) {
          problems.push(`${what}: ${name(ranges[i - 1])} overlaps ${name(ranges[i])}`);
        }
      }
    };
    for (const [lpar, ranges] of byLpar) overlaps(ranges, `LPAR ${lpar}`);
    // The incremental mapping index must say what a scan of the blocks says.
    const scannedAll = state.scanMappings();
    const mapped = new Set([...scannedAll.keys(), ...state.lparsMapped()]);
    const show = (m: Mapping[]) =>
      m.map((x) => `${hex(x.drc)}+${x.offset.toString(16)}@${x.base.toString(16)}:${x.size}`)
        .join(" ");
    for (const lpar of mapped) {
      const indexed = show(state.mappings(lpar));
      const scanned = show(scannedAll.get(lpar) ?? []);
      if (indexed !== scanned) {
        problems.push(
          `LPAR ${lpar} mapping index [${indexed}] disagrees with its blocks [${scanned}]`,
        );
      }
      if (this.mappings(lpar).length > MAX_LPAR_MAPPINGS) {
        problems.push(`LPAR ${lpar} has more than ${MAX_LPAR_MAPPINGS} mappings`);
      }
    }
    for (const [lpar, ranges] of devices) {
      overlaps(ranges.filter(([s, e]) => e > s), `LPAR ${lpar} device memory`);
    }
    return problems;
  }

  #drc(index: number): DrcState {
    const drc = this.#ctx.state.drcs.get(index);
    if (!drc) throw new RangeError(`no drc 0x${index.toString(16)}`);
    return drc;
  }
}
