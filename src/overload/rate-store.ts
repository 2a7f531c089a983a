import { type GcraResult, gcraCharge, gcraRefund, gcraStep } from './gcra.ts';

export type { GcraResult } from './gcra.ts';

/**
 * Where rate-limit and concurrency state lives. Memory on one node; Redis across replicas (each method one
 * atomic script there), which is why every operation is a single read-compute-write and the rate state is
 * one number (a GCRA TAT) per key. `now` is passed in rather than read so the algorithm stays pure
 * and a Redis adapter can use a shared wall clock.
 */
export interface RateStore {
  gcra(
    key: string,
    now: number,
    periodMs: number,
    limit: number,
    cost: number,
    burst?: number,
  ): Promise<GcraResult>;
  refund(key: string, now: number, periodMs: number, limit: number, cost: number): Promise<void>;
  /** Charges usage that exceeded the estimate; unlike `gcra` it always applies (the tokens are spent). */
  charge(key: string, now: number, periodMs: number, limit: number, cost: number): Promise<void>;
  /** Several limits at once, all or nothing; see `MemoryRateStore.gcraAll`. */
  gcraAll(checks: readonly GcraCheck[], now: number): Promise<GcraAllResult>;
  /** Takes one concurrency slot if fewer than `max` are in use. `inUse` counts after the call. */
  acquire(key: string, max: number): Promise<{ allowed: boolean; inUse: number }>;
  release(key: string): Promise<void>;
}

export interface GcraCheck {
  key: string;
  periodMs: number;
  limit: number;
  cost: number;
  burst?: number;
}

export interface GcraAllResult {
  allowed: boolean;
  /**
   * One per check, in order. When the whole batch is rejected nothing was charged: the checks that would have
   * passed report a peek (remaining and reset as they stand), the others their own rejection.
   */
  results: GcraResult[];
}

/**
 * The all-or-nothing decision of `gcraAll` over the stored TATs `read` returns, without writing anything:
 * `staged` holds the TATs to store if `allowed`. Shared by the memory store and the Redis adapter (whose
 * Lua script makes the same decision and write atomically; this then rebuilds the same answer).
 */
export function planGcraAll(
  read: (key: string) => number | undefined,
  checks: readonly GcraCheck[],
  now: number,
): GcraAllResult & { staged: Map<string, number | undefined> } {
  // Staged so the same key appearing twice in one batch sees its own earlier charge.
  const staged = new Map<string, number | undefined>();
  const current = (key: string) => (staged.has(key) ? staged.get(key) : read(key));
  const results: GcraResult[] = [];
  let allowed = true;
  for (const c of checks) {
    const r = gcraStep(current(c.key), now, c.periodMs, c.limit, c.cost, c.burst);
    results.push(r);
    if (r.allowed) staged.set(c.key, r.state);
    else allowed = false;
  }
  if (allowed) return { allowed, results, staged };
  const peeked = checks.map((c, i) => {
    const r = results[i]!;
    return r.allowed ? gcraStep(read(c.key), now, c.periodMs, c.limit, 0, c.burst) : r;
  });
  return { allowed, results: peeked, staged };
}

export interface MemoryRateStoreOptions {
  /**
   * Keys examined for eviction on each rate call. Each call adds at most one key and examines this many, so
   * the map stays near the number of keys whose bucket is not yet full again.
   */
  sweepBatch?: number;
}

/**
 * The single-node store. Atomic because each method computes and writes synchronously before its promise
 * settles. Memory is bounded by the keys active within the last period: a key whose TAT is ≤ now is a full
 * bucket, so it is never stored and is evicted by a small incremental sweep on every access (no timers).
 */
export class MemoryRateStore implements RateStore {
  readonly #tats = new Map<string, number>();
  readonly #inUse = new Map<string, number>();
  readonly #sweepBatch: number;
  #cursor: Iterator<[string, number]> | undefined;

