/**
 * A small seeded random source (sfc32, seeded through splitmix64): the same
 * seed gives the same numbers on every machine. Nothing in the simulation
 * uses `Math.random`.
 * @module
 */

const MASK64 = (1n << 64n) - 1n;

/** Deterministic pseudo-random numbers from a seed. */
export class SeededRandom {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /** A generator for `seed` (any safe integer; `stream` separates independent uses of one seed). */
  constructor(seed: number, stream = 0) {
    // splitmix64 over the whole seed and the stream, so no two (seed, stream) pairs collide.
    let s = (BigInt(Math.floor(seed)) * 0x10000n + BigInt(stream)) & MASK64;
    const next = () => {
      s = (s + 0x9E3779B97F4A7C15n) & MASK64;
      let z = s;
      z = ((z ^ (z >> 30n)) * 0xBF58476D1CE4E5B9n) & MASK64;
      z = ((z ^ (z >> 27n)) * 0x94D049BB133111EBn) & MASK64;
      return Number((z ^ (z >> 31n)) & 0xFFFF_FFFFn);
    };
    this.#a = next();
    this.#b = next();
    this.#c = next();
    this.#d = next();
    for (let i = 0; i < 12; i++) this.next32();
  }

  /** A uniformly distributed 32-bit unsigned integer. */
  next32(): number {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0;
    this.#d = (this.#d + 1) >>> 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) >>> 0;
    this.#c = ((this.#c << 21) | (this.#c >>> 11)) >>> 0;
    this.#c = (this.#c + t) >>> 0;
    return t;
  }

  /** An integer in `[0, n)`; `n` from 1 to 2^32. */
  below(n: number): number {
    if (!(n >= 1 && n <= 2 ** 32)) throw new RangeError(`below(${n}): n must be from 1 to 2^32`);
    return Math.floor((this.next32() / 2 ** 32) * n);
  }

  /** An integer in `[lo, hi]`. */
  between(lo: number, hi: number): number {
    return lo + this.below(hi - lo + 1);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next32() < p * 2 ** 32;
  }

  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)];
  }

  /** A 64-bit value (continue-tokens). */
  random64(): bigint {
    return (BigInt(this.next32()) << 32n) | BigInt(this.next32());
  }
}
