import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/load.ts';
import { componentSpecs } from '../../src/status/components.ts';
import { statusSettings } from '../../src/status/settings.ts';
import type { ComponentStatus } from '../../src/status/statuspage.ts';
import { type DeploymentView, type EvalContext, StatusComputer } from '../../src/status/tracker.ts';
import type { OutcomeFlag } from '../../src/telemetry/outcome.ts';
import { FakeClock, outcome } from './helpers.ts';

/**
 * The rule (docs/status.md, "Deployment health"): the same deployments out of service say the same
 * thing whether the model group is busy or idle. Some out: degraded_performance (reduced redundancy).
 * Worse takes failing requests (or, idle, failing probes / nowhere at all to send a request).
 */
const config = buildConfig(
  {
    models: [
      {
        name: 'busy',
        deployments: [
          { id: 'b1', provider: 'simulator', model: 'x' },
          { id: 'b2', provider: 'simulator', model: 'x' },
        ],
      },
      {
        name: 'idle',
        deployments: [
          { id: 'i1', provider: 'simulator', model: 'x' },
          { id: 'i2', provider: 'simulator', model: 'x' },
        ],
      },
    ],
  },
  {},
);
const settings = statusSettings(config.status);

function setup(health: Record<string, DeploymentView['health']>, failover = false) {
  const clock = new FakeClock();
  const computer = new StatusComputer(componentSpecs(config), {
    rules: settings.rules,
    holdMs: settings.holdMs,
    latencyMs: settings.latencyMs,
    probeFailures: settings.probes.failures,
    probeStaleMs: 3 * settings.probes.intervalMs,
  });
  const manual = new Map<string, ComponentStatus>();
  const maintenance = new Set<string>();
  const ctx: EvalContext = {
    deployments: (models) =>
      models
        .flatMap((m) => (m === 'busy' ? ['b1', 'b2'] : ['i1', 'i2']))
        .map((id) => ({ id, health: health[id] ?? 'healthy' })),
    maintenance,
    floors: new Map(),
    failover: () => failover,
    manual,
  };
  /** `seconds` simulated seconds of traffic to `busy` only (20 requests a second). */
  const run = (seconds: number, flag: OutcomeFlag = 'OK') => {
    for (let s = 0; s < seconds; s++) {
      for (let i = 0; i < 20; i++) computer.observe(outcome('busy', flag, { deployment: 'b2' }), clock.now());
      clock.advance(1_000);
      computer.evaluate(clock.now(), ctx);
    }
    const r = computer.evaluate(clock.now(), ctx);
    const of = (key: string) => r.find((x) => x.key === key)!;
    return { busy: of('model:busy'), idle: of('model:idle') };
  };
  return { clock, computer, ctx, run, manual, maintenance };
}

describe('busy and idle agree on deployment health', () => {
  it('one deployment ejected, traffic failing over fine: both degraded_performance, not operational', () => {
    const t = setup({ b1: 'ejected', i1: 'ejected' });
    const r = t.run(90, 'FAILED_OVER');
    expect(r.busy.candidate).toBe('degraded_performance');
    expect(r.busy.status).toBe('degraded_performance');
    expect(r.busy.finding?.signal).toBe('redundancy');
    expect(r.idle.status).toBe('degraded_performance');
    expect(r.idle.finding?.signal).toBe('idle');
    expect(t.computer.describe('model:busy', t.clock.now(), t.ctx)).toMatch(
      /succeeding, but with less redundancy.*1 of 2 deployments failing \(b1: ejected\)/,
    );
  });

  it('blocked (a retry-after) counts as out of service too; healthy and probing do not', () => {
    expect(setup({ b1: 'blocked', i1: 'blocked' }).run(30).busy.status).toBe('degraded_performance');
    const p = setup({ b1: 'probing', i1: 'probing' }).run(30);
    expect([p.busy.status, p.idle.status]).toEqual(['operational', 'operational']);
  });

  it('never worse than degraded while requests succeed; failing requests make it worse', () => {
    // Every deployment ejected but the traffic fails over to another group and succeeds.
    const t = setup({ b1: 'ejected', b2: 'ejected', i1: 'ejected', i2: 'ejected' }, true);
    const r = t.run(60, 'FAILED_OVER');
    expect(r.busy.status).toBe('degraded_performance');
    expect(r.idle.status).toBe('degraded_performance');
    // The same with the requests failing: the burn rate speaks.
    const f = setup({ b1: 'ejected' });
    const bad = f.run(30, 'UPSTREAM_ERROR');
    expect(['partial_outage', 'major_outage']).toContain(bad.busy.status);
  });

  it('an idle group with every deployment ejected and nowhere to fail over to is a major outage', () => {
    const t = setup({ i1: 'ejected', i2: 'ejected' }, false);
    expect(t.run(1).idle.status).toBe('major_outage');
  });

  it('recovers with its deployments (after the hold time)', () => {
    const health: Record<string, DeploymentView['health']> = { b1: 'ejected' };
    const t = setup(health);
    expect(t.run(10).busy.status).toBe('degraded_performance');
    health.b1 = 'healthy';
    const r = t.run(Math.ceil(settings.holdMs / 1000) + 2);
    expect(r.busy.status).toBe('operational');
  });
});

describe('manual component status', () => {
  it('wins over telemetry, floors and maintenance while set; the reading keeps the measured status', () => {
    const t = setup({});
    t.manual.set('model:busy', 'major_outage');
    t.maintenance.add('model:idle');
    t.manual.set('model:idle', 'partial_outage');
    const r = t.run(5);
    expect(r.busy).toMatchObject({ status: 'major_outage', computed: 'operational', manual: 'major_outage' });
    expect(r.idle).toMatchObject({ status: 'partial_outage', manual: 'partial_outage' });
    expect(t.computer.describe('model:busy', t.clock.now(), t.ctx)).toBe(
      'Our team has set the status of busy to major outage.',
    );
    t.manual.clear();
    const after = t.run(1);
    expect(after.busy.status).toBe('operational');
    expect(after.busy.manual).toBeUndefined();
    expect(after.idle.status).toBe('under_maintenance');
  });
});
