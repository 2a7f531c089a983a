import { describe, expect, it } from 'vitest';
import { GCRA_NEVER_MS, type GcraResult, gcraCharge, gcraRefund, gcraStep } from '../../src/overload/gcra.ts';

/** Drives one key through `gcraStep` the way a store would: keep the state only when allowed. */
function key(periodMs: number, limit: number, burst?: number) {
  let state: number | undefined;
  return {
    step(now: number, cost = 1): GcraResult {
      const r = gcraStep(state, now, periodMs, limit, cost, burst);
      state = r.state;
      return r;
    },
    refund(now: number, cost: number) {
      state = gcraRefund(state, now, periodMs, limit, cost);
    },
    get state() {
      return state;
    },
  };
}

/** Offers a request every `stepMs` over [from, to) and returns the arrival times that were allowed. */
function allowedTimes(
  k: ReturnType<typeof key>,
  from: number,
  to: number,
  stepMs: number,
  cost = 1,
): number[] {
  const out: number[] = [];
  for (let i = 0; from + i * stepMs < to; i++) {
    const t = from + i * stepMs;
    if (k.step(t, cost).allowed) out.push(t);
  }
  return out;
}

describe('gcraStep', () => {
  it('allows the burst at once, then exactly one request per emission interval', () => {
    const k = key(60_000, 10);
    // A full bucket: 10 at t=0, the 11th refused.
    const atOnce = Array.from({ length: 11 }, () => k.step(0).allowed);
    expect(atOnce).toEqual([...new Array<boolean>(10).fill(true), false]);
    // Then one every 6 s.
    const times = allowedTimes(k, 1, 60_000, 1);
    expect(times).toEqual([6_000, 12_000, 18_000, 24_000, 30_000, 36_000, 42_000, 48_000, 54_000]);
  });

  it('admits exactly `limit` per period in every later period, even when the interval is fractional', () => {
    for (const [periodMs, limit] of [
      [60_000, 7],
      [1_000, 3],
      [60_000, 1_000],
    ] as const) {
      const k = key(periodMs, limit);
      const times = allowedTimes(k, 0, periodMs * 50, 1);
      for (let p = 1; p < 50; p++) {
        const inPeriod = times.filter((t) => t >= p * periodMs && t < (p + 1) * periodMs);
        expect(inPeriod, `${limit}/${periodMs}ms, period ${p}`).toHaveLength(limit);
      }
      // Burst + one per interval: nothing lost or gained to float error over 50 periods.
      expect(times).toHaveLength(limit + 50 * limit - 1);
    }
  });

  it('stays exact at wall-clock magnitudes (Date.now() scale)', () => {
    const t0 = 1_750_000_000_000;
    const k = key(60_000, 7);
    const times = allowedTimes(k, t0, t0 + 60_000 * 20, 1);
    for (let p = 1; p < 20; p++) {
      const n = times.filter((t) => t >= t0 + p * 60_000 && t < t0 + (p + 1) * 60_000).length;
      expect(n).toBe(7);
    }
  });

  it('at a steady rate exactly at the limit every request is allowed, even with no burst to spare', () => {
    const exact = key(60_000, 60, 1);
    expect(allowedTimes(exact, 0, 600_000, 1_000)).toHaveLength(600);
  });

  it('arrivals spaced exactly one fractional interval apart are all allowed with no burst to spare', () => {
    for (const [periodMs, limit] of [
      [60_000, 7],
      [1_000, 3],
      [1_000, 10_000],
    ] as const) {
      const interval = periodMs / limit;
      let state: number | undefined;
      let refused = 0;
      for (let j = 0; j < 100_000; j++) {
        const r = gcraStep(state, j * interval, periodMs, limit, 1, 1);
        if (r.allowed) state = r.state;
        else refused++;
      }
      expect(refused, `${limit}/${periodMs}ms`).toBe(0);
    }
  });

  it('above the limit, admits the burst plus one per interval and refuses the rest', () => {
    const faster = key(60_000, 60);
    // One every 900 ms for 10 minutes is 667 offered; 60 (burst) + 600 − 1 fit (the 600th slot is at 10 min).
    const times = allowedTimes(faster, 0, 600_000, 900);
    expect(times.length).toBeGreaterThanOrEqual(659);
    expect(times.length).toBeLessThanOrEqual(660);
    // Once the burst is spent, admissions are spaced by at least the interval.
    const late = times.filter((t) => t > 120_000);
    for (let i = 1; i < late.length; i++) expect(late[i]! - late[i - 1]!).toBeGreaterThanOrEqual(900);
    expect(late.length).toBeGreaterThan(0);
  });

  it('reports remaining, reset and retry-after exactly', () => {
    const k = key(60_000, 10);
    expect(k.step(0)).toEqual({ allowed: true, state: 6_000, remaining: 9, resetMs: 6_000, retryAfterMs: 0 });
    for (let i = 0; i < 8; i++) k.step(0);
    expect(k.step(0)).toEqual({
      allowed: true,
      state: 60_000,
      remaining: 0,
      resetMs: 60_000,
      retryAfterMs: 0,
    });
    const refused = k.step(0);
    expect(refused).toEqual({
      allowed: false,
      state: 60_000,
      remaining: 0,
      resetMs: 60_000,
      retryAfterMs: 6_000,
    });
    // Half an interval later: still refused, half the wait left, reset counts down.
    expect(k.step(3_000)).toMatchObject({
      allowed: false,
      retryAfterMs: 3_000,
      resetMs: 57_000,
      remaining: 0,
    });
    // Waiting exactly retryAfterMs is enough.
    expect(k.step(6_000)).toMatchObject({ allowed: true, remaining: 0, resetMs: 60_000 });
    // A whole idle period refills the bucket, no further.
    expect(k.step(1_000_000)).toMatchObject({ allowed: true, remaining: 9, resetMs: 6_000 });
  });

  it('a refused request does not change the state', () => {
    const r = gcraStep(60_000, 0, 60_000, 10, 1);
    expect(r.allowed).toBe(false);
    expect(r.state).toBe(60_000);
    const fresh = gcraStep(undefined, 0, 60_000, 1, 2);
    expect(fresh).toMatchObject({ allowed: false, state: undefined, remaining: 1, resetMs: 0 });
  });

  it('charges token costs: a tokens-per-minute limit', () => {
    const k = key(60_000, 10_000);
    expect(k.step(0, 4_000)).toMatchObject({ allowed: true, remaining: 6_000, resetMs: 24_000 });
    expect(k.step(0, 4_000)).toMatchObject({ allowed: true, remaining: 2_000, resetMs: 48_000 });
    // 2 000 left; 4 000 needs 2 000 more tokens at 6 ms per token.
    expect(k.step(0, 4_000)).toMatchObject({ allowed: false, remaining: 2_000, retryAfterMs: 12_000 });
    expect(k.step(0, 2_000)).toMatchObject({ allowed: true, remaining: 0, resetMs: 60_000 });
    expect(k.step(12_000, 2_000)).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('never allows a cost above the burst, and says so with GCRA_NEVER_MS', () => {
    const r = gcraStep(undefined, 0, 60_000, 10_000, 10_001);
    expect(r).toMatchObject({
      allowed: false,
      retryAfterMs: GCRA_NEVER_MS,
      remaining: 10_000,
      state: undefined,
    });
    expect(Number.isFinite(r.retryAfterMs)).toBe(true);
    // A smaller burst tightens it.
    expect(gcraStep(undefined, 0, 60_000, 10, 3, 2).retryAfterMs).toBe(GCRA_NEVER_MS);
  });

  it('a burst smaller than the limit spreads the same rate out', () => {
    const k = key(60_000, 60, 5);
    const atOnce = Array.from({ length: 6 }, () => k.step(0).allowed);
    expect(atOnce).toEqual([true, true, true, true, true, false]);
    // Then one per second.
    const times = allowedTimes(k, 100, 10_000, 100);
    expect(times).toEqual([1_000, 2_000, 3_000, 4_000, 5_000, 6_000, 7_000, 8_000, 9_000]);
  });

  it('cost 0 peeks without charging', () => {
    const k = key(60_000, 10);
    k.step(0, 3);
    expect(k.step(0, 0)).toMatchObject({ allowed: true, remaining: 7, resetMs: 18_000 });
    expect(k.step(0, 0).remaining).toBe(7);
  });

  it('rejects nonsense parameters', () => {
    expect(() => gcraStep(undefined, 0, 0, 10, 1)).toThrow(RangeError);
    expect(() => gcraStep(undefined, 0, 1_000, 0, 1)).toThrow(RangeError);
    expect(() => gcraStep(undefined, 0, 1_000, 10, -1)).toThrow(RangeError);
    expect(() => gcraStep(undefined, 0, 1_000, 10, Number.NaN)).toThrow(RangeError);
    expect(() => gcraStep(undefined, 0, 1_000, 10, 1, 0)).toThrow(RangeError);
  });
});

describe('gcraRefund / gcraCharge', () => {
  it('gives back tokens charged on an estimate that came in high', () => {
    const k = key(60_000, 10_000);
    k.step(0, 8_000);
    // 8 000 estimated, 3 000 used.
    k.refund(0, 5_000);
    expect(k.step(0, 0)).toMatchObject({ remaining: 7_000, resetMs: 18_000 });
  });

  it('never moves the TAT below now, so refunds cannot bank more than a full bucket', () => {
    expect(gcraRefund(30_000, 10_000, 60_000, 10, 100)).toBe(10_000);
    expect(gcraRefund(5_000, 10_000, 60_000, 10, 1)).toBe(10_000);
    expect(gcraRefund(undefined, 10_000, 60_000, 10, 1)).toBeUndefined();
    const k = key(60_000, 10);
    k.step(0, 5);
    k.refund(0, 50);
    expect(k.step(0, 0).remaining).toBe(10);
  });

  it('charges usage above the estimate even past the burst, delaying later requests', () => {
    const tat = gcraCharge(undefined, 0, 60_000, 10_000, 15_000);
    expect(tat).toBe(90_000);
    const r = gcraStep(tat, 0, 60_000, 10_000, 1);
    expect(r).toMatchObject({ allowed: false, remaining: 0, resetMs: 90_000 });
    expect(r.retryAfterMs).toBeCloseTo(30_006, 6);
  });
});
