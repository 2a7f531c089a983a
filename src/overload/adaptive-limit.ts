import type { Clock } from '../resilience/types.ts';

export interface AdaptiveLimitOptions {
  initial?: number;
  min?: number;
  max?: number;
  /** Weight of each new estimate against the current limit (1 = no smoothing). */
  smoothing?: number;
  /** Latency may rise this far above the long-run average before the limit shrinks. */
  rttTolerance?: number;
  /** Multiplier applied on an overload signal (AIMD's multiplicative decrease). */
  backoff?: number;
  /** Windows in the long-run RTT average (exponential, 2 / (n + 1) per window after a warm-up). */
  longWindow?: number;
  /** A window of samples closes after at least this long... */
  windowMs?: number;
  /** ...and at least this many samples; its average RTT and peak in-flight make one update [WindowedLimit]. */
  windowSamples?: number;
  /** How far back the best (lowest) window RTT is remembered, for the reset after an overload cut. */
  baselineMs?: number;
  /** Double the limit per window until latency rises or the upstream refuses (default on). */
  slowStart?: boolean;
  /**
   * After an overload cut, do not grow past the cut limit for this long: the upstream just said where
   * its edge is, and probing straight back into it would make it refuse (and ask for a pause) again.
   */
  holdAfterCutMs?: number;
}

export interface AdaptiveLimitSample {
  /** The latency the limit steers on: time to first token for LLM traffic. */
  rttMs: number;
  /** Requests in flight to the deployment when this one started (including it). */
  inflight: number;
  /** The upstream said it is overloaded (429/529) or the request timed out. */
  overloaded: boolean;
  /**
   * The gateway's own event loop was saturated: the latency includes our CPU queueing, so it says
   * nothing about the upstream and must not shrink its limit.
   */
  selfBusy?: boolean;
}

export interface AdaptiveLimitStats {
  limit: number;
  estimate: number;
  longRttMs: number | undefined;
  lastRttMs: number | undefined;
  /** Lowest window RTT within `baselineMs`. */
  baselineRttMs: number | undefined;
}

/**
 * Netflix concurrency-limits' Gradient2 (wrapped in its WindowedLimit) with AIMD backoff.
 *
 * The long-run RTT stands for latency without queueing; a window whose average RTT is above long × tolerance
 * means requests are waiting inside the upstream, so the limit is scaled by the gradient long × tolerance /
 * short (at most halving it per window), then given sqrt(limit) of headroom so it keeps probing upward while
 * latency is flat. Samples are averaged per window because one update per answer overreacts: a burst of
 * slow answers would compound dozens of cuts before the first of them could take effect.
 *
 * Upstream overload signals cut the limit by `backoff` at once: they mean we are past capacity whatever
 * latency says (a 529 is usually fast). Gradient2's long average also drifts up whenever the limit runs a
 * little hot (it absorbs the queueing it should detect), so a cut also brings the long RTT back down to the
 * best window seen within `baselineMs`: the overload proves the recent latency included queueing. Against a
 * simulated upstream with a hard queue (test/overload/adaptive-limit.test.ts), the limit without that reset
 * settles at the overload threshold (≈1.45× capacity); with it, it saws between ≈1.0× and 1.5× and averages
 * ≈1.2×. Small capacities run hotter: sqrt(limit) is a third of a limit of 9.
 */
export class AdaptiveLimit {
  readonly #clock: Clock;
  readonly #min: number;
  readonly #max: number;
  readonly #smoothing: number;
  readonly #tolerance: number;
  readonly #backoff: number;
  readonly #longFactor: number;
  readonly #warmup: number;
  #estimate: number;
  #longRtt: number | undefined;
  #longCount = 0;
  #lastRtt: number | undefined;
  #lastCutAt = Number.NEGATIVE_INFINITY;
  #slowStart: boolean;
  readonly #holdAfterCutMs: number;
  /** Growth stops here until `#ceilingUntil` (set by an overload cut). */
  #ceiling = Number.POSITIVE_INFINITY;
  #ceilingUntil = Number.NEGATIVE_INFINITY;
  readonly #windowMs: number;
  readonly #windowSamples: number;
  #windowStart: number | undefined;
  #windowCount = 0;
  #windowSum = 0;
  #windowInflight = 0;
  #windowBusy = false;
  readonly #baseline: SlidingMin;

