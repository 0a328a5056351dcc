/** Small statistics for benchmark figures: a median with its spread, and latency percentiles. */

/** A figure measured over several runs: the median, the range it moved in, and every run. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

/** Median, min and max of `values` (NaN when there are none). */
export function spread(values: number[]): Spread {
  const sorted = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  if (sorted.length === 0) return { median: NaN, min: NaN, max: NaN, runs: values };
  const middle = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1], runs: values };
}

/** The nearest-rank `p`th percentile (0-100) of ascending `sorted` values. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** Pairs `a[i] / b[i]`: ratios of runs taken side by side, so machine noise cancels. */
export function ratios(a: number[], b: number[]): number[] {
  return a.map((value, i) => value / b[i]);
}

/** A growable list of float samples (latencies, times) without per-sample objects. */
export class Samples {
  #values = new Float64Array(1 << 16);
  #length = 0;

  /** Appends one sample. */
  push(value: number): void {
    if (this.#length === this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.#length++] = value;
  }

  get length(): number {
    return this.#length;
  }

  /** The samples in the order they came. */
  values(): Float64Array {
    return this.#values.subarray(0, this.#length);
  }

  /** The samples in ascending order (a copy). */
  sorted(): Float64Array {
    return this.values().slice().sort();
  }
}

/** Something that lasted `ms` milliseconds and ended at `end` (performance.now()): a wait, an fsync, a stall. */
export interface Interval {
  end: number;
  ms: number;
}

/**
 * What a window with some work (a compaction) has beyond windows of the same load without it, given
 * the lengths (ascending) of what happened in each (deposits' waits, fsyncs): per window (that one
 * first) the count of lengths over `slowMs` and the longest; `attributed` is the count
 * in the first beyond the share of the others (as many of its lengths times the share over `slowMs`
 * in the windows without; at least 0), so that the machine's own stalls, which the windows without
 * have too, are not blamed on the work. A share, not a rate per second: work that slows every deposit
 * lets fewer of them happen, which would hide slow ones in a count per second. NaN when more than 1%
 * of the windows without are over `slowMs`: the machine itself is then too slow to tell.
 */
export function slowBeyondWindowsWithout(slowMs: number, work: ArrayLike<number>, ...without: ArrayLike<number>[]) {
  const windows = [work, ...without];
  const counts = windows.map((lengths) => Array.from(lengths).filter((length) => length > slowMs).length);
  const slowShareWithout = counts.slice(1).reduce((sum, count) => sum + count, 0) / without.reduce((sum, lengths) => sum + lengths.length, 0);
  return {
    counts,
    longest: windows.map((lengths) => lengths.length ? lengths[lengths.length - 1] : NaN),
    attributed: slowShareWithout > 0.01 ? NaN : Math.max(0, Math.round(counts[0] - slowShareWithout * work.length)),
  };
}
