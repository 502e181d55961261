/**
 * The `powervm` personality: the hypervisor the Linux driver was written
 * against, modelled from the kernel code and the PAPR hcall documentation.
 *
 * Model (see ARCHITECTURE.md): every block is unbound or bound to one LPAR at
 * one logical address; binding a bound block (to anyone, the caller too) is
 * H_OVERLAP; large binds answer H_BUSY and large unbinds long busy, with a
 * continue-token in r4; a DRC the caller does not own looks like one that does
 * not exist.
 * @module
 */
import { BIND_ANY_ADDR, H, OP, UNBIND_SCOPE } from "../abi/hcalls.ts";
import { HEALTH_ALL } from "../abi/health.ts";
import { asDrcIndex, asIndex, fail, ok, result } from "./registers.ts";
import type { CoreContext, HandlerTable } from "./context.ts";
import { type BindOp, type DrcState, FREE, MAX_LPAR_MAPPINGS, type UnbindOp } from "./state.ts";
import { readMetadata, writeMetadata } from "./metadata.ts";
import { performanceStats } from "./stats.ts";
import { pollFlush, startFlush } from "./flush.ts";
import type { HcallResult, LparId, PowerVmOptions } from "./types.ts";

/** Defaults for the `powervm` tunables. */
export const POWERVM_DEFAULTS: PowerVmOptions = {
  bindSliceBlocks: 16,
  unbindSliceBlocks: 16,
  unbindContinue: "long-busy",
  logicalBase: 0x0000_0400_0000_0000n,
  bindNsPerBlock: 0n,
  unbindNsPerBlock: 0n,
  performanceCollection: true,
};

/**
 * The long-busy code for work that needs `ns` more: the longest order not
 * above it (at least 1 ms), so a guest that sleeps the hint never oversleeps
 * the work by a whole order and polls again if it is early.
 */
export function longBusyFor(ns: bigint): number {
  let order = 0;
  while (order < 5 && 10n ** BigInt(order + 1) * 1_000_000n <= ns) order++;
  return H.LONG_BUSY_ORDER_1_MSEC + order;
}

function newToken(ctx: CoreContext, lpar: LparId): bigint {
  for (;;) {
    const token = ctx.tokens.next(lpar);
    if (token !== 0n && !ctx.state.ops.has(token)) return token;
  }
}

/**
 * Abandons a sliced bind: what it bound stays bound, the blocks it had only
 * reserved are freed (else they would stay reserved with nobody to finish them).
 */
function abandonBind(ctx: CoreContext, token: bigint, op: BindOp): void {
  ctx.state.ops.delete(token);
  const drc = ctx.state.drcs.get(op.drc);
  if (!drc) return;
  for (let i = op.done; i < op.count; i++) {
    const b = op.first + i;
    if (drc.boundTo[b] !== op.lpar || !drc.pending[b]) continue;
    drc.boundTo[b] = FREE;
    drc.pending[b] = 0;
    drc.address[b] = 0n;
  }
  ctx.state.touch(op.lpar);
}

/** Drops any earlier op of the same kind by the same LPAR on the same target. */
function replaceOp(ctx: CoreContext, fresh: BindOp | UnbindOp): bigint {
  for (const [token, op] of ctx.state.ops) {
    if (op.lpar !== fresh.lpar || op.kind !== fresh.kind) continue;
    if (op.kind === "bind" && fresh.kind === "bind" && op.drc === fresh.drc) {
      abandonBind(ctx, token, op);
    }
    if (op.kind === "unbind" && fresh.kind === "unbind" && op.opcode === fresh.opcode) {
      ctx.state.ops.delete(token);
    }
  }
  const token = newToken(ctx, fresh.lpar);
  ctx.state.ops.set(token, fresh);
  return token;
}

/** First free aligned logical range of `size` bytes in `lpar`'s address space. */
function allocate(ctx: CoreContext, lpar: LparId, size: bigint, align: bigint): bigint {
  // Aligned from the start: a block size need not divide the logical base.
  let candidate = ((ctx.options.logicalBase + align - 1n) / align) * align;
  for (const [start, end] of ctx.state.rangesOf(lpar)) {
    if (candidate + size <= start) break;
    if (end > candidate) candidate = ((end + align - 1n) / align) * align;
  }
  return candidate;
}

