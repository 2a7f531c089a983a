import { afterEach, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import type { QueueReport } from '../../src/pipeline/admission.ts';
import { componentSpecs } from '../../src/status/components.ts';
import { publishStatusEvent, type StatusEvent } from '../../src/status/view.ts';
import { publishAdmission } from '../../src/telemetry/admission.ts';
import type { EngineView } from '../../src/telemetry/metrics/deployments.ts';
import { pingStore, type SharedStateView } from '../../src/telemetry/metrics/store.ts';
import { createMetrics, type GatewayMetrics } from '../../src/telemetry/metrics.ts';
import {
  type AttemptRecord,
  type OutcomeRecord,
  publishAttempt,
  publishOutcome,
} from '../../src/telemetry/outcome.ts';
import { samples, select, total } from './exposition.ts';
import { fakeDb } from './fake-db.ts';

/**
 * The metrics fed by hand-made records on the real diagnostics channels, with the live state (engine,
 * queues, store, status) faked: label mapping, filtering between gateways, derived counters.
 */

function config(models: Array<{ name: string; ids: string[] }>, extra: Record<string, unknown> = {}): Config {
  return buildConfig(
    {
      store: { data_dir: 'memory://' },
      models: models.map((m) => ({
        name: m.name,
        deployments: m.ids.map((id) => ({ id, provider: 'simulator', model: id })),
      })) as [never, ...never[]],
      ...extra,
    },
    {},
  );
}

interface FakeState {
  health: Map<string, string>;
  outstanding: Map<string, number>;
  ejections: Map<string, number>;
  drained: Set<string>;
}

function fakeEngine(s: FakeState): EngineView {
  const deployments = new Map(
    [...s.health.keys()].map((id) => [
      id,
      {
        get outstanding() {
          return s.outstanding.get(id) ?? 0;
        },
        throttle: { rejectProbability: () => (id.endsWith('1') ? 0.25 : 0) },
      },
    ]),
  );
  return {
    health: (id) => s.health.get(id) ?? 'healthy',
    isDrained: (id) => s.drained.has(id),
    deployments,
    outlier: { snapshot: () => [...s.ejections].map(([id, ejections]) => ({ id, ejections })) },
  };
}

let n = 0;
function outcome(p: Partial<OutcomeRecord>): OutcomeRecord {
  return {
    requestId: `req_${++n}`,
    startedAt: Date.now(),
    dialect: 'openai',
    stream: false,
    status: 200,
    ok: true,
    outcome: 'success',
    flag: 'OK',
    failovers: 0,
    attempts: 1,
    latencyMs: 100,
    inputTokens: 0,
    outputTokens: 0,
    ...p,
  };
}

function attempt(p: Partial<AttemptRecord> & Pick<AttemptRecord, 'deployment'>): AttemptRecord {
  return {
    requestId: `req_${++n}`,
    provider: 'simulator',
    region: 'local',
    ok: true,
    startedAt: 0,
    latencyMs: 50,
    ...p,
  };
}

const open: GatewayMetrics[] = [];
function metrics(
  cfg: () => Config,
  state: FakeState = { health: new Map(), outstanding: new Map(), ejections: new Map(), drained: new Set() },
  extra: {
    queues?: QueueReport[];
    readings?: Map<string, { status: 'operational' | 'major_outage' }>;
    redis?: SharedStateView;
  } = {},
): GatewayMetrics {
  const m = createMetrics({
    config: cfg,
    engine: () => fakeEngine(state),
    queues: () => extra.queues ?? [],
    db: { kysely: fakeDb(async () => ({ rows: [] })), engine: 'postgres' },
    status: () => (extra.readings ? { readings: () => extra.readings! } : undefined),
    redis: () => extra.redis,
  });
  open.push(m);
  return m;
}

afterEach(() => {
  for (const m of open.splice(0)) m.close();
});

const read = async (m: GatewayMetrics) => samples(await m.render());

describe('request records', () => {
  it("labels a model the gateway does not serve as unknown, never with the client's name", async () => {
    const m = metrics(() => config([{ name: 'alpha', ids: ['a1'] }]));
    publishOutcome(
      outcome({
        model: 'gpt-made-up',
        ok: false,
        outcome: 'client_error',
        flag: 'CLIENT_ERROR',
        status: 404,
      }),
    );
    publishOutcome(outcome({ ok: false, outcome: 'client_error', flag: 'CLIENT_ERROR', status: 400 }));
    const text = await m.render();
    expect(text).not.toContain('gpt-made-up');
    expect(total(samples(text), 'holdfast_requests_total', { model: 'unknown', deployment: 'none' })).toBe(2);
  });

  it("ignores another gateway's deployments, groups and components on the shared channels", async () => {
    const cfgA = config([{ name: 'alpha', ids: ['a1'] }]);
    const cfgB = config([{ name: 'beta', ids: ['b1'] }]);
    const a = metrics(() => cfgA);
    const b = metrics(() => cfgB);
    publishOutcome(outcome({ model: 'alpha', deployment: 'a1' }));
    publishOutcome(outcome({ model: 'beta', deployment: 'b1' }));
    publishOutcome(outcome({ model: 'beta', deployment: 'b1' }));
    publishAttempt(attempt({ deployment: 'b1' }));
    publishAdmission({
      type: 'queued',
      model: 'beta',
      priority: 'batch',
      tenant: 'ip:x',
      queued: 1,
      position: 1,
    });
    publishAdmission({ type: 'limit', deployment: 'b1', limit: 3, previous: 16 });
    const betaApi = componentSpecs(cfgB).find((c) => c.key === 'model:beta')!;
    publishStatusEvent({
      type: 'component',
      component: { id: betaApi.id } as never,
      oldStatus: 'operational',
      newStatus: 'major_outage',
      at: new Date().toISOString(),
    });
    const sa = await read(a);
    const sb = await read(b);
    expect(total(sa, 'holdfast_requests_total')).toBe(1);
    expect(total(sb, 'holdfast_requests_total')).toBe(2);
    expect(total(sa, 'holdfast_upstream_attempts_total')).toBe(0);
    expect(total(sb, 'holdfast_upstream_attempts_total', { deployment: 'b1', model: 'beta' })).toBe(1);
    expect(total(sa, 'holdfast_queued_total')).toBe(0);
    expect(total(sb, 'holdfast_queued_total', { model: 'beta', priority: 'batch' })).toBe(1);
    expect(total(sb, 'holdfast_deployment_concurrency_limit', { deployment: 'b1' })).toBe(3);
    expect(total(sa, 'holdfast_status_component_changes_total')).toBe(0);
    expect(
      total(sb, 'holdfast_status_component_changes_total', {
        component: 'model:beta',
        status: 'major_outage',
      }),
    ).toBe(1);
    // What names none of them cannot be told apart: both count it (docs/metrics.md).
    publishOutcome(outcome({ ok: false, outcome: 'client_error', flag: 'CLIENT_ERROR', status: 400 }));
    expect(total(await read(a), 'holdfast_requests_total', { model: 'unknown' })).toBe(1);
    expect(total(await read(b), 'holdfast_requests_total', { model: 'unknown' })).toBe(1);
  });

  it('splits failovers into retries and hedges, and settles mid-stream failures at the outcome', async () => {
    const m = metrics(() => config([{ name: 'alpha', ids: ['a1', 'a2'] }]));
    // Continued elsewhere after a cut.
    publishAttempt(
      attempt({ requestId: 'r1', deployment: 'a1', ok: false, errorKind: 'connection', midStream: true }),
    );
    publishAttempt(attempt({ requestId: 'r1', deployment: 'a2' }));
    publishOutcome(
      outcome({
        requestId: 'r1',
        model: 'alpha',
        deployment: 'a2',
        stream: true,
        failovers: 1,
        flag: 'FAILED_OVER',
      }),
    );
    // Cut with nowhere to continue.
    publishAttempt(
      attempt({ requestId: 'r2', deployment: 'a1', ok: false, errorKind: 'timeout', midStream: true }),
    );
    publishOutcome(
      outcome({
        requestId: 'r2',
        model: 'alpha',
        deployment: 'a1',
        ok: false,
        outcome: 'upstream_error',
        flag: 'STREAM_INTERRUPTED',
        stream: true,
      }),
    );
    // A hedge that won, and a retry followed by a hedge.
    publishOutcome(outcome({ model: 'alpha', deployment: 'a2', failovers: 1, hedged: true, flag: 'HEDGED' }));
    publishOutcome(outcome({ model: 'alpha', deployment: 'a2', failovers: 2, hedged: true, flag: 'HEDGED' }));
    // A hedge loser: an attempt that ended without an upstream error.
    publishAttempt(attempt({ deployment: 'a1', ok: false }));
    const s = await read(m);
    expect(total(s, 'holdfast_failovers_total', { model: 'alpha' })).toBe(4);
    expect(total(s, 'holdfast_retries_total', { model: 'alpha' })).toBe(2);
    expect(total(s, 'holdfast_hedges_total', { model: 'alpha' })).toBe(2);
    expect(total(s, 'holdfast_mid_stream_failovers_total', { result: 'continued' })).toBe(1);
    expect(total(s, 'holdfast_mid_stream_failovers_total', { result: 'failed' })).toBe(1);
    expect(total(s, 'holdfast_upstream_mid_stream_failures_total', { deployment: 'a1' })).toBe(2);
    expect(total(s, 'holdfast_upstream_attempts_total', { deployment: 'a1', result: 'cancelled' })).toBe(1);
    expect(total(s, 'holdfast_upstream_attempts_total', { deployment: 'a1', result: 'timeout' })).toBe(1);
  });

  it('derives inter-token latency from latency, TTFT and output tokens, in seconds', async () => {
    const m = metrics(() => config([{ name: 'alpha', ids: ['a1'] }]));
    publishOutcome(
      outcome({
        model: 'alpha',
        deployment: 'a1',
        stream: true,
        latencyMs: 1_100,
        ttftMs: 100,
        outputTokens: 11,
      }),
    );
    // One token has no gap; a failure says nothing about speed.
    publishOutcome(
      outcome({
        model: 'alpha',
        deployment: 'a1',
        stream: true,
        latencyMs: 500,
        ttftMs: 100,
        outputTokens: 1,
      }),
    );
    publishOutcome(
      outcome({
        model: 'alpha',
        deployment: 'a1',
        stream: true,
        ok: false,
        outcome: 'upstream_error',
        flag: 'STREAM_INTERRUPTED',
        ttftMs: 50,
        outputTokens: 9,
      }),
    );
    const s = await read(m);
    expect(total(s, 'holdfast_time_per_output_token_seconds_count')).toBe(1);
    expect(total(s, 'holdfast_time_per_output_token_seconds_sum')).toBeCloseTo(0.1, 9);
    expect(total(s, 'holdfast_time_to_first_token_seconds_count')).toBe(2);
    expect(total(s, 'holdfast_time_to_first_token_seconds_sum')).toBeCloseTo(0.2, 9);
    expect(total(s, 'holdfast_request_duration_seconds_count')).toBe(3);
    expect(total(s, 'holdfast_tokens_total', { type: 'output' })).toBe(21);
  });

  it("makes the status latency SLO's threshold a TTFT bucket bound", async () => {
    const m = metrics(() =>
      config([{ name: 'alpha', ids: ['a1'] }], { status: { slo: { latency_ms: 7_000 } } }),
    );
    publishOutcome(outcome({ model: 'alpha', deployment: 'a1', stream: true, ttftMs: 6_500 }));
    const s = await read(m);
    expect(select(s, 'holdfast_time_to_first_token_seconds_bucket', { le: '7' })[0]?.value).toBe(1);
    expect(select(s, 'holdfast_time_to_first_token_seconds_bucket', { le: '5' })[0]?.value).toBe(0);
  });

  it('stops counting once closed', async () => {
    const m = metrics(() => config([{ name: 'alpha', ids: ['a1'] }]));
    publishOutcome(outcome({ model: 'alpha', deployment: 'a1' }));
    m.close();
    publishOutcome(outcome({ model: 'alpha', deployment: 'a1' }));
    publishAttempt(attempt({ deployment: 'a1' }));
    const s = await read(m);
    expect(total(s, 'holdfast_requests_total')).toBe(1);
    expect(total(s, 'holdfast_upstream_attempts_total')).toBe(0);
  });

  it('follows a config reload: new models and deployments are labelled, removed ones no longer read', async () => {
    let cfg = config([{ name: 'alpha', ids: ['a1'] }]);
    const state: FakeState = {
      health: new Map([['a1', 'healthy']]),
      outstanding: new Map(),
      ejections: new Map(),
      drained: new Set(),
    };
    const m = metrics(() => cfg, state);
    publishOutcome(outcome({ model: 'gamma', deployment: 'g1' }));
    cfg = config([{ name: 'gamma', ids: ['g1'] }]);
    state.health = new Map([['g1', 'ejected']]);
    publishOutcome(outcome({ model: 'gamma', deployment: 'g1' }));
    const s = await read(m);
    expect(total(s, 'holdfast_requests_total', { model: 'gamma', deployment: 'g1' })).toBe(1);
    expect(total(s, 'holdfast_deployment_health', { deployment: 'g1', state: 'ejected' })).toBe(1);
    expect(select(s, 'holdfast_deployment_health', { deployment: 'a1' })).toHaveLength(0);
  });
});

describe('live state read at scrape time', () => {
  it('keeps the limits of deployments a reload carried over, and resets the rest to the initial limit', async () => {
    const deployments = (bId: string) => [
      { id: 'a1', provider: 'simulator', model: 'a1' },
      { id: 'b1', provider: 'simulator', model: bId },
    ];
    const make = (bModel: string) =>
      buildConfig(
        { store: { data_dir: 'memory://' }, models: [{ name: 'alpha', deployments: deployments(bModel) }] },
        {},
      );
    let cfg = make('b1');
    const m = metrics(() => cfg);
    publishAdmission({ type: 'limit', deployment: 'a1', limit: 5, previous: 16 });
    publishAdmission({ type: 'limit', deployment: 'b1', limit: 7, previous: 16 });
    cfg = make('b1-bigger');
    const s = await read(m);
    expect(total(s, 'holdfast_deployment_concurrency_limit', { deployment: 'a1' })).toBe(5);
    expect(total(s, 'holdfast_deployment_concurrency_limit', { deployment: 'b1' })).toBe(16);
  });

  it('reports health, drains, ejections, in-flight attempts and throttling per deployment', async () => {
    const state: FakeState = {
      health: new Map([
        ['a1', 'ejected'],
        ['a2', 'probing'],
      ]),
      outstanding: new Map([['a2', 4]]),
      ejections: new Map([['a1', 3]]),
      drained: new Set(['a2']),
    };
    const m = metrics(() => config([{ name: 'alpha', ids: ['a1', 'a2'] }]), state);
    let s = await read(m);
    expect(select(s, 'holdfast_deployment_health', { deployment: 'a1' })).toHaveLength(5);
    expect(total(s, 'holdfast_deployment_health', { deployment: 'a1', state: 'ejected' })).toBe(1);
    expect(total(s, 'holdfast_deployment_health', { deployment: 'a1' })).toBe(1);
    expect(total(s, 'holdfast_deployment_health', { deployment: 'a2', state: 'probing' })).toBe(1);
    expect(total(s, 'holdfast_deployment_drained', { deployment: 'a2' })).toBe(1);
    expect(total(s, 'holdfast_deployment_drained', { deployment: 'a1' })).toBe(0);
    expect(total(s, 'holdfast_deployment_in_flight', { deployment: 'a2' })).toBe(4);
    expect(total(s, 'holdfast_deployment_ejections_total', { deployment: 'a1', model: 'alpha' })).toBe(3);
    expect(total(s, 'holdfast_deployment_throttle_ratio', { deployment: 'a1' })).toBe(0.25);
    // Limits start at the configured initial limit and follow the limit events.
    expect(total(s, 'holdfast_deployment_concurrency_limit', { deployment: 'a1' })).toBe(16);
    publishAdmission({ type: 'limit', deployment: 'a1', limit: 9, previous: 16 });
    state.health.set('a1', 'healthy');
    state.ejections.set('a1', 4);
    s = await read(m);
    expect(total(s, 'holdfast_deployment_concurrency_limit', { deployment: 'a1' })).toBe(9);
    expect(total(s, 'holdfast_deployment_health', { deployment: 'a1', state: 'healthy' })).toBe(1);
    expect(total(s, 'holdfast_deployment_ejections_total', { deployment: 'a1' })).toBe(4);
  });

  it('reports the queue, admission waits and sheds', async () => {
    const queues: QueueReport[] = [
      {
        model: 'alpha',
        inflight: 7,
        capacity: 8,
        queued: 3,
        byClass: { critical: 0, interactive: 2, batch: 1 },
        oldestWaitMs: 1_500,
        estimatedWaitMs: 900,
      },
    ];
    const m = metrics(() => config([{ name: 'alpha', ids: ['a1'] }]), undefined, { queues });
    publishAdmission({
      type: 'admitted',
      model: 'alpha',
      priority: 'interactive',
      tenant: 't',
      queued: 0,
      waitedMs: 250,
      inflight: 1,
      capacity: 8,
    });
    publishAdmission({
      type: 'dropped',
      model: 'alpha',
      priority: 'batch',
      tenant: 't',
      queued: 0,
      reason: 'queue_timeout',
      waitedMs: 10_000,
    });
    publishAdmission({
      type: 'dropped',
      model: 'nope',
      priority: 'batch',
      tenant: 't',
      queued: 0,
      reason: 'queue_full',
      waitedMs: 0,
    });
    const s = await read(m);
    expect(total(s, 'holdfast_queue_length', { model: 'alpha', priority: 'interactive' })).toBe(2);
    expect(total(s, 'holdfast_queue_length', { model: 'alpha' })).toBe(3);
    expect(total(s, 'holdfast_queue_oldest_wait_seconds', { model: 'alpha' })).toBe(1.5);
    expect(total(s, 'holdfast_queue_estimated_wait_seconds', { model: 'alpha' })).toBe(0.9);
    expect(total(s, 'holdfast_admission_in_flight', { model: 'alpha' })).toBe(7);
    expect(total(s, 'holdfast_admission_capacity', { model: 'alpha' })).toBe(8);
    expect(total(s, 'holdfast_queue_wait_seconds_sum', { priority: 'interactive' })).toBe(0.25);
    expect(
      total(s, 'holdfast_queue_dropped_total', {
        model: 'alpha',
        priority: 'batch',
        reason: 'queue_timeout',
      }),
    ).toBe(1);
    expect(total(s, 'holdfast_queue_dropped_total')).toBe(1);
  });

  it('reports status components and incident events', async () => {
    const readings = new Map<string, { status: 'operational' | 'major_outage' }>([
      ['model:alpha', { status: 'major_outage' }],
      ['platform:api', { status: 'operational' }],
    ]);
    const m = metrics(() => config([{ name: 'alpha', ids: ['a1'] }]), undefined, { readings });
    publishStatusEvent({ type: 'incident', change: 'created', incident: {} } as StatusEvent);
    publishStatusEvent({ type: 'maintenance', change: 'started', incident: {} } as StatusEvent);
    const s = await read(m);
    expect(
      total(s, 'holdfast_status_component_status', { component: 'model:alpha', status: 'major_outage' }),
    ).toBe(1);
    expect(total(s, 'holdfast_status_component_status', { component: 'model:alpha' })).toBe(1);
    expect(total(s, 'holdfast_status_incident_events_total', { type: 'incident', change: 'created' })).toBe(
      1,
    );
    expect(
      total(s, 'holdfast_status_incident_events_total', { type: 'maintenance', change: 'started' }),
    ).toBe(1);
  });

  it('reports Redis shared state when there is one, and nothing without', async () => {
    const cfg = config([{ name: 'alpha', ids: ['a1'] }]);
    const none = await read(metrics(() => cfg));
    expect(select(none, 'holdfast_redis_up')).toHaveLength(0);
    expect(select(none, 'holdfast_replicas_live')).toHaveLength(0);
    let status = { mode: 'shared', transitions: 0, liveReplicas: 3 };
    const m = metrics(() => cfg, undefined, { redis: { status: () => status } });
    let s = await read(m);
    expect(total(s, 'holdfast_redis_up')).toBe(1);
    expect(total(s, 'holdfast_replicas_live')).toBe(3);
    expect(total(s, 'holdfast_redis_mode_changes_total')).toBe(0);
    status = { mode: 'local-fallback', transitions: 1, liveReplicas: 3 };
    s = await read(m);
    expect(total(s, 'holdfast_redis_up')).toBe(0);
    expect(total(s, 'holdfast_redis_mode_changes_total')).toBe(1);
  });

  it('reports the store down when its ping fails or hangs', async () => {
    expect((await pingStore({ kysely: fakeDb(async () => ({ rows: [] })) })).up).toBe(true);
    expect(
      (await pingStore({ kysely: fakeDb(() => Promise.reject(new Error('connection refused'))) })).up,
    ).toBe(false);
    expect((await pingStore({ kysely: fakeDb(() => new Promise(() => {})) }, 20)).up).toBe(false);
  });
});
