import { describe, expect, it } from 'vitest';
import { MemoryRateStore } from '../../src/overload/rate-store.ts';

// The port's behaviour (GCRA, gcraAll, refunds, concurrency slots) is one contract for every adapter:
// test/contract/rate-store-contract.ts. What is left here is the memory store's own bookkeeping.

describe('MemoryRateStore memory', () => {
  it('evicts keys whose bucket is full again, so memory follows the active keys', async () => {
    const store = new MemoryRateStore();
    for (let i = 0; i < 1_000; i++) await store.gcra(`ip-${i}`, i, 60_000, 1, 1);
    expect(store.stats().rateKeys).toBe(1_000);
    // A minute later every one of those buckets is full; ongoing traffic on a few keys sweeps them out.
    let now = 62_000;
    for (let i = 0; i < 400; i++) await store.gcra(`hot-${i % 5}`, now++, 60_000, 100, 1);
    expect(store.stats().rateKeys).toBe(5);
  });
});
