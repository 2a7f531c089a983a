import { describe, expect, it } from 'vitest';
import { HedgeBudget } from '../../src/resilience/hedge-budget.ts';
import { RetryBudget } from '../../src/resilience/retry-budget.ts';
import { WindowCounter } from '../../src/resilience/window.ts';
import { fakeClock } from './fakes.ts';

function requests(b: { recordRequest(): void }, n: number) {
  for (let i = 0; i < n; i++) b.recordRequest();
}

describe('RetryBudget', () => {
  it('allows retries up to the ratio of recent requests once the concurrency floor is used', () => {
    const clock = fakeClock();
    const b = new RetryBudget({ ratio: 0.2, minConcurrent: 0 }, clock);
    requests(b, 50);
    let granted = 0;
    while (b.tryAcquire()) granted++;
    expect(granted).toBe(10);
    expect(b.stats()).toEqual({ requests: 50, retries: 10, active: 10 });
  });

  it('always allows minConcurrent active retries, and no more beyond the ratio', () => {
    const clock = fakeClock();
    const b = new RetryBudget({ ratio: 0.2, minConcurrent: 3 }, clock);
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false);
    b.release();
    expect(b.tryAcquire()).toBe(true);
    expect(b.stats().active).toBe(3);
  });

  it('release never drives active below zero', () => {
    const b = new RetryBudget({ minConcurrent: 1 }, fakeClock());
    b.release();
    b.release();
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false);
  });

  it('forgets requests and retries older than the window', () => {
    const clock = fakeClock();
    const b = new RetryBudget({ ratio: 0.2, minConcurrent: 0, windowMs: 10_000 }, clock);
    requests(b, 10);
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false);
    clock.advance(10_000);
    expect(b.stats()).toEqual({ requests: 0, retries: 0, active: 2 });
    expect(b.tryAcquire()).toBe(false);
    requests(b, 5);
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false);
  });

  it('adds minRetriesPerSec × window seconds to the allowance', () => {
    const b = new RetryBudget(
      { ratio: 0, minConcurrent: 0, minRetriesPerSec: 0.5, windowMs: 10_000 },
      fakeClock(),
    );
    let granted = 0;
    while (b.tryAcquire()) granted++;
    expect(granted).toBe(5);
  });
});

describe('HedgeBudget', () => {
  it('allows minPerWindow hedges with no traffic, then ratio × requests', () => {
    const clock = fakeClock();
    const b = new HedgeBudget({ ratio: 0.05, minPerWindow: 1 }, clock);
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false);
    requests(b, 100);
    let granted = 0;
    while (b.tryAcquire()) granted++;
    expect(granted).toBe(4);
    expect(b.stats()).toEqual({ requests: 100, hedges: 5 });
  });

  it('refills as the window slides', () => {
    const clock = fakeClock();
    const b = new HedgeBudget({ ratio: 0.05, minPerWindow: 0, windowMs: 10_000 }, clock);
    requests(b, 40);
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false);
    clock.advance(10_000);
    requests(b, 20);
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false);
  });

  it('with minPerWindow 0 and ratio 0 never hedges', () => {
    const b = new HedgeBudget({ ratio: 0, minPerWindow: 0 }, fakeClock());
    requests(b, 1_000);
    expect(b.tryAcquire()).toBe(false);
  });
});

describe('WindowCounter', () => {
  it('drops counts bucket by bucket as time passes', () => {
    const clock = fakeClock();
    const w = new WindowCounter(1_000, clock, 10);
    w.add(3);
    clock.advance(500);
    w.add(2);
    expect(w.total()).toBe(5);
    clock.advance(500);
    expect(w.total()).toBe(2);
    clock.advance(500);
    expect(w.total()).toBe(0);
    w.add();
    clock.advance(1_000_000);
    expect(w.total()).toBe(0);
  });

  it('rejects a non-positive window', () => {
    expect(() => new WindowCounter(0, fakeClock())).toThrow(RangeError);
  });
});
