import { describe, expect, it } from 'vitest';
import { Deadline, firstByteTimeout } from '../../src/resilience/deadline.ts';
import { PeakEwma } from '../../src/resilience/ewma.ts';
import { SlidingQuantile } from '../../src/resilience/quantile.ts';
import { fakeClock } from './fakes.ts';

describe('PeakEwma', () => {
  it('is 0 before any sample, or the initial estimate if given', () => {
    expect(new PeakEwma({}, fakeClock()).value()).toBe(0);
    expect(new PeakEwma({ initialMs: 800 }, fakeClock()).value()).toBe(800);
  });

  it('jumps straight up to a higher sample', () => {
    const clock = fakeClock();
    const e = new PeakEwma({ decayMs: 10_000 }, clock);
    e.observe(100);
    expect(e.value()).toBe(100);
    clock.advance(1);
    e.observe(900);
    expect(e.value()).toBe(900);
  });

  it('decays down to lower samples weighted by elapsed time', () => {
    const clock = fakeClock();
    const e = new PeakEwma({ decayMs: 10_000 }, clock);
    e.observe(1_000);
    clock.advance(10_000);
    e.observe(100);
    // w = e^-1: 1000·w + 100·(1 − w)
    expect(e.value()).toBeCloseTo(1_000 * Math.exp(-1) + 100 * (1 - Math.exp(-1)), 6);
    // Samples arriving together barely move it: a burst of fast answers cannot erase a stall.
    const before = e.value();
    e.observe(10);
    expect(e.value()).toBeCloseTo(before, 6);
  });

  it('converges to a steady latency', () => {
    const clock = fakeClock();
    const e = new PeakEwma({ decayMs: 1_000 }, clock);
    e.observe(5_000);
    for (let i = 0; i < 100; i++) {
      clock.advance(200);
      e.observe(200);
    }
    expect(e.value()).toBeCloseTo(200, 0);
  });

  it('decays towards zero while idle, independently of how often it is read', () => {
    const clock = fakeClock();
    const a = new PeakEwma({ decayMs: 10_000 }, clock);
    const b = new PeakEwma({ decayMs: 10_000 }, clock);
    a.observe(500);
    b.observe(500);
    for (let i = 0; i < 10; i++) {
      clock.advance(1_000);
      a.value();
    }
    expect(a.value()).toBeCloseTo(500 * Math.exp(-1), 6);
    expect(b.value()).toBeCloseTo(a.value(), 9);
    a.observe(100);
    b.observe(100);
    expect(a.value()).toBeCloseTo(b.value(), 9);
  });
});

describe('SlidingQuantile', () => {
  it('is undefined below minSamples', () => {
    const q = new SlidingQuantile({}, fakeClock());
    for (let i = 0; i < 19; i++) q.observe(i);
    expect(q.quantile(0.95)).toBeUndefined();
    q.observe(19);
    expect(q.quantile(0.95)).toBeDefined();
  });

  it('interpolates linearly between order statistics', () => {
    const q = new SlidingQuantile({ minSamples: 1 }, fakeClock());
    // 1..100 shuffled deterministically.
    for (let i = 0; i < 100; i++) q.observe(((i * 37) % 100) + 1);
    expect(q.count()).toBe(100);
    expect(q.quantile(0)).toBe(1);
    expect(q.quantile(1)).toBe(100);
    expect(q.quantile(0.5)).toBeCloseTo(50.5);
    expect(q.quantile(0.95)).toBeCloseTo(95.05);
    expect(q.quantile(2)).toBe(100);
    expect(q.quantile(Number.NaN)).toBeUndefined();
  });

  it('forgets samples older than the window', () => {
    const clock = fakeClock();
    const q = new SlidingQuantile({ windowMs: 60_000, minSamples: 1 }, clock);
    for (let i = 0; i < 10; i++) q.observe(10_000);
    clock.advance(30_000);
    for (let i = 0; i < 10; i++) q.observe(100);
    expect(q.quantile(1)).toBe(10_000);
    clock.advance(30_000);
    expect(q.count()).toBe(10);
    expect(q.quantile(1)).toBe(100);
    clock.advance(30_000);
    expect(q.count()).toBe(0);
    expect(q.quantile(0.5)).toBeUndefined();
  });

  it('keeps at most maxSamples, dropping the oldest', () => {
    const q = new SlidingQuantile({ maxSamples: 4, minSamples: 1 }, fakeClock());
    for (const v of [1_000, 1, 2, 3, 4]) q.observe(v);
    expect(q.count()).toBe(4);
    expect(q.quantile(1)).toBe(4);
    q.observe(0);
    expect(q.quantile(0)).toBe(0);
    expect(q.quantile(1)).toBe(4);
  });

  it('ignores non-finite samples', () => {
    const q = new SlidingQuantile({ minSamples: 1 }, fakeClock());
    q.observe(Number.NaN);
    q.observe(Number.POSITIVE_INFINITY);
    expect(q.count()).toBe(0);
  });
});

describe('Deadline', () => {
  it('counts down on the injected clock', () => {
    const clock = fakeClock(500);
    const d = Deadline.after(1_000, clock);
    expect(d.at).toBe(1_500);
    expect(d.remaining()).toBe(1_000);
    expect(d.expired()).toBe(false);
    clock.advance(999);
    expect(d.remaining()).toBe(1);
    clock.advance(1);
    expect(d.expired()).toBe(true);
    clock.advance(5_000);
    expect(d.remaining()).toBe(0);
  });

  it('never expires when built with never()', () => {
    const clock = fakeClock();
    const d = Deadline.never(clock);
    clock.advance(1e12);
    expect(d.expired()).toBe(false);
    expect(d.remaining()).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('firstByteTimeout', () => {
  it('is p95 × multiplier clamped to [floor, ceiling]', () => {
    expect(firstByteTimeout(1_000, {})).toBe(3_000);
    expect(firstByteTimeout(100, {})).toBe(2_000);
    expect(firstByteTimeout(50_000, {})).toBe(60_000);
    expect(firstByteTimeout(400, { floorMs: 500, multiplier: 2, ceilingMs: 10_000 })).toBe(800);
  });

  it('is the ceiling without a p95', () => {
    expect(firstByteTimeout(undefined, {})).toBe(60_000);
    expect(firstByteTimeout(undefined, { ceilingMs: 15_000 })).toBe(15_000);
    expect(firstByteTimeout(Number.NaN)).toBe(60_000);
  });

  it('lets the ceiling win when it is below the floor', () => {
    expect(firstByteTimeout(10, { floorMs: 5_000, ceilingMs: 1_000 })).toBe(1_000);
  });
});
