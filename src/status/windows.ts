/** Counts over a trailing window. `ok` is the denominator of the latency ratio (slow among successes). */
export interface Tally {
  total: number;
  bad: number;
  ok: number;
  slow: number;
}

export const emptyTally = (): Tally => ({ total: 0, bad: 0, ok: 0, slow: 0 });

/**
 * Request counters in fixed time buckets on a ring, enough of them to cover the longest window. A window
 * sum is over whole buckets, so a window edge is accurate to one bucket.
 */
export class BucketCounters {
  readonly #bucketMs: number;
  readonly #n: number;
  readonly #stamp: Float64Array;
  readonly #total: Uint32Array;
  readonly #bad: Uint32Array;
  readonly #ok: Uint32Array;
  readonly #slow: Uint32Array;

  constructor(bucketMs: number, spanMs: number) {
    this.#bucketMs = bucketMs;
    this.#n = Math.ceil(spanMs / bucketMs) + 1;
    this.#stamp = new Float64Array(this.#n).fill(-1);
    this.#total = new Uint32Array(this.#n);
    this.#bad = new Uint32Array(this.#n);
    this.#ok = new Uint32Array(this.#n);
    this.#slow = new Uint32Array(this.#n);
  }

  add(now: number, bad: boolean, slow: boolean): void {
    const b = Math.floor(now / this.#bucketMs);
    const i = b % this.#n;
    if (this.#stamp[i] !== b) {
      this.#stamp[i] = b;
      this.#total[i] = 0;
      this.#bad[i] = 0;
      this.#ok[i] = 0;
      this.#slow[i] = 0;
    }
    this.#total[i]! += 1;
    if (bad) this.#bad[i]! += 1;
    else this.#ok[i]! += 1;
    if (slow) this.#slow[i]! += 1;
  }

  /**
   * Overwrites bucket `b` (its index: epoch ms / bucket width) with counts read from elsewhere, e.g. a
   * cluster's sums; a bucket older than the one now in its slot is outside the span and ignored.
   */
  put(b: number, t: Tally): void {
    const i = b % this.#n;
    if (this.#stamp[i]! > b) return;
    this.#stamp[i] = b;
    this.#total[i] = t.total;
    this.#bad[i] = t.bad;
    this.#ok[i] = t.ok;
    this.#slow[i] = t.slow;
  }

  /** Sum of the buckets that end within the last `windowMs` (the current bucket included). */
  sum(now: number, windowMs: number): Tally {
    const t = emptyTally();
    const cur = Math.floor(now / this.#bucketMs);
    const count = Math.min(this.#n, Math.max(1, Math.round(windowMs / this.#bucketMs)));
    for (let k = 0; k < count; k++) {
      const b = cur - k;
      if (b < 0) break;
      const i = b % this.#n;
      if (this.#stamp[i] !== b) continue;
      t.total += this.#total[i]!;
      t.bad += this.#bad[i]!;
      t.ok += this.#ok[i]!;
      t.slow += this.#slow[i]!;
    }
    return t;
  }
}

/** Bucket width for a set of windows: fine enough for the shortest, at most 5 s. */
export function bucketFor(shortestWindowMs: number): number {
  return Math.max(10, Math.min(5_000, Math.floor(shortestWindowMs / 12)));
}
