import { describe, expect, it } from 'vitest';
import {
  AdmissionQueue,
  type AdmissionQueueOptions,
  type Priority,
  type QueueItem,
  type Ticket,
} from '../../src/overload/queue.ts';
import { fakeClock, seededRng } from '../resilience/fakes.ts';

function setup(opts: AdmissionQueueOptions = {}) {
  const clock = fakeClock();
  const q = new AdmissionQueue<string>(opts, clock);
  const add = (value: string, extra: Partial<QueueItem<string>> = {}): Ticket<string> => {
    const r = q.enqueue({ value, tenant: 't', priority: 'interactive', estimatedTokens: 100, ...extra });
    if ('rejected' in r) throw new Error(`rejected: ${r.rejected}`);
    return r;
  };
  const drain = (): string[] => {
    const out: string[] = [];
    for (let t = q.next(); t; t = q.next()) out.push(t.value);
    return out;
  };
  return { clock, q, add, drain };
}

describe('AdmissionQueue: order', () => {
  it('serves critical, then interactive, then batch, FIFO within a tenant', () => {
    const { q, add, drain } = setup();
    add('b1', { priority: 'batch' });
    add('i1');
    add('c1', { priority: 'critical' });
    add('b2', { priority: 'batch' });
    add('i2');
    add('c2', { priority: 'critical' });
    expect(q.size()).toBe(6);
    expect(q.size('batch')).toBe(2);
    expect(drain()).toEqual(['c1', 'c2', 'i1', 'i2', 'b1', 'b2']);
    expect(q.next()).toBeUndefined();
    expect(q.size()).toBe(0);
  });

  it('a critical arrival overtakes waiting lower classes', () => {
    const { q, add } = setup();
    add('b1', { priority: 'batch' });
    add('i1');
    expect(q.next()?.value).toBe('i1');
    add('c1', { priority: 'critical' });
    expect(q.next()?.value).toBe('c1');
    expect(q.next()?.value).toBe('b1');
  });

  it('stamps tickets with id, tenant, class, tokens, enqueue time and deadline', () => {
    const { clock, add } = setup();
    clock.advance(1_234);
    const t = add('x', { tenant: 'acme', priority: 'batch', estimatedTokens: 42, deadline: 9_999 });
    expect(t).toMatchObject({
      value: 'x',
      tenant: 'acme',
      priority: 'batch',
      estimatedTokens: 42,
      enqueuedAt: 1_234,
      deadline: 9_999,
    });
    expect(add('y').id).toBeGreaterThan(t.id);
  });
});

describe('AdmissionQueue: capacity', () => {
  it('rejects when full', () => {
    const { q, add } = setup({ maxLength: 2 });
    add('a');
    add('b');
    expect(q.enqueue({ value: 'c', tenant: 't', priority: 'critical', estimatedTokens: 1 })).toEqual({
      rejected: 'queue_full',
    });
    q.next();
    expect('rejected' in q.enqueue({ value: 'c', tenant: 't', priority: 'batch', estimatedTokens: 1 })).toBe(
      false,
    );
  });

  it('optionally lets a higher class displace the newest request of a lower class', () => {
    const { q, add, drain } = setup({ maxLength: 3, displace: true });
    add('b1', { priority: 'batch' });
    add('b2', { priority: 'batch' });
    add('i1');
    add('c1', { priority: 'critical' });
    const dropped = q.expire();
    expect(dropped.map((d) => [d.ticket.value, d.reason])).toEqual([['b2', 'displaced']]);
    // Nothing below batch to displace, and nothing lower than critical left once those are gone.
    expect(q.enqueue({ value: 'b3', tenant: 't', priority: 'batch', estimatedTokens: 1 })).toEqual({
      rejected: 'queue_full',
    });
    add('c2', { priority: 'critical' });
    expect(q.expire().map((d) => d.ticket.value)).toEqual(['b1']);
    expect(q.enqueue({ value: 'i2', tenant: 't', priority: 'interactive', estimatedTokens: 1 })).toEqual({
      rejected: 'queue_full',
    });
    expect(drain()).toEqual(['c1', 'c2', 'i1']);
  });
});

