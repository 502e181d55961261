/**
 * What a power loss leaves of the lines that were not durable, chosen by a
 * seeded random source: `none` (every one lost), `all` (every one reached
 * the media in time), `subset` (each line independently), `torn` (each
 * aligned 8-byte word of each line independently: the unit the processor
 * writes atomically).
 * @module
 */
import type { SeededRandom } from "../runtime/sim/random.ts";
import { LINE_BYTES } from "./cpu_cache.ts";

/** How the survivors are chosen. */
export const POWER_LOSS_MODES = ["none", "all", "subset", "torn"] as const;
/** A power-loss mode. */
export type PowerLossMode = typeof POWER_LOSS_MODES[number];

/** Checks a mode name, naming the accepted ones. */
export function parsePowerLossMode(value: unknown): PowerLossMode {
  if ((POWER_LOSS_MODES as readonly unknown[]).includes(value)) return value as PowerLossMode;
  throw new RangeError(
    `power-loss mode ${JSON.stringify(value)}: accepted: ${POWER_LOSS_MODES.join(", ")}`,
  );
}

/** One line's fate. */
export interface LineFate {
  /** What the media holds for the line after the power loss. */
  bytes: Uint8Array;
  /** Whether that differs from what the cache held (data was lost). */
  lost: boolean;
}

/**
 * The content a line has after the power loss, given what is durable (`old`)
 * and what the cache held (`cached`).
 */
export function lineAfterLoss(
  mode: PowerLossMode,
  random: SeededRandom,
  old: Uint8Array,
  cached: Uint8Array,
): LineFate {
  let bytes: Uint8Array;
  if (mode === "all") bytes = cached.slice();
  else if (mode === "none") bytes = old.slice();
  else if (mode === "subset") bytes = random.below(2) ? cached.slice() : old.slice();
  else {
    bytes = old.slice();
    for (let word = 0; word < LINE_BYTES; word += 8) {
      if (random.below(2)) bytes.set(cached.subarray(word, word + 8), word);
    }
  }
  let lost = false;
  for (let i = 0; i < LINE_BYTES && !lost; i++) lost = bytes[i] !== cached[i];
  return { bytes, lost };
}
