import { describe, expect, it } from 'vitest';
import { SlidingQuantile } from '../../src/resilience/quantile.ts';

describe('SlidingQuantile with staleMs', () => {
  it('reuses its sorted window for staleMs, then catches up', () => {
    let t = 0;
    const q = new SlidingQuantile({ staleMs: 100, minSamples: 2 }, { now: () => t });
    q.observe(1);
    q.observe(3);
    expect(q.quantile(1)).toBe(3);
    q.observe(100);
    expect(q.quantile(1)).toBe(3);
    t = 101;
    expect(q.quantile(1)).toBe(100);
  });

  it('never answers from a cached window smaller than minSamples', () => {
    let t = 0;
    const q = new SlidingQuantile({ staleMs: 1_000, minSamples: 2 }, { now: () => t });
    q.observe(5);
    expect(q.quantile(0.5)).toBeUndefined();
    q.observe(7);
    t = 1;
    expect(q.quantile(1)).toBe(7);
  });
});
