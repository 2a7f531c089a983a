import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TelemetryShape } from '../../src/status/telemetry.ts';
import type { SharedMode } from '../../src/stores/redis/link.ts';
import { RedisStatusTelemetry, type TelemetryLink } from '../../src/stores/redis/status-telemetry.ts';
import { type OwnRedis, REDIS_SERVER, startRedisServer } from '../helpers/redis.ts';

/**
 * The Redis status telemetry when Redis goes away: each replica judges from its own counts (and says so,
 * once), keeps what it counts meanwhile, and the cluster converges when Redis is back. Runs against a
 * redis-server this test starts on its own port and pauses (never the machine's shared one).
 */

const SHAPE: TelemetryShape = { bucketMs: 1_000, spanMs: 120_000, keys: ['model:a'] };

class Logs {
  readonly lines: { level: string; msg: string }[] = [];
  warn(_o: object, msg: string): void {
    this.lines.push({ level: 'warn', msg });
  }
  info(_o: object, msg: string): void {
    this.lines.push({ level: 'info', msg });
  }
}

class FakeLink implements TelemetryLink {
  mode: SharedMode = 'shared';
  readonly #listeners: Array<(m: SharedMode) => void> = [];
  onChange(l: (m: SharedMode) => void): void {
    this.#listeners.push(l);
  }
  set(m: SharedMode): void {
    this.mode = m;
    for (const l of this.#listeners) l(m);
  }
}

describe.skipIf(!existsSync(REDIS_SERVER))(
  `status telemetry without Redis (skipped when ${REDIS_SERVER} is not installed)`,
  () => {
    let server: OwnRedis;
    const clients: Redis[] = [];
    let now = 0;
    const clock = (): number => now;

    async function replica(
      id: string,
      logs: Logs,
      prefix: string,
      link?: TelemetryLink,
    ): Promise<RedisStatusTelemetry> {
      // Set up as the gateway's client is: a command while Redis is away fails at once.
      const redis = new Redis(server.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
      redis.on('error', () => {});
      await once(redis, 'ready');
      clients.push(redis);
      return new RedisStatusTelemetry({
        redis,
        prefix,
        replicaId: id,
        shape: SHAPE,
        clock,
        timers: false,
        timeoutMs: 200,
        logger: logs,
        ...(link ? { link } : {}),
      });
    }

    beforeAll(async () => {
      server = await startRedisServer();
      now = Math.floor(Date.now() / 1_000) * 1_000;
    });
    afterAll(async () => {
      for (const c of clients) c.disconnect();
      await server.close();
    });

    it('falls back to its own counts while Redis does not answer, says so once, and converges when it is back', async () => {
      const logs1 = new Logs();
      const r1 = await replica('r1', logs1, 'hf1:');
      const r2 = await replica('r2', new Logs(), 'hf1:');
      await r1.start();
      await r2.start();
      r2.add('model:a', now, false, false);
      r2.add('model:a', now, false, false);
      await r2.sync();
      await r1.sync();
      expect(r1.sum('model:a', now, 60_000).total).toBe(2);
      expect(r1.status().scope).toBe('cluster');

      server.pause();
      try {
        for (let i = 0; i < 3; i++) r1.add('model:a', now, true, false);
        await r1.sync();
        await r1.sync();
        // Its own requests only: r2's two are not in its memory.
        expect(r1.status()).toMatchObject({ scope: 'local', backend: 'redis' });
        expect(r1.sum('model:a', now, 60_000)).toEqual({ total: 3, bad: 3, ok: 0, slow: 0 });
        expect(logs1.lines.filter((l) => l.level === 'warn')).toHaveLength(1);
        expect(logs1.lines[0]!.msg).toMatch(/own traffic/);
      } finally {
        server.resume();
      }
      now += 30_000;
      await r1.sync(); // writes what it held and reads the whole span again
      await r1.sync();
      await r2.sync(); // sees the late-written bucket, reads the whole span at its next exchange
      await r2.sync();
      for (const r of [r1, r2]) {
        expect(r.status().scope).toBe('cluster');
        expect(r.sum('model:a', now, 60_000)).toEqual({ total: 5, bad: 3, ok: 2, slow: 0 });
      }
      expect(logs1.lines.at(-1)).toMatchObject({ level: 'info', msg: expect.stringMatching(/shared again/) });
    });

    it('stops calling Redis while the shared-state link is in local fallback, and reads everything again after', async () => {
      const link = new FakeLink();
      const r1 = await replica('r3', new Logs(), 'hf2:', link);
      await r1.start();
      expect(r1.status().scope).toBe('cluster');
      link.set('local-fallback');
      expect(r1.status()).toMatchObject({ scope: 'local', reason: expect.stringMatching(/local fallback/) });
      r1.add('model:a', now, true, false);
      await r1.sync();
      expect(r1.status().scope).toBe('local');
      link.set('shared');
      await r1.sync();
      expect(r1.status().scope).toBe('cluster');
      expect(r1.sum('model:a', now, 60_000)).toEqual({ total: 1, bad: 1, ok: 0, slow: 0 });
    });
  },
);
