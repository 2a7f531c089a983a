import type { Clock } from './types.ts';

export interface SlidingQuantileOptions {
  windowMs?: number;
  /** Memory bound: past this many samples the oldest is dropped even if still inside the window. */
  maxSamples?: number;
  /** Below this many samples in the window a quantile is noise, so none is reported. */
  minSamples?: number;
  /**
   * A sorted window is reused for this long even as samples arrive. Sorting hundreds of samples on every
   * request showed up in profiles; a p95 a fraction of a second old is as good for timeouts. 0 = exact.
   */
  staleMs?: number;
}

/**
 * Quantiles over the samples of the last `windowMs` (at most `maxSamples` of them), computed exactly from a
 * ring buffer. Used for the per-deployment time-to-first-token p95 that sets the first-byte timeout and
 * the hedging trigger, where a few hundred samples is plenty and an exact answer is easy to test.
 */
export class SlidingQuantile {
  readonly #clock: Clock;
  readonly #windowMs: number;
  readonly #minSamples: number;
  readonly #values: Float64Array;
  readonly #times: Float64Array;
  #head = 0;
  #size = 0;
  /** Sorted copy of the window, rebuilt when the window changed and the copy is older than staleMs. */
  #sorted: Float64Array | undefined;
  #sortedAt = Number.NEGATIVE_INFINITY;
  #dirty = true;
  readonly #staleMs: number;

  constructor(opts: SlidingQuantileOptions, clock: Clock) {
    const windowMs = opts.windowMs ?? 60_000;
    const maxSamples = Math.floor(opts.maxSamples ?? 512);
    if (!(windowMs > 0)) throw new RangeError(`windowMs must be > 0, got ${windowMs}`);
    if (!(maxSamples >= 1)) throw new RangeError(`maxSamples must be >= 1, got ${maxSamples}`);
    this.#clock = clock;
    this.#windowMs = windowMs;
    this.#minSamples = Math.min(Math.max(1, opts.minSamples ?? 20), maxSamples);
    this.#values = new Float64Array(maxSamples);
    this.#times = new Float64Array(maxSamples);
    this.#staleMs = Math.max(0, opts.staleMs ?? 0);
  }

  observe(v: number): void {
    if (!Number.isFinite(v)) return;
    const now = this.#clock.now();
    this.#evict(now);
    const cap = this.#values.length;
    const tail = (this.#head + this.#size) % cap;
    this.#values[tail] = v;
    this.#times[tail] = now;
    if (this.#size < cap) this.#size++;
    else this.#head = (this.#head + 1) % cap;
    this.#dirty = true;
  }

  /** Linearly interpolated quantile (Hyndman–Fan type 7, as numpy and R default to); q is clamped to [0, 1]. */
  quantile(q: number): number | undefined {
    this.#evict(this.#clock.now());
    if (this.#size < this.#minSamples || Number.isNaN(q)) return undefined;
    const sorted = this.#sortedWindow();
    const h = (sorted.length - 1) * Math.min(1, Math.max(0, q));
    const lo = Math.floor(h);
    const a = sorted[lo]!;
    const b = sorted[Math.min(lo + 1, sorted.length - 1)]!;
    return a + (h - lo) * (b - a);
  }

  count(): number {
    this.#evict(this.#clock.now());
    return this.#size;
  }

  #evict(now: number): void {
    const cap = this.#values.length;
    const oldest = now - this.#windowMs;
    let dropped = false;
    while (this.#size > 0 && this.#times[this.#head]! <= oldest) {
      this.#head = (this.#head + 1) % cap;
      this.#size--;
      dropped = true;
    }
    if (dropped) this.#dirty = true;
  }

  #sortedWindow(): Float64Array {
    const now = this.#clock.now();
    const fresh =
      !this.#dirty || (now - this.#sortedAt < this.#staleMs && this.#sorted!.length >= this.#minSamples);
    if (this.#sorted && fresh) return this.#sorted;
    const cap = this.#values.length;
    const out = new Float64Array(this.#size);
    for (let i = 0; i < this.#size; i++) out[i] = this.#values[(this.#head + i) % cap]!;
    // Float64Array sorts numerically, unlike Array.prototype.sort.
    out.sort();
    this.#sorted = out;
    this.#sortedAt = now;
    this.#dirty = false;
    return out;
  }
}
