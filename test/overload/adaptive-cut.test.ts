import { describe, expect, it } from 'vitest';
import { AdaptiveLimit } from '../../src/overload/adaptive-limit.ts';

describe('AdaptiveLimit overload cut', () => {
  it('cuts from what was in flight when the upstream refused, so an oversized limit comes down at once', () => {
    let t = 0;
    const limit = new AdaptiveLimit({ initial: 128 }, { now: () => t });
    t = 1_000;
    limit.onSample({ rttMs: 100, inflight: 30, overloaded: true });
    expect(limit.limit()).toBe(27);
  });

  it('still cuts by the backoff factor when the limit is already below what was in flight', () => {
    let t = 0;
    const limit = new AdaptiveLimit({ initial: 20 }, { now: () => t });
    t = 1_000;
    limit.onSample({ rttMs: 100, inflight: 40, overloaded: true });
    expect(limit.limit()).toBe(18);
  });
});
