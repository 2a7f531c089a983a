import { describe, expect, it } from 'vitest';
import { GCRA_NEVER_MS } from '../../src/overload/gcra.ts';
import { MemoryRateStore, type RateStore } from '../../src/overload/rate-store.ts';

describe('MemoryRateStore.gcra', () => {
  it('keeps one GCRA state per key', async () => {
    const store: RateStore = new MemoryRateStore();
    for (let i = 0; i < 3; i++) expect((await store.gcra('a', 0, 60_000, 3, 1)).allowed).toBe(true);
    expect(await store.gcra('a', 0, 60_000, 3, 1)).toMatchObject({ allowed: false, retryAfterMs: 20_000 });
    expect(await store.gcra('b', 0, 60_000, 3, 1)).toMatchObject({ allowed: true, remaining: 2 });
    expect(await store.gcra('a', 20_000, 60_000, 3, 1)).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('is atomic under concurrent callers: exactly the limit gets through', async () => {
    const store = new MemoryRateStore();
    const results = await Promise.all(Array.from({ length: 50 }, () => store.gcra('k', 0, 60_000, 20, 1)));
    expect(results.filter((r) => r.allowed)).toHaveLength(20);
    expect(results.map((r) => r.remaining).slice(0, 20)).toEqual(
      Array.from({ length: 20 }, (_, i) => 19 - i),
    );
  });

  it('refunds an over-estimate and charges an under-estimate', async () => {
    const store = new MemoryRateStore();
    await store.gcra('tpm', 0, 60_000, 10_000, 8_000);
    await store.refund('tpm', 0, 60_000, 10_000, 5_000);
    expect(await store.gcra('tpm', 0, 60_000, 10_000, 0)).toMatchObject({ remaining: 7_000 });
    await store.charge('tpm', 0, 60_000, 10_000, 9_000);
    expect(await store.gcra('tpm', 0, 60_000, 10_000, 1)).toMatchObject({ allowed: false, remaining: 0 });
  });

  it('evicts keys whose bucket is full again, so memory follows the active keys', async () => {
    const store = new MemoryRateStore();
    for (let i = 0; i < 1_000; i++) await store.gcra(`ip-${i}`, i, 60_000, 1, 1);
    expect(store.stats().rateKeys).toBe(1_000);
    // A minute later every one of those buckets is full; ongoing traffic on a few keys sweeps them out.
    let now = 62_000;
    for (let i = 0; i < 400; i++) await store.gcra(`hot-${i % 5}`, now++, 60_000, 100, 1);
    expect(store.stats().rateKeys).toBe(5);
  });

  it('does not store a peek or a refund to a full bucket', async () => {
    const store = new MemoryRateStore();
    await store.gcra('peek', 0, 60_000, 10, 0);
    await store.refund('never', 0, 60_000, 10, 5);
    await store.gcra('spent', 0, 60_000, 10, 1);
    await store.refund('spent', 0, 60_000, 10, 1);
    expect(store.stats().rateKeys).toBe(0);
  });

  it('never admits a cost above the burst', async () => {
    const store = new MemoryRateStore();
    expect(await store.gcra('k', 0, 60_000, 1_000, 1_001)).toMatchObject({
      allowed: false,
      retryAfterMs: GCRA_NEVER_MS,
    });
    expect(store.stats().rateKeys).toBe(0);
  });
});

describe('MemoryRateStore.gcraAll', () => {
  const limits = (tokens: number) => [
    { key: 'rpm', periodMs: 60_000, limit: 10, cost: 1 },
    { key: 'tpm', periodMs: 60_000, limit: 1_000, cost: tokens },
  ];

  it('charges every limit when all allow', async () => {
    const store = new MemoryRateStore();
    const r = await store.gcraAll(limits(400), 0);
    expect(r.allowed).toBe(true);
    expect(r.results.map((x) => x.remaining)).toEqual([9, 600]);
  });

  it('charges nothing when one refuses, and reports the others as they stand', async () => {
    const store = new MemoryRateStore();
    await store.gcraAll(limits(800), 0);
    const r = await store.gcraAll(limits(400), 0);
    expect(r.allowed).toBe(false);
    expect(r.results[0]).toMatchObject({ allowed: true, remaining: 9 });
    expect(r.results[1]).toMatchObject({ allowed: false, remaining: 200, retryAfterMs: 12_000 });
    // The request-per-minute slot was not used up by the refused request.
    expect(await store.gcra('rpm', 0, 60_000, 10, 0)).toMatchObject({ remaining: 9 });
  });

  it('sees its own earlier charge when a key appears twice', async () => {
    const store = new MemoryRateStore();
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
  });
});

describe('MemoryRateStore concurrency slots', () => {
  it('hands out at most max slots and takes them back on release', async () => {
    const store = new MemoryRateStore();
    const got = await Promise.all(Array.from({ length: 5 }, () => store.acquire('key', 3)));
    expect(got.map((g) => g.allowed)).toEqual([true, true, true, false, false]);
    expect(got.map((g) => g.inUse)).toEqual([1, 2, 3, 3, 3]);
    await store.release('key');
    expect(await store.acquire('key', 3)).toEqual({ allowed: true, inUse: 3 });
    expect(await store.acquire('other', 3)).toEqual({ allowed: true, inUse: 1 });
  });

  it('frees the key at zero and ignores extra releases', async () => {
    const store = new MemoryRateStore();
    await store.acquire('key', 1);
    await store.release('key');
    await store.release('key');
    expect(store.stats().concurrencyKeys).toBe(0);
    expect(await store.acquire('key', 1)).toEqual({ allowed: true, inUse: 1 });
    expect(await store.acquire('key', 1)).toEqual({ allowed: false, inUse: 1 });
  });

  it('a lowered max refuses until enough are released', async () => {
    const store = new MemoryRateStore();
    for (let i = 0; i < 4; i++) await store.acquire('key', 4);
    expect(await store.acquire('key', 2)).toEqual({ allowed: false, inUse: 4 });
    await store.release('key');
    await store.release('key');
    expect((await store.acquire('key', 2)).allowed).toBe(false);
    await store.release('key');
    expect(await store.acquire('key', 2)).toEqual({ allowed: true, inUse: 2 });
  });
});
