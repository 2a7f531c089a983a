import type { Clock } from './types.ts';

export interface PeakEwmaOptions {
  /** Time constant τ: a sample's weight falls to 1/e after this long. */
  decayMs?: number;
  /**
   * The estimate before any sample (tower's `default_rtt`). 0 by default; a realistic value keeps a freshly
   * added deployment from looking infinitely fast and drawing a herd before its first answer comes back.
   */
  initialMs?: number;
}

/**
 * Peak-sensitive, time-weighted moving average of latency [Finagle, Linkerd/tower `PeakEwma`].
 *
 * A sample above the estimate replaces it at once, so a deployment that slows down is avoided on the very
 * next pick; lower samples only pull it down gradually, weighted by the time since the previous sample, so a
 * burst of fast answers cannot erase a recent stall. As in Finagle and tower, the estimate also decays
 * towards zero while no samples arrive: an avoided deployment becomes attractive again and is re-measured,
 * instead of being starved forever by one old peak.
 */
export class PeakEwma {
  readonly #clock: Clock;
  readonly #decayMs: number;
  #cost: number;
  #stamp: number;

  constructor(opts: PeakEwmaOptions, clock: Clock) {
    const decayMs = opts.decayMs ?? 10_000;
    if (!(decayMs > 0)) throw new RangeError(`decayMs must be > 0, got ${decayMs}`);
    this.#clock = clock;
    this.#decayMs = decayMs;
    this.#cost = Math.max(0, opts.initialMs ?? 0);
    this.#stamp = clock.now();
  }

  observe(latencyMs: number): void {
    if (!Number.isFinite(latencyMs)) return;
    const sample = Math.max(0, latencyMs);
    const now = this.#clock.now();
    const w = this.#weight(now);
    const decayed = this.#cost * w;
    // Blending into the decayed value is the same as Finagle's cost·w + rtt·(1−w), and comparing against it
    // makes the result independent of how often value() was read in between.
    this.#cost = sample > decayed ? sample : decayed + sample * (1 - w);
    this.#stamp = Math.max(this.#stamp, now);
  }

  value(): number {
    return this.#cost * this.#weight(this.#clock.now());
  }

  #weight(now: number): number {
    const elapsed = Math.max(0, now - this.#stamp);
    return Math.exp(-elapsed / this.#decayMs);
  }
}
