import type { Clock, Rng } from '../../src/resilience/types.ts';

export interface FakeClock extends Clock {
  t: number;
  advance(ms: number): void;
}

export function fakeClock(start = 0): FakeClock {
  const clock: FakeClock = {
    t: start,
    now: () => clock.t,
    advance(ms) {
      clock.t += ms;
    },
  };
  return clock;
}

/** mulberry32: tiny, seedable, good enough to make sampling tests reproducible. */
export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
