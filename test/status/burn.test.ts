import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/load.ts';
import { verdictFor } from '../../src/status/classify.ts';
import { componentSpecs } from '../../src/status/components.ts';
import { type IncidentAction, IncidentPolicy } from '../../src/status/incident-policy.ts';
import { statusSettings } from '../../src/status/settings.ts';
import type { ComponentStatus } from '../../src/status/statuspage.ts';
import { type DeploymentView, type EvalContext, StatusComputer } from '../../src/status/tracker.ts';
import type { OutcomeFlag } from '../../src/telemetry/outcome.ts';
import { FakeClock, outcome } from './helpers.ts';

const config = buildConfig(
  {
    models: [{ name: 'm1', deployments: [{ id: 'd1', provider: 'simulator', model: 'x' }] }],
  },
  {},
);
const settings = statusSettings(config.status);
const KEY = 'model:m1';

function setup(health: DeploymentView['health'] = 'healthy') {
  const clock = new FakeClock();
  const computer = new StatusComputer(componentSpecs(config), {
    rules: settings.rules,
    holdMs: settings.holdMs,
    latencyMs: settings.latencyMs,
    probeFailures: settings.probes.failures,
    probeStaleMs: 3 * settings.probes.intervalMs,
  });
  const policy = new IncidentPolicy(settings.incidents);
  const state = { health };
  const ctx: EvalContext = {
    deployments: () => [{ id: 'd1', health: state.health }],
    maintenance: new Set(),
    floors: new Map(),
  };
  const actions: { at: number; a: IncidentAction }[] = [];
  const open: { id: string; keys: string[] }[] = [];
  const statuses: { at: number; status: ComponentStatus }[] = [];
  /** One simulated second: `n` requests with `flag`, then an evaluation and the incident policy. */
  const second = (flags: OutcomeFlag[], extra = {}) => {
    for (const f of flags) computer.observe(outcome('m1', f, extra), clock.now());
    clock.advance(1_000);
    const readings = computer.evaluate(clock.now(), ctx);
    const r = readings.find((x) => x.key === KEY)!;
    if (statuses.at(-1)?.status !== r.status) statuses.push({ at: clock.now(), status: r.status });
    const comps = new Map(
      readings.map((x) => [x.key, { name: x.key, status: x.status, badSince: x.badSince }]),
    );
    const decided = policy.decide(
      clock.now(),
      comps,
      open.map((o) => ({
        id: o.id,
        auto: true,
        status: 'investigating',
        impact: 'critical',
        impactOverridden: false,
        componentKeys: o.keys,
      })),
      (k) => computer.describe(k, clock.now(), ctx),
    );
    for (const a of decided) {
      actions.push({ at: clock.now(), a });
      if (a.kind === 'open') open.push({ id: `inc${open.length}`, keys: a.keys });
      if (a.kind === 'resolve')
        open.splice(
          open.findIndex((o) => o.id === a.id),
          1,
        );
    }
    return r;
  };
  const run = (seconds: number, flags: OutcomeFlag[], extra = {}) => {
    let r = second(flags, extra);
    for (let i = 1; i < seconds; i++) r = second(flags, extra);
    return r;
  };
  return { clock, computer, policy, state, second, run, actions, statuses, ctx };
}

const OK2: OutcomeFlag[] = ['OK', 'OK'];
const BAD2: OutcomeFlag[] = ['UPSTREAM_ERROR', 'NO_HEALTHY_UPSTREAM'];