describe('AdmissionQueue: displacement by backlog', () => {
  it('a full queue makes room for a light tenant by displacing the heaviest tenant’s newest request', () => {
    const { q, add } = setup({ maxLength: 5, displace: true });
    for (let i = 0; i < 4; i++) add(`A${i}`, { tenant: 'A' });
    add('B0', { tenant: 'B' });
    add('C0', { tenant: 'C' });
    expect(q.expire().map((d) => [d.ticket.value, d.reason])).toEqual([['A3', 'displaced']]);
    add('B1', { tenant: 'B' });
    expect(q.expire().map((d) => d.ticket.value)).toEqual(['A2']);
    // Now A has 2, B 2, C 1: nobody holds two more than B, so B is refused, and so is A.
    expect(q.enqueue({ value: 'B2', tenant: 'B', priority: 'interactive', estimatedTokens: 1 })).toEqual({
      rejected: 'queue_full',
    });
    expect(q.enqueue({ value: 'A9', tenant: 'A', priority: 'interactive', estimatedTokens: 1 })).toEqual({
      rejected: 'queue_full',
    });
    // A fresh tenant D (0 queued) may still displace from a tenant with 2.
    add('D0', { tenant: 'D' });
    expect(q.expire()).toHaveLength(1);
  });

  it('keeps B and C served when A floods a bounded queue', () => {
    const { q } = setup({ maxLength: 100, displace: true });
    const served: Record<string, number> = { A: 0, B: 0, C: 0 };
    const refused: Record<string, number> = { A: 0, B: 0, C: 0 };
    for (let tick = 0; tick < 1_000; tick++) {
      for (const [tenant, n] of [
        ['A', 30],
        ['B', 1],
        ['C', 1],
      ] as const) {
        for (let i = 0; i < n; i++) {
          const r = q.enqueue({ value: tenant, tenant, priority: 'interactive', estimatedTokens: 100 });
          if ('rejected' in r) refused[tenant]!++;
        }
      }
      for (const d of q.expire()) refused[d.ticket.tenant]!++;
      for (let k = 0; k < 3; k++) {
        const t = q.next();
        if (t) {
          served[t.tenant]!++;
          q.charge(t.tenant, 100, 0);
        }
      }
    }
    // Capacity 3 per tick: B and C get all they offer, A the rest.
    expect(served.B).toBeGreaterThanOrEqual(990);
    expect(served.C).toBeGreaterThanOrEqual(990);
    expect(refused.B).toBe(0);
    expect(refused.C).toBe(0);
  });
});

