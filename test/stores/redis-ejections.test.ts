import { afterEach, describe, expect, it } from 'vitest';
import type { ResilienceEngine } from '../../src/pipeline/resilient.ts';
import { systemClock } from '../../src/resilience/types.ts';
import { SharedEjections } from '../../src/stores/redis/ejections.ts';
import { manualClock, simDeployments, testEngine } from '../helpers/engine.ts';
import {
  connectTestLink,
  deletePrefix,
  redisAvailable,
  SHARED_REDIS_URL,
  uniquePrefix,
} from '../helpers/redis.ts';

const redisUp = await redisAvailable();

const MODELS = [{ name: 'chat', deployments: simDeployments(['d1', 'd2']) }];
const OUTLIER = { outlier: { consecutive_failures: 2, base_ejection_ms: 10_000, probe_successes: 1 } };

async function until(check: () => boolean, ms = 5_000): Promise<number> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
  return Date.now() - t0;
}

describe.skipIf(!redisUp)('ejection sharing (skipped when no Redis answers at 127.0.0.1:6379)', () => {
  const cleanup: Array<() => void> = [];
  let prefix = '';
  afterEach(async () => {
    for (const c of cleanup.splice(0)) c();
    await deletePrefix(SHARED_REDIS_URL, prefix);
  });

  async function replica(
    id: string,
    engine: ResilienceEngine,
  ): Promise<{ shared: SharedEjections; swap: (e: ResilienceEngine) => void }> {
    const { redis, link } = await connectTestLink();
    const subscriber = redis.duplicate({ enableOfflineQueue: true, lazyConnect: true });
    let current = engine;
    const shared = new SharedEjections({
      redis,
      subscriber,
      link,
      prefix,
      replicaId: id,
      engine: () => current,
    });
    await shared.start();
    cleanup.push(() => {
      shared.close();
      link.close();
      subscriber.disconnect();
      redis.disconnect();
    });
    // `swap` replaces the engine, as a config reload does.
    return {
      shared,
      swap: (e: ResilienceEngine) => {
        current = e;
      },
    };
  }

  it('an ejection on one replica is honoured by another within a second, and its end too', async () => {
    prefix = uniquePrefix('eject');
    // A runs on a hand-moved clock so its ejection can end on demand; B on the real one.
    const clockA = manualClock();
    const a = testEngine(MODELS, clockA, OUTLIER);
    const b = testEngine(MODELS, systemClock, OUTLIER);
    await replica('A', a.engine);
    const { shared: sharedB } = await replica('B', b.engine);
    await new Promise((r) => setTimeout(r, 50));

    const t0 = Date.now();
    a.engine.outlier.recordFailure('d1');
    a.engine.outlier.recordFailure('d1');
    expect(a.engine.health('d1')).toBe('ejected');
    const learntMs = await until(() => b.engine.health('d1') === 'ejected');
    console.log(`ejection learnt by the other replica in ${learntMs} ms`);
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(b.engine.outlier.state('d1')).toBe('healthy');
    for (let i = 0; i < 10; i++) expect((await b.ask()).deployment).toBe('d2');
    expect(sharedB.remote()).toEqual([{ id: 'd1', replicas: ['A'], until: expect.any(Number) }]);
    const endsAt = sharedB.remote()[0]!.until;
    expect(endsAt - Date.now()).toBeGreaterThan(9_000);
    expect(endsAt - Date.now()).toBeLessThanOrEqual(10_000);

    // A's trial succeeds: it takes d1 back, and so does B.
    clockA.t += 10_000;
    a.engine.outlier.recordSuccess('d1');
    expect(a.engine.health('d1')).toBe('healthy');
    await until(() => b.engine.health('d1') === 'healthy', 1_000);
    expect(sharedB.remote()).toEqual([]);
  });

  it('a replica that starts later learns the ejections in force from the state hash', async () => {
    prefix = uniquePrefix('eject-late');
    const a = testEngine(MODELS, systemClock, OUTLIER);
    await replica('A', a.engine);
    a.engine.outlier.recordFailure('d2');
    a.engine.outlier.recordFailure('d2');
    await new Promise((r) => setTimeout(r, 100));
    const c = testEngine(MODELS, systemClock, OUTLIER);
    await replica('C', c.engine);
    expect(c.engine.health('d2')).toBe('ejected');
    expect(a.engine.health('d2')).toBe('ejected');
  });

  it('carries the shared view over to the engine a config reload puts in place', async () => {
    prefix = uniquePrefix('eject-reload');
    const a = testEngine(MODELS, systemClock, OUTLIER);
    const b = testEngine(MODELS, systemClock, OUTLIER);
    await replica('A', a.engine);
    const { swap } = await replica('B', b.engine);
    a.engine.outlier.recordFailure('d1');
    a.engine.outlier.recordFailure('d1');
    await until(() => b.engine.health('d1') === 'ejected');
    const b2 = testEngine(MODELS, systemClock, OUTLIER);
    swap(b2.engine);
    await until(() => b2.engine.health('d1') === 'ejected', 2_000);
    // And the new engine's own ejections are shared from then on.
    b2.engine.outlier.recordFailure('d2');
    b2.engine.outlier.recordFailure('d2');
    await until(() => a.engine.health('d2') === 'ejected', 1_000);
  });
});
