/**
 * Least, median, greatest and mean of a list: how the benchmarks report a
 * figure taken several times.
 * @module
 */

/** min / median / max / mean of a list. */
export interface Spread {
  min: number;
  median: number;
  max: number;
  mean: number;
}

/**
 * The spread of `values` (at least one); the median of an even count is the
 * upper of the middle two.
 * @example
 * ```ts
 * spread([3, 1, 2]); // { min: 1, median: 2, max: 3, mean: 2 }
 * ```
 */
export function spread(values: readonly number[]): Spread {
  if (values.length === 0) throw new RangeError("spread: no values");
  const s = [...values].sort((a, b) => a - b);
  return {
    min: s[0],
    median: s[Math.floor(s.length / 2)],
    max: s[s.length - 1],
    mean: s.reduce((a, b) => a + b, 0) / s.length,
  };
}
