/**
 * Checks of API arguments, as the configuration is checked: a bad one is a
 * RangeError naming the argument, the value and what is accepted, thrown
 * before anything is done.
 * @module
 */
import { excerpt } from "./excerpt.ts";

/** A value as a message shows it: bytes and arrays by their length, the rest as the configuration does. */
function show(value: unknown): string {
  if (value instanceof Uint8Array) return `a Uint8Array of ${value.length} bytes`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return excerpt(value);
}

function bad(name: string, value: unknown, accepted: string): never {
  throw new RangeError(`${name}: ${show(value)} is not valid; expected ${accepted}`);
}

/** A region, dimm or device key: a name such as "region0" or a DRC index. */
export function checkKey(name: string, value: unknown, example: string): void {
  if (typeof value === "string" && value !== "") return;
  if (Number.isSafeInteger(value) && (value as number) >= 0) return;
  bad(name, value, `a name such as "${example}" or a DRC index`);
}

/** A whole number from 0 (an offset or a length). */
export function checkCount(name: string, value: unknown): void {
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    bad(name, value, "a whole number from 0");
  }
}

/** Bytes to write. */
export function checkBytes(name: string, value: unknown): void {
  if (!(value instanceof Uint8Array)) bad(name, value, "a Uint8Array");
}

/** A string argument (a path, an attribute name). */
export function checkString(name: string, value: unknown): void {
  if (typeof value !== "string") bad(name, value, "a string");
}

/** An object of boolean flags, with only the keys accepted. */
export function checkFlags(name: string, value: unknown, keys: readonly string[]): void {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    bad(name, value, `an object of flags (${keys.join(", ")})`);
  }
  for (const [key, flag] of Object.entries(value as Record<string, unknown>)) {
    if (!keys.includes(key)) {
      throw new RangeError(`${name}: unknown flag "${key}"; accepted: ${keys.join(", ")}`);
    }
    if (flag !== undefined && typeof flag !== "boolean") {
      bad(`${name}.${key}`, flag, "true or false");
    }
  }
}

/** Most registers an hcall takes after its opcode: r4..r12. */
export const MAX_HCALL_ARGS = 9;

/**
 * hcall registers: bigints or safe integers that fit 64 bits (negative ones
 * are two's complement, as `~0` is), at most nine (r4..r12).
 */
export function checkRegisters(values: readonly unknown[]): bigint[] {
  if (values.length > MAX_HCALL_ARGS) {
    throw new RangeError(
      `hcall: ${values.length} arguments; an hcall takes at most ${MAX_HCALL_ARGS} (r4..r12)`,
    );
  }
  return values.map((v, i) => {
    const name = `hcall argument r${i + 4}`;
    if (typeof v === "number" && !Number.isSafeInteger(v)) {
      bad(name, v, "an integer (a number or a bigint)");
    }
    if (typeof v !== "number" && typeof v !== "bigint") {
      bad(name, v, "an integer (a number or a bigint)");
    }
    const n = BigInt(v);
    if (n < -(1n << 63n) || n >= 1n << 64n) bad(name, v, "a value that fits 64 bits");
    return BigInt.asUintN(64, n);
  });
}
