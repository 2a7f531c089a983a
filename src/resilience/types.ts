/**
 * Pure resilience policy lives in this folder: balancer, outlier detection, retry budget, backoff,
 * hedging budget, latency trackers. Each takes an injected clock (and, where random, an injected RNG)
 * and does no I/O, so it is tested fast and deterministically. The pipeline (src/pipeline/resilient.ts)
 * is the only mechanism that calls them.
 */

export interface Clock {
  /** Monotonic milliseconds. */
  now(): number;
}

export const systemClock: Clock = { now: () => performance.now() };

/** Returns a float in [0, 1). Injected so jitter and P2C sampling are reproducible in tests. */
export type Rng = () => number;

/** What the balancer is told about one candidate deployment. */
export interface Candidate {
  id: string;
  weight: number;
  /** 0 is the preferred tier; higher tiers take spill-over. */
  tier: number;
  /** Not ejected and not blocked by retry-after. */
  healthy: boolean;
}
