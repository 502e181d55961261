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
import { fail } from "./registers.ts";
import { DrcState, FREE, ScmState } from "./state.ts";
import type {
  BlockBinding,
  CoreEnv,
  DrcSpec,
  HcallResult,
  LparId,
  Mapping,
  Personality,
  PowerVmOptions,
} from "./types.ts";

/** How to build a core. */
export interface CoreOptions {
  /** Which hypervisor to behave like. */
  personality: Personality;
  /** `powervm` tunables (slice sizes, logical base, ...). */
  powervm?: Partial<PowerVmOptions>;
  /** Injected time and randomness; defaults to a seeded generator and a counter clock. */
  env?: CoreEnv;
}

const TABLES: Record<Personality, HandlerTable> = {
  powervm: POWERVM_HANDLERS,
  qemu: new Map(),
};

/** Registers a personality's handler table (used by modules that add one). */
export function registerPersonality(name: Personality, table: HandlerTable): void {
  TABLES[name] = table;
}

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
  readonly personality: Personality;
  readonly #ctx: CoreContext;
  readonly #table: HandlerTable;

  constructor(options: CoreOptions) {
    this.personality = options.personality;
    const table = TABLES[options.personality];
    if (!table) {
      throw new RangeError(
        `unknown personality "${options.personality}"; accepted: ${Object.keys(TABLES).join(", ")}`,
      );
    }
    this.#table = table;
    this.#ctx = {
      state: new ScmState(),
      options: { ...POWERVM_DEFAULTS, ...options.powervm },
      env: options.env ?? seededEnv(),
    };
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
    const handler = this.#table.get(opcode);
    if (!handler) return fail(H.FUNCTION);
    const regs = args.length >= ARG_COUNT ? args : [...args, ...Array(ARG_COUNT).fill(0n)];
    return handler(this.#ctx, lpar, regs);
  }

  /** Creates an nvdimm (unassigned). */
  addDrc(spec: DrcSpec): void {
    if (this.#ctx.state.drcs.has(spec.index)) {
      throw new RangeError(`drc 0x${spec.index.toString(16)} already exists`);
    }
    this.#ctx.state.drcs.set(spec.index, new DrcState(spec, this.#ctx.env.now()));
  }

  /** Removes an nvdimm; it must have no owner left. */
  removeDrc(index: number): void {
    const drc = this.#drc(index);
    if (drc.owners.size) {
      throw new RangeError(`drc 0x${index.toString(16)} is still assigned`);
    }
    this.#ctx.state.drcs.delete(index);
  }

  /** Assigns an nvdimm to an LPAR (several LPARs may share one). */
  assign(index: number, lpar: LparId): void {
    this.#drc(index).owners.add(lpar);
  }

  /** Takes an nvdimm from an LPAR, releasing what it still has bound there. */
  unassign(index: number, lpar: LparId): number {
    const released = this.#ctx.state.releaseBlocks(lpar, index);
    this.#drc(index).owners.delete(lpar);
    return released;
  }

  /** Partition shutdown: releases every binding and operation of `lpar`. */
  releaseLpar(lpar: LparId): number {
    return this.#ctx.state.releaseBlocks(lpar);
  }

  /** Sets an nvdimm's health bitmap. */
  setHealth(index: number, bitmap: bigint): void {
    this.#drc(index).health = bitmap;
  }

  /** The fully bound ranges of `lpar`'s logical address space. */
  mappings(lpar: LparId): Mapping[] {
    return this.#ctx.state.mappings(lpar);
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
   * returns a description of each violation (none when all is well): a block
   * is bound only to an owner of its DRC; no two blocks of one LPAR overlap in
   * its logical address space.
   */
  invariants(): string[] {
    const problems: string[] = [];
    const byLpar = new Map<LparId, Array<[bigint, bigint, string]>>();
    for (const drc of this.#ctx.state.drcs.values()) {
      const bs = drc.spec.blockSize;
      for (let b = 0; b < drc.spec.blocks; b++) {
        const lpar = drc.boundTo[b];
        if (lpar === FREE) continue;
        const where = `drc 0x${drc.spec.index.toString(16)} block ${b}`;
        if (!drc.owners.has(lpar)) problems.push(`${where} bound to non-owner LPAR ${lpar}`);
        const list = byLpar.get(lpar) ?? [];
        list.push([drc.address[b], drc.address[b] + bs, where]);
        byLpar.set(lpar, list);
      }
    }
    for (const [lpar, ranges] of byLpar) {
      ranges.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
      for (let i = 1; i < ranges.length; i++) {
        if (ranges[i][0] < ranges[i - 1][1]) {
          problems.push(`LPAR ${lpar}: ${ranges[i - 1][2]} overlaps ${ranges[i][2]}`);
        }
      }
    }
    return problems;
  }

  #drc(index: number): DrcState {
    const drc = this.#ctx.state.drcs.get(index);
    if (!drc) throw new RangeError(`no drc 0x${index.toString(16)}`);
    return drc;
  }
}
