import { describe, expect, it } from 'vitest';
import { AdaptiveLimit, type AdaptiveLimitOptions } from '../../src/overload/adaptive-limit.ts';
import { type FakeClock, fakeClock, seededRng } from '../resilience/fakes.ts';

/**
 * An LLM server with `capacity` generation slots and a FIFO queue in front (vLLM's max_num_seqs): up to
 * capacity, time to first token is 200–400 ms; past it, requests wait for a slot (answers take 3–7 s), so
 * TTFT rises steeply; with more than 1.5 × capacity outstanding it answers 529 at once.
 */
function simulate(opts: {
  capacity: number;
  initial: number;
  minutes: number;
  limit?: AdaptiveLimitOptions;
  seed?: number;
}) {
  const clock: FakeClock = fakeClock();
  const rng = seededRng(opts.seed ?? 7);
  const limiter = new AdaptiveLimit({ initial: opts.initial, ...opts.limit }, clock);
  interface Req {
    start: number;
    inflight: number;
    firstToken: number;
    end: number;
  }
  const waiting: Req[] = [];
  const running: Req[] = [];
  let inflight = 0;
  let overloads = 0;
  const trace: number[] = [];
  const tick = 10;
  const admit = (r: Req, t: number) => {
    r.firstToken = t + 200 + rng() * 200;
    r.end = t + 3_000 + rng() * 4_000;
    running.push(r);
  };
  for (let t = 0; t < opts.minutes * 60_000; t += tick) {
    clock.t = t;
    for (const r of running) {
      if (r.firstToken <= t && r.firstToken > t - tick) {
        limiter.onSample({ rttMs: r.firstToken - r.start, inflight: r.inflight, overloaded: false });
      }
    }
    for (let i = running.length - 1; i >= 0; i--) {
      if (running[i]!.end <= t) {
        running.splice(i, 1);
        inflight--;
      }
    }
    while (running.length < opts.capacity && waiting.length > 0) admit(waiting.shift()!, t);
    // Unbounded demand: the client keeps as many requests outstanding as the limit allows.
    while (inflight < limiter.limit()) {
      if (running.length + waiting.length >= 1.5 * opts.capacity) {
        overloads++;
        limiter.onSample({ rttMs: 20, inflight: inflight + 1, overloaded: true });
        break;
      }
      inflight++;
      const r: Req = { start: t, inflight, firstToken: 0, end: 0 };
      if (running.length < opts.capacity) admit(r, t);
      else waiting.push(r);
    }
    if (t % 1_000 === 0) trace.push(limiter.limit());
  }
  return { trace, overloads, limiter };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('AdaptiveLimit (Gradient2 + AIMD)', () => {
  for (const capacity of [16, 32, 64]) {
    it(`finds a simulated server's capacity (C = ${capacity}) from below`, () => {
      const { trace } = simulate({ capacity, initial: 4, minutes: 25 });
      const settled = trace.slice(5 * 60);
      expect(mean(settled)).toBeGreaterThanOrEqual(0.7 * capacity);
      expect(mean(settled)).toBeLessThanOrEqual(1.3 * capacity);
      // Sawing between latency pressure and the overload threshold, never far past it nor collapsing.
      expect(Math.max(...settled)).toBeLessThanOrEqual(1.55 * capacity);
      expect(Math.min(...settled)).toBeGreaterThanOrEqual(0.7 * capacity);
    });
  }

  it('comes down to capacity from a limit five times too high', () => {
    const capacity = 64;
    const { trace } = simulate({ capacity, initial: 5 * capacity, minutes: 25 });
    expect(Math.max(...trace.slice(60))).toBeLessThanOrEqual(1.55 * capacity);
    const settled = trace.slice(5 * 60);
    expect(mean(settled)).toBeGreaterThanOrEqual(0.7 * capacity);
    expect(mean(settled)).toBeLessThanOrEqual(1.3 * capacity);
  });

  it('at small capacities, from five times too high, it settles near C, never past 1.5 × C', () => {
    // The overload cut re-anchors the long RTT on the best window seen and ends its warm-up, so a server
    // of 8 or 16 slots is held close to its capacity rather than at its refusal threshold.
    for (const capacity of [8, 16]) {
      const { trace } = simulate({ capacity, initial: 5 * capacity, minutes: 15 });
      const settled = trace.slice(2 * 60);
      expect(Math.max(...settled)).toBeLessThanOrEqual(1.5 * capacity);
      expect(Math.min(...settled)).toBeGreaterThanOrEqual(0.75 * capacity);
      expect(mean(settled)).toBeGreaterThanOrEqual(0.85 * capacity);
    }
  });

  it('holds a shared-speed upstream near its knee instead of at its refusal threshold', () => {
    // Holdfast's simulator and batching servers alike: everything admitted runs, but past `capacity`
    // every request slows to capacity/active, so TTFT grows with the overcommit; past 1.5 x capacity
    // it refuses. Gradient2's constant sqrt(limit) headroom parked the limit at the refusal threshold.
    const capacity = 16;
    const clock: FakeClock = fakeClock();
    const rng = seededRng(3);
    // From a low start (the default), so slow start learns the unqueued latency on the way up.
    const limiter = new AdaptiveLimit({ initial: 8 }, clock);
    const running: Array<{ start: number; firstToken: number; end: number; inflight: number }> = [];
    let overloads = 0;
    const trace: number[] = [];
    for (let t = 0; t < 10 * 60_000; t += 10) {
      clock.t = t;
      for (let i = running.length - 1; i >= 0; i--) {
        const r = running[i]!;
        if (r.firstToken <= t && r.firstToken > t - 10)
          limiter.onSample({ rttMs: r.firstToken - r.start, inflight: r.inflight, overloaded: false });
        if (r.end <= t) running.splice(i, 1);
      }
      while (running.length < limiter.limit()) {
        if (running.length >= 1.5 * capacity) {
          overloads++;
          limiter.onSample({ rttMs: 5, inflight: running.length + 1, overloaded: true });
          break;
        }
        const slow = Math.max(1, (running.length + 1) / capacity);
        const ttft = (180 + rng() * 40) * slow;
        running.push({
          start: t,
          firstToken: t + ttft,
          end: t + ttft + 400 * slow,
          inflight: running.length + 1,
        });
      }
      if (t % 1_000 === 0) trace.push(limiter.limit());
    }
    const settled = trace.slice(60);
    expect(mean(settled)).toBeGreaterThanOrEqual(1.0 * capacity);
    expect(mean(settled)).toBeLessThanOrEqual(1.4 * capacity);
    // Slow start overshoots once or twice; after that the latency, not refusals, holds the limit.
    expect(overloads).toBeLessThan(10);
  });

  it("does not shrink for latency that is the gateway's own CPU queueing (selfBusy windows)", () => {
    const clock = fakeClock();
    const limit = new AdaptiveLimit({ initial: 64, slowStart: false }, clock);
    for (let i = 0; i < 200; i++) {
      clock.advance(100);
      limit.onSample({ rttMs: 200, inflight: 64, overloaded: false });
    }
    const before = limit.limit();
    for (let i = 0; i < 200; i++) {
      clock.advance(100);
      limit.onSample({ rttMs: 800, inflight: before, overloaded: false, selfBusy: true });
    }
    // Not cut; still in use, so it keeps its usual headroom growth.
    expect(limit.limit()).toBeGreaterThanOrEqual(before);
    // The same slow answers with the gateway idle mean the upstream is queueing: it shrinks.
    const busyLimit = limit.limit();
    for (let i = 0; i < 200; i++) {
      clock.advance(100);
      limit.onSample({ rttMs: 800, inflight: busyLimit, overloaded: false });
    }
    expect(limit.limit()).toBeLessThan(busyLimit * 0.5);
    // An upstream refusal still cuts, busy or not.
    const now = limit.limit();
    clock.advance(1_000);
    limit.onSample({ rttMs: 10, inflight: now, overloaded: true, selfBusy: true });
    expect(limit.limit()).toBeLessThan(now);
  });

  it('after a cut, holds below the edge the upstream showed before probing up again', () => {
    const clock = fakeClock(10_000);
    const limit = new AdaptiveLimit({ initial: 40, slowStart: false, holdAfterCutMs: 30_000 }, clock);
    limit.onSample({ rttMs: 50, inflight: 40, overloaded: true });
    const cut = limit.limit();
    expect(cut).toBe(36);
    for (let i = 0; i < 250; i++) {
      clock.advance(100);
      limit.onSample({ rttMs: 200, inflight: limit.limit(), overloaded: false });
    }
    expect(limit.limit()).toBe(cut);
    for (let i = 0; i < 100; i++) {
      clock.advance(100);
      limit.onSample({ rttMs: 200, inflight: limit.limit(), overloaded: false });
    }
    expect(limit.limit()).toBeGreaterThan(cut);
  });

  it('cuts by the backoff factor on an overload signal, once per round trip', () => {
    const clock = fakeClock(10_000);
    const limit = new AdaptiveLimit({ initial: 100 }, clock);
    limit.onSample({ rttMs: 50, inflight: 100, overloaded: true });
    expect(limit.limit()).toBe(90);
    // Answers to requests sent before that cut arrive together: they were sent under the old limit.
    clock.advance(10);
    for (let i = 0; i < 20; i++) limit.onSample({ rttMs: 500, inflight: 100, overloaded: true });
    expect(limit.limit()).toBe(90);
    // A request sent after the cut and still refused cuts again.
    clock.advance(100);
    limit.onSample({ rttMs: 50, inflight: 90, overloaded: true });
    expect(limit.limit()).toBe(81);
  });

  it('repeated overload drives it down to min and no further', () => {
    const clock = fakeClock();
    const limit = new AdaptiveLimit({ initial: 50, min: 3 }, clock);
    for (let i = 0; i < 100; i++) {
      clock.advance(100);
      limit.onSample({ rttMs: 10, inflight: 50, overloaded: true });
    }
    expect(limit.limit()).toBe(3);
  });

  it('grows while latency is flat and the limit is in use', () => {
    const clock = fakeClock();
    const limit = new AdaptiveLimit({ initial: 16 }, clock);
    for (let i = 0; i < 600; i++) {
      clock.advance(100);
      limit.onSample({ rttMs: 200, inflight: limit.limit(), overloaded: false });
    }
    expect(limit.limit()).toBeGreaterThan(40);
  });

  it('does not grow when app-limited (less than half the limit in flight)', () => {
    const clock = fakeClock();
    const limit = new AdaptiveLimit({ initial: 16 }, clock);
    for (let i = 0; i < 600; i++) {
      clock.advance(100);
      limit.onSample({ rttMs: 200, inflight: 7, overloaded: false });
    }
    expect(limit.limit()).toBe(16);
  });

  it('shrinks when latency rises well past the long-run average', () => {
    const clock = fakeClock();
    const limit = new AdaptiveLimit({ initial: 64 }, clock);
    for (let i = 0; i < 200; i++) {
      clock.advance(100);
      limit.onSample({ rttMs: 200, inflight: 64, overloaded: false });
    }
    const before = limit.limit();
    for (let i = 0; i < 200; i++) {
      clock.advance(100);
      limit.onSample({ rttMs: 800, inflight: before, overloaded: false });
    }
    expect(limit.limit()).toBeLessThan(before * 0.5);
  });

  it('updates once per window, not once per sample', () => {
    const clock = fakeClock();
    const limit = new AdaptiveLimit({ initial: 64, windowMs: 1_000, windowSamples: 10 }, clock);
    for (let i = 0; i < 20; i++) limit.onSample({ rttMs: 200, inflight: 64, overloaded: false });
    clock.advance(1_000);
    // 50 very slow answers arriving together make a single update (at most a halving, smoothed).
    for (let i = 0; i < 50; i++) limit.onSample({ rttMs: 5_000, inflight: 64, overloaded: false });
    expect(limit.limit()).toBeGreaterThanOrEqual(Math.floor(64 * 0.9));
  });

  it('stays within [min, max] and reports an integer', () => {
    const clock = fakeClock();
    const limit = new AdaptiveLimit({ initial: 1_000, max: 40, min: 2 }, clock);
    expect(limit.limit()).toBe(40);
    for (let i = 0; i < 1_000; i++) {
      clock.advance(100);
      limit.onSample({ rttMs: 100, inflight: 40, overloaded: false });
    }
    expect(limit.limit()).toBe(40);
    expect(Number.isInteger(limit.limit())).toBe(true);
    // Nonsense samples are ignored.
    limit.onSample({ rttMs: Number.NaN, inflight: 40, overloaded: false });
    limit.onSample({ rttMs: -5, inflight: 40, overloaded: false });
    expect(limit.limit()).toBe(40);
  });
});
