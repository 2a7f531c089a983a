import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.ts';
import { STATUS_EVENT_CHANNEL, type StatusEvent } from '../../src/status/view.ts';
import type { Json } from '../helpers/chat-client.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { ask, call, FAST_STATUS, startStatusGateway, until } from './gateway.ts';
import { validateAll } from './schema.ts';

const sim = (dialect: 'openai' | 'anthropic', extra: Record<string, unknown> = {}) => ({
  dialect,
  ttft_ms: 0,
  tokens_per_sec: 0,
  ...extra,
});

/** `main` answers slowly (so a request can be in flight when its maintenance starts); `spare` backs it up. */
const MODELS: ConfigInput['models'] = [
  {
    name: 'main',
    fallbacks: ['spare'],
    deployments: [
      {
        id: 'main-1',
        provider: 'simulator',
        model: 'm',
        simulator: sim('openai', { tokens_per_sec: 25, answer_tokens: 40 }),
      },
    ],
  },
  {
    name: 'spare',
    deployments: [{ id: 'spare-1', provider: 'simulator', model: 's', simulator: sim('anthropic') }],
  },
];

let t: TestGateway;
const events: StatusEvent[] = [];
const onEvent = (m: unknown): void => {
  events.push(m as StatusEvent);
};

beforeAll(async () => {
  subscribe(STATUS_EVENT_CHANNEL, onEvent);
  t = await startStatusGateway({
    models: MODELS,
    status: { ...FAST_STATUS, incidents: { open_after_s: 600 } },
  });
});
afterAll(async () => {
  unsubscribe(STATUS_EVENT_CHANNEL, onEvent);
  await t?.close();
});

const componentId = (key: string): string => t.gw.status!.componentId(key)!;

describe('operators: incidents by hand', () => {
  it('create, retitle, update, override impact, merge, resolve, postmortem; history is kept', async () => {
    const main = componentId('model:main');
    const a = await call(t.url, 'POST', '/admin/status/incidents', {
      name: 'Elevated errors',
      body: 'We are looking into elevated error rates.',
      component_ids: [main],
    });
    expect(a.status).toBe(201);
    expect(a.body.status).toBe('investigating');
    expect(a.body.components.map((c: Json) => c.id)).toEqual([main]);
    expect(events.at(-1)).toMatchObject({ type: 'incident', change: 'created' });

    const renamed = await call(t.url, 'PATCH', `/admin/status/incidents/${a.body.id}`, {
      name: 'Errors on main',
      impact: 'critical',
    });
    expect(renamed.body.name).toBe('Errors on main');
    expect(renamed.body.impact).toBe('critical');

    const identified = await call(t.url, 'POST', `/admin/status/incidents/${a.body.id}/updates`, {
      status: 'identified',
      body: 'A bad deploy upstream.',
    });
    expect(identified.status).toBe(201);
    expect(identified.body.status).toBe('identified');
    const monitoring = await call(t.url, 'POST', `/admin/status/incidents/${a.body.id}/updates`, {
      status: 'monitoring',
      body: 'Rolled back; watching.',
    });
    expect(monitoring.body.monitoring_at).toBeTruthy();

    const b = await call(t.url, 'POST', '/admin/status/incidents', {
      name: 'Chat answers fail',
      body: 'Seen from the chat app.',
      component_ids: ['platform:api'],
    });
    const merged = await call(t.url, 'POST', `/admin/status/incidents/${b.body.id}/merge`, {
      into: a.body.id,
    });
    expect(merged.status).toBe(200);
    expect(merged.body.components.map((c: Json) => c.id).sort()).toEqual(
      [main, componentId('platform:api')].sort(),
    );
    // The merged incident's update shows in the target's timeline; the merged one leaves the public list.
    expect(merged.body.incident_updates.map((u: Json) => u.body)).toContain('Seen from the chat app.');
    const publicList = (await call(t.url, 'GET', '/api/v2/incidents.json')).body.incidents.map(
      (i: Json) => i.id,
    );
    expect(publicList).toContain(a.body.id);
    expect(publicList).not.toContain(b.body.id);
    const all = (await call(t.url, 'GET', '/admin/status/incidents')).body.incidents;
    expect(all.find((i: Json) => i.id === b.body.id).status).toBe('resolved');

    const early = await call(t.url, 'POST', `/admin/status/incidents/${a.body.id}/postmortem`, { body: 'x' });
    expect(early.status).toBe(409);
    const resolved = await call(t.url, 'POST', `/admin/status/incidents/${a.body.id}/updates`, {
      status: 'resolved',
      body: 'Fixed.',
    });
    expect(resolved.body.resolved_at).toBeTruthy();
    expect(events.at(-1)).toMatchObject({ type: 'incident', change: 'resolved' });
    const pm = await call(t.url, 'POST', `/admin/status/incidents/${a.body.id}/postmortem`, {
      body: '## What happened\nA bad deploy.',
    });
    expect(pm.body.status).toBe('postmortem');
    expect(pm.body.postmortem_body).toContain('bad deploy');
    const history = pm.body.incident_updates.map((u: Json) => u.status);
    // Newest first, the merged incident's first update in its place in time, the merge note after it.
    expect(history).toEqual([
      'postmortem',
      'resolved',
      'monitoring',
      'investigating',
      'monitoring',
      'identified',
      'investigating',
    ]);
    expect(
      (
        await call(t.url, 'POST', `/admin/status/incidents/${a.body.id}/updates`, {
          status: 'bogus',
          body: 'x',
        })
      ).status,
    ).toBe(400);
    expect(
      (await call(t.url, 'POST', '/admin/status/incidents/nope/updates', { status: 'resolved', body: 'x' }))
        .status,
    ).toBe(404);
    await validateAll(t.url);
  });
});

