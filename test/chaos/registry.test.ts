import { describe, expect, it } from 'vitest';
import { ChaosLimitError, ChaosRegistry } from '../../src/chaos/registry.ts';
import { HoldfastError } from '../../src/core/errors.ts';
import { UpstreamError } from '../../src/core/upstream-error.ts';
import { rngFromNumber } from '../../src/providers/simulator/random.ts';

function setup(seed = 7) {
  const clock = { t: 1_000_000 };
  let n = 0;
  const rng = rngFromNumber(seed);
  const reg = new ChaosRegistry({ now: () => clock.t, rng: rng.next, newId: () => `f${++n}` });
  return { clock, reg };
}

describe('ChaosRegistry lifetime', () => {
  it('stamps id, deployment, created and ends, with defaults filled in', () => {
    const { reg } = setup();
    const f = reg.inject('east', { kind: 'error', duration_s: 30 });
    expect(f).toEqual({
      kind: 'error',
      status: 500,
      rate: 1,
      duration_s: 30,
      id: 'f1',
      deployment: 'east',
      created: 1_000_000,
      ends: 1_030_000,
      hits: 0,
    });
  });

  it('drops faults lazily once their time is up', () => {
    const { clock, reg } = setup();
    reg.inject('east', { kind: 'refuse', duration_s: 10 });
    reg.inject('east', { kind: 'latency', ms: 100, duration_s: 20 });
    expect(reg.hasAny('east')).toBe(true);
    clock.t += 9_999;
    expect(reg.active('east').map((f) => f.kind)).toEqual(['refuse', 'latency']);
    clock.t += 1;
    expect(reg.active('east').map((f) => f.kind)).toEqual(['latency']);
    clock.t += 10_000;
    expect(reg.hasAny('east')).toBe(false);
    expect(reg.list()).toEqual([]);
    expect(reg.decide('east')).toEqual({ latencyMs: 0, faults: [] });
  });

  it('lists per deployment or all, oldest first, as snapshots', () => {
    const { clock, reg } = setup();
    reg.inject('west', { kind: 'blackhole', duration_s: 60 });
    clock.t += 1;
    reg.inject('east', { kind: 'refuse', duration_s: 60 });
    expect(reg.list().map((f) => f.deployment)).toEqual(['west', 'east']);
    expect(reg.list('east').map((f) => f.id)).toEqual(['f2']);
    expect(reg.list('nowhere')).toEqual([]);
    const snap = reg.list('east')[0]!;
    snap.ends = 0;
    expect(reg.hasAny('east')).toBe(true);
  });

  it('clears one fault, one deployment or everything, counting only live faults', () => {
    const { clock, reg } = setup();
    reg.inject('east', { kind: 'refuse', duration_s: 5 });
    reg.inject('east', { kind: 'blackhole', duration_s: 60 });
    reg.inject('west', { kind: 'refuse', duration_s: 60 });
    reg.inject('north', { kind: 'refuse', duration_s: 60 });
    expect(reg.clear('east', 'f2')).toBe(1);
    expect(reg.clear('east', 'f2')).toBe(0);
    clock.t += 5_000;
    expect(reg.clear('east')).toBe(0);
    expect(reg.clear(undefined, 'f3')).toBe(1);
    expect(reg.clear()).toBe(1);
    expect(reg.list()).toEqual([]);
  });

  it('rejects a bad spec with the field path and caps faults per deployment', () => {
    const reg = new ChaosRegistry({ maxPerDeployment: 2 });
    expect(() => reg.inject('east', { kind: 'error', duration_s: 30, rate: 2 })).toThrow(
      expect.objectContaining({ code: 'invalid_request', param: 'rate' }),
    );
    expect(() => reg.inject('east', { kind: 'error' })).toThrow(HoldfastError);
    reg.inject('east', { kind: 'refuse', duration_s: 1 });
    reg.inject('east', { kind: 'refuse', duration_s: 1 });
    expect(() => reg.inject('east', { kind: 'refuse', duration_s: 1 })).toThrow(ChaosLimitError);
    expect(reg.inject('west', { kind: 'refuse', duration_s: 1 }).deployment).toBe('west');
  });
});