describe('AdmissionQueue: VTC fairness', () => {
  /**
   * Three tenants in one class; A offers ten times what B and C offer, together three times what can be
   * served. Each dispatched request is charged its real usage (input ×1, output ×2).
   */
  function run(chargeLate: boolean) {
    // Room for A's whole backlog: this measures the scheduler, not the length limit.
    const { q } = setup({ maxLength: 1_000_000 });
    const rng = seededRng(5);
    const served: Record<string, number> = { A: 0, B: 0, C: 0 };
    const inFlight: Array<{ tenant: string; input: number; output: number }> = [];
    const offer = (tenant: string, n: number) => {
      for (let i = 0; i < n; i++) {
        const input = 200 + Math.floor(rng() * 800);
        q.enqueue({ value: tenant, tenant, priority: 'interactive', estimatedTokens: input + 300 });
      }
    };
    for (let tick = 0; tick < 2_000; tick++) {
      offer('A', 10);
      offer('B', 1);
      offer('C', 1);
      // Capacity: 2 requests per tick, fewer than B + C alone offer, so all three stay backlogged.
      for (let k = 0; k < 2; k++) {
        const t = q.next();
        if (!t) break;
        const input = t.estimatedTokens - 300;
        const output = 100 + Math.floor(rng() * 400);
        served[t.tenant]! += input + 2 * output;
        if (chargeLate) inFlight.push({ tenant: t.tenant, input, output });
        else q.charge(t.tenant, input, output);
      }
      // Late charging: usage arrives ~20 requests after dispatch, as with long streamed answers.
      while (chargeLate && inFlight.length > 20) {
        const done = inFlight.shift()!;
        q.charge(done.tenant, done.input, done.output);
      }
    }
    const total = served.A! + served.B! + served.C!;
    return { A: served.A! / total, B: served.B! / total, C: served.C! / total, q };
  }

  it('gives B and C each a third of the weighted token service though A offers ten times more', () => {
    const share = run(false);
    expect(share.B).toBeGreaterThanOrEqual(0.31);
    expect(share.C).toBeGreaterThanOrEqual(0.31);
    expect(share.A).toBeLessThanOrEqual(0.36);
    expect(share.A).toBeGreaterThanOrEqual(0.3);
  });

  it('stays fair when usage is charged long after dispatch (the estimate stands in meanwhile)', () => {
    const share = run(true);
    expect(share.B).toBeGreaterThanOrEqual(0.31);
    expect(share.C).toBeGreaterThanOrEqual(0.31);
  });

  it('interleaves tenants even before any usage is charged', () => {
    const { q, add } = setup();
    for (let i = 0; i < 30; i++) add(`A${i}`, { tenant: 'A' });
    for (let i = 0; i < 5; i++) add(`B${i}`, { tenant: 'B' });
    for (let i = 0; i < 5; i++) add(`C${i}`, { tenant: 'C' });
    const first = Array.from({ length: 15 }, () => q.next()!.tenant);
    expect(first.filter((t) => t === 'A')).toHaveLength(5);
    expect(first.filter((t) => t === 'B')).toHaveLength(5);
    expect(first.slice(0, 3).sort()).toEqual(['A', 'B', 'C']);
  });

  it('lifts a newly backlogged tenant to the least-served backlogged tenant: idleness earns no credit', () => {
    const { q, add } = setup();
    for (let i = 0; i < 200; i++) add(`A${i}`, { tenant: 'A' });
    for (let i = 0; i < 200; i++) add(`B${i}`, { tenant: 'B' });
    for (let i = 0; i < 100; i++) q.charge(q.next()!.tenant, 100, 0);
    // D has never been served; without the lift it would win the next 100 dispatches in a row.
    for (let i = 0; i < 50; i++) add(`D${i}`, { tenant: 'D' });
    expect(q.serviceOf('D')).toBe(Math.min(q.serviceOf('A'), q.serviceOf('B')));
    const next = Array.from({ length: 30 }, () => {
      const t = q.next()!;
      q.charge(t.tenant, 100, 0);
      return t.tenant;
    });
    expect(next.filter((t) => t === 'D').length).toBeGreaterThanOrEqual(9);
    expect(next.filter((t) => t === 'D').length).toBeLessThanOrEqual(11);
  });

  it('weights output tokens twice', () => {
    const { q } = setup();
    q.charge('x', 100, 0);
    q.charge('y', 0, 100);
    expect(q.serviceOf('x')).toBe(100);
    expect(q.serviceOf('y')).toBe(200);
  });

  it('charge after dispatch replaces the estimate instead of adding to it', () => {
    const { q, add } = setup();
    add('a', { tenant: 'acme', estimatedTokens: 1_000 });
    q.next();
    expect(q.serviceOf('acme')).toBe(1_000);
    q.charge('acme', 300, 50);
    expect(q.serviceOf('acme')).toBe(400);
    // Further charges (e.g. output arriving later) add.
    q.charge('acme', 0, 10);
    expect(q.serviceOf('acme')).toBe(420);
  });
});

