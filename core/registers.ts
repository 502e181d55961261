/**
 * Helpers to read hcall input registers and build results in the core.
 * @module
 */
import { H, RET_COUNT } from "../abi/hcalls.ts";
import type { HcallResult } from "./types.ts";

const U64 = (1n << 64n) - 1n;

/** A result with `rc` and the given outputs in r4, r5, ... (the rest zero). */
export function result(rc: number, ...outs: bigint[]): HcallResult {
  const rets = new Array<bigint>(RET_COUNT).fill(0n);
  for (let i = 0; i < outs.length; i++) rets[i] = outs[i] & U64;
  return { rc, rets };
}

/** A bare failure code with all outputs zero. */
export function fail(rc: number): HcallResult {
  return result(rc);
}

/** The success result with outputs. */
export function ok(...outs: bigint[]): HcallResult {
  return result(H.SUCCESS, ...outs);
}

/** A register as a non-negative safe integer, or undefined when it is larger. */
export function asIndex(value: bigint): number | undefined {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined;
}

/** A 32-bit DRC index from a register, or undefined when it cannot be one. */
export function asDrcIndex(value: bigint): number | undefined {
  return value <= 0xFFFF_FFFFn ? Number(value) : undefined;
}
