/**
 * A running 64-bit hash of everything a simulation did (FNV-1a in two
 * 32-bit lanes), so two runs of one seed can be compared by one string.
 * @module
 */

/**
 * The characters of the record being folded (`addHcall`): written here as
 * numbers, then folded in one loop. A record longer than this (a huge
 * register) is folded in parts, which gives the same hash.
 */
const chars = new Uint16Array(1024);
/** Room kept free for one number's characters before writing it (a safe integer has at most 17). */
const NUMBER_ROOM = 24;
/** Character codes of "0".."9", "a".."f". */
const HEX = Array.from("0123456789abcdef", (c) => c.charCodeAt(0));
const SPACE = 0x20, COMMA = 0x2C, MINUS = 0x2D, LETTER_H = 0x68, NEWLINE = 10;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const U64 = (1n << 64n) - 1n;

/** Folds strings into a 64-bit FNV-1a hash. */
export class TraceHash {
  #lo = 0x811C9DC5;
  #hi = 0xCBF29CE4;
  /** Characters written to `chars` and not folded yet. */
  #length = 0;
  /** Records folded in. */
  count = 0;

  /** Folds one record in (a record separator is added). */
  add(record: string): void {
    this.#text(record);
    this.#end();
  }

  /**
   * Folds in the record of one hcall exactly as `add` would fold
   * {@link hcallRecord}'s string, without making the string: the hash of a
   * run is the same whichever is used, and this one allocates nothing for
   * the usual registers (safe integers).
   */
  addHcall(
    now: number,
    lpar: number,
    opcode: number,
    args: readonly bigint[],
    rc: number,
    rets: readonly bigint[],
  ): void {
    this.#decimal(now);
    this.#char(SPACE);
    this.#decimal(lpar);
    this.#char(SPACE);
    this.#char(LETTER_H);
    this.#hexNumber(opcode);
    this.#char(SPACE);
    this.#hexList(args);
    this.#char(SPACE);
    this.#decimal(rc);
    this.#char(SPACE);
    this.#hexList(rets);
    this.#flush();
    this.#end();
  }

  /** The hash so far, 16 hex digits. */
  hex(): string {
    return (this.#hi >>> 0).toString(16).padStart(8, "0") +
      (this.#lo >>> 0).toString(16).padStart(8, "0");
  }

  /** Folds the characters written so far. */
  #flush(): void {
    let lo = this.#lo, hi = this.#hi;
    for (let i = 0, n = this.#length; i < n; i++) {
      const c = chars[i];
      lo = Math.imul(lo ^ c, 0x01000193);
      hi = Math.imul(hi ^ c ^ (lo >>> 7), 0x01000193);
    }
    this.#lo = lo;
    this.#hi = hi;
    this.#length = 0;
  }

  /** Makes room for `n` more characters. */
  #room(n: number): void {
    if (this.#length + n > chars.length) this.#flush();
  }

  #char(c: number): void {
    this.#room(1);
    chars[this.#length++] = c;
  }

  #text(text: string): void {
    this.#flush();
    let lo = this.#lo, hi = this.#hi;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      lo = Math.imul(lo ^ c, 0x01000193);
      hi = Math.imul(hi ^ c ^ (lo >>> 7), 0x01000193);
    }
    this.#lo = lo;
    this.#hi = hi;
  }

  #end(): void {
    // The separator folds into each lane on its own (no cross term), as it always has.
    this.#lo = Math.imul(this.#lo ^ NEWLINE, 0x01000193);
    this.#hi = Math.imul(this.#hi ^ NEWLINE, 0x01000193);
    this.count++;
  }

  /** `${n}` for a number. */
  #decimal(n: number): void {
    if (!Number.isSafeInteger(n)) return this.#text(`${n}`);
    if (n < 0) {
      this.#char(MINUS);
      n = -n;
    }
    this.#digits(n, 10);
  }

  /** `n.toString(16)` for a number. */
  #hexNumber(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) return this.#text(n.toString(16));
    this.#hex(n);
  }

  /** `n.toString(16)` for a non-negative safe integer. */
  #hex(n: number): void {
    if (n <= 0xFFFF_FFFF) return this.#hex32(n, 0);
    this.#hex32(Math.floor(n / 0x1_0000_0000), 0);
    this.#hex32(n >>> 0, 8);
  }

  /** The hex digits of a 32-bit `n`, at least `width` of them (leading zeros). */
  #hex32(n: number, width: number): void {
    this.#room(8);
    let count = n === 0 ? 1 : (35 - Math.clz32(n)) >> 2;
    if (count < width) count = width;
    const start = this.#length;
    for (let i = start + count - 1; i >= start; i--, n >>>= 4) chars[i] = HEX[n & 15];
    this.#length = start + count;
  }

  /** The decimal digits of a non-negative safe integer, most significant first. */
  #digits(n: number, base: number): void {
    this.#room(NUMBER_ROOM);
    let end = this.#length;
    // Count the digits, then write them from the last.
    for (let v = Math.floor(n / base); v > 0; v = Math.floor(v / base)) end++;
    this.#length = end + 1;
    do {
      const q = Math.floor(n / base);
      chars[end--] = HEX[n - q * base];
      n = q;
    } while (n > 0);
  }

  /** Registers as {@link hcallRecord} writes them: hex, comma-separated. */
  #hexList(values: readonly bigint[]): void {
    for (let i = 0; i < values.length; i++) {
      if (i) this.#char(COMMA);
      const v = values[i];
      if (v >= 0n && v <= MAX_SAFE) this.#hex(Number(v));
      else if (v >= 0n && v <= U64) {
        // Tokens and addresses: two 32-bit halves.
        this.#hex32(Number(v >> 32n), 0);
        this.#hex32(Number(v & 0xFFFF_FFFFn), 8);
      } else this.#text(v.toString(16));
    }
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
