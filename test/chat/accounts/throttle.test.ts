import { describe, expect, it } from 'vitest';
import { LoginThrottle } from '../../../src/chat/accounts/throttle.ts';
import { fakeClock } from './harness.ts';

function throttle(
  opts: { maxFailures?: number; windowMs?: number; lockoutMs?: number; maxKeys?: number } = {},
) {
  const clock = fakeClock();
  const t = new LoginThrottle({
    maxFailures: 3,
    windowMs: 60_000,
    lockoutMs: 60_000,
    now: clock.now,
    ...opts,
  });
  return { t, clock };
}

describe('LoginThrottle', () => {
  it('allows failures below the limit and locks at the limit for lockoutMs', () => {
    const { t, clock } = throttle({ lockoutMs: 90_000 });
    t.recordFailure(['a']);
    t.recordFailure(['a']);
    expect(t.retryAfterMs(['a'])).toBe(0);
    clock.advance(1_000);
    t.recordFailure(['a']);
    expect(t.retryAfterMs(['a'])).toBe(90_000);
    clock.advance(89_999);
    expect(t.retryAfterMs(['a'])).toBe(1);
    clock.advance(1);
    expect(t.retryAfterMs(['a'])).toBe(0);
  });

  it('starts counting afresh after a lock ends', () => {
    const { t, clock } = throttle();
    for (let i = 0; i < 3; i++) t.recordFailure(['a']);
    clock.advance(60_000);
    t.recordFailure(['a']);
    t.recordFailure(['a']);
    expect(t.retryAfterMs(['a'])).toBe(0);
    t.recordFailure(['a']);
    expect(t.retryAfterMs(['a'])).toBe(60_000);
  });

  it('only counts failures inside the window (sliding)', () => {
    const { t, clock } = throttle({ windowMs: 10_000 });
    t.recordFailure(['a']);
    clock.advance(6_000);
    t.recordFailure(['a']);
    clock.advance(5_000); // the first is now 11 s old
    t.recordFailure(['a']);
    expect(t.retryAfterMs(['a'])).toBe(0);
    clock.advance(1_000);
    t.recordFailure(['a']); // 6 s, 1 s and 0 s old: three in the window
    expect(t.retryAfterMs(['a'])).toBe(60_000);
  });

  it('keeps keys apart and reports the longest wait among the asked keys', () => {
    const { t, clock } = throttle();
    for (let i = 0; i < 3; i++) t.recordFailure(['email:a', 'ip:1']);
    clock.advance(20_000);
    for (let i = 0; i < 3; i++) t.recordFailure(['email:b']);
    expect(t.retryAfterMs(['email:c', 'ip:2'])).toBe(0);
    expect(t.retryAfterMs(['email:c', 'ip:1'])).toBe(40_000);
    expect(t.retryAfterMs(['email:b', 'ip:1'])).toBe(60_000);
  });

  it('reset forgets one key only, lock included', () => {
    const { t } = throttle();
    for (let i = 0; i < 3; i++) t.recordFailure(['email:a', 'ip:1']);
    t.reset('email:a');
    expect(t.retryAfterMs(['email:a'])).toBe(0);
    expect(t.retryAfterMs(['ip:1'])).toBe(60_000);
    t.recordFailure(['email:a']);
    t.recordFailure(['email:a']);
    expect(t.retryAfterMs(['email:a'])).toBe(0);
  });

  it('stays within maxKeys under a flood of distinct keys, and keeps counting the newest', () => {
    const { t } = throttle({ maxKeys: 100 });
    for (let i = 0; i < 1_000; i++) t.recordFailure([`spray:${i}`]);
    expect(t.size).toBeLessThanOrEqual(100);
    t.recordFailure(['spray:999']);
    t.recordFailure(['spray:999']);
    expect(t.retryAfterMs(['spray:999'])).toBe(60_000);
  });
});