describe('ChaosRegistry.decide', () => {
  it('maps each failure kind onto the UpstreamError a real outage would produce', () => {
    const cases = [
      [{ kind: 'refuse' }, { kind: 'connection', status: undefined, retryAfterMs: undefined }],
      [
        { kind: 'error', status: 503 },
        { kind: 'server', status: 503, retryAfterMs: undefined },
      ],
      [
        { kind: 'rate_limit', retry_after_s: 2 },
        { kind: 'rate_limited', status: 429, retryAfterMs: 2000 },
      ],
      [{ kind: 'overloaded' }, { kind: 'overloaded', status: 529, retryAfterMs: undefined }],
      [
        { kind: 'overloaded', retry_after_s: 0.5 },
        { kind: 'overloaded', status: 529, retryAfterMs: 500 },
      ],
    ] as const;
    for (const [spec, want] of cases) {
      const { reg } = setup();
      reg.inject('d', { ...spec, duration_s: 10 });
      const plan = reg.decide('d');
      expect(plan.failWith).toBeInstanceOf(UpstreamError);
      expect(plan.failWith).toMatchObject({ ...want, midStream: false });
      // A fresh error per request: the core flips midStream on the instance it is given.
      expect(reg.decide('d').failWith).not.toBe(plan.failWith);
    }
  });

  it('adds latencies, keeps the oldest failure, and the smallest cut and stall', () => {
    const { reg } = setup();
    reg.inject('d', { kind: 'latency', ms: 100, duration_s: 10 });
    reg.inject('d', { kind: 'latency', ms: 50, duration_s: 10 });
    reg.inject('d', { kind: 'cut', after_tokens: 9, duration_s: 10 });
    reg.inject('d', { kind: 'cut', after_tokens: 4, duration_s: 10 });
    reg.inject('d', { kind: 'stall', after_tokens: 3, duration_s: 10 });
    expect(reg.decide('d')).toEqual({
      latencyMs: 150,
      cutAfterTokens: 4,
      stallAfterTokens: 3,
      faults: ['f1', 'f2', 'f3', 'f4', 'f5'],
    });
    reg.inject('d', { kind: 'blackhole', duration_s: 10 });
    reg.inject('d', { kind: 'refuse', duration_s: 10 });
    const plan = reg.decide('d');
    expect(plan.hang).toBe(true);
    expect(plan.failWith).toBeUndefined();
    expect(reg.active('d').map((f) => f.hits)).toEqual([2, 2, 2, 2, 2, 1, 1]);
  });

  it('strikes close to `rate` of requests, and replays exactly from the same seed', () => {
    const draw = (seed: number): boolean[] => {
      const { reg } = setup(seed);
      reg.inject('d', { kind: 'error', rate: 0.3, duration_s: 10 });
      return Array.from({ length: 10_000 }, () => reg.decide('d').failWith !== undefined);
    };
    const a = draw(42);
    const share = a.filter(Boolean).length / a.length;
    expect(share).toBeGreaterThan(0.28);
    expect(share).toBeLessThan(0.32);
    expect(draw(42)).toEqual(a);
    expect(draw(43)).not.toEqual(a);
  });

  it('never strikes at rate 0 and does not consume randomness for rate 0 or 1', () => {
    let draws = 0;
    const reg = new ChaosRegistry({
      rng: () => {
        draws += 1;
        return 0;
      },
    });
    reg.inject('d', { kind: 'refuse', rate: 0, duration_s: 10 });
    reg.inject('d', { kind: 'latency', ms: 5, duration_s: 10 });
    expect(reg.decide('d')).toEqual({ latencyMs: 5, faults: [expect.any(String)] });
    expect(draws).toBe(0);
  });
});
