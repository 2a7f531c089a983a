import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GCRA_NEVER_MS, gcraStep } from '../../src/overload/gcra.ts';
import type { RateStore } from '../../src/overload/rate-store.ts';

/**
 * One contract for every RateStore adapter (memory, Redis): the same calls must give the same answers,
 * to the unit. Each adapter supplies a fresh, empty store per test and a way to count what it keeps.
 */
export interface RateStoreUnderTest {
  store: RateStore;
  /** Rate-limit keys currently stored (a full bucket must not be stored). */
  rateKeys(): Promise<number>;
  /** Concurrency keys currently stored (none once every slot is released). */
  slotKeys(): Promise<number>;
  close(): Promise<void>;
}

export function rateStoreContract(name: string, open: () => Promise<RateStoreUnderTest>): void {
  describe(`RateStore contract: ${name}`, () => {
    let s: RateStoreUnderTest;
    let store: RateStore;
    beforeEach(async () => {
      s = await open();
      store = s.store;
    });
    afterEach(async () => {
      await s.close();
    });

    describe('gcra', () => {
      it('keeps one GCRA state per key', async () => {
        for (let i = 0; i < 3; i++) expect((await store.gcra('a', 0, 60_000, 3, 1)).allowed).toBe(true);
        expect(await store.gcra('a', 0, 60_000, 3, 1)).toMatchObject({
          allowed: false,
          retryAfterMs: 20_000,
        });
        expect(await store.gcra('b', 0, 60_000, 3, 1)).toMatchObject({ allowed: true, remaining: 2 });
        expect(await store.gcra('a', 20_000, 60_000, 3, 1)).toMatchObject({ allowed: true, remaining: 0 });
      });

      it('is atomic under concurrent callers: exactly the limit gets through', async () => {
        const results = await Promise.all(
          Array.from({ length: 50 }, () => store.gcra('k', 0, 60_000, 20, 1)),
        );
        expect(results.filter((r) => r.allowed)).toHaveLength(20);
        expect(results.map((r) => r.remaining).slice(0, 20)).toEqual(
          Array.from({ length: 20 }, (_, i) => 19 - i),
        );
      });

      it('answers exactly what the pure GCRA step answers, on fractional intervals and boundaries', async () => {
        // 7 per minute: T = 8571.428… ms, so TATs are inexact sums; arrivals land exactly on boundaries.
        let state: number | undefined;
        const T = 60_000 / 7;
        const times = [0, 0, 0, 0, 0, 0, 0, 0, T, T, 2 * T - 1e-3, 2 * T, 3.5 * T, 10 * T, 10 * T, 10 * T];
        for (const [i, t] of times.entries()) {
          const cost = i % 5 === 4 ? 2 : 1;
          const want = gcraStep(state, t, 60_000, 7, cost);
          if (want.allowed) state = want.state;
          expect(await store.gcra('frac', t, 60_000, 7, cost), `arrival ${i} at ${t}`).toEqual(want);
        }
      });

      it('honours a burst smaller than the limit', async () => {
        const got = [];
        for (let i = 0; i < 4; i++) got.push((await store.gcra('b', 0, 60_000, 60, 1, 2)).allowed);
        expect(got).toEqual([true, true, false, false]);
        expect((await store.gcra('b', 1_000, 60_000, 60, 1, 2)).allowed).toBe(true);
      });

      it('refunds an over-estimate and charges an under-estimate', async () => {
        await store.gcra('tpm', 0, 60_000, 10_000, 8_000);
        await store.refund('tpm', 0, 60_000, 10_000, 5_000);
        expect(await store.gcra('tpm', 0, 60_000, 10_000, 0)).toMatchObject({ remaining: 7_000 });
        await store.charge('tpm', 0, 60_000, 10_000, 9_000);
        expect(await store.gcra('tpm', 0, 60_000, 10_000, 1)).toMatchObject({ allowed: false, remaining: 0 });
      });

      it('charges past the burst: the debt delays the next requests', async () => {
        await store.charge('debt', 0, 60_000, 10, 15);
        expect(await store.gcra('debt', 0, 60_000, 10, 1)).toMatchObject({
          allowed: false,
          retryAfterMs: 36_000,
        });
        expect((await store.gcra('debt', 36_000, 60_000, 10, 1)).allowed).toBe(true);
      });

      it('does not store a peek or a refund to a full bucket', async () => {
        await store.gcra('peek', 0, 60_000, 10, 0);
        await store.refund('never', 0, 60_000, 10, 5);
        await store.gcra('spent', 0, 60_000, 10, 1);
        await store.refund('spent', 0, 60_000, 10, 1);
        expect(await s.rateKeys()).toBe(0);
      });

      it('never admits a cost above the burst, and stores nothing for it', async () => {
        expect(await store.gcra('k', 0, 60_000, 1_000, 1_001)).toMatchObject({
          allowed: false,
          retryAfterMs: GCRA_NEVER_MS,
        });
        expect(await s.rateKeys()).toBe(0);
      });

      it('rejects nonsense parameters with a RangeError', async () => {
        // Thrown or rejected, the caller sees the same error.
        const attempt = (f: () => Promise<unknown>) =>
          expect((async () => f())()).rejects.toThrow(RangeError);
        await attempt(() => store.gcra('k', 0, 0, 10, 1));
        await attempt(() => store.gcra('k', 0, 60_000, -1, 1));
        await attempt(() => store.gcra('k', 0, 60_000, 10, Number.NaN));
        await attempt(() => store.refund('k', 0, 60_000, 10, -1));
        await attempt(() => store.charge('k', 0, 60_000, 0, 1));
        await attempt(() => store.gcraAll([{ key: 'k', periodMs: 60_000, limit: 10, cost: -2 }], 0));
        expect(await s.rateKeys()).toBe(0);
      });
    });

    describe('gcraAll', () => {
      const limits = (tokens: number) => [
        { key: 'rpm', periodMs: 60_000, limit: 10, cost: 1 },
        { key: 'tpm', periodMs: 60_000, limit: 1_000, cost: tokens },
      ];

      it('charges every limit when all allow', async () => {
        const r = await store.gcraAll(limits(400), 0);
        expect(r.allowed).toBe(true);
        expect(r.results.map((x) => x.remaining)).toEqual([9, 600]);
      });

      it('charges nothing when one refuses, and reports the others as they stand', async () => {
        await store.gcraAll(limits(800), 0);
        const r = await store.gcraAll(limits(400), 0);
        expect(r.allowed).toBe(false);
        expect(r.results[0]).toMatchObject({ allowed: true, remaining: 9 });
        expect(r.results[1]).toMatchObject({ allowed: false, remaining: 200, retryAfterMs: 12_000 });
        // The request-per-minute slot was not used up by the refused request.
        expect(await store.gcra('rpm', 0, 60_000, 10, 0)).toMatchObject({ remaining: 9 });
      });

      it('sees its own earlier charge when a key appears twice', async () => {
        const r = await store.gcraAll(
          [
            { key: 'k', periodMs: 60_000, limit: 2, cost: 1 },
            { key: 'k', periodMs: 60_000, limit: 2, cost: 1 },
            { key: 'k', periodMs: 60_000, limit: 2, cost: 1 },
          ],
          0,
        );
        expect(r.allowed).toBe(false);
        expect(await store.gcra('k', 0, 60_000, 2, 0)).toMatchObject({ remaining: 2 });
        const ok = await store.gcraAll(
          [
            { key: 'k', periodMs: 60_000, limit: 2, cost: 1 },
            { key: 'k', periodMs: 60_000, limit: 2, cost: 1 },
          ],
          0,
        );
        expect(ok.results.map((x) => x.remaining)).toEqual([1, 0]);
        expect(await store.gcra('k', 0, 60_000, 2, 0)).toMatchObject({ remaining: 0 });
      });

      it('is all or nothing under concurrent batches', async () => {
        const batches = await Promise.all(Array.from({ length: 30 }, () => store.gcraAll(limits(50), 0)));
        // Ten requests a minute run out first; the tokens of the refused batches were not spent.
        expect(batches.filter((b) => b.allowed)).toHaveLength(10);
        expect(await store.gcra('tpm', 0, 60_000, 1_000, 0)).toMatchObject({ remaining: 500 });
        expect(await store.gcra('rpm', 0, 60_000, 10, 0)).toMatchObject({ remaining: 0 });
      });
    });

    describe('concurrency slots', () => {
      it('hands out at most max slots and takes them back on release', async () => {
        const got = await Promise.all(Array.from({ length: 5 }, () => store.acquire('key', 3)));
        expect(got.map((g) => g.allowed)).toEqual([true, true, true, false, false]);
        expect(got.map((g) => g.inUse)).toEqual([1, 2, 3, 3, 3]);
        await store.release('key');
        expect(await store.acquire('key', 3)).toEqual({ allowed: true, inUse: 3 });
        expect(await store.acquire('other', 3)).toEqual({ allowed: true, inUse: 1 });
      });

      it('frees the key at zero and ignores extra releases', async () => {
        await store.acquire('key', 1);
        await store.release('key');
        await store.release('key');
        expect(await s.slotKeys()).toBe(0);
        expect(await store.acquire('key', 1)).toEqual({ allowed: true, inUse: 1 });
        expect(await store.acquire('key', 1)).toEqual({ allowed: false, inUse: 1 });
      });

      it('a lowered max refuses until enough are released', async () => {
        for (let i = 0; i < 4; i++) await store.acquire('key', 4);
        expect(await store.acquire('key', 2)).toEqual({ allowed: false, inUse: 4 });
        await store.release('key');
        await store.release('key');
        expect((await store.acquire('key', 2)).allowed).toBe(false);
        await store.release('key');
        expect(await store.acquire('key', 2)).toEqual({ allowed: true, inUse: 2 });
      });
    });
  });
}