describe('AdmissionQueue: CoDel and time-outs', () => {
  it('drops, from the head, everything older than the target once the wait stayed above it an interval', () => {
    const { clock, q, add } = setup();
    for (let i = 0; i < 5; i++) add(`old${i}`);
    clock.t = 300;
    for (let i = 0; i < 5; i++) add(`new${i}`);
    // The head crossed 500 ms at t = 500; not yet a whole 100 ms interval.
    clock.t = 599;
    expect(q.expire()).toEqual([]);
    clock.t = 600;
    const dropped = q.expire();
    expect(dropped.map((d) => d.ticket.value)).toEqual(['old0', 'old1', 'old2', 'old3', 'old4']);
    expect(dropped.every((d) => d.reason === 'queue_timeout')).toBe(true);
    expect(q.size()).toBe(5);
    // The new head waited 300 ms: below target, the state resets.
    clock.t = 850;
    expect(q.expire()).toEqual([]);
    clock.t = 899;
    expect(q.expire()).toEqual([]);
    clock.t = 900;
    expect(q.expire()).toHaveLength(5);
  });

  it('a burst that drains within the interval loses nothing', () => {
    const { clock, q, add, drain } = setup();
    for (let i = 0; i < 10; i++) add(`r${i}`);
    clock.t = 550;
    expect(drain()).toHaveLength(10);
    expect(q.expire()).toEqual([]);
  });

  it('tracks the head exactly: dispatching the old head below target restarts the interval', () => {
    const { clock, q, add } = setup();
    add('a');
    clock.t = 450;
    add('b');
    clock.t = 490;
    expect(q.next()?.value).toBe('a');
    // b crosses 500 ms at t = 950, so it may stay until t = 1 050.
    clock.t = 1_049;
    expect(q.expire()).toEqual([]);
    clock.t = 1_050;
    expect(q.expire().map((d) => d.ticket.value)).toEqual(['b']);
  });

  it('serves newest first while the head is past its target (adaptive LIFO), oldest first otherwise', () => {
    const { clock, q, add } = setup();
    add('a1');
    clock.t = 100;
    add('a2');
    clock.t = 200;
    add('a3');
    // Below target: FIFO.
    clock.t = 300;
    expect(q.next()?.value).toBe('a1');
    // a2 has waited 450 ms of its 500: still FIFO.
    clock.t = 550;
    add('a4');
    // Now a2 is past target: the newest goes first, the old ones are left to CoDel.
    clock.t = 640;
    expect(q.next()?.value).toBe('a4');
    clock.t = 760;
    expect(q.expire().map((d) => d.ticket.value)).toEqual(['a2', 'a3']);
  });

  it('uses each class its own target', () => {
    const { clock, q, add } = setup();
    add('c', { priority: 'critical' });
    add('i', { priority: 'interactive' });
    add('b', { priority: 'batch' });
    clock.t = 700;
    expect(q.expire().map((d) => d.ticket.value)).toEqual(['i']);
    clock.t = 1_100;
    expect(q.expire().map((d) => d.ticket.value)).toEqual(['c']);
    clock.t = 5_099;
    expect(q.expire()).toEqual([]);
    clock.t = 5_100;
    expect(q.expire().map((d) => d.ticket.value)).toEqual(['b']);
  });

  it('always drops requests older than maxWaitMs', () => {
    const { clock, q, add } = setup({ classes: { batch: { targetWaitMs: 1e9, maxWaitMs: 1_000 } } });
    add('x', { priority: 'batch' });
    clock.t = 1_000;
    expect(q.expire()).toEqual([]);
    clock.t = 1_001;
    expect(q.expire()).toEqual([expect.objectContaining({ reason: 'queue_timeout' })]);
  });

  it('next() never hands out a request that expire() would drop; expire() reports it', () => {
    const { clock, q, add } = setup();
    add('stale');
    clock.t = 400;
    add('fresh');
    clock.t = 700;
    expect(q.next()?.value).toBe('fresh');
    expect(q.expire()).toEqual([expect.objectContaining({ reason: 'queue_timeout' })]);
  });
});

describe('AdmissionQueue: deadlines', () => {
  it('drops a request once its deadline leaves less than the estimated service time', () => {
    const { clock, q, add } = setup({ classes: { interactive: { targetWaitMs: 1e9, maxWaitMs: 1e9 } } });
    q.recordService('interactive', 2_000);
    add('tight', { deadline: 3_000 });
    add('loose', { deadline: 60_000 });
    add('none');
    clock.t = 1_000;
    expect(q.expire()).toEqual([]);
    clock.t = 1_001;
    const dropped = q.expire();
    expect(dropped.map((d) => [d.ticket.value, d.reason])).toEqual([['tight', 'deadline']]);
    expect(q.size()).toBe(2);
  });

  it('without a service estimate, drops only once the deadline has passed', () => {
    const { clock, q, add } = setup({ classes: { interactive: { targetWaitMs: 1e9, maxWaitMs: 1e9 } } });
    add('x', { deadline: 500 });
    clock.t = 500;
    expect(q.expire()).toEqual([]);
    clock.t = 501;
    expect(q.expire()).toHaveLength(1);
  });

  it('the service estimate is a moving average of recorded service times', () => {
    const { clock, q, add } = setup({
      classes: { batch: { targetWaitMs: 1e9, maxWaitMs: 1e9 } },
      ewmaWeight: 0.5,
    });
    q.recordService('batch', 1_000);
    q.recordService('batch', 3_000);
    // (1000 + 3000) / 2 = 2000: a deadline 1 999 ms away cannot be met.
    add('a', { priority: 'batch', deadline: 1_999 });
    add('b', { priority: 'batch', deadline: 2_000 });
    // Another class's estimate is separate.
    add('c', { priority: 'critical', deadline: 10 });
    expect(q.expire().map((d) => d.ticket.value)).toEqual(['a']);
    clock.t = 1;
    expect(q.expire().map((d) => d.ticket.value)).toEqual(['b']);
    clock.t = 10;
    expect(q.expire()).toEqual([]);
    clock.t = 11;
    expect(q.expire().map((d) => d.ticket.value)).toEqual(['c']);
  });
});

