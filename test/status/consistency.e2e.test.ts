import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.ts';
import type { Json } from '../helpers/chat-client.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { call, drive, startStatusGateway, until } from './gateway.ts';

const sim = { dialect: 'openai', ttft_ms: 0, tokens_per_sec: 0 } as const;
const pair = (name: string): NonNullable<ConfigInput['models']>[number] => ({
  name,
  deployments: [
    { id: `${name}-1`, provider: 'simulator', model: 'x', simulator: sim },
    { id: `${name}-2`, provider: 'simulator', model: 'x', simulator: sim },
  ],
});

let t: TestGateway;

beforeAll(async () => {
  t = await startStatusGateway({
    models: [pair('busy'), pair('idle')],
    // Ejections last a minute here: long enough to look at both components.
    resilience: { outlier: { base_ejection_ms: 60_000, max_ejection_ms: 60_000 } },
  });
});
afterAll(() => t?.close());

const components = async (): Promise<Json[]> =>
  (await call(t.url, 'GET', '/api/v2/components.json')).body.components;
const statusOf = async (name: string): Promise<string> =>
  (await components()).find((c) => c.name === name)!.status;

describe('deployment health: busy and idle agree (the tester’s report)', () => {
  it('one deployment of each group ejected: the busy group (traffic failing over fine) and the idle one are both degraded_performance', {
    timeout: 30_000,
  }, async () => {
    const engine = t.gw.engine;
    for (const id of ['busy-1', 'idle-1']) for (let i = 0; i < 5; i++) engine.outlier.recordFailure(id);
    expect([engine.health('busy-1'), engine.health('idle-1')]).toEqual(['ejected', 'ejected']);
    const traffic = drive(t.url, 'busy', 2);
    try {
      await until(
        'both degraded',
        async () => {
          const [b, i] = [await statusOf('busy'), await statusOf('idle')];
          return b === 'degraded_performance' && i === 'degraded_performance' ? true : undefined;
        },
        10_000,
      );
      // Still true after a few seconds of successful traffic: no flapping back to operational.
      await new Promise((r) => setTimeout(r, 1_500));
      const reading = t.gw.status!.readings().get('model:busy')!;
      expect(reading.candidate).toBe('degraded_performance');
      expect(reading.finding?.signal).toBe('redundancy');
      expect(await statusOf('busy')).toBe('degraded_performance');
      expect(await statusOf('idle')).toBe('degraded_performance');
      // The chat banner hears the same.
      const banner = t.gw.status!.modelStatuses();
      expect(banner.map((m) => m.status)).toEqual(['degraded_performance', 'degraded_performance']);
      expect(banner[0]!.message).toMatch(/busy-1: ejected/);
    } finally {
      const sent = await traffic.stop();
      expect(sent).toBeGreaterThan(20);
    }
  });
});

describe('manual component status (admin API)', () => {
  it('overrides the computed status until cleared; validated; only during an open incident', {
    timeout: 30_000,
  }, async () => {
    const api = t.gw.status!.componentId('platform:api')!;
    const created = await call(t.url, 'POST', '/admin/status/incidents', {
      name: 'Login trouble',
      body: 'Investigating.',
    });
    const inc = created.body.id as string;
    const path = `/admin/status/incidents/${inc}/components/${api}`;
    expect((await call(t.url, 'PUT', path, { status: 'sideways' })).status).toBe(400);
    expect(
      (await call(t.url, 'PUT', path, { status: 'major_outage' }, { 'content-type': 'application/json' }))
        .status,
    ).toBe(401);

    const set = await call(t.url, 'PUT', path, {
      status: 'partial_outage',
      body: 'Sign-in fails for some users.',
    });
    expect(set.status).toBe(200);
    expect(set.body.components.map((c: Json) => c.id)).toContain(api);
    expect(set.body.incident_updates[0]).toMatchObject({
      body: 'Sign-in fails for some users.',
      affected_components: [expect.objectContaining({ code: api, new_status: 'partial_outage' })],
    });
    expect(await statusOf('API')).toBe('partial_outage');
    const admin = (await call(t.url, 'GET', '/admin/status/components')).body.components.find(
      (c: Json) => c.id === api,
    );
    expect(admin).toMatchObject({ status: 'partial_outage', computed: 'operational' });
    expect(admin.manual).toMatchObject({ status: 'partial_outage', incident_id: inc });
    // The webhook-facing summary agrees.
    const summary = (await call(t.url, 'GET', '/api/v2/summary.json')).body;
    expect(summary.components.find((c: Json) => c.id === api).status).toBe('partial_outage');

    const cleared = await call(t.url, 'DELETE', path);
    expect(cleared.status).toBe(200);
    expect(await statusOf('API')).toBe('operational');
    expect((await call(t.url, 'DELETE', path)).status).toBe(404);

    // Set again, then resolve the incident: the manual status ends with it.
    await call(t.url, 'PUT', path, { status: 'major_outage' });
    expect(await statusOf('API')).toBe('major_outage');
    await call(t.url, 'POST', `/admin/status/incidents/${inc}/updates`, {
      status: 'resolved',
      body: 'Fixed.',
    });
    expect(await statusOf('API')).toBe('operational');
    expect((await call(t.url, 'PUT', path, { status: 'major_outage' })).status).toBe(409);
  });
});