function overlapsAddressSpace(
  ctx: CoreContext,
  lpar: LparId,
  base: bigint,
  size: bigint,
): boolean {
  return ctx.state.rangesOf(lpar).some(([s, e]) => base < e && s < base + size);
}

/**
 * Binds the next slice of `op`. A slice that would take the LPAR past
 * MAX_LPAR_MAPPINGS mappings (only a new bind can: a later slice extends the
 * range its first slice mapped) is undone and the bind abandoned with
 * H_RESOURCE: PAPR's "insufficient resources" (Linux hvcall.h -16, which
 * the PAPR hcalls that allocate hypervisor resources answer when they run
 * out), here the LPAR's page-table entries. Not H_NO_MEM (-9: memory the
 * hypervisor lacks), H_TABLE_FULL (-41) or H_NOT_ENOUGH_RESOURCES (-44),
 * which Linux defines for the HCA (InfiniBand) hcalls only. The papr_scm
 * drivers treat any other code as a failed bind ("bind err: -16").
 */
function continueBind(ctx: CoreContext, token: bigint, op: BindOp): HcallResult {
  const drc = ctx.state.drcs.get(op.drc)!;
  const sliceEnd = Math.min(op.count, op.done + ctx.options.bindSliceBlocks);
  const mapped: number[] = [];
  for (let i = op.done; i < sliceEnd; i++) {
    const b = op.first + i;
    // Only blocks still reserved by this bind (nothing else frees them, but be sure).
    if (drc.boundTo[b] !== op.lpar || !drc.pending[b]) continue;
    drc.pending[b] = 0;
    ctx.state.mapBlock(op.lpar, drc, b);
    mapped.push(b);
  }
  if (ctx.state.mappingCount(op.lpar) > MAX_LPAR_MAPPINGS) {
    for (const b of mapped) {
      ctx.state.unmapBlock(op.lpar, drc, b);
      drc.pending[b] = 1;
    }
    abandonBind(ctx, token, op);
    return fail(H.RESOURCE);
  }
  drc.counters.binds += sliceEnd - op.done;
  // Binding is done inside the call: the slice's time is the hcall's.
  ctx.elapsedNs += BigInt(sliceEnd - op.done) * ctx.options.bindNsPerBlock;
  op.done = sliceEnd;
  ctx.state.touch(op.lpar);
  if (op.done < op.count) return result(H.BUSY, token, op.base, BigInt(op.done));
  ctx.state.ops.delete(token);
  return ok(0n, op.base, BigInt(op.count));
}

/** H_SCM_BIND_MEM(drc, first block, count, target, token). */
function bindMem(ctx: CoreContext, lpar: LparId, args: readonly bigint[]): HcallResult {
  const [drcArg, firstArg, countArg, target, token] = args;
  const drc = ctx.state.owned(asDrcIndex(drcArg), lpar);
  if (!drc) return fail(H.PARAMETER);
  if (token !== 0n) {
    const op = ctx.state.ops.get(token);
    if (op?.kind !== "bind" || op.lpar !== lpar || op.drc !== drc.spec.index) return fail(H.P5);
    return continueBind(ctx, token, op);
  }
  const total = drc.spec.blocks;
  const first = asIndex(firstArg);
  if (first === undefined || first >= total) return fail(H.P2);
  const count = asIndex(countArg);
  if (count === undefined || count === 0 || first + count > total) return fail(H.P3);
  const bs = drc.spec.blockSize;
  const size = BigInt(count) * bs;
  for (let b = first; b < first + count; b++) {
    if (drc.boundTo[b] !== FREE) return fail(H.OVERLAP);
  }
  let base: bigint;
  if (target === BIND_ANY_ADDR) {
    base = allocate(ctx, lpar, size, bs);
  } else {
    if (target % bs !== 0n || target + size > BIND_ANY_ADDR) return fail(H.P4);
    if (overlapsAddressSpace(ctx, lpar, target, size)) return fail(H.OVERLAP);
    base = target;
  }
  // Reserve the whole range now, so a concurrent bind by anyone sees H_OVERLAP.
  for (let i = 0; i < count; i++) {
    drc.boundTo[first + i] = lpar;
    drc.pending[first + i] = 1;
    drc.address[first + i] = base + BigInt(i) * bs;
  }
  const op: BindOp = { kind: "bind", lpar, drc: drc.spec.index, first, count, done: 0, base };
  return continueBind(ctx, replaceOp(ctx, op), op);
}

