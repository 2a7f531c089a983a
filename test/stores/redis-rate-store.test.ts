import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisRateStore } from '../../src/stores/redis/rate-store.ts';
import {
  deletePrefix,
  keysUnder,
  type OwnRedis,
  redisAvailable,
  SHARED_REDIS_URL,
  startRedisServer,
  uniquePrefix,
} from '../helpers/redis.ts';

const redisUp = await redisAvailable();

/** What only the Redis adapter has to get right: several replicas, dead replicas, expiry, script cache. */
describe.skipIf(!redisUp)(
  'RedisRateStore across replicas (skipped when no Redis answers at 127.0.0.1:6379)',
  () => {
    let redis: Redis;
    let prefix: string;
    beforeAll(() => {
      redis = new Redis(SHARED_REDIS_URL);
    });
    afterAll(() => redis.disconnect());
    afterEach(async () => {
      await deletePrefix(SHARED_REDIS_URL, prefix);
    });

    const store = (replicaId: string, replicaTtlMs = 5_000) =>
      new RedisRateStore({ redis, prefix, replicaId, replicaTtlMs });
    const heartbeat = (id: string) => redis.zadd(`${prefix}replicas:seen`, Date.now(), id);

    it('shares one GCRA state: two replicas together get exactly the limit', async () => {
      prefix = uniquePrefix('rate-shared');
      const [a, b] = [store('a'), store('b')];
      const got = await Promise.all(
        Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).gcra('key:k1:rpm', 1_000, 60_000, 25, 1)),
      );
      expect(got.filter((r) => r.allowed)).toHaveLength(25);
    });

    it('counts every live replica’s concurrency slots, and frees a dead replica’s', async () => {
      prefix = uniquePrefix('rate-slots');
      const ttl = 300;
      const [a, b] = [store('a', ttl), store('b', ttl)];
      await heartbeat('a');
      await heartbeat('b');
      expect(await a.acquire('c', 3)).toEqual({ allowed: true, inUse: 1 });
      expect(await b.acquire('c', 3)).toEqual({ allowed: true, inUse: 2 });
      expect(await b.acquire('c', 3)).toEqual({ allowed: true, inUse: 3 });
      expect(await a.acquire('c', 3)).toEqual({ allowed: false, inUse: 3 });
      // b dies holding two slots: it stops heartbeating; a keeps going.
      await new Promise((r) => setTimeout(r, ttl + 100));
      await heartbeat('a');
      expect(await a.acquire('c', 3)).toEqual({ allowed: true, inUse: 2 });
      expect(await redis.hgetall(`${prefix}slots:c`)).toEqual({ a: '2' });
    });

    it('a replica never heard of (no heartbeat at all) holds nothing', async () => {
      prefix = uniquePrefix('rate-ghost');
      await redis.hset(`${prefix}slots:c`, 'ghost', 5);
      expect(await store('a').acquire('c', 2)).toEqual({ allowed: true, inUse: 1 });
    });

    it('setHeld writes what a replica really holds, idempotently', async () => {
      prefix = uniquePrefix('rate-held');
      const a = store('a');
      await a.acquire('c', 5);
      await a.setHeld('c', 3);
      await a.setHeld('c', 3);
      expect(await a.acquire('c', 5)).toEqual({ allowed: true, inUse: 4 });
      await a.setHeld('c', 0);
      expect(await keysUnder(redis, `${prefix}slots:`)).toEqual([]);
    });

    it('raise only ever makes a bucket fuller, and ignores a TAT already past', async () => {
      prefix = uniquePrefix('rate-raise');
      const a = store('a');
      const now = Date.now();
      const tat = async () => Number(await redis.get(`${prefix}rate:k`));
      await a.raise('k', now + 30_000, now);
      expect(await tat()).toBe(now + 30_000);
      await a.raise('k', now + 10_000, now);
      expect(await tat()).toBe(now + 30_000);
      await a.raise('k', now + 45_000, now);
      expect(await a.gcra('k', now, 60_000, 60, 0)).toMatchObject({ remaining: 15 });
      await a.raise('gone', now - 1, now);
      expect(await redis.get(`${prefix}rate:gone`)).toBeNull();
    });

    it('gives every rate key an expiry at the moment its bucket is full again (plus a margin)', async () => {
      prefix = uniquePrefix('rate-ttl');
      const now = Date.now();
      await store('a').gcra('k', now, 60_000, 60, 3);
      const ttl = await redis.pttl(`${prefix}rate:k`);
      // Three units of one second each are owed: gone about 3 s (+1 s margin) from now.
      expect(ttl).toBeGreaterThan(3_000);
      expect(ttl).toBeLessThanOrEqual(4_000);
    });
  },
);

describe('RedisRateStore script cache', () => {
  let own: OwnRedis;
  beforeAll(async () => {
    own = await startRedisServer();
  });
  afterAll(() => own.close());

  it('reloads its scripts when Redis forgot them (restart, SCRIPT FLUSH)', async () => {
    const redis = new Redis(own.url);
    try {
      const s = new RedisRateStore({ redis, prefix: 'p:', replicaId: 'a', replicaTtlMs: 5_000 });
      expect((await s.gcra('k', 0, 60_000, 2, 1)).remaining).toBe(1);
      await redis.script('FLUSH');
      expect((await s.gcra('k', 0, 60_000, 2, 1)).remaining).toBe(0);
      expect(await s.acquire('c', 1)).toEqual({ allowed: true, inUse: 1 });
    } finally {
      redis.disconnect();
    }
  });
});
