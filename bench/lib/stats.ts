/** Latency summary of one measured cell, in milliseconds. */
export interface Summary {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/**
 * Nearest-rank percentiles over the raw samples. A cell holds at most a few hundred thousand samples, so
 * sorting them all is cheaper to trust than a histogram with its bucket-width error at sub-millisecond
 * latencies, which is exactly the range this benchmark argues about.
 */
export function summarize(samples: ArrayLike<number>): Summary {
  const n = samples.length;
  if (n === 0)
    return { count: 0, mean: Number.NaN, p50: Number.NaN, p90: Number.NaN, p99: Number.NaN, max: Number.NaN };
  const sorted = Float64Array.from(samples).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: n,
    mean: sum / n,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[n - 1]!,
  };
}

/** `sorted` must be ascending and non-empty. */
export function percentile(sorted: Float64Array, p: number): number {
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** A growable sample buffer: the load loop pushes one number per request, so avoid boxing in arrays. */
export class Samples {
  #buf = new Float64Array(4096);
  #len = 0;

  push(v: number): void {
    if (this.#len === this.#buf.length) {
      const next = new Float64Array(this.#buf.length * 2);
      next.set(this.#buf);
      this.#buf = next;
    }
    this.#buf[this.#len++] = v;
  }

  get length(): number {
    return this.#len;
  }

  values(): Float64Array {
    return this.#buf.subarray(0, this.#len);
  }
}
