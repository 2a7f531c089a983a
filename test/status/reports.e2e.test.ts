import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient, type Json } from '../helpers/chat-client.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { call, drive, FAST_STATUS, startStatusGateway, until } from './gateway.ts';

let t: TestGateway;

beforeAll(async () => {
  t = await startStatusGateway({
    // Reports arrive from many addresses through a proxy; X-Forwarded-For names them.
    server: { trust_proxy: true },
    status: {
      ...FAST_STATUS,
      // Telemetry alone would take 10 minutes to open an incident: only corroborated reports can be faster.
      incidents: { open_after_s: 600, quiet_period_s: 2 },
      reports: { window_s: 60, min_reports: 4, spike_factor: 3 },
    },
  });
});
afterAll(() => t?.close());

const report = (component: string, ip: string) =>
  call(
    t.url,
    'POST',
    '/api/v2/reports',
    { component_id: component, category: 'error', text: 'broken' },
    {
      'content-type': 'application/json',
      'x-forwarded-for': ip,
    },
  );

const overview = async (id: string): Promise<Json> =>
  (await call(t.url, 'GET', '/admin/status/reports')).body.components.find(
    (c: Json) => c.component_id === id,
  );

describe("users' reports", () => {
  it('counts one report per IP per window, and refuses unknown components', async () => {
    const id = t.gw.status!.componentId('model:sim-openai')!;
    const first = await report(id, '198.51.100.1');
    expect(first.status).toBe(201);
    expect(first.body.counted).toBe(true);
    expect((await report(id, '198.51.100.1')).body.counted).toBe(false);
    expect((await report('no-such-thing', '198.51.100.2')).status).toBe(404);
    expect((await report('', '198.51.100.2')).status).toBe(400);
    const recent = (await call(t.url, 'GET', '/admin/status/reports')).body.recent;
    expect(recent[0].source).toBe('public');
    // Only a keyed hash of the address is stored, never the address.
    expect(JSON.stringify(recent)).not.toContain('198.51.100.1');
  });

  it('a spike with healthy telemetry is shown to operators only; an operator can confirm it', async () => {
    const id = t.gw.status!.componentId('model:sim-openai')!;
    for (const n of [2, 3, 4, 5]) expect((await report(id, `198.51.100.${n}`)).body.counted).toBe(true);
    const o = await overview(id);
    expect(o).toMatchObject({ count: 5, spike: true, public: false, telemetry: 'operational' });
    const comps = (await call(t.url, 'GET', '/api/v2/components.json')).body.components;
    expect(comps.find((c: Json) => c.id === id).status).toBe('operational');
    expect((await call(t.url, 'GET', '/api/v2/incidents/unresolved.json')).body.incidents).toEqual([]);

    const confirmed = await call(t.url, 'POST', `/admin/status/reports/${id}/confirm`, {});
    expect(confirmed.status).toBe(200);
    await until('the confirmed spike on the page', async () => {
      const c = (await call(t.url, 'GET', '/api/v2/components.json')).body.components.find(
        (x: Json) => x.id === id,
      );
      return c.status === 'degraded_performance' || undefined;
    });
    expect((await overview(id)).public).toBe(true);
    // Confirmed, the reports are public news: an incident opens for them.
    const opened = (await call(t.url, 'GET', '/api/v2/incidents/unresolved.json')).body.incidents;
    expect(opened.some((i: Json) => i.components.some((c: Json) => c.id === id))).toBe(true);
    await call(t.url, 'DELETE', `/admin/status/reports/${id}/confirm`);
    await until('the page back to telemetry', async () => {
      const c = (await call(t.url, 'GET', '/api/v2/components.json')).body.components.find(
        (x: Json) => x.id === id,
      );
      return c.status === 'operational' || undefined;
    });
  });

  it('a spike while telemetry says the component is unwell is reflected at once', {
    timeout: 40_000,
  }, async () => {
    const id = t.gw.status!.componentId('model:sim-anthropic')!;
    const traffic = drive(t.url, 'sim-anthropic');
    try {
      await call(t.url, 'POST', '/admin/chaos/sim-an', { kind: 'error', status: 500, duration_s: 30 });
      await until(
        'telemetry to see trouble',
        async () => ((await overview(id))?.telemetry ?? 'x') !== 'operational' || undefined,
        10_000,
      ).catch(async () => {
        const c = (await call(t.url, 'GET', '/admin/status/components')).body.components.find(
          (x: Json) => x.id === id,
        );
        if (c.computed === 'operational') throw new Error('telemetry never degraded');
      });
      // Telemetry alone opens nothing yet (open_after_s is 10 minutes).
      const open = (await call(t.url, 'GET', '/api/v2/incidents/unresolved.json')).body.incidents;
      expect(open.filter((i: Json) => i.components.some((c: Json) => c.id === id))).toEqual([]);
      for (const n of [1, 2, 3, 4]) expect((await report(id, `203.0.113.${n}`)).body.counted).toBe(true);
      const incident = await until(
        'an incident corroborated by reports',
        async () => {
          const r = await call(t.url, 'GET', '/api/v2/incidents/unresolved.json');
          return r.body.incidents.find((i: Json) => i.components.some((c: Json) => c.id === id));
        },
        10_000,
      );
      const bodies = incident.incident_updates.map((u: Json) => u.body).join('\n');
      await until(
        'the reports line',
        async () => {
          const r = await call(t.url, 'GET', '/api/v2/incidents/unresolved.json');
          const i = r.body.incidents.find((x: Json) => x.id === incident.id);
          return (
            i.incident_updates.some((u: Json) =>
              /Users are reporting problems with sim-anthropic/.test(u.body),
            ) || undefined
          );
        },
        5_000,
      );
      expect(bodies).toMatch(/Error rate on sim-anthropic/);
      expect((await overview(id)).public).toBe(true);
    } finally {
      await call(t.url, 'DELETE', '/admin/chaos');
      await traffic.stop();
    }
  });

  it("counts the chat app's reports too: per model, or the Chat app without one", async () => {
    const chat = t.gw.status!.componentId('platform:chat')!;
    for (const n of [1, 2, 3, 4]) {
      const user = await ChatClient.signUp(t.url, `Reporter${n}`);
      expect(
        (await user.call('POST', '/api/reports', { category: 'error', text: 'cannot send' })).status,
      ).toBe(201);
    }
    const o = await overview(chat);
    expect(o).toMatchObject({ count: 4, spike: true, public: false });
    const recent = (await call(t.url, 'GET', '/admin/status/reports')).body.recent;
    expect(recent[0].source).toBe('chat');
  });
});
