/**
 * Continue-tokens of sliced operations: each LPAR draws from its own stream,
 * so a token says nothing of what other partitions did. (One shared
 * generator let a partition invert its own token and count the tokens drawn
 * by others between two of its own.) Tokens are not secrets: a token names
 * an operation only for the LPAR that started it (the handlers check).
 * @module
 */
import type { LparId } from "./types.ts";

const U64 = (1n << 64n) - 1n;

/** splitmix64's finalizer: a bijection of 64-bit values that spreads every input bit. */
function mix64(x: bigint): bigint {
  x = ((x ^ (x >> 30n)) * 0xBF58476D1CE4E5B9n) & U64;
  x = ((x ^ (x >> 27n)) * 0x94D049BB133111EBn) & U64;
  return x ^ (x >> 31n);
}

/** Per-LPAR token streams under one key. */
export class TokenStreams {
  readonly #key: bigint;
  readonly #drawn = new Map<LparId, bigint>();

  /** Streams keyed by `key` (drawn once from the machine's seeded randomness). */
  constructor(key: bigint) {
    this.#key = key & U64;
  }

  /**
   * The next token of `lpar`'s stream. Distinct for every (LPAR, draw): the
   * LPAR in the high bits, its draw count in the low 40, then a bijection.
   */
  next(lpar: LparId): bigint {
    const n = (this.#drawn.get(lpar) ?? 0n) + 1n;
    this.#drawn.set(lpar, n);
    return mix64(this.#key ^ ((BigInt(lpar) & 0xFF_FFFFn) << 40n) ^ (n & 0xFF_FFFF_FFFFn));
  }
}
