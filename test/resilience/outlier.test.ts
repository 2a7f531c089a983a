import { describe, expect, it } from 'vitest';
import { OutlierDetector, type OutlierOptions, type OutlierState } from '../../src/resilience/outlier.ts';
import { fakeClock } from './fakes.ts';

function setup(size = 4, opts: OutlierOptions = {}) {
  const clock = fakeClock(1_000);
  const d = new OutlierDetector(opts, clock);
  const ids = Array.from({ length: size }, (_, i) => `d${i}`);
  for (const id of ids) d.register(id, 'g');
  const fail = (id: string, n: number) => {
    for (let i = 0; i < n; i++) d.recordFailure(id);
  };
  return { clock, d, ids, fail };
}

describe('OutlierDetector: consecutive failures', () => {
  it('ejects after 5 consecutive failures, not 4', () => {
    const { d, fail } = setup();
    fail('d0', 4);
    expect(d.state('d0')).toBe('healthy');
    d.recordFailure('d0');
    expect(d.state('d0')).toBe('ejected');
    expect(d.isAvailable('d0')).toBe(false);
    expect(d.ejectionCount('d0')).toBe(1);
  });

  it('a success resets the streak', () => {
    const { d, fail } = setup();
    fail('d0', 4);
    d.recordSuccess('d0');
    fail('d0', 4);
    expect(d.state('d0')).toBe('healthy');
  });

  it('ejects for base × times ejected, capped at the max', () => {
    const { d, clock, fail } = setup(4, { maxEjectionMs: 100_000 });
    const ejectionLength = () => {
      const until = d.snapshot().find((s) => s.id === 'd0')!.ejectedUntil!;
      return until - clock.t;
    };
    fail('d0', 5);
    expect(ejectionLength()).toBe(30_000);
    const expected = [60_000, 90_000, 100_000, 100_000];
    for (const ms of expected) {
      clock.advance(ejectionLength());
      expect(d.state('d0')).toBe('probing');
      d.recordFailure('d0');
      expect(ejectionLength()).toBe(ms);
    }
    expect(d.ejectionCount('d0')).toBe(5);
  });

  it('forgets past ejections while healthy, one step per multiplierDecayMs', () => {
    const { d, clock, fail } = setup(4, { probeSuccesses: 1, multiplierDecayMs: 60_000 });
    fail('d0', 5);
    clock.advance(30_000);
    d.recordFailure('d0'); // failed trial: multiplier 2
    clock.advance(60_000);
    d.recordSuccess('d0'); // healthy again
    clock.advance(60_000); // one step of decay: multiplier 1
    fail('d0', 5);
    const s = d.snapshot().find((x) => x.id === 'd0')!;
    expect(s.ejectedUntil! - clock.t).toBe(60_000);
    expect(s.ejections).toBe(3);
  });
});

describe('OutlierDetector: never a whole group', () => {
  it('ejects at most maxEjectionPercent of a group', () => {
    const { d, fail } = setup(4);
    fail('d0', 5);
    fail('d1', 5);
    fail('d2', 5);
    expect(d.state('d0')).toBe('ejected');
    expect(d.state('d1')).toBe('ejected');
    expect(d.state('d2')).toBe('healthy');
  });

  it('counts probing deployments as out of rotation', () => {
    const { d, clock, fail } = setup(4);
    fail('d0', 5);
    fail('d1', 5);
    clock.advance(30_000);
    expect(d.state('d0')).toBe('probing');
    fail('d2', 5);
    expect(d.state('d2')).toBe('healthy');
  });

  it('never ejects the last healthy member, even of a group of two', () => {
    const { d, fail } = setup(2);
    fail('d0', 5);
    expect(d.state('d0')).toBe('ejected');
    fail('d1', 20);
    expect(d.state('d1')).toBe('healthy');

    const solo = setup(1);
    solo.fail('d0', 20);
    expect(solo.d.state('d0')).toBe('healthy');
  });

  it('does not count blocked members as healthy for the last-healthy rule', () => {
    const { d, clock, fail } = setup(2, { maxEjectionPercent: 99 });
    d.blockUntil('d1', clock.t + 10_000);
    fail('d0', 5);
    expect(d.state('d0')).toBe('healthy');
  });

  it('at 100% lets a whole group go (the engine uses it for groups with a fallback)', () => {
    const { d, fail } = setup(2, { maxEjectionPercent: 100 });
    fail('d0', 5);
    fail('d1', 5);
    expect([d.state('d0'), d.state('d1')]).toEqual(['ejected', 'ejected']);
  });

  it('keeps groups separate', () => {
    const { d, fail } = setup(2);
    d.register('x0', 'other');
    d.register('x1', 'other');
    fail('d0', 5);
    fail('x0', 5);
    expect(d.state('d0')).toBe('ejected');
    expect(d.state('x0')).toBe('ejected');
  });

  it('ejects once capacity frees up if failures continue', () => {
    const { d, clock, fail } = setup(2, { probeSuccesses: 1 });
    fail('d0', 5);
    fail('d1', 5);
    expect(d.state('d1')).toBe('healthy');
    clock.advance(30_000);
    d.recordSuccess('d0');
    expect(d.state('d0')).toBe('healthy');
    d.recordFailure('d1');
    expect(d.state('d1')).toBe('ejected');
  });
});

