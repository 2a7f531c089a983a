import type { QueueReport } from '../../pipeline/admission.ts';
import { LuaScript, type Redis, withTimeout } from './client.ts';
import { type SharedKeys, sharedKeys } from './keys.ts';
import type { LogSink, RedisLink } from './link.ts';
import { parseQueueReports } from './queues.ts';

export interface ReplicaInfo {
  id: string;
  url: string;
  /** Wall-clock ms the replica started. */
  started: number;
  /** Redis time (ms) of its last heartbeat. */
  lastSeen: number;
  /** Its admission queues as of that heartbeat (the waiting room across the cluster). */
  queues: QueueReport[];
}

/*
 * One heartbeat: record this replica (Redis TIME, so the replicas' own clocks do not matter), forget those
 * silent for ten TTLs, and answer with the live ones (heard from within one TTL) and Redis's time.
 */
const HEARTBEAT = new LuaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[1])
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - ttl * 10)
for _, id in ipairs(gone) do
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
redis.call('PEXPIRE', KEYS[1], ttl * 20)
redis.call('PEXPIRE', KEYS[2], ttl * 20)
local live = redis.call('ZRANGEBYSCORE', KEYS[2], now - ttl, '+inf', 'WITHSCORES')
local out = {tostring(now)}
for i = 1, #live, 2 do
  out[#out + 1] = live[i]
  out[#out + 1] = live[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[1], live[i]) or ''
end
return out
`);

export interface MembershipOptions {
  redis: Redis;
  link: RedisLink;
  prefix: string;
  id: string;
  /** This replica's address for the others (known once the server listens). */
  url: () => string;
  heartbeatMs: number;
  ttlMs: number;
  /** This replica's admission queues, sent with each heartbeat. */
  queues?: () => readonly QueueReport[];
  logger?: LogSink;
}

/** Offset from Redis's clock past which the replica's wall clock is reported as skewed. */
const SKEW_WARN_MS = 1_000;

/**
 * Replica membership: every replica heartbeats (id, url, start time) into Redis, and reads back who else
 * is alive. The live count divides each limit during a Redis outage (the last count known before it), and
 * a replica that stops heartbeating loses its concurrency slots once its TTL passes.
 */
export class ReplicaMembership {
  readonly #redis: Redis;
  readonly #link: RedisLink;
  readonly #keys: SharedKeys;
  readonly #id: string;
  readonly #url: () => string;
  readonly #heartbeatMs: number;
  readonly #ttlMs: number;
  readonly #logger: LogSink | undefined;
  readonly #queues: (() => readonly QueueReport[]) | undefined;
  readonly #started = Date.now();
  #live: ReplicaInfo[] = [];
  #skewMs: number | undefined;
  #skewed = false;
  #timer: NodeJS.Timeout | undefined;
  /** Heartbeats run one after another, so one asked for (say, with the URL now known) is never skipped. */
  #beats: Promise<void> = Promise.resolve();

  constructor(opts: MembershipOptions) {
    this.#redis = opts.redis;
    this.#link = opts.link;
    this.#keys = sharedKeys(opts.prefix);
    this.#id = opts.id;
    this.#url = opts.url;
    this.#heartbeatMs = opts.heartbeatMs;
    this.#ttlMs = opts.ttlMs;
    this.#logger = opts.logger;
    this.#queues = opts.queues;
    opts.link.onChange((mode) => {
      if (mode === 'shared' && this.#timer) void this.beat();
    });
  }

  get id(): string {
    return this.#id;
  }

  /** Starts heartbeating (the first beat at once). */
  start(): Promise<void> {
    this.#timer ??= setInterval(() => void this.beat(), this.#heartbeatMs);
    this.#timer.unref();
    return this.beat();
  }

  /** Live replicas as last heard, this one included; at least 1. */
  liveCount(): number {
    return Math.max(1, this.#live.length + (this.#live.some((r) => r.id === this.#id) ? 0 : 1));
  }

  replicas(): readonly ReplicaInfo[] {
    return this.#live;
  }

  /** This replica's wall clock minus Redis's (ms, half the round trip corrected); undefined until measured. */
  get clockSkewMs(): number | undefined {
    return this.#skewMs;
  }

  /** One heartbeat, after any still running; skipped while Redis is away (the last membership stands). */
  beat(): Promise<void> {
    this.#beats = this.#beats.then(() => this.#beatOnce());
    return this.#beats;
  }

  async #beatOnce(): Promise<void> {
    if (this.#link.mode !== 'shared') return;
    const info = JSON.stringify({ url: this.#url(), started: this.#started, queues: this.#queues?.() ?? [] });
    const t0 = Date.now();
    try {
      const out = (await withTimeout(
        HEARTBEAT.run(this.#redis, [this.#keys.replicas, this.#keys.seen], [this.#id, info, this.#ttlMs]),
        Math.max(250, this.#heartbeatMs),
      )) as string[];
      const t1 = Date.now();
      this.#measureSkew((t0 + t1) / 2 - Number(out[0]));
      const live: ReplicaInfo[] = [];
      for (let i = 1; i + 2 < out.length; i += 3) {
        const parsed = parseInfo(out[i + 2]);
        live.push({ id: out[i]!, lastSeen: Number(out[i + 1]), ...parsed });
      }
      this.#live = live.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
    } catch {
      // A missed beat changes nothing here; the link notices a Redis that keeps failing.
    }
  }

  /** Stops heartbeating and leaves at once, so the others stop counting this replica and its slots. */
  async leave(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#link.mode !== 'shared') return;
    await withTimeout(
      this.#redis.multi().zrem(this.#keys.seen, this.#id).hdel(this.#keys.replicas, this.#id).exec(),
      500,
    ).catch(() => {});
  }

  #measureSkew(skew: number): void {
    this.#skewMs = Math.round(skew);
    const skewed = Math.abs(skew) > SKEW_WARN_MS;
    if (skewed && !this.#skewed)
      this.#logger?.warn(
        { clockSkewMs: this.#skewMs },
        'shared state: this replica’s clock is more than 1 s off Redis’s; shared rate limits lean by that much (run NTP)',
      );
    this.#skewed = skewed;
  }
}

function parseInfo(raw: string | undefined): { url: string; started: number; queues: QueueReport[] } {
  try {
    const v = JSON.parse(raw ?? '') as { url?: unknown; started?: unknown; queues?: unknown };
    return {
      url: typeof v.url === 'string' ? v.url : '',
      started: typeof v.started === 'number' ? v.started : 0,
      queues: parseQueueReports(v.queues),
    };
  } catch {
    return { url: '', started: 0, queues: [] };
  }
}
