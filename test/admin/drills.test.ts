import { describe, expect, it } from 'vitest';
import { DRILL_SCENARIOS, findScenario } from '../../src/admin/drill-scenarios.ts';
import { type DrillHealth, type DrillReport, DrillRunner } from '../../src/admin/drills.ts';
import { ChaosRegistry } from '../../src/chaos/registry.ts';
import { HoldfastError } from '../../src/core/errors.ts';
import type { OutcomeRecord } from '../../src/telemetry/outcome.ts';

/** A wall clock the test moves by hand. */
class FakeClock {
  t = 1_800_000_000_000;
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

const MODELS: Record<string, string[]> = { chat: ['east', 'west'], solo: ['only'] };

function setup() {
  const clock = new FakeClock();
  let n = 0;
  const chaos = new ChaosRegistry({ now: clock.now, newId: () => `f${++n}` });
  const health = new Map<string, DrillHealth>(
    ['east', 'west', 'only'].map((id) => [id, { id, state: 'healthy', ejections: 0 }]),
  );
  const ended: DrillReport[] = [];
  const runner = new DrillRunner({
    chaos,
    now: clock.now,
    gateway: {
      deploymentsOf: (m) => MODELS[m],
      health: (m) => (MODELS[m] ?? []).map((id) => ({ ...health.get(id)! })),
    },
    onEnd: (r) => ended.push(r),
  });
  return { clock, chaos, health, runner, ended };
}

function outcome(o: Partial<OutcomeRecord>): OutcomeRecord {
  return {
    requestId: 'r',
    startedAt: 0,
    dialect: 'openai',
    model: 'chat',
    stream: false,
    status: 200,
    ok: true,
    outcome: 'success',
    flag: 'OK',
    failovers: 0,
    deployment: 'east',
    attempts: 1,
    latencyMs: 100,
    inputTokens: 1,
    outputTokens: 1,
    ...o,
  };
}

function errorOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof HoldfastError ? `${e.status} ${e.code} ${e.param ?? ''}`.trim() : String(e);
  }
  return undefined;
}

describe('saved drill scenarios', () => {
  it('include the outages operators rehearse, each with steps that fit in the drill', () => {
    expect(findScenario('primary-down')?.durationS).toBe(300);
    expect(findScenario('slow-upstream')).toBeDefined();
    expect(findScenario('rate-limit-storm')?.steps[0]?.fault.kind).toBe('rate_limit');
    for (const s of DRILL_SCENARIOS) {
      expect(s.steps.length).toBeGreaterThan(0);
      for (const step of s.steps) expect(step.atS).toBeLessThan(s.durationS);
    }
    expect(new Set(DRILL_SCENARIOS.map((s) => s.id)).size).toBe(DRILL_SCENARIOS.length);
  });
});

