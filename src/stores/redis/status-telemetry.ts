import {
  LocalCounters,
  type StatusTelemetry,
  type TelemetryScope,
  type TelemetryShape,
  type TelemetryStatus,
} from '../../status/telemetry.ts';
import type { Tally } from '../../status/windows.ts';
import { type Redis, withTimeout } from './client.ts';
import { sharedKeys } from './keys.ts';
import type { LogSink, SharedMode } from './link.ts';

/** The slice of RedisLink the telemetry follows: it stops calling Redis while the replica is in fallback. */
export interface TelemetryLink {
  readonly mode: SharedMode;
  onChange(listener: (mode: SharedMode) => void): void;
}

export interface RedisStatusTelemetryOptions {
  redis: Redis;
  /** `shared_state.key_prefix`. */
  prefix: string;
  replicaId: string;
  shape: TelemetryShape;
  link?: TelemetryLink;
  /** How often this replica's counts go to Redis and the cluster's come back (ms). */
  flushMs?: number;
  /** Longest one exchange may take before this replica judges from its own counts (ms). */
  timeoutMs?: number;
  /** How far replicas' clocks may disagree (ms): widens what is read back and what counts as late. */
  skewMs?: number;
  logger?: LogSink;
  /** Wall clock (epoch ms) for the exchange's own decisions; `add`/`sum` take the caller's `now`. */
  clock?: () => number;
  /** Exchange on a timer (tests call `sync()` themselves). */
  timers?: boolean;
}

/** HGETALLs per round trip during a full read (6 h of 5 s buckets is 4,321 hashes). */
const READ_CHUNK = 500;

/**
 * Status telemetry summed over the replicas through Redis (docs/status.md#several-replicas).
 *
 * Each replica keeps its own absolute counts per time bucket and component and, every `flushMs`, writes
 * the buckets that changed with HSET into one hash per bucket (`<replica> <component>` → "total bad ok
 * slow", expiring when the bucket leaves the longest window), in one pipeline that also reads back the
 * recent buckets. Every replica sums the same hashes, so every replica judges the same numbers. Absolute
 * per-replica values rather than HINCRBY deltas make a write idempotent: an exchange that timed out but
 * did run, or one repeated after an outage, cannot count a request twice.
 *
 * Older buckets are final and kept in memory; a replica that writes a bucket the others may have read for
 * good already (it was cut off from Redis for a while) bumps `status:late`, and every replica that sees
 * the bump reads the whole span again. That is how the cluster converges after an outage.
 *
 * While Redis is away (the link in local fallback, or an exchange failing) `sum` answers from this
 * replica's own counts and says so in `status()` and one log line; the counts made meanwhile are written
 * when Redis is back.
 */
