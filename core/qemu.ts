/**
 * The `qemu` personality: QEMU's pseries `hw/ppc/spapr_nvdimm.c`, check by
 * check in QEMU's order, with QEMU's return codes (reference §3a).
 *
 * Model notes (our design where QEMU has no equivalent):
 * - No binding state: a DRC's memory is "bound" while it is plugged, at a
 *   fixed device address in each partition that holds it, placed first fit
 *   from {@link QemuOptions.deviceMemoryBase} among that partition's devices.
 *   BIND_MEM only computes addresses; UNBIND_* only validate and count.
 * - "Bad DRC" (H_PARAMETER; H_P2 for UNBIND_ALL) = no such DRC in the core,
 *   or not assigned to the calling LPAR (the per-partition view of
 *   connectors). Every DRC the core holds is a plugged PMEM connector.
 * - QEMU reads the DRC index as a `uint32_t`: the register's upper 32 bits
 *   are ignored.
 * - Registers: QEMU hands its handlers r4..r12 in place and writes back only
 *   the outputs it sets, so every other output register keeps the caller's
 *   input (e.g. BIND_MEM's r4 still holds the DRC index). Reproduced here,
 *   also for unknown opcodes (H_FUNCTION).
 * - QUERY_BLOCK/LOGICAL_MEM_BINDING and PERFORMANCE_STATS are not
 *   registered by QEMU: H_FUNCTION.
 * - FLUSH: `hcallFlushRequired` stands for "file backend that needs
 *   flushing" (`ibm,hcall-flush-required`); without it a new flush is
 *   H_UNSUPPORTED. See flush.ts for the timing model.
 * @module
 */
import { BIND_ANY_ADDR, H, OP, RET_COUNT, UNBIND_SCOPE } from "../abi/hcalls.ts";
import { HEALTH } from "../abi/health.ts";
import type { CoreContext, HandlerTable } from "./context.ts";
import { pollFlush, startFlush } from "./flush.ts";
import { readMetadata, writeMetadata } from "./metadata.ts";
import type { DrcState } from "./state.ts";
import type { DrcSpec, HcallResult, LparId, QemuOptions } from "./types.ts";

/** QEMU's SCM block size (`SPAPR_MINIMUM_SCM_BLOCK_SIZE`): 256 MiB. */
export const QEMU_BLOCK_SIZE = 256n << 20n;
/** QEMU's smallest label area: 128 KiB. */
export const QEMU_MIN_LABEL_SIZE = 128 * 1024;
/** QEMU's PMEM DRC index base: index = 0x90000000 | slot. */
export const QEMU_PMEM_DRC_BASE = 0x9000_0000;

/** Defaults for the `qemu` tunables. */
export const QEMU_DEFAULTS: QemuOptions = {
  deviceMemoryBase: 0x0000_0100_0000_0000n,
  strictBlockSize: false,
};

const U64 = (1n << 64n) - 1n;

/**
 * Refuses what QEMU refuses to plug: a label area under 128 KiB, no blocks,
 * and (with `strictBlockSize`) a block size other than 256 MiB.
 * @throws {RangeError} naming the field and what is accepted.
 */
export function validateQemuDrc(spec: DrcSpec, options: QemuOptions): void {
  const where = `drc 0x${spec.index.toString(16)}`;
  if (spec.metadataSize < QEMU_MIN_LABEL_SIZE) {
    throw new RangeError(
      `${where}: metadataSize ${spec.metadataSize}: QEMU needs a label of at least 128 KiB`,
    );
  }
  if (spec.blocks < 1) throw new RangeError(`${where}: blocks ${spec.blocks}: at least 1`);
  if (options.strictBlockSize && spec.blockSize !== QEMU_BLOCK_SIZE) {
    throw new RangeError(`${where}: blockSize ${spec.blockSize}: QEMU's is 268435456 (256 MiB)`);
  }
}

/** A result whose outputs are the inputs except those set in `outs` (by index from r4). */
export function qemuReply(
  args: readonly bigint[],
  rc: number,
  outs: Record<number, bigint> = {},
): HcallResult {
  const rets = new Array<bigint>(RET_COUNT).fill(0n);
  for (let i = 0; i < RET_COUNT; i++) rets[i] = (args[i] ?? 0n) & U64;
  for (const [i, v] of Object.entries(outs)) rets[Number(i)] = v & U64;
  return { rc, rets };
}

/** The DRC named by a register as QEMU reads it (low 32 bits), if the caller has it. */
function drcOf(ctx: CoreContext, lpar: LparId, reg: bigint): DrcState | undefined {
  return ctx.state.owned(Number(reg & 0xFFFF_FFFFn), lpar);
}

/** H_SCM_READ_METADATA(drc, offset, length) → r4 value. */
function readMeta(ctx: CoreContext, lpar: LparId, args: readonly bigint[]): HcallResult {
  const drc = drcOf(ctx, lpar, args[0]);
  if (!drc) return qemuReply(args, H.PARAMETER);
  const { rc, value } = readMetadata(drc, args[1], args[2]);
  return rc === H.SUCCESS ? qemuReply(args, rc, { 0: value }) : qemuReply(args, rc);
}

/** H_SCM_WRITE_METADATA(drc, offset, data, length). */
function writeMeta(ctx: CoreContext, lpar: LparId, args: readonly bigint[]): HcallResult {
  const drc = drcOf(ctx, lpar, args[0]);
  if (!drc) return qemuReply(args, H.PARAMETER);
  return qemuReply(args, writeMetadata(drc, args[1], args[2], args[3]));
}