describe('AdmissionQueue: position and estimated wait', () => {
  it('counts higher classes and the requests VTC would serve first', () => {
    const { q, add } = setup();
    const a1 = add('a1', { tenant: 'A' });
    const a2 = add('a2', { tenant: 'A' });
    const a3 = add('a3', { tenant: 'A' });
    const b1 = add('b1', { tenant: 'B' });
    const c1 = add('c1', { priority: 'critical' });
    const z1 = add('z1', { priority: 'batch' });
    expect(q.position(c1)).toBe(1);
    // Equal counters: a1, b1 (round one), a2, a3.
    expect([a1, b1, a2, a3].map((t) => q.position(t))).toEqual([2, 3, 4, 5]);
    expect(q.position(z1)).toBe(6);
  });

  it('positions() agrees with position() and with the order next() actually serves', () => {
    const { q } = setup();
    const rng = seededRng(11);
    const tickets: Ticket<string>[] = [];
    const classes: Priority[] = ['critical', 'interactive', 'batch'];
    for (let i = 0; i < 300; i++) {
      const r = q.enqueue({
        value: `r${i}`,
        tenant: `t${Math.floor(rng() * 7)}`,
        priority: classes[Math.floor(rng() * 3)]!,
        estimatedTokens: 1 + Math.floor(rng() * 2_000),
      });
      if (!('rejected' in r)) tickets.push(r);
    }
    const all = q.positions();
    for (const t of tickets) expect(all.get(t.id)).toBe(q.position(t));
    const order: number[] = [];
    for (let t = q.next(); t; t = q.next()) order.push(t.id);
    expect(order.map((id) => all.get(id))).toEqual(order.map((_, i) => i + 1));
  });

  it('estimates wait as position × the recent interval between dispatches', () => {
    const { clock, q, add } = setup({ ewmaWeight: 0.5 });
    for (let i = 0; i < 10; i++) add(`r${i}`);
    const last = add('last');
    expect(q.estimatedWaitMs(last)).toBe(0);
    q.next();
    clock.advance(100);
    q.next();
    expect(q.dispatchIntervalMs()).toBe(100);
    clock.advance(200);
    q.next();
    expect(q.dispatchIntervalMs()).toBe(150);
    expect(q.position(last)).toBe(8);
    expect(q.estimatedWaitMs(last)).toBe(8 * 150);
    expect(q.estimatedWaitMsFor('interactive')).toBe(9 * 150);
    expect(q.estimatedWaitMsFor('critical')).toBe(150);
  });

  it('does not count idle time between dispatches as service interval', () => {
    const { clock, q, add } = setup();
    add('a');
    q.next();
    clock.advance(60_000);
    add('b');
    add('c');
    q.next();
    expect(q.dispatchIntervalMs()).toBeUndefined();
    clock.advance(50);
    q.next();
    expect(q.dispatchIntervalMs()).toBe(50);
  });

  it('is 0 for a ticket that is no longer queued', () => {
    const { q, add } = setup();
    const t = add('x');
    q.next();
    expect(q.position(t)).toBe(0);
    expect(q.estimatedWaitMs(t)).toBe(0);
  });
});

