/**
 * SCM health bits as returned by `H_SCM_HEALTH` (bit n is 1 << (63 - n)).
 *
 * @example
 * ```ts
 * import { HEALTH, healthNames } from "./health.ts";
 * healthNames(HEALTH.UNARMED | HEALTH.SHUTDOWN_DIRTY); // ["UNARMED", "SHUTDOWN_DIRTY"]
 * ```
 * @module
 */

/** Bit `n` of a PAPR bitmap, counted from the most significant bit. */
const bit = (n: number): bigint => 1n << BigInt(63 - n);

/** Name of a health bit. */
export type HealthBitName =
  | "UNARMED"
  | "SHUTDOWN_DIRTY"
  | "SHUTDOWN_CLEAN"
  | "EMPTY"
  | "HEALTH_CRITICAL"
  | "HEALTH_FATAL"
  | "HEALTH_UNHEALTHY"
  | "HEALTH_NON_CRITICAL"
  | "ENCRYPTED"
  | "SCRUBBED_AND_LOCKED";

/** The health bits defined by the Linux driver. */
export const HEALTH: Readonly<Record<HealthBitName, bigint>> = {
  UNARMED: bit(0),
  SHUTDOWN_DIRTY: bit(1),
  SHUTDOWN_CLEAN: bit(2),
  EMPTY: bit(3),
  HEALTH_CRITICAL: bit(4),
  HEALTH_FATAL: bit(5),
  HEALTH_UNHEALTHY: bit(6),
  HEALTH_NON_CRITICAL: bit(7),
  ENCRYPTED: bit(8),
  SCRUBBED_AND_LOCKED: bit(9),
};

/** Every defined health bit OR-ed together. */
export const HEALTH_ALL: bigint = Object.values(HEALTH).reduce((a, b) => a | b, 0n);

/** The names of the bits set in a health bitmap, in bit order. */
export function healthNames(bitmap: bigint): HealthBitName[] {
  return (Object.keys(HEALTH) as HealthBitName[]).filter((n) => (bitmap & HEALTH[n]) !== 0n);
}

/** A bitmap from bit names; throws on an unknown name, listing the accepted ones. */
export function healthFromNames(names: readonly string[]): bigint {
  let bitmap = 0n;
  for (const name of names) {
    if (!Object.hasOwn(HEALTH, name)) {
      throw new RangeError(
        `unknown health bit "${name}"; accepted: ${Object.keys(HEALTH).join(", ")}`,
      );
    }
    bitmap |= HEALTH[name as HealthBitName];
  }
  return bitmap;
}
