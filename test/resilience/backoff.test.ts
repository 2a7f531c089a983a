import { describe, expect, it } from 'vitest';
import { fullJitter } from '../../src/resilience/backoff.ts';
import { seededRng } from './fakes.ts';

describe('fullJitter', () => {
  it('stays within [0, min(cap, base × 2^(attempt−1))) and averages half of it', () => {
    const rng = seededRng(99);
    const opts = { baseMs: 50, capMs: 2_000 };
    for (let attempt = 1; attempt <= 10; attempt++) {
      const ceiling = Math.min(2_000, 50 * 2 ** (attempt - 1));
      let sum = 0;
      const n = 4_000;
      for (let i = 0; i < n; i++) {
        const d = fullJitter(attempt, opts, rng);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(ceiling);
        sum += d;
      }
      expect(Math.abs(sum / n / ceiling - 0.5)).toBeLessThan(0.03);
    }
  });

  it('scales the rng draw exactly, with the documented defaults', () => {
    expect(fullJitter(1, {}, () => 0.5)).toBe(25);
    expect(fullJitter(3, {}, () => 0.5)).toBe(100);
    expect(fullJitter(100, {}, () => 0.5)).toBe(1_000);
    expect(fullJitter(5_000, {}, () => 0.999)).toBeCloseTo(1_998);
  });

  it('treats attempts below 1 or non-finite as the first', () => {
    expect(fullJitter(0, { baseMs: 10 }, () => 0.5)).toBe(5);
    expect(fullJitter(Number.NaN, { baseMs: 10 }, () => 0.5)).toBe(5);
  });
});
