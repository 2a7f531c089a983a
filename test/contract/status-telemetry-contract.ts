import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StatusTelemetry, TelemetryShape } from '../../src/status/telemetry.ts';

/**
 * One contract for every StatusTelemetry adapter (memory, Redis): what the burn-rate rules read from
 * `sum` after requests were counted with `add`, on one replica or several. The memory adapter is one
 * process, so its "replicas" are that process; a shared adapter gives each replica its own instance.
 */
export interface TelemetryBackend {
  /** A replica's telemetry on this backend, on the test's clock. */
  replica(shape: TelemetryShape, clock: () => number): Promise<StatusTelemetry>;
  /** Lets every replica's counts reach every other (what the background exchange does). */
  settle(): Promise<void>;
  close(): Promise<void>;
}

const BUCKET = 1_000;
const SHAPE: TelemetryShape = {
  bucketMs: BUCKET,
  spanMs: 120_000,
  keys: ['model:a', 'model:b', 'platform:api'],
};

export function statusTelemetryContract(name: string, open: () => Promise<TelemetryBackend>): void {
  describe(`StatusTelemetry contract: ${name}`, () => {
    let backend: TelemetryBackend;
    // Real epoch time, on a bucket edge: a shared backend's keys expire relative to it.
    let now = 0;
    const clock = (): number => now;
    const replica = (): Promise<StatusTelemetry> => backend.replica(SHAPE, clock);
    beforeEach(async () => {
      now = Math.floor(Date.now() / BUCKET) * BUCKET;
      backend = await open();
    });
    afterEach(async () => {
      await backend.close();
    });

    it('counts each request once: total, bad, ok, slow', async () => {
      const t = await replica();
      for (let i = 0; i < 3; i++) t.add('model:a', now, false, false);
      t.add('model:a', now, true, false);
      t.add('model:a', now, true, false);
      t.add('model:a', now, false, true);
      await backend.settle();
      expect(t.sum('model:a', now, 60_000)).toEqual({ total: 6, bad: 2, ok: 4, slow: 1 });
    });

    it('sums whole buckets over the window asked for; components are counted apart', async () => {
      const t = await replica();
      t.add('model:a', now - 50_000, true, false);
      t.add('model:a', now, false, false);
      t.add('model:b', now, true, false);
      await backend.settle();
      expect(t.sum('model:a', now, 60_000)).toEqual({ total: 2, bad: 1, ok: 1, slow: 0 });
      expect(t.sum('model:a', now, 10_000)).toEqual({ total: 1, bad: 0, ok: 1, slow: 0 });
      expect(t.sum('model:b', now, 10_000)).toEqual({ total: 1, bad: 1, ok: 0, slow: 0 });
      expect(t.sum('platform:api', now, 60_000)).toEqual({ total: 0, bad: 0, ok: 0, slow: 0 });
      expect(t.sum('model:unknown', now, 60_000)).toEqual({ total: 0, bad: 0, ok: 0, slow: 0 });
    });

    it('every replica reads the sum of every replica’s requests', async () => {
      const [r1, r2, r3] = [await replica(), await replica(), await replica()];
      for (let i = 0; i < 4; i++) r1.add('model:a', now, true, false);
      for (let i = 0; i < 3; i++) r2.add('model:a', now, false, false);
      r3.add('model:a', now - 2_000, false, true);
      await backend.settle();
      const want = { total: 8, bad: 4, ok: 4, slow: 1 };
      for (const r of [r1, r2, r3]) expect(r.sum('model:a', now, 60_000)).toEqual(want);
    });

    it('counts keep growing in the current bucket across exchanges, and an exchange repeated counts nothing twice', async () => {
      const [r1, r2] = [await replica(), await replica()];
      r1.add('model:a', now, true, false);
      await backend.settle();
      r1.add('model:a', now + 100, true, false);
      await backend.settle();
      await backend.settle();
      expect(r2.sum('model:a', now + 100, 60_000)).toEqual({ total: 2, bad: 2, ok: 0, slow: 0 });
    });

    it('counts made long ago by one replica (held while it was cut off) reach replicas that had read that time already', async () => {
      const [r1, r2] = [await replica(), await replica()];
      r2.add('model:a', now, false, false);
      await backend.settle();
      const then = now;
      now += 60_000;
      await backend.settle();
      r1.add('model:a', then, true, false);
      await backend.settle();
      expect(r2.sum('model:a', now, 90_000)).toEqual({ total: 2, bad: 1, ok: 1, slow: 0 });
    });

    it('forgets counts older than the longest window', async () => {
      const t = await replica();
      t.add('model:a', now, true, false);
      await backend.settle();
      now += SHAPE.spanMs + 5 * BUCKET;
      await backend.settle();
      expect(t.sum('model:a', now, SHAPE.spanMs)).toEqual({ total: 0, bad: 0, ok: 0, slow: 0 });
    });

    it('says what it counts', async () => {
      const t = await replica();
      await backend.settle();
      const s = t.status();
      expect(['memory', 'redis']).toContain(s.backend);
      expect(s.scope).toBe(s.backend === 'memory' ? 'local' : 'cluster');
    });
  });
}