describe('burn-rate status with hysteresis (fake clock, synthetic outcome streams)', () => {
  it('a hard outage changes the status within 60 s, to major_outage', () => {
    const t = setup();
    t.run(3_600, OK2);
    expect(t.statuses.at(-1)?.status).toBe('operational');
    const start = t.clock.now();
    let changedAt: number | undefined;
    for (let i = 0; i < 120 && changedAt === undefined; i++) {
      const r = t.second(BAD2);
      if (r.status !== 'operational') changedAt = t.clock.now();
    }
    expect(changedAt).toBeDefined();
    const after = (changedAt! - start) / 1000;
    expect(after).toBeLessThanOrEqual(60);
    // Measured: the 5-minute window crosses 14.4× burn after ~22 s of a total outage.
    expect(after).toBeLessThan(30);
    const r = t.run(10, BAD2);
    expect(r.status).toBe('major_outage');
  });

  it('one bad minute in ten shows on the page but opens no incident, and clears', () => {
    const t = setup();
    t.run(3_600, OK2);
    t.run(240, OK2);
    t.run(60, BAD2);
    t.run(300, OK2);
    expect(t.statuses.some((s) => s.status !== 'operational')).toBe(true);
    expect(t.actions.filter((x) => x.a.kind === 'open')).toEqual([]);
    expect(t.statuses.at(-1)?.status).toBe('operational');
  });

  it('holds a raised status for the hold time after the trouble clears, then lowers it', () => {
    const t = setup();
    t.run(3_600, OK2);
    t.run(60, BAD2);
    // The 1-minute window still sees failures for up to a minute after they stop; then the hold runs.
    let lowered: number | undefined;
    const clear = t.clock.now();
    for (let i = 0; i < 600 && lowered === undefined; i++)
      if (t.second(OK2).status === 'operational') lowered = t.clock.now();
    const s = (lowered! - clear) / 1000;
    expect(s).toBeGreaterThanOrEqual(settings.holdMs / 1000);
    expect(s).toBeLessThan(settings.holdMs / 1000 + 65);
  });

  it('opens an incident when an outage lasts, resolves it after the quiet period', () => {
    const t = setup();
    t.run(3_600, OK2);
    const start = t.clock.now();
    t.run(300, BAD2);
    const opened = t.actions.find((x) => x.a.kind === 'open');
    expect(opened).toBeDefined();
    expect((opened!.at - start) / 1000).toBeLessThan(30 + settings.incidents.openAfterMs / 1000);
    expect(opened!.a.kind === 'open' && opened!.a.impact).toBe('critical');
    expect(opened!.a.kind === 'open' && opened!.a.body).toMatch(/Error rate on m1 is 100%/);
    const recovered = t.clock.now();
    t.run(1_200, OK2);
    const kinds = t.actions.map((x) => x.a.kind);
    expect(kinds[0]).toBe('open');
    expect(kinds.at(-1)).toBe('resolve');
    const monitoring = t.actions.find((x) => x.a.kind === 'update' && x.a.status === 'monitoring');
    expect(monitoring).toBeDefined();
    const resolvedAt = t.actions.at(-1)!.at;
    const quiet = settings.incidents.quietMs;
    // Operational again once the windows (the slow pair's short one is the last) and the hold clear,
    // then quiet for the quiet period.
    expect(resolvedAt - monitoring!.at).toBeGreaterThanOrEqual(quiet);
    expect(resolvedAt - recovered).toBeLessThan(
      quiet + settings.holdMs + settings.rules.slow.shortMs + 10_000,
    );
  });

  it('smouldering trouble (4% failing for an hour) is degraded performance, not an outage', () => {
    const t = setup();
    let r = t.second(OK2);
    for (let i = 0; i < 3_600; i++) r = t.second(i % 12 === 0 ? ['UPSTREAM_ERROR', 'OK'] : OK2);
    expect(r.status).toBe('degraded_performance');
    expect(t.statuses.some((s) => s.status === 'partial_outage' || s.status === 'major_outage')).toBe(false);
  });

  it('slow first tokens are degraded performance', () => {
    const t = setup();
    const r = t.run(400, OK2, { ttftMs: settings.latencyMs + 1_000 });
    expect(r.status).toBe('degraded_performance');
    expect(t.computer.describe(KEY, t.clock.now(), t.ctx)).toMatch(/took longer than/);
  });

  it('an idle component is as healthy as its deployments and probes, not healthy by default', () => {
    const t = setup('ejected');
    expect(t.second([]).status).toBe('major_outage');
    const u = setup('healthy');
    expect(u.second([]).status).toBe('operational');
    const probe = { requestId: 'hfprobe_x' };
    u.second(['UPSTREAM_ERROR'], probe);
    expect(u.second(['UPSTREAM_ERROR'], probe).status).toBe('major_outage');
  });

  it('client errors, rate limits and hang-ups say nothing about us; shedding does', () => {
    expect(verdictFor('CLIENT_ERROR', 'model')).toBe('skip');
    expect(verdictFor('RATE_LIMITED', 'api')).toBe('skip');
    expect(verdictFor('CLIENT_CLOSED', 'model')).toBe('skip');
    expect(verdictFor('SHED', 'api')).toBe('bad');
    expect(verdictFor('QUEUE_TIMEOUT', 'model')).toBe('bad');
    expect(verdictFor('UPSTREAM_ERROR', 'model')).toBe('bad');
    // A provider outage is the model's news, not the API's.
    expect(verdictFor('UPSTREAM_ERROR', 'api')).toBe('good');
    const t = setup();
    const r = t.run(120, ['CLIENT_ERROR', 'RATE_LIMITED', 'CLIENT_CLOSED', 'OK']);
    expect(r.status).toBe('operational');
  });
});
