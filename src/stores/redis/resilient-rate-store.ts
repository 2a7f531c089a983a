import type { GcraResult } from '../../overload/gcra.ts';
import {
  type GcraAllResult,
  type GcraCheck,
  MemoryRateStore,
  type RateStore,
} from '../../overload/rate-store.ts';
import { withTimeout } from './client.ts';
import { LATE, LOCAL, type RedisLink } from './link.ts';

/** The shared side: a RateStore that can also be told how many slots of a key this replica really holds. */
export interface SharedRateStore extends RateStore {
  setHeld(key: string, held: number): Promise<void>;
  /** Raises a key's TAT to at least `tat`, never lowers it. */
  raise(key: string, tat: number, now: number): Promise<void>;
}

export interface ResilientRateStoreOptions {
  shared: SharedRateStore;
  link: RedisLink;
  /** Live replicas (at least 1): during an outage each answers for its share, limit / replicas. */
  replicas: () => number;
  local?: MemoryRateStore;
  /** Local admissions remembered for Redis while it is away; past this the oldest are forgotten. */
  maxOwed?: number;
}

interface Held {
  /** Slots of this key taken in the shared store and not yet released. */
  shared: number;
  /** Slots taken in the local store (while Redis was away). */
  local: number;
  /** Shared calls on this key still in flight. */
  pending: number;
}

/** Usage admitted locally that Redis has not counted: replayed, at its own time, when Redis answers again. */
interface Owed {
  op: 'charge' | 'refund';
  key: string;
  at: number;
  periodMs: number;
  limit: number;
  cost: number;
}

/** Replayed concurrently in batches of this many, each batch with a generous (background) timeout. */
const REPLAY_BATCH = 200;
const REPLAY_TIMEOUT_MS = 2_000;

/**
 * The rate store a replica uses when Redis is configured: the shared (Redis) store while the link trusts
 * Redis, this replica's own memory store otherwise, with every limit divided by the number of live replicas
 * so that the cluster as a whole still roughly keeps it. No request waits on Redis longer than the link's
 * budget: a call that fails or runs late is answered locally.
 *
 * Local answers are kept close to the cluster's in two ways. Every shared answer is copied into the local
 * store (its TAT, which is in milliseconds): a local answer starts from the cluster's fullness, not from a
 * full bucket, so a replica that falls back with a key nearly spent keeps refusing it. And what is admitted
 * locally without reaching Redis is replayed to Redis when it answers again, each charge at the time it was
 * made (GCRA then counts it as if it had arrived then), so the requests served during an outage, or during
 * one late call, are not admitted a second time afterwards.
 *
 * Concurrency slots remember where they were taken, so a release goes back to the same store. An acquire
 * or release whose Redis outcome is unknown (it failed or ran late) marks the key dirty; once Redis answers
 * again this replica writes its true slot count for those keys (`setHeld`), which is idempotent where
 * replaying the lost calls would not be.
 */
export class ResilientRateStore implements RateStore {
  readonly #shared: SharedRateStore;
  readonly #link: RedisLink;
  readonly #replicas: () => number;
  readonly #local: MemoryRateStore;
  readonly #maxOwed: number;
  readonly #held = new Map<string, Held>();
  readonly #dirty = new Set<string>();
  #owed: Owed[] = [];
  /**
   * For each key answered locally, its TAT as last read from Redis (undefined: a full bucket), taken
   * before the first local answer changed the local copy. Raised back into Redis before the replay: a
   * Redis that restarted empty has forgotten the usage from before the outage, and replaying only the
   * outage's own charges would hand out a fresh burst. Where Redis kept its state it is a no-op.
   */
  readonly #floors = new Map<string, { tat: number | undefined; at: number }>();
  /** Owed entries sent to Redis and not yet confirmed. */
  #owedSending = 0;
  #owedDropped = 0;
  #reconciling = false;
  #replaying = false;
  #localAnswers = 0;

  constructor(opts: ResilientRateStoreOptions) {
    this.#shared = opts.shared;
    this.#link = opts.link;
    this.#replicas = opts.replicas;
    this.#local = opts.local ?? new MemoryRateStore();
    this.#maxOwed = opts.maxOwed ?? 100_000;
    opts.link.onChange((mode) => {
      if (mode === 'shared') this.#catchUp();
    });
  }