/** H_SCM_BIND_MEM(drc, first, count, target, token) → r5 address, r6 count. */
function bindMem(ctx: CoreContext, lpar: LparId, args: readonly bigint[]): HcallResult {
  const [drcArg, first, count, target, token] = args;
  const drc = drcOf(ctx, lpar, drcArg);
  if (!drc) return qemuReply(args, H.PARAMETER);
  // QEMU binds everything at plug time: nothing to continue.
  if (token !== 0n) return qemuReply(args, H.P5);
  // QEMU chooses the address.
  if (target !== BIND_ANY_ADDR) return qemuReply(args, H.OVERLAP);
  const total = BigInt(drc.spec.blocks);
  if (first > total) return qemuReply(args, H.P2);
  if (first + count > total) return qemuReply(args, H.P3);
  const address = drc.deviceAddresses.get(lpar)! + first * drc.spec.blockSize;
  return qemuReply(args, H.SUCCESS, { 1: address, 2: count });
}

/** H_SCM_UNBIND_MEM(drc, address, count, token) → r5 count (validation only). */
function unbindMem(ctx: CoreContext, lpar: LparId, args: readonly bigint[]): HcallResult {
  const [drcArg, address, count, token] = args;
  const drc = drcOf(ctx, lpar, drcArg);
  if (!drc) return qemuReply(args, H.PARAMETER);
  if (token !== 0n) return qemuReply(args, H.P4);
  const bs = drc.spec.blockSize;
  if (address % bs !== 0n) return qemuReply(args, H.P2);
  const bytes = count * bs;
  if (count === 0n || bytes > U64) return qemuReply(args, H.P3);
  // Unbounded arithmetic: a range wrapping past 2^64 ends beyond the device too.
  const end = address + bytes;
  const base = drc.deviceAddresses.get(lpar)!;
  if (address < base || end > base + drc.size) {
    return qemuReply(args, H.P3);
  }
  return qemuReply(args, H.SUCCESS, { 1: count });
}

/** H_SCM_UNBIND_ALL(scope, drc, token) → r5 blocks (validation and count only). */
function unbindAll(ctx: CoreContext, lpar: LparId, args: readonly bigint[]): HcallResult {
  const [scope, drcArg, token] = args;
  if (token !== 0n) return qemuReply(args, H.P4);
  let blocks = 0n;
  if (scope === BigInt(UNBIND_SCOPE.DRC)) {
    const drc = drcOf(ctx, lpar, drcArg);
    if (!drc) return qemuReply(args, H.P2);
    blocks = BigInt(drc.spec.blocks);
  } else if (scope === BigInt(UNBIND_SCOPE.ALL)) {
    // Every nvdimm of the machine, i.e. every one this partition has.
    for (const drc of ctx.state.drcs.values()) {
      if (drc.owners.has(lpar)) blocks += BigInt(drc.spec.blocks);
    }
  } else {
    return qemuReply(args, H.PARAMETER);
  }
  return qemuReply(args, H.SUCCESS, { 1: blocks });
}

/** H_SCM_HEALTH(drc) → r4 UNARMED bit when unarmed, r5 UNARMED bit (QEMU knows no other). */
function health(ctx: CoreContext, lpar: LparId, args: readonly bigint[]): HcallResult {
  const drc = drcOf(ctx, lpar, args[0]);
  if (!drc) return qemuReply(args, H.PARAMETER);
  const bitmap = drc.health & HEALTH.UNARMED;
  return qemuReply(args, H.SUCCESS, { 0: bitmap, 1: HEALTH.UNARMED });
}

/**
 * H_SCM_FLUSH(drc, token) → r4 token while pending. New request without a
 * flushable backend → H_UNSUPPORTED; pending → H_LONG_BUSY_ORDER_10_MSEC;
 * done → its result, token consumed; unknown token → H_P2.
 */
function flush(ctx: CoreContext, lpar: LparId, args: readonly bigint[]): HcallResult {
  const [drcArg, token] = args;
  const drc = drcOf(ctx, lpar, drcArg);
  if (!drc) return qemuReply(args, H.PARAMETER);
  const fresh = token === 0n;
  if (fresh && !drc.spec.hcallFlushRequired) return qemuReply(args, H.UNSUPPORTED);
  const status = pollFlush(ctx, drc, lpar, fresh ? startFlush(ctx, drc, lpar) : token, fresh);
  if (status.state === "pending") {
    return qemuReply(args, H.LONG_BUSY_ORDER_10_MSEC, { 0: status.token });
  }
  return qemuReply(args, status.state === "done" ? status.rc : H.P2);
}

/** The `qemu` handler table, as `spapr_scm_register_types()` registers it. */
export const QEMU_HANDLERS: HandlerTable = new Map([
  [OP.H_SCM_READ_METADATA, readMeta],
  [OP.H_SCM_WRITE_METADATA, writeMeta],
  [OP.H_SCM_BIND_MEM, bindMem],
  [OP.H_SCM_UNBIND_MEM, unbindMem],
  [OP.H_SCM_UNBIND_ALL, unbindAll],
  [OP.H_SCM_HEALTH, health],
  [OP.H_SCM_FLUSH, flush],
]);
