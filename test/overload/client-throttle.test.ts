import { describe, expect, it } from 'vitest';
import { ClientThrottle } from '../../src/overload/client-throttle.ts';
import { fakeClock, seededRng } from '../resilience/fakes.ts';

function records(t: ClientThrottle, accepted: boolean, n: number) {
  for (let i = 0; i < n; i++) t.record(accepted);
}

describe('ClientThrottle', () => {
  it('never rejects while the upstream accepts', () => {
    const t = new ClientThrottle({}, fakeClock(), seededRng(1));
    for (let i = 0; i < 1_000; i++) {
      expect(t.shouldReject()).toBe(false);
      t.record(true);
    }
    expect(t.rejectProbability()).toBe(0);
  });

  it('does not throttle a cold burst of in-flight requests that have no outcome yet', () => {
    const t = new ClientThrottle({}, fakeClock(), () => 0);
    for (let i = 0; i < 100; i++) expect(t.shouldReject()).toBe(false);
  });

  it('computes max(0, (requests − k·accepts) / (requests + 1))', () => {
    const t = new ClientThrottle({ k: 2 }, fakeClock(), seededRng(1));
    records(t, true, 10);
    records(t, false, 20);
    // 30 requests, 10 accepted: (30 − 20) / 31.
    expect(t.rejectProbability()).toBeCloseTo(10 / 31, 12);
    records(t, false, 30);
    expect(t.rejectProbability()).toBeCloseTo(40 / 61, 12);
    // Up to k × accepts requests are free: 10 accepted cover 20 requests.
    const u = new ClientThrottle({ k: 2 }, fakeClock(), seededRng(1));
    records(u, true, 10);
    records(u, false, 10);
    expect(u.rejectProbability()).toBe(0);
    const k1 = new ClientThrottle({ k: 1 }, fakeClock(), seededRng(1));
    records(k1, true, 10);
    records(k1, false, 10);
    expect(k1.rejectProbability()).toBeCloseTo(10 / 21, 12);
  });

  it('rejects with that probability, and counts local rejections as requests', () => {
    const t = new ClientThrottle({}, fakeClock(), seededRng(42));
    records(t, true, 100);
    records(t, false, 900);
    const p = t.rejectProbability();
    expect(p).toBeCloseTo(800 / 1001, 12);
    let rejected = 0;
    const n = 2_000;
    for (let i = 0; i < n; i++) if (t.shouldReject()) rejected++;
    // The probability climbs as rejections add to requests, towards 1.
    expect(rejected / n).toBeGreaterThan(p);
    expect(t.stats().requests).toBe(1_000 + rejected);
    expect(t.rejectProbability()).toBeGreaterThan(p);
  });

  it('uses the injected rng: reject exactly when rng() < p', () => {
    let next = 0;
    const t = new ClientThrottle({ minRequests: 0 }, fakeClock(), () => next);
    records(t, false, 3);
    // (3 − 0) / 4
    expect(t.rejectProbability()).toBe(0.75);
    next = 0.75;
    expect(t.shouldReject()).toBe(false);
    next = 0.7499;
    expect(t.shouldReject()).toBe(true);
  });

  it('forgets outcomes older than the window, so an upstream that recovers is tried again', () => {
    const clock = fakeClock();
    const t = new ClientThrottle({ windowMs: 120_000 }, clock, seededRng(3));
    records(t, false, 500);
    expect(t.rejectProbability()).toBeGreaterThan(0.99);
    clock.advance(60_000);
    expect(t.rejectProbability()).toBeGreaterThan(0.99);
    clock.advance(60_000);
    expect(t.rejectProbability()).toBe(0);
    expect(t.shouldReject()).toBe(false);
  });

  it('against an upstream at a quarter of the offered load, forwards about k × what it accepts', () => {
    // 100 offers per second; the upstream accepts 25 per second and refuses the rest. At equilibrium
    // p = (100 − 2·25) / 101 ≈ 0.5: half is refused locally at no cost upstream, the other half reaches it.
    const clock = fakeClock();
    const t = new ClientThrottle({}, clock, seededRng(9));
    let forwarded = 0;
    let accepted = 0;
    let acceptedThisSecond = 0;
    const seconds = 600;
    for (let i = 0; i < seconds * 100; i++) {
      clock.advance(10);
      if (clock.t % 1_000 === 0) acceptedThisSecond = 0;
      if (t.shouldReject()) continue;
      forwarded++;
      const ok = acceptedThisSecond < 25;
      if (ok) {
        acceptedThisSecond++;
        accepted++;
      }
      t.record(ok);
    }
    expect(accepted / seconds).toBeGreaterThan(24);
    expect(forwarded / (seconds * 100)).toBeGreaterThan(0.45);
    expect(forwarded / (seconds * 100)).toBeLessThan(0.6);
    expect(t.rejectProbability()).toBeCloseTo(50 / 101, 1);
  });
});

describe('ClientThrottle at low volume', () => {
  it('rejects nothing below minRequests, so one bad moment does not starve an upstream', () => {
    const t = new ClientThrottle({ minRequests: 10 }, { now: () => 0 }, () => 0);
    for (let i = 0; i < 9; i++) t.record(false);
    expect(t.rejectProbability()).toBe(0);
    expect(t.shouldReject()).toBe(false);
    t.record(false);
    expect(t.rejectProbability()).toBeCloseTo(10 / 11);
  });
});
