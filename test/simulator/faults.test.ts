import { describe, expect, it } from 'vitest';
import { type SimulatorFaults, simulatorFaults } from '../../src/config/schema.ts';
import {
  CapacityGate,
  capacityRejection,
  codeForStatus,
  createRng,
  decideFault,
  firstTokenDelay,
  malformedFrame,
  Pacer,
  type Rng,
  streamFaultAt,
  unaryFault,
} from '../../src/providers/simulator/faults.ts';

function faults(patch: Partial<SimulatorFaults> = {}): SimulatorFaults {
  return simulatorFaults.parse(patch);
}

/** An Rng that returns the given draws in order. */
function scripted(...draws: number[]): Rng {
  let i = 0;
  const next = (): number => draws[i++ % draws.length] ?? 0;
  return {
    next,
    int: (n) => Math.floor(next() * n),
    between: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T,
    chance: (p) => next() < p,
  };
}

describe('request faults', () => {
  it('splits one draw into error / rate-limit / overloaded bands', () => {
    const f = faults({
      error_rate: 0.1,
      rate_limit_rate: 0.2,
      overloaded_rate: 0.3,
      error_statuses: [502],
      retry_after_s: 2,
    });
    expect(decideFault(f, scripted(0.05, 0))).toEqual({ kind: 'error', status: 502, code: 'internal_error' });
    expect(decideFault(f, scripted(0.15))).toEqual({
      kind: 'rate_limit',
      status: 429,
      code: 'rate_limited',
      retryAfterSec: 2,
    });
    expect(decideFault(f, scripted(0.45))).toEqual({
      kind: 'overloaded',
      status: 529,
      code: 'overloaded',
      retryAfterSec: 2,
    });
    expect(decideFault(f, scripted(0.65))).toBeUndefined();
  });

  it('never fires with zero rates and always with rate 1', () => {
    const rng = createRng(7);
    for (let i = 0; i < 1000; i++) expect(decideFault(faults(), rng)).toBeUndefined();
    for (let i = 0; i < 100; i++)
      expect(decideFault(faults({ rate_limit_rate: 1 }), rng)?.kind).toBe('rate_limit');
  });

  it('hits the configured fraction and replays from the seed', () => {
    const f = faults({ error_rate: 0.25, error_statuses: [500, 503] });
    const run = (seed: number): string[] => {
      const rng = createRng(seed);
      return Array.from({ length: 4000 }, () => {
        const d = decideFault(f, rng);
        return d?.kind === 'error' ? String(d.status) : '-';
      });
    };
    const a = run(1);
    expect(run(1)).toEqual(a);
    expect(run(2)).not.toEqual(a);
    const errors = a.filter((x) => x !== '-').length / a.length;
    expect(errors).toBeGreaterThan(0.22);
    expect(errors).toBeLessThan(0.28);
    expect(new Set(a)).toEqual(new Set(['-', '500', '503']));
  });

  it('gives injected statuses the error type their provider would', () => {
    expect(codeForStatus(500)).toBe('internal_error');
    expect(codeForStatus(503)).toBe('internal_error');
    expect(codeForStatus(529)).toBe('overloaded');
    expect(codeForStatus(429)).toBe('rate_limited');
    expect(codeForStatus(400)).toBe('invalid_request');
    expect(codeForStatus(401)).toBe('invalid_api_key');
    expect(codeForStatus(404)).toBe('not_found');
  });
});

describe('capacity', () => {
  it('admits capacity + queue, then rejects; slows down past capacity', () => {
    const gate = new CapacityGate(2, 2);
    const a = gate.admit()!;
    const b = gate.admit()!;
    expect(a.speed()).toBe(1);
    const c = gate.admit()!;
    expect(c.speed()).toBeCloseTo(2 / 3);
    const d = gate.admit()!;
    expect(d.speed()).toBe(0.5);
    expect(a.speed()).toBe(0.5);
    expect(gate.admit()).toBeUndefined();
    d.release();
    d.release();
    expect(gate.active).toBe(3);
    c.release();
    b.release();
    expect(a.speed()).toBe(1);
    expect(gate.admit()).toBeDefined();
  });

  it('rejects like the real providers: 429 on OpenAI, 529 on Anthropic', () => {
    expect(capacityRejection('openai', 3)).toMatchObject({
      status: 429,
      code: 'rate_limited',
      retryAfterSec: 3,
    });
    expect(capacityRejection('anthropic', 3)).toMatchObject({ status: 529, code: 'overloaded' });
  });
});

describe('pacing', () => {
  it('spaces tokens at 1/tokens_per_sec, scaled by speed, from a fixed schedule', () => {
    let now = 1000;
    let speed = 1;
    const pacer = new Pacer({ tokensPerSec: 100, now: () => now, speed: () => speed });
    expect(pacer.next()).toBe(0);
    expect(pacer.next()).toBeCloseTo(10);
    now += 10;
    expect(pacer.next()).toBeCloseTo(10);
    // Timer lateness is absorbed, not added.
    now += 13;
    expect(pacer.next()).toBeCloseTo(7);
    now += 7;
    speed = 0.5;
    expect(pacer.next()).toBeCloseTo(10);
    now += 10;
    expect(pacer.next()).toBeCloseTo(20);
  });

  it('does not burst after a long pause, and sends everything at once at 0 tokens/sec', () => {
    let now = 0;
    const pacer = new Pacer({ tokensPerSec: 10, now: () => now, speed: () => 1 });
    pacer.next();
    now += 5000;
    expect(pacer.next()).toBe(0);
    expect(pacer.next()).toBeCloseTo(100);
    const instant = new Pacer({ tokensPerSec: 0, now: () => now, speed: () => 1 });
    expect([instant.next(), instant.next()]).toEqual([0, 0]);
  });

  it('stretches time to first token under load and adds slow_ms', () => {
    expect(firstTokenDelay(40, 0, 1)).toBe(40);
    expect(firstTokenDelay(40, 100, 0.5)).toBe(180);
  });
});

describe('mid-stream faults', () => {
  it('fires at the configured token count, harshest first', () => {
    const f = faults({ cut_after_tokens: 5, stall_after_tokens: 5, malformed_after_tokens: 2 });
    expect([0, 1, 2, 3, 4, 5].map((n) => streamFaultAt(f, n))).toEqual([
      undefined,
      undefined,
      'malformed',
      undefined,
      undefined,
      'cut',
    ]);
    expect(streamFaultAt(faults(), 0)).toBeUndefined();
  });

  it('applies the earliest fault a whole unary answer reaches', () => {
    expect(unaryFault(faults({ cut_after_tokens: 30 }), 24)).toBeUndefined();
    expect(unaryFault(faults({ cut_after_tokens: 24 }), 24)).toBe('cut');
    expect(unaryFault(faults({ cut_after_tokens: 10, stall_after_tokens: 3 }), 24)).toBe('stall');
  });

  it('sends a frame no JSON parser accepts, under an event name Anthropic clients parse', () => {
    expect(malformedFrame('openai')).toBe('data: {"choices": [\n\n');
    expect(malformedFrame('anthropic')).toBe('event: content_block_delta\ndata: {"choices": [\n\n');
  });
});