  constructor(opts: MemoryRateStoreOptions = {}) {
    this.#sweepBatch = Math.max(1, Math.floor(opts.sweepBatch ?? 4));
  }

  gcra(
    key: string,
    now: number,
    periodMs: number,
    limit: number,
    cost: number,
    burst?: number,
  ): Promise<GcraResult> {
    this.#sweep(now);
    const result = gcraStep(this.#tats.get(key), now, periodMs, limit, cost, burst);
    if (result.allowed) this.#put(key, result.state, now);
    return Promise.resolve(result);
  }

  refund(key: string, now: number, periodMs: number, limit: number, cost: number): Promise<void> {
    this.#sweep(now);
    this.#put(key, gcraRefund(this.#tats.get(key), now, periodMs, limit, cost), now);
    return Promise.resolve();
  }

  charge(key: string, now: number, periodMs: number, limit: number, cost: number): Promise<void> {
    this.#sweep(now);
    this.#put(key, gcraCharge(this.#tats.get(key), now, periodMs, limit, cost), now);
    return Promise.resolve();
  }

  /**
   * Several limits at once, all or nothing (requests/min and tokens/min of a key, a user and an IP): a
   * request refused by one limit must not use up another. The Redis adapter does this in one multi-key script.
   */
  gcraAll(checks: readonly GcraCheck[], now: number): Promise<GcraAllResult> {
    this.#sweep(now);
    const plan = planGcraAll((key) => this.#tats.get(key), checks, now);
    if (plan.allowed) for (const [key, tat] of plan.staged) this.#put(key, tat, now);
    return Promise.resolve({ allowed: plan.allowed, results: plan.results });
  }

  /**
   * Sets a key's TAT as another store holds it. A replica copies the shared (Redis) state here as it goes,
   * so that if Redis goes away its local answers start from where the cluster was, not from a full bucket.
   * The TAT is in milliseconds, so read with this replica's share of the limit it means the same fullness.
   */
  seed(key: string, tat: number | undefined, now: number): void {
    this.#sweep(now);
    this.#put(key, tat, now);
  }

  /** A key's TAT as this store holds it now (undefined: a full bucket). */
  peek(key: string, now: number): number | undefined {
    const tat = this.#tats.get(key);
    return tat !== undefined && tat > now ? tat : undefined;
  }

  acquire(key: string, max: number): Promise<{ allowed: boolean; inUse: number }> {
    const inUse = this.#inUse.get(key) ?? 0;
    if (inUse >= max) return Promise.resolve({ allowed: false, inUse });
    this.#inUse.set(key, inUse + 1);
    return Promise.resolve({ allowed: true, inUse: inUse + 1 });
  }

  release(key: string): Promise<void> {
    const inUse = this.#inUse.get(key) ?? 0;
    // Deleted at zero so concurrency keys cost memory only while requests are in flight; a double release
    // cannot go negative and hand out an extra slot later.
    if (inUse <= 1) this.#inUse.delete(key);
    else this.#inUse.set(key, inUse - 1);
    return Promise.resolve();
  }

  /** For tests and metrics. */
  stats(): { rateKeys: number; concurrencyKeys: number } {
    return { rateKeys: this.#tats.size, concurrencyKeys: this.#inUse.size };
  }

  #put(key: string, tat: number | undefined, now: number): void {
    if (tat === undefined || tat <= now) this.#tats.delete(key);
    else this.#tats.set(key, tat);
  }

  #sweep(now: number): void {
    for (let i = 0; i < this.#sweepBatch; i++) {
      if (this.#tats.size === 0) return;
      this.#cursor ??= this.#tats.entries();
      const step = this.#cursor.next();
      if (step.done) {
        // Restart from the oldest insertion; entries added during the pass were visited by the live iterator.
        this.#cursor = undefined;
        continue;
      }
      const [key, tat] = step.value;
      if (tat <= now) this.#tats.delete(key);
    }
  }
}