/** Hypervisor time the unbind slice starting at block `done` of `op` takes. */
function unbindSliceNs(ctx: CoreContext, op: UnbindOp, done: number): bigint {
  const blocks = Math.min(op.blocks.length - done, ctx.options.unbindSliceBlocks);
  return BigInt(blocks) * ctx.options.unbindNsPerBlock;
}

/** Answers a sliced unbind that is not done: long busy (or H_BUSY) with the token in r4. */
function unbindNotDone(ctx: CoreContext, token: bigint, op: UnbindOp, waitNs: bigint) {
  const code = ctx.options.unbindContinue === "busy" ? H.BUSY : longBusyFor(waitNs);
  return result(code, token, BigInt(op.done));
}

/**
 * One call on a sliced unbind. The hypervisor unbinds in the background, a
 * slice at a time: a call before the slice in progress is finished answers
 * long busy for the time left; one after it releases the slice's blocks and
 * starts the next. With no unbind cost every call releases a slice at once.
 */
function continueUnbind(ctx: CoreContext, token: bigint, op: UnbindOp): HcallResult {
  const now = ctx.env.now();
  const busy = ctx.options.unbindContinue === "busy";
  // H_BUSY says "call again at once": that hypervisor unbinds inside the call.
  if (busy) ctx.elapsedNs += unbindSliceNs(ctx, op, op.done);
  else if (now < op.readyAt) return unbindNotDone(ctx, token, op, op.readyAt - now);
  const sliceEnd = Math.min(op.blocks.length, op.done + ctx.options.unbindSliceBlocks);
  // Unbinding the middle of a mapping splits it in two: past MAX_LPAR_MAPPINGS
  // the slice is undone and the unbind ends with H_RESOURCE (see continueBind).
  const unmapped: Array<[DrcState, number]> = [];
  for (let i = op.done; i < sliceEnd; i++) {
    const [index, b] = op.blocks[i];
    const drc = ctx.state.drcs.get(index);
    if (!drc || drc.boundTo[b] !== op.lpar || drc.pending[b]) continue;
    ctx.state.unmapBlock(op.lpar, drc, b);
    unmapped.push([drc, b]);
  }
  if (ctx.state.mappingCount(op.lpar) > MAX_LPAR_MAPPINGS) {
    for (const [drc, b] of unmapped) ctx.state.mapBlock(op.lpar, drc, b);
    ctx.state.ops.delete(token);
    return result(H.RESOURCE, 0n, BigInt(op.done));
  }
  for (let i = op.done; i < sliceEnd; i++) {
    const [index, b] = op.blocks[i];
    const drc = ctx.state.drcs.get(index);
    if (!drc || drc.boundTo[b] !== op.lpar) continue;
    drc.boundTo[b] = FREE;
    drc.pending[b] = 0;
    drc.address[b] = 0n;
    drc.counters.unbinds++;
  }
  op.done = sliceEnd;
  ctx.state.touch(op.lpar);
  if (op.done < op.blocks.length) {
    const next = unbindSliceNs(ctx, op, op.done);
    op.readyAt = now + next;
    return unbindNotDone(ctx, token, op, next);
  }
  ctx.state.ops.delete(token);
  return ok(0n, BigInt(op.blocks.length));
}