describe('OutlierDetector: probing', () => {
  it('moves to probing when the ejection ends, with one trial slot', () => {
    const { d, clock, fail } = setup();
    fail('d0', 5);
    clock.advance(29_999);
    expect(d.state('d0')).toBe('ejected');
    expect(d.acquireProbe('d0')).toBe(false);
    clock.advance(1);
    expect(d.state('d0')).toBe('probing');
    expect(d.isAvailable('d0')).toBe(true);
    expect(d.acquireProbe('d0')).toBe(true);
    expect(d.isAvailable('d0')).toBe(false);
    expect(d.acquireProbe('d0')).toBe(false);
    d.releaseProbe('d0');
    expect(d.isAvailable('d0')).toBe(true);
  });

  it('acquireProbe is false for healthy deployments', () => {
    const { d } = setup();
    expect(d.acquireProbe('d0')).toBe(false);
  });

  it('becomes healthy after probeSuccesses trial successes in a row', () => {
    const { d, clock, fail } = setup();
    fail('d0', 5);
    clock.advance(30_000);
    for (let i = 0; i < 2; i++) {
      expect(d.acquireProbe('d0')).toBe(true);
      d.recordSuccess('d0');
      d.releaseProbe('d0');
      expect(d.state('d0')).toBe('probing');
    }
    expect(d.acquireProbe('d0')).toBe(true);
    d.recordSuccess('d0');
    d.releaseProbe('d0');
    expect(d.state('d0')).toBe('healthy');
    expect(d.isAvailable('d0')).toBe(true);
  });

  it('a failed trial re-ejects for longer', () => {
    const { d, clock, fail } = setup();
    fail('d0', 5);
    clock.advance(30_000);
    d.acquireProbe('d0');
    d.recordSuccess('d0');
    d.releaseProbe('d0');
    d.acquireProbe('d0');
    d.recordFailure('d0');
    d.releaseProbe('d0');
    expect(d.state('d0')).toBe('ejected');
    expect(d.ejectionCount('d0')).toBe(2);
    clock.advance(59_999);
    expect(d.state('d0')).toBe('ejected');
    clock.advance(1);
    expect(d.state('d0')).toBe('probing');
  });

  it('frees a trial slot that was never released after probeLeaseMs', () => {
    const { d, clock, fail } = setup(4, { probeLeaseMs: 10_000 });
    fail('d0', 5);
    clock.advance(30_000);
    expect(d.acquireProbe('d0')).toBe(true);
    clock.advance(9_999);
    expect(d.isAvailable('d0')).toBe(false);
    clock.advance(1);
    expect(d.acquireProbe('d0')).toBe(true);
  });

  it('ignores late results while ejected', () => {
    const { d, fail } = setup();
    fail('d0', 5);
    d.recordFailure('d0');
    d.recordSuccess('d0');
    expect(d.state('d0')).toBe('ejected');
    expect(d.ejectionCount('d0')).toBe(1);
  });
});

