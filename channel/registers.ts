/**
 * How both sides of the hcall channel write and read its registers: the
 * guest's request (opcode in r3, arguments in r4..r12) and the hypervisor's
 * answer (return code in r3, outputs in r4..r12).
 *
 * Most registers are zero, in and out. A zero is read as `0n` (no BigInt is
 * made) and written only over a register that is not zero, so the cache
 * lines of registers a call does not use stay where both sides read them
 * (see layout.ts's `REGS_OFFSET`).
 * @module
 */
import { ARG_COUNT, RET_COUNT } from "../abi/hcalls.ts";
import type { ChannelViews } from "./layout.ts";

/** A channel's r3..r12: as 64-bit values, and as 32-bit halves (low word first). */
export interface RegisterFile {
  regs: BigUint64Array;
  words: Uint32Array;
}

/** The register file of a channel's views. */
export function registerFile(views: ChannelViews): RegisterFile {
  const { regs } = views;
  return { regs, words: new Uint32Array(regs.buffer, regs.byteOffset, regs.length * 2) };
}

/** The guest's side: writes `opcode` in r3 and `args` in r4..r12 (missing ones zero). */
export function writeRequest(file: RegisterFile, opcode: number, args: readonly bigint[]): void {
  const { regs, words } = file;
  if (opcode >>> 0 === opcode) {
    words[0] = opcode;
    if (words[1] !== 0) words[1] = 0;
  } else {
    regs[0] = BigInt(opcode); // as the kernel would pass it (a RangeError if not whole)
  }
  // No element past args' end is read: V8 takes a slow path for one.
  const given = args.length;
  for (let i = 1; i <= ARG_COUNT; i++) {
    if (i <= given) {
      const value = args[i - 1];
      if (value !== 0n) {
        regs[i] = value;
        continue;
      }
    }
    if ((words[2 * i] | words[2 * i + 1]) !== 0) words[2 * i] = words[2 * i + 1] = 0;
  }
}

/**
 * The hypervisor's side: reads r4..r12 into `args` and returns the opcode in
 * r3, or -1 when r3 is not a 32-bit number (no hcall has such a number).
 */
export function readRequest(file: RegisterFile, args: bigint[]): number {
  const { regs, words } = file;
  for (let i = 1; i <= ARG_COUNT; i++) {
    args[i - 1] = (words[2 * i] | words[2 * i + 1]) === 0 ? 0n : regs[i];
  }
  return words[1] === 0 ? words[0] : -1;
}

/**
 * The hypervisor's side: writes `rc` in r3 (sign-extended) and `rets` in
 * r4..r12 (missing ones zero).
 */
export function writeAnswer(file: RegisterFile, rc: number, rets: readonly bigint[]): void {
  const { regs, words } = file;
  // r3 is a small signed code: its two 32-bit halves, no BigInt.
  words[0] = rc >>> 0;
  words[1] = rc < 0 ? 0xFFFF_FFFF : 0;
  const given = rets.length;
  for (let i = 1; i <= RET_COUNT; i++) {
    if (i <= given) {
      const value = rets[i - 1];
      if (value !== 0n) {
        regs[i] = value;
        continue;
      }
    }
    if ((words[2 * i] | words[2 * i + 1]) !== 0) words[2 * i] = words[2 * i + 1] = 0;
  }
}

/** The guest's side: reads r4..r12 into `rets` and returns r3 as a signed code. */
export function readAnswer(file: RegisterFile, rets: bigint[]): number {
  const { regs, words } = file;
  for (let i = 1; i <= RET_COUNT; i++) {
    rets[i - 1] = (words[2 * i] | words[2 * i + 1]) === 0 ? 0n : regs[i];
  }
  // Its low word, read as signed, when the high word is its sign extension.
  const lo = words[0] | 0, hi = words[1] | 0;
  return hi === (lo >> 31) ? lo : Number(BigInt.asIntN(64, regs[0]));
}