function startUnbind(
  ctx: CoreContext,
  lpar: LparId,
  opcode: number,
  blocks: Array<[number, number]>,
): HcallResult {
  // An unbind of a DRC abandons any bind of it still in progress.
  for (const [token, op] of ctx.state.ops) {
    if (op.kind === "bind" && op.lpar === lpar && blocks.some(([d]) => d === op.drc)) {
      abandonBind(ctx, token, op);
    }
  }
  // Blocks only reserved by an abandoned bind are free now: not unbound by us.
  blocks = blocks.filter(([d, b]) => ctx.state.drcs.get(d)?.boundTo[b] === lpar);
  const op: UnbindOp = { kind: "unbind", lpar, opcode, blocks, done: 0, readyAt: 0n };
  if (ctx.options.unbindContinue !== "busy") op.readyAt = ctx.env.now() + unbindSliceNs(ctx, op, 0);
  return continueUnbind(ctx, replaceOp(ctx, op), op);
}

function resumeUnbind(
  ctx: CoreContext,
  lpar: LparId,
  opcode: number,
  token: bigint,
  badToken: number,
): HcallResult {
  const op = ctx.state.ops.get(token);
  if (op?.kind !== "unbind" || op.lpar !== lpar || op.opcode !== opcode) return fail(badToken);
  return continueUnbind(ctx, token, op);
}

/** H_SCM_UNBIND_MEM(drc, logical address, count, token). */
function unbindMem(ctx: CoreContext, lpar: LparId, args: readonly bigint[]): HcallResult {
  const [drcArg, addr, countArg, token] = args;
  const drc = ctx.state.owned(asDrcIndex(drcArg), lpar);
  if (!drc) return fail(H.PARAMETER);
  if (token !== 0n) return resumeUnbind(ctx, lpar, OP.H_SCM_UNBIND_MEM, token, H.P4);
  const bs = drc.spec.blockSize;
  if (addr % bs !== 0n) return fail(H.P2);
  const first = blockAt(ctx, drc, lpar, addr);
  if (first === undefined) return fail(H.P2);
  const count = asIndex(countArg);
  if (count === undefined || count === 0 || first + count > drc.spec.blocks) return fail(H.P3);
  const blocks: Array<[number, number]> = [];
  for (let i = 0; i < count; i++) {
    const b = first + i;
    if (drc.boundTo[b] !== lpar || drc.address[b] !== addr + BigInt(i) * bs) return fail(H.P3);
    blocks.push([drc.spec.index, b]);
  }
  return startUnbind(ctx, lpar, OP.H_SCM_UNBIND_MEM, blocks);
}

function blockAt(ctx: CoreContext, drc: DrcState, lpar: LparId, addr: bigint): number | undefined {
  return ctx.state.blockAt(lpar, drc, addr);
}

/** H_SCM_UNBIND_ALL(scope, drc, token). */
function unbindAll(ctx: CoreContext, lpar: LparId, args: readonly bigint[]): HcallResult {
  const [scope, drcArg, token] = args;
  if (scope !== BigInt(UNBIND_SCOPE.ALL) && scope !== BigInt(UNBIND_SCOPE.DRC)) {
    return fail(H.PARAMETER);
  }
  if (token !== 0n) return resumeUnbind(ctx, lpar, OP.H_SCM_UNBIND_ALL, token, H.P3);
  const targets: DrcState[] = [];
  if (scope === BigInt(UNBIND_SCOPE.DRC)) {
    const drc = ctx.state.owned(asDrcIndex(drcArg), lpar);
    if (!drc) return fail(H.P2);
    targets.push(drc);
  } else {
    for (const drc of ctx.state.drcs.values()) if (drc.owners.has(lpar)) targets.push(drc);
  }
  const blocks: Array<[number, number]> = [];
  for (const drc of targets) {
    for (const b of ctx.state.heldBlocks(lpar, drc)) blocks.push([drc.spec.index, b]);
  }
  return startUnbind(ctx, lpar, OP.H_SCM_UNBIND_ALL, blocks);
}

/** H_SCM_QUERY_BLOCK_MEM_BINDING(drc, block) → r4 logical address. */
function queryBlock(ctx: CoreContext, lpar: LparId, args: readonly bigint[]): HcallResult {
  const drc = ctx.state.owned(asDrcIndex(args[0]), lpar);
  if (!drc) return fail(H.PARAMETER);
  const b = asIndex(args[1]);
  if (b === undefined || b >= drc.spec.blocks) return fail(H.P2);
  if (!drc.isBoundTo(b, lpar)) return fail(H.NOT_FOUND);
  return ok(drc.address[b]);
}