describe('OutlierDetector: success rate', () => {
  const sr = { minHosts: 5, minRequests: 20, stdevFactor: 1.9, windowMs: 10_000 };

  /** Records `n` results on `id`, `failures` of them failed, interleaved so no streak reaches 5. */
  function traffic(d: OutlierDetector, id: string, n: number, failures: number) {
    for (let i = 0; i < n; i++) {
      if (i < failures * 2 && i % 2 === 0) d.recordFailure(id);
      else d.recordSuccess(id);
    }
  }

  it('ejects a deployment whose success rate is an outlier in its group', () => {
    const { d, ids } = setup(6, { successRate: sr });
    for (const id of ids.slice(1)) traffic(d, id, 40, 1);
    traffic(d, 'd0', 40, 15);
    expect(d.state('d0')).toBe('ejected');
    for (const id of ids.slice(1)) expect(d.state(id)).toBe('healthy');
  });

  it('needs minHosts deployments with minRequests each', () => {
    const { d, ids } = setup(6, { successRate: sr });
    for (const id of ids.slice(1, 4)) traffic(d, id, 40, 0);
    traffic(d, 'd4', 10, 0);
    traffic(d, 'd0', 40, 15);
    expect(d.state('d0')).toBe('healthy');
  });

  it('does not eject for a tiny gap even when it is statistically an outlier', () => {
    const { d, ids } = setup(5, { successRate: sr });
    for (const id of ids.slice(1)) traffic(d, id, 100, 0);
    traffic(d, 'd0', 100, 1);
    expect(d.state('d0')).toBe('healthy');
    const strict = setup(5, { successRate: { ...sr, minDeficit: 0 } });
    for (const id of strict.ids.slice(1)) traffic(strict.d, id, 100, 0);
    traffic(strict.d, 'd0', 100, 1);
    expect(strict.d.state('d0')).toBe('ejected');
  });

  it('forgets results older than the window', () => {
    const { d, ids, clock } = setup(6, { successRate: sr });
    traffic(d, 'd0', 40, 15);
    clock.advance(20_000);
    for (const id of ids.slice(1)) traffic(d, id, 40, 0);
    d.recordSuccess('d0');
    expect(d.state('d0')).toBe('healthy');
  });
});

describe('OutlierDetector: blockUntil', () => {
  it('keeps traffic off until the time, without counting an ejection', () => {
    const { d, clock } = setup();
    d.blockUntil('d0', clock.t + 5_000);
    expect(d.state('d0')).toBe('blocked');
    expect(d.isAvailable('d0')).toBe(false);
    expect(d.ejectionCount('d0')).toBe(0);
    clock.advance(5_000);
    expect(d.state('d0')).toBe('healthy');
    expect(d.isAvailable('d0')).toBe(true);
  });

  it('keeps the later of two blocks, and holds a probing deployment back too', () => {
    const { d, clock, fail } = setup();
    d.blockUntil('d0', clock.t + 5_000);
    d.blockUntil('d0', clock.t + 1_000);
    clock.advance(4_000);
    expect(d.state('d0')).toBe('blocked');

    fail('d1', 5);
    d.blockUntil('d1', clock.t + 40_000);
    clock.advance(30_000);
    expect(d.state('d1')).toBe('blocked');
    expect(d.acquireProbe('d1')).toBe(false);
    clock.advance(10_000);
    expect(d.state('d1')).toBe('probing');
  });
});

describe('OutlierDetector: observability', () => {
  it('announces each transition once, including time-driven ones when noticed', () => {
    const { d, clock, fail } = setup(4, { probeSuccesses: 1 });
    const seen: Array<[string, OutlierState, OutlierState]> = [];
    const off = d.onChange((id, from, to) => seen.push([id, from, to]));
    fail('d0', 5);
    clock.advance(30_000);
    d.state('d0');
    d.state('d0');
    d.acquireProbe('d0');
    d.recordSuccess('d0');
    d.blockUntil('d1', clock.t + 100);
    clock.advance(100);
    d.snapshot();
    off();
    d.blockUntil('d1', clock.t + 100);
    expect(seen).toEqual([
      ['d0', 'healthy', 'ejected'],
      ['d0', 'ejected', 'probing'],
      ['d0', 'probing', 'healthy'],
      ['d1', 'healthy', 'blocked'],
      ['d1', 'blocked', 'healthy'],
    ]);
  });

  it('snapshots every deployment', () => {
    const { d, clock, fail } = setup(2);
    d.recordFailure('d1');
    fail('d0', 5);
    expect(d.snapshot()).toEqual([
      {
        id: 'd0',
        group: 'g',
        state: 'ejected',
        consecutiveFailures: 0,
        ejectedUntil: clock.t + 30_000,
        ejections: 1,
      },
      { id: 'd1', group: 'g', state: 'healthy', consecutiveFailures: 1, ejections: 0 },
    ]);
  });

  it('treats unknown deployments as healthy and ignores their results', () => {
    const { d } = setup();
    d.recordFailure('nope');
    expect(d.state('nope')).toBe('healthy');
    expect(d.isAvailable('nope')).toBe(true);
    expect(d.ejectionCount('nope')).toBe(0);
  });

  it('moves a deployment between groups on re-register, keeping its state', () => {
    const { d, fail } = setup(2);
    fail('d0', 5);
    d.register('d0', 'h');
    expect(d.state('d0')).toBe('ejected');
    expect(d.snapshot().find((s) => s.id === 'd0')!.group).toBe('h');
    // d1 is now alone in g: the last healthy member stays.
    fail('d1', 5);
    expect(d.state('d1')).toBe('healthy');
  });
});
