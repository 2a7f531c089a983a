import { describe, expect, it } from 'vitest';
import { Balancer, loadScore, priorityPlan } from '../../src/resilience/balancer.ts';
import type { Candidate } from '../../src/resilience/types.ts';
import { seededRng } from './fakes.ts';

const flat = () => 0;

function c(id: string, opts: Partial<Candidate> = {}): Candidate {
  return { id, weight: 1, tier: 0, healthy: true, ...opts };
}

function spread(b: Balancer, candidates: Candidate[], n = 10_000, load: (id: string) => number = flat) {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const id = b.pick(candidates, load) ?? 'none';
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return (id: string) => (counts.get(id) ?? 0) / n;
}

/** Tier 0 with `healthy` of 10 equal deployments healthy, tier 1 fully healthy. */
function twoTiers(healthy: number): Candidate[] {
  const t0 = Array.from({ length: 10 }, (_, i) => c(`a${i}`, { healthy: i < healthy }));
  return [...t0, c('b0', { tier: 1 }), c('b1', { tier: 1 })];
}

const tierShare = (share: (id: string) => number, prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => share(`${prefix}${i}`)).reduce((a, b) => a + b, 0);

describe('Balancer', () => {
  it('respects weights when loads are equal', () => {
    const b = new Balancer({}, seededRng(1));
    const share = spread(b, [c('a', { weight: 1 }), c('b', { weight: 2 }), c('c', { weight: 7 })]);
    expect(share('a')).toBeCloseTo(0.1, 1);
    expect(share('b')).toBeCloseTo(0.2, 1);
    expect(share('c')).toBeCloseTo(0.7, 1);
    expect(Math.abs(share('c') - 0.7)).toBeLessThan(0.02);
  });

  it('power of two choices prefers the less loaded candidate', () => {
    const b = new Balancer({}, seededRng(2));
    const loads: Record<string, number> = { a: 1, b: 2, c: 3 };
    const share = spread(b, [c('a'), c('b'), c('c')], 9_000, (id) => loads[id]!);
    // The least loaded wins every pair it is in (2/3 of pairs); the most loaded never wins one.
    expect(share('a')).toBeCloseTo(2 / 3, 1);
    expect(share('b')).toBeCloseTo(1 / 3, 1);
    expect(share('c')).toBe(0);
  });

  it('picks two distinct candidates, so with two the lower load always wins', () => {
    const b = new Balancer({}, seededRng(3));
    const share = spread(b, [c('a'), c('b')], 1_000, (id) => (id === 'a' ? 5 : 1));
    expect(share('b')).toBe(1);
  });

  it('returns the only candidate, and undefined when none remain', () => {
    const b = new Balancer({}, seededRng(4));
    expect(b.pick([c('a')], flat)).toBe('a');
    expect(b.pick([], flat)).toBeUndefined();
    expect(b.pick([c('a'), c('b')], flat, new Set(['a', 'b']))).toBeUndefined();
  });

  it('never picks excluded or zero-weight candidates', () => {
    const b = new Balancer({}, seededRng(5));
    const share = spread(b, [c('a'), c('b'), c('z', { weight: 0 })], 2_000);
    expect(share('z')).toBe(0);
    const b2 = new Balancer({}, seededRng(6));
    for (let i = 0; i < 500; i++)
      expect(b2.pick([c('a'), c('b'), c('c')], flat, new Set(['b']))).not.toBe('b');
  });

  it('keeps all traffic in tier 0 while it is fully healthy', () => {
    const share = spread(new Balancer({}, seededRng(7)), twoTiers(10));
    expect(tierShare(share, 'b', 2)).toBe(0);
  });

  it('spills min(1, h × 1.4) to tier 0 and the rest to tier 1', () => {
    const half = spread(new Balancer({}, seededRng(8)), twoTiers(5));
    expect(tierShare(half, 'a', 10)).toBeCloseTo(0.7, 1);
    expect(tierShare(half, 'b', 2)).toBeCloseTo(0.3, 1);
    // Unhealthy members of tier 0 get nothing: tier 1 has room, so there is no panic.
    for (let i = 5; i < 10; i++) expect(half(`a${i}`)).toBe(0);

    const fifth = spread(new Balancer({}, seededRng(9)), twoTiers(2));
    expect(Math.abs(tierShare(fifth, 'a', 10) - 0.28)).toBeLessThan(0.02);
    expect(Math.abs(tierShare(fifth, 'b', 2) - 0.72)).toBeLessThan(0.02);
  });

  it('computes Envoy priority loads, scaling up when the tiers together are short', () => {
    expect(priorityPlan([1, 1]).load).toEqual([1, 0]);
    expect(priorityPlan([0.5, 1]).load[0]).toBeCloseTo(0.7);
    expect(priorityPlan([0.5, 1]).load[1]).toBeCloseTo(0.3);
    const short = priorityPlan([0.2, 0.2]);
    expect(short.load[0]).toBeCloseTo(0.5);
    expect(short.load[1]).toBeCloseTo(0.5);
    expect(short.panic).toEqual([true, true]);
    expect(priorityPlan([0, 0])).toEqual({ load: [1, 0], panic: [true, false] });
    expect(priorityPlan([0, 0], 1.4, 0).panic).toEqual([false, false]);
  });

  it('enters panic below the threshold and spreads over all members of the tier', () => {
    const candidates = [c('a'), c('b', { healthy: false }), c('c', { healthy: false })];
    const share = spread(new Balancer({}, seededRng(10)), candidates, 6_000);
    for (const id of ['a', 'b', 'c']) expect(share(id)).toBeCloseTo(1 / 3, 1);
  });

  it('stays out of panic at or above the threshold', () => {
    const candidates = [c('a'), c('b'), c('c', { healthy: false }), c('d', { healthy: false })];
    const share = spread(new Balancer({}, seededRng(11)), candidates, 2_000);
    expect(share('c') + share('d')).toBe(0);
  });

  it('uses all of tier 0 in panic when nothing is healthy, and returns undefined if panic is disabled', () => {
    const candidates = [c('a', { healthy: false }), c('b', { tier: 1, healthy: false })];
    const share = spread(new Balancer({}, seededRng(12)), candidates, 1_000);
    expect(share('a')).toBe(1);
    expect(new Balancer({ panicThreshold: 0 }, seededRng(13)).pick(candidates, flat)).toBeUndefined();
  });

  it('applies exclusions before computing health', () => {
    const b = new Balancer({}, seededRng(14));
    // Excluding the healthy one leaves tier 0 all unhealthy: spill to tier 1 entirely.
    const candidates = [c('a'), c('x', { healthy: false }), c('t1', { tier: 1 })];
    for (let i = 0; i < 200; i++) expect(b.pick(candidates, flat, new Set(['a']))).toBe('t1');
  });

  it('is deterministic for a given seed', () => {
    const run = (seed: number) => {
      const b = new Balancer({}, seededRng(seed));
      return Array.from({ length: 50 }, () => b.pick(twoTiers(4), flat));
    };
    expect(run(42)).toEqual(run(42));
  });
});

describe('loadScore', () => {
  it('is latency × (outstanding + 1), with a 1 ms floor on latency', () => {
    expect(loadScore(200, 0)).toBe(200);
    expect(loadScore(200, 3)).toBe(800);
    expect(loadScore(0, 0)).toBe(1);
    expect(loadScore(0, 4)).toBe(5);
  });
});