export class RedisStatusTelemetry implements StatusTelemetry {
  readonly #redis: Redis;
  readonly #keys: ReturnType<typeof sharedKeys>;
  readonly #field: string;
  readonly #shape: TelemetryShape;
  readonly #link: TelemetryLink | undefined;
  readonly #flushMs: number;
  readonly #timeoutMs: number;
  readonly #lateAfterMs: number;
  readonly #readBackMs: number;
  readonly #logger: LogSink | undefined;
  readonly #clock: () => number;
  readonly #timers: boolean;
  readonly #known: Set<string>;
  /** This replica's own counts: what `sum` answers with while Redis is away. */
  readonly #local: LocalCounters;
  /** The cluster's counts as last read from Redis. */
  readonly #cluster: LocalCounters;
  /** This replica's absolute counts per bucket (bucket index → component → tally), within the span. */
  readonly #own = new Map<number, Map<string, Tally>>();
  /** Buckets changed since their last successful write. */
  #dirty = new Set<number>();
  #scope: TelemetryScope = 'local';
  #since: number;
  #reason: string | undefined = 'not read from Redis yet';
  #lastSyncAt: number | undefined;
  #lateSeen: number | undefined;
  #needFull = true;
  #everShared = false;
  #warnedAtStart = false;
  #running: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(opts: RedisStatusTelemetryOptions) {
    this.#redis = opts.redis;
    this.#keys = sharedKeys(opts.prefix);
    this.#field = encodeURIComponent(opts.replicaId);
    this.#shape = opts.shape;
    this.#link = opts.link;
    this.#flushMs = opts.flushMs ?? 1_000;
    this.#timeoutMs = opts.timeoutMs ?? 1_000;
    const skew = opts.skewMs ?? 2_000;
    // A write later than this after its bucket ended may miss replicas that already read the bucket for good.
    this.#lateAfterMs = 2 * this.#flushMs + this.#timeoutMs + skew;
    this.#readBackMs = this.#lateAfterMs + this.#flushMs + skew;
    this.#logger = opts.logger;
    this.#clock = opts.clock ?? Date.now;
    this.#timers = opts.timers ?? true;
    this.#known = new Set(opts.shape.keys);
    this.#local = new LocalCounters(opts.shape);
    this.#cluster = new LocalCounters(opts.shape);
    this.#since = this.#clock();
    opts.link?.onChange((mode) => {
      if (this.#closed) return;
      if (mode === 'shared') this.#needFull = true;
      else this.#toLocal('Redis unavailable (shared state in local fallback)');
      if (mode === 'shared' && this.#timers) void this.sync();
    });
  }

  add(key: string, now: number, bad: boolean, slow: boolean): void {
    this.#local.add(key, now, bad, slow);
    const b = Math.floor(now / this.#shape.bucketMs);
    let bucket = this.#own.get(b);
    if (!bucket) {
      bucket = new Map();
      this.#own.set(b, bucket);
    }
    let t = bucket.get(key);
    if (!t) {
      t = { total: 0, bad: 0, ok: 0, slow: 0 };
      bucket.set(key, t);
    }
    t.total += 1;
    if (bad) t.bad += 1;
    else t.ok += 1;
    if (slow) t.slow += 1;
    this.#dirty.add(b);
  }

  sum(key: string, now: number, windowMs: number): Tally {
    return (this.#scope === 'cluster' ? this.#cluster : this.#local).sum(key, now, windowMs);
  }

  status(): TelemetryStatus {
    return {
      backend: 'redis',
      scope: this.#scope,
      since: this.#since,
      ...(this.#reason ? { reason: this.#reason } : {}),
      ...(this.#lastSyncAt !== undefined ? { lastSyncAt: this.#lastSyncAt } : {}),
    };
  }

  /** Reads the cluster's counts once (a failure leaves this replica on its own counts), then exchanges on a timer. */
  async start(): Promise<void> {
    await this.sync();
    if (!this.#timers || this.#closed) return;
    this.#timer = setInterval(() => void this.sync(), this.#flushMs);
    this.#timer.unref();
  }

  /** Writes what this replica counted and reads the cluster's counts back; one at a time. */
  sync(): Promise<void> {
    this.#running ??= this.#exchange().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    // The last second's counts still matter to the others.
    await this.#running;
    await this.#exchange().catch(() => {});
  }

  async #exchange(): Promise<void> {
    if (this.#link && this.#link.mode !== 'shared') {
      this.#toLocal('Redis unavailable (shared state in local fallback)');
      return;
    }
    const B = this.#shape.bucketMs;
    const now = this.#clock();
    const cur = Math.floor(now / B);
    const oldest = Math.floor((now - this.#shape.spanMs) / B);
    for (const b of this.#own.keys()) if (b < oldest) this.#own.delete(b);
    const writing = [...this.#dirty].filter((b) => b >= oldest);
    this.#dirty = new Set();
    const full = this.#needFull;
    try {
      const pipe = this.#redis.pipeline();
      let late = false;
      for (const b of writing) {
        const counts = this.#own.get(b);
        if (!counts || counts.size === 0) continue;
        const key = this.#keys.statusBucket(b);
        const fields: string[] = [];
        for (const [component, t] of counts)
          fields.push(`${this.#field} ${component}`, `${t.total} ${t.bad} ${t.ok} ${t.slow}`);
        pipe.hset(key, ...fields);
        // Kept while the bucket is inside the longest window, plus the time a late writer may take.
        pipe.pexpire(key, Math.max(1_000, (b + 1) * B + this.#shape.spanMs + this.#lateAfterMs - now));
        if ((b + 1) * B + this.#lateAfterMs < now) late = true;
      }
      if (late) pipe.incr(this.#keys.statusLate).pexpire(this.#keys.statusLate, this.#shape.spanMs * 2);
      pipe.get(this.#keys.statusLate);
      // The recent buckets (all of them after an outage), and whatever this replica just wrote.
      const from = full ? oldest : Math.max(oldest, Math.floor((now - this.#readBackMs) / B));
      const wanted = new Set(writing);
      for (let b = from; b <= cur; b++) wanted.add(b);
      const toRead = [...wanted].sort((x, y) => x - y);
      const first = toRead.slice(0, READ_CHUNK);
      for (const b of first) pipe.hgetall(this.#keys.statusBucket(b));
      const replies = await this.#run(pipe);
      const lateNow = Number(replies.at(-first.length - 1) ?? 0) || 0;
      const read = new Map<number, Record<string, string>>();
      const tail = replies.slice(replies.length - first.length);
      for (const [i, b] of first.entries()) read.set(b, (tail[i] ?? {}) as Record<string, string>);
      for (let i = READ_CHUNK; i < toRead.length; i += READ_CHUNK) {
        const chunk = toRead.slice(i, i + READ_CHUNK);
        const more = this.#redis.pipeline();
        for (const b of chunk) more.hgetall(this.#keys.statusBucket(b));
        const got = await this.#run(more);
        for (const [k, b] of chunk.entries()) read.set(b, (got[k] ?? {}) as Record<string, string>);
      }
      for (const [b, hash] of read) this.#absorb(b, hash);
      const expected = (this.#lateSeen ?? Number.NaN) + (late ? 1 : 0);
      this.#lateSeen = lateNow;
      this.#lastSyncAt = this.#clock();
      if (full) this.#needFull = false;
      else if (lateNow !== expected) {
        // Someone wrote old buckets (back from an outage): read the whole span at the next exchange.
        this.#needFull = true;
      }
      if (!this.#needFull) this.#toCluster();
    } catch (err) {
      for (const b of writing) this.#dirty.add(b);
      this.#needFull = true;
      this.#toLocal(err instanceof Error ? err.message : String(err));
    }
  }

  async #run(pipe: ReturnType<Redis['pipeline']>): Promise<unknown[]> {
    const results = await withTimeout(pipe.exec(), this.#timeoutMs);
    if (!results) throw new Error('Redis refused the pipeline');
    return results.map(([err, value]) => {
      if (err) throw err;
      return value;
    });
  }

  /** One bucket as Redis holds it: every replica's counts per component, summed. */
  #absorb(b: number, hash: Record<string, string>): void {
    const sums = new Map<string, Tally>();
    for (const [field, value] of Object.entries(hash)) {
      const space = field.indexOf(' ');
      const component = field.slice(space + 1);
      if (space < 0 || !this.#known.has(component)) continue;
      const [total = 0, bad = 0, ok = 0, slow = 0] = value.split(' ').map((n) => Number(n) || 0);
      const t = sums.get(component) ?? { total: 0, bad: 0, ok: 0, slow: 0 };
      t.total += total;
      t.bad += bad;
      t.ok += ok;
      t.slow += slow;
      sums.set(component, t);
    }
    for (const key of this.#known) this.#cluster.put(key, b, sums.get(key) ?? ZERO);
  }

  #toLocal(reason: string): void {
    this.#reason = reason;
    // One line per spell on local counts (the first failure at startup counts as one).
    if (this.#scope === 'local' && (this.#everShared || this.#warnedAtStart)) return;
    if (this.#scope === 'cluster') this.#since = this.#clock();
    this.#scope = 'local';
    this.#warnedAtStart = true;
    this.#logger?.warn(
      { statusTelemetry: 'local', reason },
      'status: Redis unavailable; component statuses are computed from this replica’s own traffic until it returns',
    );
  }

  #toCluster(): void {
    if (this.#scope === 'cluster') return;
    this.#scope = 'cluster';
    this.#reason = undefined;
    this.#since = this.#clock();
    if (this.#everShared)
      this.#logger?.info(
        { statusTelemetry: 'cluster' },
        'status: telemetry shared again; component statuses are computed from every replica’s traffic',
      );
    this.#everShared = true;
  }
}

const ZERO: Tally = { total: 0, bad: 0, ok: 0, slow: 0 };
