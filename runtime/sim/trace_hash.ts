/**
 * A running 64-bit hash of everything a simulation did (FNV-1a in two
 * 32-bit lanes), so two runs of one seed can be compared by one string.
 * @module
 */

/**
 * The characters of the hcall record being folded (`addHcall`), written as
 * numbers and then folded in one loop. Large enough for any record of
 * numbers in range: a record that is not (a huge or negative register, more
 * registers than an hcall has) is built as a string instead.
 */
const chars = new Uint16Array(1024);
/** Most registers each way `addHcall` writes itself (an hcall has 9). */
const MAX_REGISTERS = 16;
/** Character codes of "0".."9", "a".."f". */
const DIGITS = Uint16Array.from("0123456789abcdef", (c) => c.charCodeAt(0));
const SPACE = 0x20, COMMA = 0x2C, MINUS = 0x2D, LETTER_H = 0x68, NEWLINE = 10;
const U64 = (1n << 64n) - 1n;
const TWO_32 = 0x1_0000_0000;

/** Writes the hex digits of a 32-bit `n` at `at`, at least `width` of them; returns the end. */
function putHex32(at: number, n: number, width: number): number {
  let count = n === 0 ? 1 : (35 - Math.clz32(n)) >> 2;
  if (count < width) count = width;
  for (let i = at + count - 1; i >= at; i--, n >>>= 4) chars[i] = DIGITS[n & 15];
  return at + count;
}

/** Writes `n.toString(16)` of a non-negative safe integer at `at`; returns the end. */
function putHex(at: number, n: number): number {
  if (n < TWO_32) return putHex32(at, n, 0);
  return putHex32(putHex32(at, Math.floor(n / TWO_32), 0), n >>> 0, 8);
}

/** Writes `${n}` of a safe integer at `at`; returns the end. */
function putDecimal(at: number, n: number): number {
  if (n < 0) {
    chars[at++] = MINUS;
    n = -n;
  }
  let end = at;
  for (let v = Math.floor(n / 10); v > 0; v = Math.floor(v / 10)) end++;
  for (let i = end; i >= at; i--) {
    const q = Math.floor(n / 10);
    chars[i] = DIGITS[n - q * 10];
    n = q;
  }
  return end + 1;
}

/**
 * Writes registers as `hexList` does (hex, comma-separated) at `at`; returns
 * the end, or -1 when one is outside 0..2^64-1 or there are too many.
 */
function putRegisters(at: number, values: readonly bigint[]): number {
  if (values.length > MAX_REGISTERS) return -1;
  for (let i = 0; i < values.length; i++) {
    if (i) chars[at++] = COMMA;
    const v = values[i];
    // Exact whenever it lands in the safe range: a bigint outside it converts outside it.
    const n = Number(v);
    if (n >= 0 && n <= Number.MAX_SAFE_INTEGER) at = putHex(at, n);
    else if (v >= 0n && v <= U64) {
      // Tokens and addresses: two 32-bit halves.
      at = putHex32(putHex32(at, Number(v >> 32n), 0), Number(v & 0xFFFF_FFFFn), 8);
    } else return -1;
  }
  return at;
}

/** Folds strings into a 64-bit FNV-1a hash. */
export class TraceHash {
  #lo = 0x811C9DC5;
  #hi = 0xCBF29CE4;
  /** Records folded in. */
  count = 0;

  /** Folds one record in (a record separator is added). */
  add(record: string): void {
    let lo = this.#lo, hi = this.#hi;
    for (let i = 0; i < record.length; i++) {
      const c = record.charCodeAt(i);
      lo = Math.imul(lo ^ c, 0x01000193);
      hi = Math.imul(hi ^ c ^ (lo >>> 7), 0x01000193);
    }
    this.#end(lo, hi);
  }

  /**
   * Folds in the record of one hcall exactly as `add` would fold
   * {@link hcallRecord}'s string, without making the string: the hash of a
   * run is the same whichever is used, and this one allocates nothing for
   * the usual registers.
   */
  addHcall(
    now: number,
    lpar: number,
    opcode: number,
    args: readonly bigint[],
    rc: number,
    rets: readonly bigint[],
  ): void {
    const usual = Number.isSafeInteger(now) && Number.isSafeInteger(lpar) &&
      Number.isSafeInteger(opcode) && opcode >= 0 && Number.isSafeInteger(rc);
    let at = usual ? putDecimal(0, now) : -1;
    if (at >= 0) {
      chars[at++] = SPACE;
      at = putDecimal(at, lpar);
      chars[at++] = SPACE;
      chars[at++] = LETTER_H;
      at = putHex(at, opcode);
      chars[at++] = SPACE;
      at = putRegisters(at, args);
    }
    if (at >= 0) {
      chars[at++] = SPACE;
      at = putDecimal(at, rc);
      chars[at++] = SPACE;
      at = putRegisters(at, rets);
    }
    // Anything unusual (a fraction of a ns, a huge register): the record as a string.
    if (at < 0) return this.add(hcallRecord(now, lpar, opcode, args, rc, rets));
    let lo = this.#lo, hi = this.#hi;
    for (let i = 0; i < at; i++) {
      const c = chars[i];
      lo = Math.imul(lo ^ c, 0x01000193);
      hi = Math.imul(hi ^ c ^ (lo >>> 7), 0x01000193);
    }
    this.#end(lo, hi);
  }

  /** The hash so far, 16 hex digits. */
  hex(): string {
    return (this.#hi >>> 0).toString(16).padStart(8, "0") +
      (this.#lo >>> 0).toString(16).padStart(8, "0");
  }

  #end(lo: number, hi: number): void {
    // The separator folds into each lane on its own (no cross term), as it always has.
    this.#lo = Math.imul(lo ^ NEWLINE, 0x01000193);
    this.#hi = Math.imul(hi ^ NEWLINE, 0x01000193);
    this.count++;
  }
}

/** Registers as a trace shows them: hex, comma-separated. */
function hexList(values: readonly bigint[]): string {
  let out = "";
  for (let i = 0; i < values.length; i++) out += (i ? "," : "") + values[i].toString(16);
  return out;
}

/**
 * The trace record of one hcall: virtual time, LPAR, opcode, registers in,
 * return code, registers out (what a tracer hears and the hash folds in).
 * @example
 * ```ts
 * import { hcallRecord } from "./trace_hash.ts";
 * hcallRecord(1000, 1, 0xF000, [1n, 0n], 0, [0n]); // "1000 1 hf000 1,0 0 0"
 * ```
 */
export function hcallRecord(
  now: number,
  lpar: number,
  opcode: number,
  args: readonly bigint[],
  rc: number,
  rets: readonly bigint[],
): string {
  return `${now} ${lpar} h${opcode.toString(16)} ${hexList(args)} ${rc} ${hexList(rets)}`;
}