describe('maintenance windows', () => {
  it('announced ahead; at start drains the deployments (in-flight finishes), shows under_maintenance; ends on time', async () => {
    const main = componentId('model:main');
    // A long answer already running on main-1 when the window opens.
    const inflight = ask(t.url, 'main', { stream: true });
    await new Promise((r) => setTimeout(r, 200));
    const start = new Date(Date.now() + 1_000);
    const end = new Date(Date.now() + 4_000);
    const m = await call(t.url, 'POST', '/admin/status/maintenances', {
      name: 'Upgrade of main',
      body: 'We are moving main to new hardware.',
      scheduled_for: start.toISOString(),
      scheduled_until: end.toISOString(),
      component_ids: [main],
    });
    expect(m.status).toBe(201);
    expect(m.body.status).toBe('scheduled');
    expect(events.at(-1)).toMatchObject({ type: 'maintenance', change: 'scheduled' });
    const upcoming = await validateAll(t.url);
    expect((upcoming['scheduled-maintenances/upcoming.json'] as Json).scheduled_maintenances[0].id).toBe(
      m.body.id,
    );
    expect((upcoming['summary.json'] as Json).scheduled_maintenances[0].id).toBe(m.body.id);

    await until('the window to open', async () => {
      const r = await call(t.url, 'GET', '/api/v2/scheduled-maintenances/active.json');
      return r.body.scheduled_maintenances.some((x: Json) => x.id === m.body.id) || undefined;
    });
    const during = await validateAll(t.url);
    const comp = (during['components.json'] as Json).components.find((c: Json) => c.id === main);
    expect(comp.status).toBe('under_maintenance');
    expect((during['status.json'] as Json).status.description).toBe('Service Under Maintenance');
    expect(t.gw.engine.isDrained('main-1')).toBe(true);
    const answers = await Promise.all(Array.from({ length: 6 }, () => ask(t.url, 'main')));
    expect(answers.map((a) => a.status)).toEqual(Array(6).fill(200));
    expect(answers.map((a) => a.deployment)).toEqual(Array(6).fill('spare-1'));

    const done = await inflight;
    expect(done.status).toBe(200);
    expect(done.deployment).toBe('main-1');
    expect(done.text).toContain('[DONE]');

    await until('the window to complete', async () => {
      const r = await call(t.url, 'GET', '/api/v2/scheduled-maintenances.json');
      return (
        r.body.scheduled_maintenances.find((x: Json) => x.id === m.body.id)?.status === 'completed' ||
        undefined
      );
    });
    expect(t.gw.engine.isDrained('main-1')).toBe(false);
    expect((await ask(t.url, 'main')).deployment).toBe('main-1');
    const changes = events
      .filter((e) => e.type === 'maintenance')
      .map((e) => e.type === 'maintenance' && e.change);
    expect(changes).toEqual(['scheduled', 'started', 'completed']);
    await until('the component back to operational', async () => {
      const r = await call(t.url, 'GET', '/api/v2/components.json');
      return r.body.components.find((c: Json) => c.id === main).status === 'operational' || undefined;
    });
    await validateAll(t.url);
  });
});