describe('DrillRunner', () => {
  it('injects the first step at once, on the primary, through the chaos registry', () => {
    const { runner, chaos, clock } = setup();
    const r = runner.start({ scenario: 'primary-down', model: 'chat' });
    expect(r.state).toBe('running');
    expect(r.targets.primary).toEqual(['east']);
    expect(r.endsAt - r.startedAt).toBe(300_000);
    const live = chaos.list();
    expect(live).toHaveLength(1);
    expect(live[0]).toMatchObject({ deployment: 'east', kind: 'refuse', ends: clock.t + 300_000 });
    expect(r.timeline.map((e) => e.type)).toEqual(['start', 'fault']);
    expect(r.faults[0]).toMatchObject({ id: 'f1', deployment: 'east', kind: 'refuse', cleared: false });
  });

  it('tallies the drilled model’s outcomes by flag, failovers and deployment, and nothing else', () => {
    const { runner } = setup();
    runner.start({ scenario: 'primary-down', model: 'chat' });
    runner.observe(outcome({ flag: 'FAILED_OVER', failovers: 1, deployment: 'west', latencyMs: 300 }));
    runner.observe(outcome({ flag: 'FAILED_OVER', failovers: 2, deployment: 'west', latencyMs: 500 }));
    runner.observe(outcome({ flag: 'OK', deployment: 'west', latencyMs: 100, ttftMs: 40 }));
    runner.observe(
      outcome({ ok: false, flag: 'UPSTREAM_ERROR', outcome: 'upstream_error', status: 502, failovers: 1 }),
    );
    runner.observe(outcome({ model: 'other', flag: 'OK' }));
    const r = runner.current()!;
    expect(r.requests).toMatchObject({
      total: 4,
      ok: 3,
      failed: 1,
      failovers: 4,
      failedOver: 3,
      byFlag: { FAILED_OVER: 2, OK: 1, UPSTREAM_ERROR: 1 },
      byDeployment: { west: 3, east: 1 },
      ttftMs: { p50: 40, p95: 40 },
    });
    expect(r.requests.latencyMs).toEqual({ p50: 300, p95: 500 });
    expect(r.series[0]).toMatchObject({ ok: 3, failed: 1, failedOver: 3 });
  });

  it('puts health changes on the timeline and counts new ejections only', () => {
    const { runner, health, clock } = setup();
    health.get('east')!.ejections = 2; // before the drill: not this drill's doing
    runner.start({ scenario: 'primary-down', model: 'chat' });
    clock.advance(2_000);
    health.set('east', { id: 'east', state: 'ejected', ejections: 3, until: clock.t + 30_000 });
    runner.tick();
    const r = runner.current()!;
    expect(r.ejections).toBe(1);
    const change = r.timeline.find((e) => e.type === 'health');
    expect(change).toMatchObject({
      deployment: 'east',
      from: 'healthy',
      to: 'ejected',
      until: clock.t + 30_000,
    });
    runner.tick(); // no change, no new entry
    expect(runner.current()!.timeline.filter((e) => e.type === 'health')).toHaveLength(1);
  });

  it('completes by itself when its time is up; the faults end with it', () => {
    const { runner, chaos, clock, ended } = setup();
    const started = runner.start({ scenario: 'primary-down', model: 'chat', durationS: 10 });
    clock.advance(9_999);
    runner.tick();
    expect(runner.active).toBe(true);
    clock.advance(1);
    runner.tick();
    expect(runner.active).toBe(false);
    expect(chaos.list()).toEqual([]);
    expect(ended).toHaveLength(1);
    const r = runner.history()[0]!;
    expect(r).toMatchObject({ id: started.id, state: 'completed', endedAt: started.endsAt });
    expect(r.timeline.at(-1)?.type).toBe('end');
    expect(runner.latest()?.id).toBe(started.id);
  });

  it('stop ends the drill early and clears the faults it injected, and only those', () => {
    const { runner, chaos } = setup();
    const mine = runner.start({ scenario: 'primary-down', model: 'chat' });
    chaos.inject('west', { kind: 'latency', ms: 10, duration_s: 60 }); // an operator's own fault
    const r = runner.stop()!;
    expect(r.state).toBe('stopped');
    expect(r.faults[0]?.cleared).toBe(true);
    expect(r.timeline.map((e) => e.type)).toEqual(['start', 'fault', 'clear', 'end']);
    expect(chaos.list().map((f) => f.deployment)).toEqual(['west']);
    expect(runner.stop()).toBeUndefined();
    expect(runner.history()[0]?.id).toBe(mine.id);
    // Outcomes after the end are not counted anywhere.
    runner.observe(outcome({}));
    expect(runner.history()[0]?.requests.total).toBe(0);
  });

  it('applies later steps when they are due, for their own duration, on the role they name', () => {
    const { runner, chaos, clock } = setup();
    runner.start({ scenario: 'rolling-outage', model: 'chat' });
    expect(chaos.list().map((f) => f.deployment)).toEqual(['east']);
    clock.advance(59_000);
    runner.tick();
    expect(chaos.list('west')).toEqual([]);
    clock.advance(1_000);
    runner.tick();
    const west = chaos.list('west');
    expect(west).toHaveLength(1);
    expect(west[0]).toMatchObject({ kind: 'error', status: 503, ends: clock.t + 30_000 });
    clock.advance(30_000);
    expect(chaos.list('west')).toEqual([]);
    expect(chaos.list('east')).toHaveLength(1);
  });

  it('skips steps that fall after a shortened end, and roles the model does not have', () => {
    const short = setup();
    short.runner.start({ scenario: 'rolling-outage', model: 'chat', durationS: 45 });
    short.clock.advance(60_000);
    short.runner.tick();
    expect(short.chaos.list('west')).toEqual([]);
    expect(short.runner.history()[0]?.faults.map((f) => f.deployment)).toEqual(['east']);

    const solo = setup();
    solo.runner.start({ scenario: 'rolling-outage', model: 'solo' });
    solo.clock.advance(60_000);
    solo.runner.tick();
    const skip = solo.runner.current()!.timeline.find((e) => e.type === 'skip');
    expect(skip?.text).toMatch(/no secondary deployment/);
  });

  it('targets every deployment for group-wide faults', () => {
    const { runner, chaos } = setup();
    const r = runner.start({ scenario: 'rate-limit-storm', model: 'chat' });
    expect(r.targets.all).toEqual(['east', 'west']);
    expect(chaos.list().map((f) => [f.deployment, f.kind, f.rate])).toEqual([
      ['east', 'rate_limit', 0.6],
      ['west', 'rate_limit', 0.6],
    ]);
  });

  it('refuses a second drill, unknown scenarios and models, and impossible durations', () => {
    const { runner } = setup();
    expect(errorOf(() => runner.start({ scenario: 'nope', model: 'chat' }))).toBe('404 not_found scenario');
    expect(errorOf(() => runner.start({ scenario: 'primary-down', model: 'nope' }))).toBe(
      '404 model_not_found model',
    );
    expect(errorOf(() => runner.start({ scenario: 'primary-down', model: 'chat', durationS: 0 }))).toBe(
      '400 invalid_request duration_s',
    );
    expect(errorOf(() => runner.start({ scenario: 'primary-down', model: 'chat', durationS: 3601 }))).toBe(
      '400 invalid_request duration_s',
    );
    runner.start({ scenario: 'primary-down', model: 'chat' });
    expect(errorOf(() => runner.start({ scenario: 'slow-upstream', model: 'chat' }))).toBe('409 conflict');
  });

  it('buckets requests over time for the report’s chart', () => {
    const { runner, clock } = setup();
    const r0 = runner.start({ scenario: 'primary-down', model: 'chat' }); // 300 s → 5 s buckets
    expect(r0.bucketMs).toBe(5_000);
    runner.observe(outcome({}));
    clock.advance(12_000);
    runner.observe(outcome({ ok: false, flag: 'UPSTREAM_ERROR' }));
    const r = runner.current()!;
    expect(r.series.map((p) => [p.at - r.startedAt, p.ok, p.failed])).toEqual([
      [0, 1, 0],
      [5_000, 0, 0],
      [10_000, 0, 1],
    ]);
  });

  it('keeps a bounded history, newest first', () => {
    const { runner } = setup();
    for (let i = 0; i < 12; i++) {
      runner.start({ scenario: 'slow-upstream', model: 'chat' });
      runner.stop();
    }
    expect(runner.history()).toHaveLength(10);
    expect(runner.history()[0]!.id).toMatch(/_12$/);
    expect(runner.history()[9]!.id).toMatch(/_3$/);
  });
});