  constructor(opts: AdaptiveLimitOptions, clock: Clock) {
    this.#clock = clock;
    this.#min = Math.max(1, opts.min ?? 1);
    this.#max = Math.max(this.#min, opts.max ?? 512);
    this.#smoothing = clamp(opts.smoothing ?? 0.2, 0.01, 1);
    this.#tolerance = Math.max(1, opts.rttTolerance ?? 1.1);
    this.#backoff = clamp(opts.backoff ?? 0.9, 0.1, 1);
    const longWindow = Math.max(1, opts.longWindow ?? 600);
    this.#longFactor = 2 / (longWindow + 1);
    this.#warmup = Math.min(10, longWindow);
    this.#estimate = clamp(opts.initial ?? 16, this.#min, this.#max);
    this.#slowStart = opts.slowStart ?? true;
    this.#holdAfterCutMs = Math.max(0, opts.holdAfterCutMs ?? 30_000);
    this.#windowMs = Math.max(0, opts.windowMs ?? 1_000);
    this.#windowSamples = Math.max(1, Math.floor(opts.windowSamples ?? 10));
    this.#baseline = new SlidingMin(Math.max(1, opts.baselineMs ?? 600_000));
  }

  onSample(sample: AdaptiveLimitSample): void {
    const now = this.#clock.now();
    if (sample.overloaded) {
      // One cut per round trip, as TCP does per window: answers to requests sent before the last cut were
      // sent under the old limit, and a burst of them arriving together would otherwise compound the cut
      // (0.9^50) into a collapse to the minimum.
      const startedAt = now - Math.max(0, sample.rttMs);
      if (startedAt < this.#lastCutAt) return;
      this.#lastCutAt = now;
      this.#slowStart = false;
      // Cut from what was really in flight when the upstream refused, if that is lower: a limit far above
      // the upstream's capacity would otherwise need many round trips of ×backoff to come down to it.
      const base = sample.inflight > 0 ? Math.min(this.#estimate, sample.inflight) : this.#estimate;
      this.#estimate = Math.max(this.#min, base * this.#backoff);
      this.#ceiling = this.#estimate;
      this.#ceilingUntil = now + this.#holdAfterCutMs;
      const best = this.#baseline.min(now);
      if (this.#longRtt !== undefined && best !== undefined) {
        this.#longRtt = Math.min(this.#longRtt, best);
        // And the warm-up's plain mean is over: resuming it would average the overloaded windows that
        // led here straight back in.
        this.#longCount = Math.max(this.#longCount, this.#warmup);
      }
      return;
    }
    if (!(sample.rttMs > 0) || !Number.isFinite(sample.rttMs)) return;
    this.#windowStart ??= now;
    this.#windowCount++;
    this.#windowSum += sample.rttMs;
    this.#windowInflight = Math.max(this.#windowInflight, sample.inflight);
    if (sample.selfBusy) this.#windowBusy = true;
    if (this.#windowCount < this.#windowSamples || now - this.#windowStart < this.#windowMs) return;
    const rtt = this.#windowSum / this.#windowCount;
    const inflight = this.#windowInflight;
    const busy = this.#windowBusy;
    this.#windowStart = now;
    this.#windowCount = 0;
    this.#windowSum = 0;
    this.#windowInflight = 0;
    this.#windowBusy = false;
    if (busy) {
      // Our own saturation: neither cut nor let the long average learn this latency. A limit in use keeps
      // growing (doubling in slow start, else its usual headroom): while our CPU is the bottleneck,
      // queueing in front of an upstream that has room only adds latency and queue upkeep.
      if (inflight >= this.#estimate / 2) {
        const grown = this.#slowStart
          ? this.#estimate * 2
          : this.#estimate + Math.sqrt(this.#estimate) * this.#smoothing;
        const capped =
          now < this.#ceilingUntil ? Math.min(grown, Math.max(this.#ceiling, this.#estimate)) : grown;
        this.#estimate = clamp(capped, this.#min, this.#max);
      }
      return;
    }
    this.#update(rtt, inflight, now);
  }

  #update(rtt: number, inflight: number, now: number): void {
    this.#baseline.add(rtt, now);
    this.#lastRtt = rtt;
    let long = this.#observeLong(rtt);
    // After a long overload the average has absorbed queueing delay; pull it down faster than the slow
    // average would once latency is back to normal, so the limit can recover [Gradient2].
    if (long / rtt > 2) {
      long *= 0.95;
      this.#longRtt = long;
    }
    // App-limited: with so little in flight the latency says nothing about how much more the upstream takes.
    if (inflight < this.#estimate / 2) return;
    const gradient = clamp((this.#tolerance * long) / rtt, 0.5, 1);
    if (this.#slowStart) {
      // Slow start, as TCP: double per window while latency stays flat, so a limit that starts low (and
      // so learns the upstream's unqueued latency first) reaches a large upstream's capacity in seconds.
      if (gradient >= 1) {
        this.#estimate = clamp(this.#estimate * 2, this.#min, this.#max);
        return;
      }
      this.#slowStart = false;
    }
    // Headroom to probe upward only while latency is within tolerance. Gradient2 always adds sqrt(limit),
    // which balances a gradient of 1 - 1/sqrt(limit): at a limit of 20 the latency sits ~1.3 x tolerance
    // above normal, i.e. the upstream is held well past its knee, and every queued second shows up in
    // the callers' time to first token.
    const queueSize = gradient >= 1 ? Math.sqrt(this.#estimate) : 0;
    const target = this.#estimate * gradient + queueSize;
    let next = this.#estimate * (1 - this.#smoothing) + target * this.#smoothing;
    if (now < this.#ceilingUntil) next = Math.min(next, Math.max(this.#ceiling, this.#estimate));
    this.#estimate = clamp(next, this.#min, this.#max);
  }

  limit(): number {
    return Math.max(this.#min, Math.floor(this.#estimate));
  }

  stats(): AdaptiveLimitStats {
    return {
      limit: this.limit(),
      estimate: this.#estimate,
      longRttMs: this.#longRtt,
      lastRttMs: this.#lastRtt,
      baselineRttMs: this.#baseline.min(this.#clock.now()),
    };
  }

  #observeLong(rtt: number): number {
    // A plain mean over the first samples, so the very first answer does not define "normal" on its own.
    if (this.#longRtt === undefined || this.#longCount < this.#warmup) {
      this.#longCount++;
      this.#longRtt =
        this.#longRtt === undefined ? rtt : this.#longRtt + (rtt - this.#longRtt) / this.#longCount;
    } else {
      // A queued window moves the average no further than the tolerance: otherwise the long average
      // absorbs the very queueing it is there to detect, and the limit creeps up until the upstream
      // refuses. Capped, it still follows a lasting shift in the upstream's latency, slowly (~5%/min).
      // A faster window is followed quickly: the average may have been learned under overload (a limit
      // that starts high), and it must come down to the upstream's real latency before it can steer.
      const capped = Math.min(rtt, this.#longRtt * this.#tolerance);
      const factor = capped < this.#longRtt ? Math.max(this.#longFactor, 0.1) : this.#longFactor;
      this.#longRtt += (capped - this.#longRtt) * factor;
    }
    return this.#longRtt;
  }
}

/** Minimum over roughly the last `spanMs`, in ten buckets so memory stays constant. */
class SlidingMin {
  readonly #bucketMs: number;
  readonly #buckets: Array<{ start: number; min: number }> = [];

  constructor(spanMs: number) {
    this.#bucketMs = spanMs / 10;
  }

  add(x: number, now: number): void {
    const last = this.#buckets.at(-1);
    if (last && now - last.start < this.#bucketMs) last.min = Math.min(last.min, x);
    else this.#buckets.push({ start: now, min: x });
    if (this.#buckets.length > 10) this.#buckets.shift();
  }

  min(now: number): number | undefined {
    let m: number | undefined;
    for (const b of this.#buckets) {
      if (now - b.start >= this.#bucketMs * 11) continue;
      m = m === undefined ? b.min : Math.min(m, b.min);
    }
    return m;
  }
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}