describe('AdmissionQueue: cancel and stats', () => {
  it('cancel removes a ticket once and moves the others up', () => {
    const { q, add, drain } = setup();
    const a = add('a');
    const b = add('b');
    const c = add('c');
    expect(q.cancel(b)).toBe(true);
    expect(q.cancel(b)).toBe(false);
    expect(q.position(c)).toBe(2);
    expect(q.size()).toBe(2);
    expect(drain()).toEqual(['a', 'c']);
    expect(q.cancel(a)).toBe(false);
  });

  it('reports length per class and the oldest wait', () => {
    const { clock, q, add } = setup();
    expect(q.stats()).toEqual({
      length: 0,
      byClass: { critical: 0, interactive: 0, batch: 0 },
      oldestWaitMs: 0,
      tenants: 0,
    });
    add('i');
    clock.t = 100;
    add('b', { priority: 'batch' });
    add('b2', { priority: 'batch', tenant: 'other' });
    clock.t = 250;
    expect(q.stats()).toEqual({
      length: 3,
      byClass: { critical: 0, interactive: 1, batch: 2 },
      oldestWaitMs: 250,
      tenants: 2,
    });
  });

  it('forgets idle tenants that a return would lift anyway, so memory follows active tenants', () => {
    const { q } = setup();
    for (let i = 0; i < 5_000; i++) {
      const tenant = `user-${i}`;
      q.enqueue({ value: tenant, tenant, priority: 'interactive', estimatedTokens: 10 });
      const t = q.next()!;
      q.charge(t.tenant, 5, 1);
      q.expire();
    }
    expect(q.stats().tenants).toBeLessThanOrEqual(2_048);
  });

  it('handles a large queue with heavy cancellation', () => {
    const { q, add } = setup({ maxLength: 100_000 });
    const tickets = Array.from({ length: 50_000 }, (_, i) => add(`r${i}`, { tenant: `t${i % 50}` }));
    for (let i = 0; i < tickets.length; i += 2) q.cancel(tickets[i]!);
    expect(q.size()).toBe(25_000);
    let n = 0;
    for (let t = q.next(); t; t = q.next()) {
      expect(Number(t.value.slice(1)) % 2).toBe(1);
      n++;
    }
    expect(n).toBe(25_000);
  });
});

describe('AdmissionQueue: a flooding tenant does not starve the others', () => {
  it('keeps tenants offering their fair share served while one offers ten times it', () => {
    // 32 slots, answers take 585 ms (so dispatches come in waves), three tenants: A at 10x its share of
    // capacity, B and C at 1x; the estimate is max_tokens-sized (1040) while answers cost 60.
    const clock = {
      t: 0,
      now() {
        return this.t;
      },
    };
    const q = new AdmissionQueue<{ tenant: string }>(
      { displace: true, classes: { interactive: { targetWaitMs: 100, maxWaitMs: 10_000 } } },
      clock,
    );
    const share = 32 / 0.585 / 3;
    const rates: Record<string, number> = { A: 10 * share, B: share, C: share };
    const due: Record<string, number> = { A: 0, B: 3, C: 7 };
    const offered: Record<string, number> = { A: 0, B: 0, C: 0 };
    const served: Record<string, number> = { A: 0, B: 0, C: 0 };
    let running: Array<{ tenant: string; end: number }> = [];
    for (let t = 0; t < 20_000; t++) {
      clock.t = t;
      for (const k of Object.keys(rates)) {
        while (due[k]! <= t) {
          offered[k]! += 1;
          q.enqueue({ value: { tenant: k }, tenant: k, priority: 'interactive', estimatedTokens: 1040 });
          due[k]! += 1000 / rates[k]!;
        }
      }
      running = running.filter((r) => {
        if (r.end > t) return true;
        q.charge(r.tenant, 20, 20);
        return false;
      });
      if (t % 50 === 0) q.expire();
      while (running.length < 32) {
        const n = q.next();
        if (!n) break;
        served[n.tenant]! += 1;
        running.push({ tenant: n.tenant, end: t + 585 });
      }
    }
    expect(served.B! / offered.B!).toBeGreaterThan(0.85);
    expect(served.C! / offered.C!).toBeGreaterThan(0.85);
    // A gets the rest of the capacity, not more.
    const total = served.A! + served.B! + served.C!;
    expect(total).toBeGreaterThan(0.95 * (20_000 / 585) * 32 - 32);
    expect(served.A! / total).toBeLessThan(0.5);
  });
});
