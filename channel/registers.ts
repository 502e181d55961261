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
import { type ChannelViews, REG_COUNT } from "./layout.ts";

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

/**
 * Writes `values` in r4..r12, missing ones zero. No element past the array's
 * end is read: V8 takes a slow path for one.
 */
function writeR4toR12({ regs, words }: RegisterFile, values: readonly bigint[]): void {
  const given = values.length;
  for (let i = 1; i < REG_COUNT; i++) {
    if (i <= given) {
      const value = values[i - 1];
      if (value !== 0n) {
        regs[i] = value;
        continue;
      }
    }
    if ((words[2 * i] | words[2 * i + 1]) !== 0) words[2 * i] = words[2 * i + 1] = 0;
  }
}

/** Reads r4..r12 into `values`. */
function readR4toR12({ regs, words }: RegisterFile, values: bigint[]): void {
  for (let i = 1; i < REG_COUNT; i++) {
    values[i - 1] = (words[2 * i] | words[2 * i + 1]) === 0 ? 0n : regs[i];
  }
}

/** The guest's side: writes `opcode` in r3 and `args` in r4..r12 (missing ones zero). */
export function writeRequest(file: RegisterFile, opcode: number, args: readonly bigint[]): void {
  const words = file.words;
  if (opcode >>> 0 === opcode) {
    words[0] = opcode;
    if (words[1] !== 0) words[1] = 0;
  } else {
    file.regs[0] = BigInt(opcode); // as the kernel would pass it (a RangeError if not whole)
  }
  writeR4toR12(file, args);
}

/**
 * The hypervisor's side: reads r4..r12 into `args` and returns the opcode in
 * r3, or -1 when r3 is not a 32-bit number (no hcall has such a number).
 */
export function readRequest(file: RegisterFile, args: bigint[]): number {
  readR4toR12(file, args);
  const words = file.words;
  return words[1] === 0 ? words[0] : -1;
}

/**
 * The hypervisor's side: writes `rc` in r3 (sign-extended) and `rets` in
 * r4..r12 (missing ones zero).
 */
export function writeAnswer(file: RegisterFile, rc: number, rets: readonly bigint[]): void {
  // r3 is a small signed code: its two 32-bit halves, no BigInt.
  const words = file.words;
  words[0] = rc >>> 0;
  words[1] = rc < 0 ? 0xFFFF_FFFF : 0;
  writeR4toR12(file, rets);
}

/** The guest's side: reads r4..r12 into `rets` and returns r3 as a signed code. */
export function readAnswer(file: RegisterFile, rets: bigint[]): number {
  readR4toR12(file, rets);
  // Its low word, read as signed, when the high word is its sign extension.
  const words = file.words;
  const lo = words[0] | 0, hi = words[1] | 0;
  return hi === (lo >> 31) ? lo : Number(BigInt.asIntN(64, file.regs[0]));
}
