import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { fullJitter } from '../../resilience/backoff.ts';

export type { Redis };

export interface RedisClientOptions {
  url: string;
  connectTimeoutMs: number;
  reconnectBaseMs: number;
  reconnectCapMs: number;
}

/**
 * One ioredis connection set up for a request path that must never wait on Redis: no offline queue (a
 * command while disconnected fails at once, and the caller answers from local state), no per-command
 * retries, and reconnection with full-jitter backoff so replicas do not reconnect in lockstep after an outage.
 */
export function createRedisClient(opts: RedisClientOptions): Redis {
  return new Redis(opts.url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: opts.connectTimeoutMs,
    retryStrategy: (times) =>
      Math.max(
        10,
        fullJitter(times, { baseMs: opts.reconnectBaseMs, capMs: opts.reconnectCapMs }, Math.random),
      ),
  });
}

/**
 * A Lua script run by EVALSHA, so only its 40-byte hash crosses the wire per call. Redis forgets scripts on
 * restart (or SCRIPT FLUSH): on NOSCRIPT the source is sent once with EVAL, which caches it again.
 */
export class LuaScript {
  readonly source: string;
  readonly sha: string;

  constructor(source: string) {
    this.source = source;
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(redis: Redis, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return await redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

/** Rejects after `ms` (background work: heartbeats, resyncs; the request path uses the link's budget). */
export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from Redis within ${ms} ms`)), ms);
  });
  p.catch(() => {});
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
