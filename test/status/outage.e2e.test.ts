import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATUS_EVENT_CHANNEL, type StatusEvent } from '../../src/status/view.ts';
import type { Json } from '../helpers/chat-client.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { admin, call, drive, startStatusGateway, until } from './gateway.ts';
import { validateAll } from './schema.ts';

let t: TestGateway;
const events: StatusEvent[] = [];
const onEvent = (m: unknown): void => {
  events.push(m as StatusEvent);
};

beforeAll(async () => {
  subscribe(STATUS_EVENT_CHANNEL, onEvent);
  t = await startStatusGateway();
});
afterAll(async () => {
  unsubscribe(STATUS_EVENT_CHANNEL, onEvent);
  await t?.close();
});

const component = async (name: string): Promise<Json> =>
  (await call(t.url, 'GET', '/api/v2/components.json')).body.components.find((c: Json) => c.name === name);

describe('status end to end: chaos outage → component status → incident → recovery', () => {
  it('fault a group: not operational within seconds of traffic, an incident opens; clear it: resolved', {
    timeout: 60_000,
  }, async () => {
    const before = await validateAll(t.url);
    expect((before['status.json'] as Json).status.indicator).toBe('none');
    const comp = await component('sim-openai');
    expect(comp.status).toBe('operational');
    expect(comp.group_id).toBeTruthy();

    const traffic = drive(t.url, 'sim-openai');
    try {
      await new Promise((r) => setTimeout(r, 1_000));
      const injected = Date.now();
      const fault = await call(t.url, 'POST', '/admin/chaos/sim-oa', {
        kind: 'error',
        status: 503,
        duration_s: 60,
      });
      expect(fault.status).toBe(201);
      const degraded = await until('a non-operational status', async () => {
        const c = await component('sim-openai');
        return c.status !== 'operational' ? c : undefined;
      });
      const toDegraded = Date.now() - injected;
      console.log(`status: sim-openai ${degraded.status} ${toDegraded} ms after the fault`);
      expect(toDegraded).toBeLessThan(60_000);
      // The slow pair may fire a moment before the fast one; the fast one follows with the outage.
      const outage = await until('an outage status', async () => {
        const c = await component('sim-openai');
        return ['partial_outage', 'major_outage'].includes(c.status) ? c : undefined;
      });
      console.log(`status: sim-openai ${outage.status} ${Date.now() - injected} ms after the fault`);
      // The platform components count only the gateway's own failures: a provider outage is the model's.
      expect((await component('API')).status).toBe('operational');

      const incident = await until('an incident', async () => {
        const r = await call(t.url, 'GET', '/api/v2/incidents/unresolved.json');
        return r.body.incidents.find((i: Json) => i.components.some((c: Json) => c.id === comp.id));
      });
      console.log(`status: incident "${incident.name}" opened ${Date.now() - injected} ms after the fault`);
      expect(incident.status).toBe('investigating');
      expect(['major', 'critical']).toContain(incident.impact);
      expect(incident.incident_updates.at(-1).body).toMatch(/Error rate on sim-openai is \d+%/);
      const during = await validateAll(t.url);
      expect((during['status.json'] as Json).status.indicator).not.toBe('none');
      expect((during['summary.json'] as Json).incidents.map((i: Json) => i.id)).toContain(incident.id);

      await call(t.url, 'DELETE', '/admin/chaos/sim-oa');
      const cleared = Date.now();
      const resolved = await until(
        'the incident to resolve',
        async () => {
          const r = await call(t.url, 'GET', '/api/v2/incidents.json');
          const i = r.body.incidents.find((x: Json) => x.id === incident.id);
          return i?.status === 'resolved' ? i : undefined;
        },
        30_000,
      );
      console.log(`status: incident resolved ${Date.now() - cleared} ms after the fault was cleared`);
      expect(resolved.resolved_at).toBeTruthy();
      const statuses = resolved.incident_updates.map((u: Json) => u.status);
      expect(statuses[0]).toBe('resolved');
      expect(statuses).toContain('monitoring');
      expect(statuses.at(-1)).toBe('investigating');
      expect((await component('sim-openai')).status).toBe('operational');
      await validateAll(t.url);
    } finally {
      await traffic.stop();
    }
    const kinds = events.map((e) =>
      e.type === 'component' ? `component:${e.newStatus}` : `${e.type}:${e.change}`,
    );
    expect(kinds).toContain('incident:created');
    expect(kinds).toContain('incident:resolved');
    expect(kinds.some((k) => k === 'component:major_outage' || k === 'component:partial_outage')).toBe(true);
    expect(kinds).toContain('component:operational');
  });

  it('keeps history: the uptime bars and the latency chart have data', async () => {
    const history = await t.gw.status!.history(90);
    const openai = history.find(
      (h) => h.componentId === (t.gw.status!.componentId('model:sim-openai') ?? ''),
    );
    expect(openai?.days).toHaveLength(90);
    const today = openai!.days.at(-1)!;
    expect(today.worst).not.toBe('operational');
    expect(today.uptime).toBeGreaterThan(0);
    expect(today.uptime).toBeLessThan(1);
    expect(openai!.days[0]!.uptime).toBeNull();
    const points = await t.gw.status!.latency(1);
    expect(points.length).toBe(12);
    expect(points.some((p) => p.count > 0 && p.p50Ms !== null)).toBe(true);
  });

  it('refuses the admin API without the admin key', async () => {
    const r = await call(
      t.url,
      'POST',
      '/admin/status/incidents',
      { name: 'x', body: 'y' },
      {
        'content-type': 'application/json',
      },
    );
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBeTruthy();
    expect(admin.authorization).toMatch(/^Bearer /);
  });
});
