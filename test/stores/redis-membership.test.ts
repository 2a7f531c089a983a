import { afterEach, describe, expect, it } from 'vitest';
import type { QueueReport } from '../../src/pipeline/admission.ts';
import type { Redis } from '../../src/stores/redis/client.ts';
import type { RedisLink } from '../../src/stores/redis/link.ts';
import { ReplicaMembership } from '../../src/stores/redis/membership.ts';
import {
  connectTestLink,
  deletePrefix,
  redisAvailable,
  SHARED_REDIS_URL,
  uniquePrefix,
} from '../helpers/redis.ts';

const redisUp = await redisAvailable();

describe.skipIf(!redisUp)('replica membership (skipped when no Redis answers at 127.0.0.1:6379)', () => {
  const opened: Array<{ redis: Redis; link: RedisLink }> = [];
  let prefix = '';
  afterEach(async () => {
    for (const o of opened.splice(0)) {
      o.link.close();
      o.redis.disconnect();
    }
    await deletePrefix(SHARED_REDIS_URL, prefix);
  });

  async function replica(
    id: string,
    ttlMs = 5_000,
    queues?: () => QueueReport[],
  ): Promise<ReplicaMembership> {
    const { redis, link } = await connectTestLink();
    opened.push({ redis, link });
    return new ReplicaMembership({
      redis,
      link,
      prefix,
      id,
      url: () => `http://127.0.0.1/${id}`,
      heartbeatMs: 60_000,
      ttlMs,
      ...(queues ? { queues } : {}),
    });
  }

  it('lists the live replicas with their addresses; one that leaves stops counting at once', async () => {
    prefix = uniquePrefix('members');
    const [a, b, c] = [await replica('a'), await replica('b'), await replica('c')];
    await a.start();
    await b.start();
    await c.start();
    await a.beat();
    expect(a.liveCount()).toBe(3);
    expect(a.replicas().map((r) => [r.id, r.url])).toEqual([
      ['a', 'http://127.0.0.1/a'],
      ['b', 'http://127.0.0.1/b'],
      ['c', 'http://127.0.0.1/c'],
    ]);
    expect(Math.abs(a.clockSkewMs ?? Number.NaN)).toBeLessThan(1_000);
    await c.leave();
    await a.beat();
    expect(a.replicas().map((r) => r.id)).toEqual(['a', 'b']);
  });

  it('forgets a replica that stopped heartbeating once its TTL passes', async () => {
    prefix = uniquePrefix('members-ttl');
    const [a, b] = [await replica('a', 300), await replica('b', 300)];
    await b.start();
    await a.start();
    expect(a.liveCount()).toBe(2);
    await new Promise((r) => setTimeout(r, 400));
    await a.beat();
    expect(a.replicas().map((r) => r.id)).toEqual(['a']);
    expect(a.liveCount()).toBe(1);
  });

  it('carries each replica’s admission queues with its heartbeat', async () => {
    prefix = uniquePrefix('members-queues');
    const report = {
      model: 'm',
      inflight: 3,
      capacity: 16,
      queued: 2,
      byClass: { critical: 0, interactive: 2, batch: 0 },
      oldestWaitMs: 40,
      estimatedWaitMs: 80,
    };
    const [a, b] = [await replica('a'), await replica('b', 5_000, () => [report])];
    await b.start();
    await a.start();
    expect(a.replicas().find((r) => r.id === 'b')?.queues).toEqual([report]);
    expect(a.replicas().find((r) => r.id === 'a')?.queues).toEqual([]);
  });

  it('counts itself even before its first heartbeat is heard', async () => {
    prefix = uniquePrefix('members-self');
    const a = await replica('a');
    expect(a.liveCount()).toBe(1);
  });
});
