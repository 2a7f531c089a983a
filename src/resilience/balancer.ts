import type { Candidate, Rng } from './types.ts';

export interface BalancerOptions {
  /** A tier at h healthy share claims min(1, h × this) of the traffic [Envoy overprovisioning_factor 1.4]. */
  overprovisioning?: number;
  /** Below this healthy share a tier stops trusting health and spreads over all its members [Envoy 50%]. */
  panicThreshold?: number;
}

/** The balancer's load signal: peak-EWMA latency × (outstanding + 1) [Finagle, Linkerd]. */
export function loadScore(ewmaMs: number, outstanding: number): number {
  // The 1 ms floor keeps outstanding requests meaningful before any latency is known; otherwise every
  // unmeasured deployment scores 0 and the least busy one cannot be told apart from the busiest.
  return Math.max(1, Number.isFinite(ewmaMs) ? ewmaMs : 1) * (Math.max(0, outstanding) + 1);
}

export interface PriorityPlan {
  /** Share of traffic per tier, in the order given; sums to 1. */
  load: number[];
  /** Per tier: ignore health and pick among all members. */
  panic: boolean[];
}

/**
 * Envoy's priority-load and panic computation from each tier's healthy share (by weight).
 *
 * Each tier's health is min(1, h × overprovisioning); tiers take traffic in order, each up to its health,
 * and the rest spills to the next. When the tiers together cannot reach 100% their loads are scaled up in
 * proportion instead of dropping traffic. Panic (per tier, healthy share < threshold) only applies when the
 * tiers together are short: a sick tier 0 with a healthy tier 1 behind it simply spills, because spreading
 * onto known-bad deployments would be worse. If nothing at all is healthy, tier 0 takes everything, in panic.
 */
export function priorityPlan(
  healthyShares: readonly number[],
  overprovisioning = 1.4,
  panicThreshold = 0.5,
): PriorityPlan {
  const health = healthyShares.map((h) => Math.min(1, Math.max(0, h) * overprovisioning));
  const total = Math.min(
    1,
    health.reduce((a, b) => a + b, 0),
  );
  if (total === 0) {
    return {
      load: health.map((_, i) => (i === 0 ? 1 : 0)),
      panic: health.map((_, i) => i === 0 && panicThreshold > 0),
    };
  }
  let remaining = 1;
  const load = health.map((hi) => {
    const share = Math.min(remaining, hi / total);
    remaining -= share;
    return share;
  });
  const panic = healthyShares.map((h) => total < 1 && h < panicThreshold);
  return { load, panic };
}

interface Tier {
  all: Candidate[];
  healthy: Candidate[];
  weight: number;
  healthyWeight: number;
}

/**
 * Chooses one deployment: a tier by Envoy priority spill-over (with panic mode), then power of two choices
 * within it [Mitzenmacher; Finagle/Linkerd P2C]: two distinct candidates sampled by weight, the less loaded
 * one wins. Two random choices avoid both the herd that "always the least loaded" causes with stale load
 * data and the imbalance of pure random. All randomness comes from the injected RNG.
 *
 * Candidates with a weight that is not a positive number take no traffic at all (a way to drain one).
 */
export class Balancer {
  readonly #overprovisioning: number;
  readonly #panicThreshold: number;
  readonly #rng: Rng;

  constructor(opts: BalancerOptions, rng: Rng) {
    this.#overprovisioning = opts.overprovisioning ?? 1.4;
    this.#panicThreshold = opts.panicThreshold ?? 0.5;
    this.#rng = rng;
  }

  pick(
    candidates: readonly Candidate[],
    load: (id: string) => number,
    exclude?: ReadonlySet<string>,
  ): string | undefined {
    const tiers = groupByTier(candidates, exclude);
    if (tiers.length === 0) return undefined;
    const plan = priorityPlan(
      tiers.map((t) => t.healthyWeight / t.weight),
      this.#overprovisioning,
      this.#panicThreshold,
    );
    const index = this.#chooseTier(plan.load);
    const tier = tiers[index]!;
    const pool = plan.panic[index] ? tier.all : tier.healthy;
    if (pool.length === 0) return undefined;
    return this.#powerOfTwo(pool, load);
  }

  #chooseTier(load: readonly number[]): number {
    const r = this.#rng();
    let acc = 0;
    let last = 0;
    for (let i = 0; i < load.length; i++) {
      const share = load[i]!;
      if (share <= 0) continue;
      last = i;
      acc += share;
      if (r < acc) return i;
    }
    // Rounding can leave the shares summing to a hair under 1.
    return last;
  }

  #powerOfTwo(pool: readonly Candidate[], load: (id: string) => number): string {
    if (pool.length === 1) return pool[0]!.id;
    let total = 0;
    for (const c of pool) total += c.weight;
    const first = weightedIndex(pool, total, this.#rng(), -1);
    const second = weightedIndex(pool, total - pool[first]!.weight, this.#rng(), first);
    const a = pool[first]!.id;
    const b = pool[second]!.id;
    // Ties keep the first draw, so with equal load the spread follows the weights exactly.
    return load(b) < load(a) ? b : a;
  }
}

function groupByTier(candidates: readonly Candidate[], exclude?: ReadonlySet<string>): Tier[] {
  const byTier = new Map<number, Tier>();
  for (const c of candidates) {
    if (exclude?.has(c.id)) continue;
    if (!(c.weight > 0) || !Number.isFinite(c.weight)) continue;
    let tier = byTier.get(c.tier);
    if (!tier) {
      tier = { all: [], healthy: [], weight: 0, healthyWeight: 0 };
      byTier.set(c.tier, tier);
    }
    tier.all.push(c);
    tier.weight += c.weight;
    if (c.healthy) {
      tier.healthy.push(c);
      tier.healthyWeight += c.weight;
    }
  }
  return [...byTier.entries()].sort(([a], [b]) => a - b).map(([, t]) => t);
}

/** Index drawn with probability proportional to weight, skipping `skip`; `total` excludes the skipped weight. */
function weightedIndex(pool: readonly Candidate[], total: number, r: number, skip: number): number {
  let target = r * total;
  let last = -1;
  for (let i = 0; i < pool.length; i++) {
    if (i === skip) continue;
    last = i;
    target -= pool[i]!.weight;
    if (target < 0) return i;
  }
  return last;
}
