/**
 * Helpers to read hcall input registers and build results in the core.
 * @module
 */
import { H, RET_COUNT } from "../abi/hcalls.ts";
import type { HcallResult } from "./types.ts";

/**
 * A result with `rc` and the given outputs in r4, r5, ... (the rest zero).
 * Outputs must already be unsigned 64-bit values (the property tests check
 * that every handler's are); they are not masked again on the hcall path.
 */
export function result(rc: number, ...outs: bigint[]): HcallResult {
  return build(rc, outs);
}

function build(rc: number, outs: readonly bigint[]): HcallResult {
  // A literal is a packed array, cheaper than Array(n).fill() on this path;
  // it holds RET_COUNT (9) zeros.
  const rets = [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n];
  for (let i = 0; i < outs.length; i++) rets[i] = outs[i];
  return { rc, rets };
}

const failures = new Map<number, HcallResult>();

/**
 * A bare failure code with all outputs zero. One shared, frozen result per
 * code: failures are common (unknown opcodes, wrong tokens) and need no
 * allocation.
 */
export function fail(rc: number): HcallResult {
  let cached = failures.get(rc);
  if (!cached) {
    cached = Object.freeze({
      rc,
      rets: Object.freeze(new Array<bigint>(RET_COUNT).fill(0n)),
    }) as HcallResult;
    failures.set(rc, cached);
  }
  return cached;
}

/** The success result with outputs. */
export function ok(...outs: bigint[]): HcallResult {
  return build(H.SUCCESS, outs);
}

/** A register as a non-negative safe integer, or undefined when it is larger. */
export function asIndex(value: bigint): number | undefined {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined;
}

/** A 32-bit DRC index from a register, or undefined when it cannot be one. */
export function asDrcIndex(value: bigint): number | undefined {
  return value <= 0xFFFF_FFFFn ? Number(value) : undefined;
}