/** H_SCM_QUERY_LOGICAL_MEM_BINDING(address) → r4 drc, r5 block. */
function queryLogical(ctx: CoreContext, lpar: LparId, args: readonly bigint[]): HcallResult {
  const held = ctx.state.blockHolding(lpar, args[0]);
  if (!held) return fail(H.NOT_FOUND);
  return ok(BigInt(held[0].spec.index), BigInt(held[1]));
}

/** H_SCM_HEALTH(drc) → r4 health bitmap, r5 mask of valid bits. */
function health(ctx: CoreContext, lpar: LparId, args: readonly bigint[]): HcallResult {
  const drc = ctx.state.owned(asDrcIndex(args[0]), lpar);
  if (!drc) return fail(H.PARAMETER);
  return ok(drc.health, HEALTH_ALL);
}

/** H_SCM_READ_METADATA(drc, offset, length) → r4 the bytes as a big-endian number. */
function readMeta(ctx: CoreContext, lpar: LparId, args: readonly bigint[]): HcallResult {
  const drc = ctx.state.owned(asDrcIndex(args[0]), lpar);
  if (!drc) return fail(H.PARAMETER);
  const { rc, value } = readMetadata(drc, args[1], args[2]);
  return rc === H.SUCCESS ? ok(value) : fail(rc);
}

/** H_SCM_WRITE_METADATA(drc, offset, data, length). */
function writeMeta(ctx: CoreContext, lpar: LparId, args: readonly bigint[]): HcallResult {
  const drc = ctx.state.owned(asDrcIndex(args[0]), lpar);
  if (!drc) return fail(H.PARAMETER);
  return fail(writeMetadata(drc, args[1], args[2], args[3]));
}

/** H_SCM_PERFORMANCE_STATS(drc, buffer address, size); see stats.ts. */
function perfStats(ctx: CoreContext, lpar: LparId, args: readonly bigint[]): HcallResult {
  // Collection off: the partition has no authority to read performance data.
  if (!ctx.options.performanceCollection) return fail(H.AUTHORITY);
  return performanceStats(ctx, lpar, args, ctx.state.owned(asDrcIndex(args[0]), lpar));
}

/**
 * H_SCM_FLUSH(drc, token) → r4 token. A device that needs no flush hcall has
 * nothing buffered: H_SUCCESS at once. A flush in progress answers long busy
 * (1 ms) with its token in r4, as the Linux doc lists for this hcall and the
 * reference says continuation works for unbind and flush; the caller polls
 * with the token until the result, which consumes it.
 */
function flush(ctx: CoreContext, lpar: LparId, args: readonly bigint[]): HcallResult {
  const [drcArg, token] = args;
  const drc = ctx.state.owned(asDrcIndex(drcArg), lpar);
  if (!drc) return fail(H.PARAMETER);
  if (token === 0n && !drc.spec.hcallFlushRequired) return ok();
  const fresh = token === 0n;
  const status = pollFlush(ctx, drc, lpar, fresh ? startFlush(ctx, drc, lpar) : token, fresh);
  if (status.state === "pending") {
    return result(longBusyFor(status.remainingNs), status.token);
  }
  if (status.state === "done") return fail(status.rc);
  return fail(H.P2);
}

/** The `powervm` handler table, by opcode (as QEMU registers its handlers). */
export const POWERVM_HANDLERS: HandlerTable = new Map([
  [OP.H_SCM_READ_METADATA, readMeta],
  [OP.H_SCM_WRITE_METADATA, writeMeta],
  [OP.H_SCM_BIND_MEM, bindMem],
  [OP.H_SCM_UNBIND_MEM, unbindMem],
  [OP.H_SCM_UNBIND_ALL, unbindAll],
  [OP.H_SCM_QUERY_BLOCK_MEM_BINDING, queryBlock],
  [OP.H_SCM_QUERY_LOGICAL_MEM_BINDING, queryLogical],
  [OP.H_SCM_HEALTH, health],
  [OP.H_SCM_PERFORMANCE_STATS, perfStats],
  [OP.H_SCM_FLUSH, flush],
]);
