import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createRedisClient, type Redis } from '../../src/stores/redis/client.ts';
import { RedisLink } from '../../src/stores/redis/link.ts';
import { RedisRateStore } from '../../src/stores/redis/rate-store.ts';
import { ResilientRateStore } from '../../src/stores/redis/resilient-rate-store.ts';
import { type OwnRedis, startRedisServer } from '../helpers/redis.ts';

/**
 * Redis going away under a replica, on a redis-server this test owns (its own port; the machine's shared
 * Redis is never touched): paused with SIGSTOP (the socket stays open, nothing answers) and killed
 * (connection refused). Requests must keep being answered from local state with this replica's share of
 * each limit, and the replica must go back to the shared state when Redis returns.
 */

let own: OwnRedis;
beforeAll(async () => {
  own = await startRedisServer();
});
afterAll(() => own.close());

const REPLICAS = 2;

async function until(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('ResilientRateStore with Redis away', () => {
  let redis: Redis;
  let link: RedisLink;
  let store: ResilientRateStore;
  let logs: string[];
  let prefix = 0;

  beforeEach(async () => {
    redis = createRedisClient({
      url: own.url,
      connectTimeoutMs: 500,
      reconnectBaseMs: 20,
      reconnectCapMs: 200,
    });
    logs = [];
    const logger = {
      warn: (_o: object, msg: string) => logs.push(`warn: ${msg}`),
      info: (_o: object, msg: string) => logs.push(`info: ${msg}`),
    };
    link = new RedisLink({
      redis,
      // Above the default 10 ms so a busy test machine does not time out calls Redis answers: this is
      // about Redis going away, not about the budget.
      timeoutMs: 50,
      failuresToFallback: 3,
      reconnectBaseMs: 20,
      reconnectCapMs: 200,
      logger,
    });
    await link.start(1_000);
    prefix += 1;
    store = new ResilientRateStore({
      shared: new RedisRateStore({ redis, prefix: `t${prefix}:`, replicaId: 'me', replicaTtlMs: 5_000 }),
      link,
      replicas: () => REPLICAS,
    });
    logs.length = 0;
  });
  afterEach(() => {
    own.resume();
    link.close();
    redis.disconnect();
  });

  const tat = (key: string) => redis.get(`t${prefix}:rate:${key}`);

  it('answers from local state at its share of the limit while Redis is paused, then shares again', async () => {
    const now = Date.now();
    expect((await store.gcra('before', now, 60_000, 60, 1)).allowed).toBe(true);
    expect(await tat('before')).not.toBeNull();

    own.pause();
    const started = Date.now();
    const answers: boolean[] = [];
    let slowest = 0;
    for (let i = 0; i < 100; i++) {
      const t0 = performance.now();
      answers.push((await store.gcra('k', now, 60_000, 60, 1)).allowed);
      slowest = Math.max(slowest, performance.now() - t0);
    }
    // Every call was answered while Redis was still stopped: nothing waited for it.
    expect(link.mode).toBe('local-fallback');
    // This replica's share of 60 a minute, with two replicas alive: 30.
    expect(answers.filter(Boolean)).toHaveLength(60 / REPLICAS);
    console.log(
      `100 calls with Redis paused: ${Date.now() - started} ms in all, slowest ${slowest.toFixed(1)} ms`,
    );

    own.resume();
    await until(() => link.mode === 'shared' && store.unsettled.owed === 0);
    // Redis counted all 30: the calls that reached it late ran then, the ones never sent were replayed.
    expect(await store.gcra('k', now, 60_000, 60, 0)).toMatchObject({ remaining: 30 });
    expect((await store.gcra('after', Date.now(), 60_000, 60, 1)).allowed).toBe(true);
    expect(await tat('after')).not.toBeNull();
    // One line when it went, one when it came back.
    expect(logs).toEqual([
      expect.stringMatching(/^warn: shared state: Redis unavailable/),
      expect.stringMatching(/^info: shared state: Redis is back/),
    ]);
  });

  it('falls back at once when the connection drops, and recovers from a restarted Redis', async () => {
    await own.kill();
    await until(() => link.mode === 'local-fallback');
    const now = Date.now();
    const got = [];
    for (let i = 0; i < 10; i++) got.push((await store.gcra('k', now, 60_000, 8, 1)).allowed);
    expect(got.filter(Boolean)).toHaveLength(8 / REPLICAS);
    await own.restart();
    await until(() => link.mode === 'shared' && store.unsettled.owed === 0);
    // The restarted Redis knew nothing; what this replica admitted meanwhile was replayed into it.
    expect(await store.gcra('k', now, 60_000, 8, 0)).toMatchObject({ remaining: 8 - 8 / REPLICAS });
    expect((await store.gcra('fresh', Date.now(), 60_000, 8, 1)).remaining).toBe(7);
    expect(await tat('fresh')).not.toBeNull();
  });

  it('puts back the usage from before the outage into a Redis that restarted empty (no fresh burst)', async () => {
    const now = Date.now();
    // Six of the minute's eight spent through Redis.
    for (let i = 0; i < 6; i++) expect((await store.gcra('spent', now, 60_000, 8, 1)).allowed).toBe(true);
    await own.kill();
    await until(() => link.mode === 'local-fallback');
    // Locally, at its share (4) of a bucket three quarters full: one more fits.
    const got = [];
    for (let i = 0; i < 4; i++) got.push((await store.gcra('spent', now, 60_000, 8, 1)).allowed);
    expect(got.filter(Boolean)).toHaveLength(1);
    await own.restart();
    await until(() => link.mode === 'shared' && store.unsettled.owed === 0);
    // The restarted Redis knew nothing: the six from before the outage are back, plus the one replayed.
    expect(await store.gcra('spent', now, 60_000, 8, 0)).toMatchObject({ remaining: 1 });
    expect((await store.gcra('spent', now, 60_000, 8, 1)).allowed).toBe(true);
    expect((await store.gcra('spent', now, 60_000, 8, 1)).allowed).toBe(false);
  });

  it('keeps concurrency slots where they were taken and writes the true count back after the outage', async () => {
    expect(await store.acquire('c', 4)).toEqual({ allowed: true, inUse: 1 });
    expect(await store.acquire('c', 4)).toEqual({ allowed: true, inUse: 2 });
    own.pause();
    // Unanswered: Redis may or may not have run it (it runs when resumed). The replica knows it holds one.
    await store.release('c');
    // Local share of 4 slots with two replicas: 2.
    for (let i = 0; i < 3; i++) await store.acquire('c', 4);
    expect(link.mode).toBe('local-fallback');
    expect((await store.acquire('c', 4)).allowed).toBe(false);
    expect(store.unsettled.slotKeys).toBe(1);
    own.resume();
    await until(() => link.mode === 'shared' && store.unsettled.slotKeys === 0);
    expect(await redis.hget(`t${prefix}:slots:c`, 'me')).toBe('1');
    // The local slots go back to the local store; the shared one to Redis.
    await store.release('c');
    await store.release('c');
    await store.release('c');
    expect(await redis.hget(`t${prefix}:slots:c`, 'me')).toBeNull();
    expect(await store.acquire('c', 4)).toEqual({ allowed: true, inUse: 1 });
  });
});