  /** This replica's share of a limit. */
  #share(limit: number): number {
    return limit / Math.max(1, this.#replicas());
  }

  /** Calls answered from local state since start: Redis away, late or failing (for metrics). */
  get localAnswers(): number {
    return this.#localAnswers;
  }

  /** Keys whose slot count in Redis may be wrong, and local usage not yet replayed to Redis. */
  get unsettled(): { slotKeys: number; owed: number; owedDropped: number } {
    return {
      slotKeys: this.#dirty.size,
      owed: this.#owed.length + this.#owedSending + this.#floors.size,
      owedDropped: this.#owedDropped,
    };
  }

  async gcra(
    key: string,
    now: number,
    periodMs: number,
    limit: number,
    cost: number,
    burst?: number,
  ): Promise<GcraResult> {
    const r = await this.#link.within(() => this.#shared.gcra(key, now, periodMs, limit, cost, burst));
    if (r !== LOCAL && r !== LATE) {
      this.#local.seed(key, r.state, now);
      this.#answered();
      return r;
    }
    this.#localAnswers += 1;
    this.#floor(key, now);
    const got = await this.#local.gcra(
      key,
      now,
      periodMs,
      this.#share(limit),
      cost,
      this.#share(burst ?? limit),
    );
    if (got.allowed && r === LOCAL) this.#owe('charge', key, now, periodMs, limit, cost);
    return got;
  }

  async refund(key: string, now: number, periodMs: number, limit: number, cost: number): Promise<void> {
    const r = await this.#link.within(() => this.#shared.refund(key, now, periodMs, limit, cost));
    // Shared: the same step on the local copy keeps it close to Redis until the next answer re-seeds it.
    const shared = r !== LOCAL && r !== LATE;
    if (!shared) this.#floor(key, now);
    await this.#local.refund(key, now, periodMs, shared ? limit : this.#share(limit), cost);
    if (r === LOCAL) this.#owe('refund', key, now, periodMs, limit, cost);
  }

  async charge(key: string, now: number, periodMs: number, limit: number, cost: number): Promise<void> {
    const r = await this.#link.within(() => this.#shared.charge(key, now, periodMs, limit, cost));
    const shared = r !== LOCAL && r !== LATE;
    if (!shared) this.#floor(key, now);
    await this.#local.charge(key, now, periodMs, shared ? limit : this.#share(limit), cost);
    if (r === LOCAL) this.#owe('charge', key, now, periodMs, limit, cost);
  }

  async gcraAll(checks: readonly GcraCheck[], now: number): Promise<GcraAllResult> {
    const r = await this.#link.within(() => this.#shared.gcraAll(checks, now));
    if (r !== LOCAL && r !== LATE) {
      checks.forEach((c, i) => {
        this.#local.seed(c.key, r.results[i]!.state, now);
      });
      this.#answered();
      return r;
    }
    this.#localAnswers += 1;
    for (const c of checks) this.#floor(c.key, now);
    const got = await this.#local.gcraAll(
      checks.map((c) => ({ ...c, limit: this.#share(c.limit), burst: this.#share(c.burst ?? c.limit) })),
      now,
    );
    if (got.allowed && r === LOCAL)
      for (const c of checks) this.#owe('charge', c.key, now, c.periodMs, c.limit, c.cost);
    return got;
  }

  async acquire(key: string, max: number): Promise<{ allowed: boolean; inUse: number }> {
    const h = this.#entry(key);
    h.pending += 1;
    const tried = this.#link.mode === 'shared';
    const r = await this.#link.within(() => this.#shared.acquire(key, max));
    h.pending -= 1;
    if (r !== LOCAL && r !== LATE) {
      if (r.allowed) h.shared += 1;
      this.#settle(key, h);
      this.#answered();
      return r;
    }
    // Sent but unanswered: it may have taken a slot in Redis that this replica does not know it holds.
    if (tried) this.#dirty.add(key);
    this.#localAnswers += 1;
    // At least one slot each: with max below the replica count, flooring would lock every caller out.
    const got = await this.#local.acquire(key, Math.max(1, Math.floor(this.#share(max))));
    if (got.allowed) h.local += 1;
    this.#settle(key, h);
    return got;
  }

  async release(key: string): Promise<void> {
    const h = this.#held.get(key);
    if (!h) return;
    if (h.local > 0) {
      h.local -= 1;
      this.#settle(key, h);
      await this.#local.release(key);
      return;
    }
    if (h.shared === 0) return;
    h.shared -= 1;
    h.pending += 1;
    // Unanswered or never sent (Redis away), Redis may still count the slot: the key is settled later.
    const r = await this.#link.within(() => this.#shared.release(key));
    h.pending -= 1;
    if (r === LOCAL || r === LATE) this.#dirty.add(key);
    this.#settle(key, h);
  }

  #floor(key: string, now: number): void {
    if (this.#floors.has(key) || this.#floors.size >= this.#maxOwed) return;
    this.#floors.set(key, { tat: this.#local.peek(key, now), at: now });
  }

  #owe(op: Owed['op'], key: string, at: number, periodMs: number, limit: number, cost: number): void {
    if (cost <= 0) return;
    if (this.#owed.length >= this.#maxOwed) {
      // A long outage under heavy traffic: the oldest usage matters least to a sliding limit now.
      this.#owed.shift();
      this.#owedDropped += 1;
    }
    this.#owed.push({ op, key, at, periodMs, limit, cost });
  }

  #entry(key: string): Held {
    let h = this.#held.get(key);
    if (!h) {
      h = { shared: 0, local: 0, pending: 0 };
      this.#held.set(key, h);
    }
    return h;
  }

  #settle(key: string, h: Held): void {
    if (h.shared === 0 && h.local === 0 && h.pending === 0 && !this.#dirty.has(key)) this.#held.delete(key);
  }

  /** A shared call succeeded: settle anything that failed to reach Redis earlier. */
  #answered(): void {
    if (this.#dirty.size > 0 || this.#owed.length > 0 || this.#floors.size > 0) this.#catchUp();
  }

  #catchUp(): void {
    this.#reconcile();
    this.#replay();
  }

  /** Writes this replica's true slot count for every dirty key that has no call in flight. */
  #reconcile(): void {
    if (this.#reconciling || this.#dirty.size === 0) return;
    this.#reconciling = true;
    void (async () => {
      try {
        for (const key of [...this.#dirty]) {
          if (this.#link.mode !== 'shared') return;
          const h = this.#held.get(key);
          if (h && h.pending > 0) continue;
          const n = h?.shared ?? 0;
          await withTimeout(this.#shared.setHeld(key, n), REPLAY_TIMEOUT_MS);
          this.#dirty.delete(key);
          if (h && h.shared === 0 && h.local === 0 && h.pending === 0) this.#held.delete(key);
        }
      } catch {
        // Redis failed again: the keys stay dirty for the next time it answers.
      } finally {
        this.#reconciling = false;
      }
    })();
  }

  /**
   * Restores each key's pre-outage fullness (a no-op where Redis kept it), then sends Redis the usage
   * admitted locally, oldest first, each at its own time.
   */
  #replay(): void {
    if (this.#replaying || (this.#owed.length === 0 && this.#floors.size === 0)) return;
    this.#replaying = true;
    void (async () => {
      try {
        if (this.#floors.size > 0 && this.#link.mode === 'shared') {
          const floors = [...this.#floors];
          try {
            await withTimeout(
              Promise.all(
                floors.map(([key, f]) =>
                  f.tat === undefined ? undefined : this.#shared.raise(key, f.tat, f.at),
                ),
              ),
              REPLAY_TIMEOUT_MS,
            );
          } catch {
            return;
          }
          for (const [key, f] of floors) if (this.#floors.get(key) === f) this.#floors.delete(key);
        }
        while (this.#owed.length > 0 && this.#link.mode === 'shared') {
          const batch = this.#owed.splice(0, REPLAY_BATCH);
          this.#owedSending = batch.length;
          try {
            await withTimeout(
              Promise.all(batch.map((o) => this.#shared[o.op](o.key, o.at, o.periodMs, o.limit, o.cost))),
              REPLAY_TIMEOUT_MS,
            );
          } catch {
            // Some of the batch may have landed: sent again later, those count twice, the strict side.
            this.#owed.unshift(...batch);
            return;
          } finally {
            this.#owedSending = 0;
          }
        }
      } finally {
        this.#replaying = false;
      }
    })();
  }
}
