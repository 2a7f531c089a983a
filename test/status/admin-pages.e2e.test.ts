import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Json } from '../helpers/chat-client.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { FormClient } from './admin-client.ts';
import { call, FAST_STATUS, startStatusGateway, until } from './gateway.ts';

let t: TestGateway;
let c: FormClient;
let csrf: string;

beforeAll(async () => {
  t = await startStatusGateway({
    server: { trust_proxy: true },
    status: {
      ...FAST_STATUS,
      // Operators' incidents only: telemetry would take 10 minutes to open one.
      incidents: { open_after_s: 600, quiet_period_s: 2 },
      reports: { window_s: 60, min_reports: 4, spike_factor: 3 },
      notifications: { allow_private_targets: true },
    },
  });
  c = new FormClient(t.url);
});
afterAll(() => t?.close());

const id = (key: string): string => t.gw.status!.componentId(key)!;
const components = async (): Promise<Json[]> =>
  (await call(t.url, 'GET', '/api/v2/components.json')).body.components;
const statusOf = async (componentId: string): Promise<string> =>
  (await components()).find((x) => x.id === componentId)!.status;
const unresolved = async (): Promise<Json[]> =>
  (await call(t.url, 'GET', '/api/v2/incidents/unresolved.json')).body.incidents;
const incidentIdOf = (location: string | null): string => {
  const m = /\/status\/admin\/incidents\/([^/?]+)/.exec(location ?? '');
  if (!m) throw new Error(`not an incident page: ${location}`);
  return decodeURIComponent(m[1]!);
};

describe('operator pages: signing in', () => {
  it('every page needs a session; the sign-in page is served with a strict policy and no script', async () => {
    const anon = new FormClient(t.url);
    for (const p of [
      '/status/admin',
      '/status/admin/maintenance',
      '/status/admin/reports',
      '/status/admin/subscribers',
    ]) {
      const r = await anon.get(p);
      expect(r.status).toBe(303);
      expect(r.location).toBe(`/status/admin/signin?next=${encodeURIComponent(p)}`);
    }
    // A form posted without a session does nothing.
    const before = (await call(t.url, 'GET', '/admin/status/incidents')).body.incidents.length;
    const r = await anon.post('/status/admin/incidents', { name: 'x', body: 'y', _csrf: 'whatever' });
    expect(r.status).toBe(303);
    expect(r.location).toMatch(/^\/status\/admin\/signin/);
    expect((await call(t.url, 'GET', '/admin/status/incidents')).body.incidents.length).toBe(before);

    const page = await anon.get('/status/admin/signin');
    expect(page.status).toBe(200);
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'none'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.text).not.toMatch(/<script/i);
    expect(page.text).toContain('type="password"');
  });

  it('refuses a wrong key, and a sign-in form without its token; the session cookie is HttpOnly and SameSite=Strict', async () => {
    const x = new FormClient(t.url);
    const page = await x.get('/status/admin/signin');
    const token = /name="_csrf" value="([^"]+)"/.exec(page.text)![1]!;
    const wrong = await x.post('/status/admin/signin', { _csrf: token, key: 'not-the-key' });
    expect(wrong.status).toBe(401);
    expect(wrong.text).toContain('That is not the admin key.');
    expect(x.jar.has('hf_status_admin')).toBe(false);

    const y = new FormClient(t.url);
    const forged = await y.post('/status/admin/signin', {
      _csrf: 'forged',
      key: 'hf-admin-test-key-0123456789',
    });
    expect(forged.status).toBe(403);
    expect(y.jar.has('hf_status_admin')).toBe(false);

    const z = new FormClient(t.url);
    const p = await z.get('/status/admin/signin');
    const ok = await z.post('/status/admin/signin', {
      _csrf: /name="_csrf" value="([^"]+)"/.exec(p.text)![1]!,
      key: 'hf-admin-test-key-0123456789',
      next: 'https://evil.example/',
    });
    expect(ok.status).toBe(303);
    expect(ok.location).toBe('/status/admin'); // no open redirect
    const set = ok.headers.getSetCookie().find((s) => s.startsWith('hf_status_admin='))!;
    expect(set).toMatch(/HttpOnly/);
    expect(set).toMatch(/SameSite=Strict/);
    expect(set).toMatch(/Path=\/status\/admin/);
    // Signing out ends the session on the server, not only in the browser.
    const token2 = z.jar.get('hf_status_admin')!;
    const home = await z.get('/status/admin');
    expect(home.status).toBe(200);
    const out = await z.post('/status/admin/signout', {
      _csrf: /name="_csrf" value="([^"]+)"/.exec(home.text)![1]!,
    });
    expect(out.status).toBe(303);
    const replay = await fetch(`${t.url}/status/admin`, {
      redirect: 'manual',
      headers: { cookie: `hf_status_admin=${token2}` },
    });
    expect(replay.status).toBe(303);
  });

  it('signs in for the rest of the suite', async () => {
    csrf = await c.signIn();
    expect(csrf.length).toBeGreaterThan(20);
  });

  it('refuses a form without the CSRF token, or with another session’s', async () => {
    const before = (await call(t.url, 'GET', '/admin/status/incidents')).body.incidents.length;
    for (const bad of [{}, { _csrf: 'nope' }] as Record<string, string>[]) {
      const r = await c.post('/status/admin/incidents', { name: 'CSRF', body: 'should not exist', ...bad });
      expect(r.status).toBe(403);
      expect(r.text).toContain('Form expired');
    }
    expect((await call(t.url, 'GET', '/admin/status/incidents')).body.incidents.length).toBe(before);
  });
});

describe('operator pages: incidents', () => {
  let first = '';
  let second = '';

  it('opens an incident from the form; it shows in /api/v2 (text escaped in the page)', async () => {
    const api = id('platform:api');
    const r = await c.post('/status/admin/incidents', {
      _csrf: csrf,
      name: 'Errors on <b>the API</b>',
      body: 'We are looking into it.',
      status: 'investigating',
      impact: '',
      component_ids: [api],
      deliver_notifications: 'true',
    });
    expect(r.status).toBe(303);
    first = incidentIdOf(r.location);
    const open = await unresolved();
    expect(open.map((i) => i.id)).toContain(first);
    const inc = open.find((i) => i.id === first)!;
    expect(inc.name).toBe('Errors on <b>the API</b>');
    expect(inc.components.map((x: Json) => x.id)).toEqual([api]);

    const page = await c.get(`/status/admin/incidents/${first}?done=created`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('Errors on &lt;b&gt;the API&lt;/b&gt;');
    expect(page.text).not.toContain('<b>the API</b>');
    expect(page.text).toContain('Incident opened.');
    const list = await c.get('/status/admin');
    expect(list.text).toContain(`/status/admin/incidents/${first}`);
  });

  it('a refused form shows the reason on the page it came from', async () => {
    const r = await c.post('/status/admin/incidents', { _csrf: csrf, name: '', body: 'x' });
    expect(r.status).toBe(400);
    expect(r.text).toContain('class="error"');
    expect(r.text).toContain('name:');
  });

  it('edits the title, overrides the impact, posts an update', async () => {
    const e = await c.post(`/status/admin/incidents/${first}/edit`, {
      _csrf: csrf,
      name: 'API errors',
      impact: 'critical',
    });
    expect(e.status).toBe(303);
    let inc = (await unresolved()).find((i) => i.id === first)!;
    expect(inc).toMatchObject({ name: 'API errors', impact: 'critical' });

    const u = await c.post(`/status/admin/incidents/${first}/updates`, {
      _csrf: csrf,
      status: 'identified',
      body: 'A bad deploy; rolling back.',
      deliver_notifications: 'true',
    });
    expect(u.status).toBe(303);
    inc = (await unresolved()).find((i) => i.id === first)!;
    expect(inc.status).toBe('identified');
    expect(inc.incident_updates[0]).toMatchObject({
      status: 'identified',
      body: 'A bad deploy; rolling back.',
    });
  });

  it('sets a component status by hand: shown in /api/v2 until cleared', async () => {
    const model = id('model:sim-openai');
    expect(await statusOf(model)).toBe('operational');
    const r = await c.post(`/status/admin/incidents/${first}/components`, {
      _csrf: csrf,
      component_id: model,
      status: 'major_outage',
    });
    expect(r.status).toBe(303);
    expect(await statusOf(model)).toBe('major_outage');
    const status = (await call(t.url, 'GET', '/api/v2/status.json')).body.status;
    expect(status.indicator).toBe('critical');
    const inc = (await unresolved()).find((i) => i.id === first)!;
    // The component joined the incident, and the timeline records the change.
    expect(inc.components.map((x: Json) => x.id)).toContain(model);
    expect(inc.incident_updates[0].affected_components).toEqual([
      expect.objectContaining({ code: model, old_status: 'operational', new_status: 'major_outage' }),
    ]);
    // The next evaluation ticks do not undo it.
    await new Promise((res) => setTimeout(res, 400));
    expect(await statusOf(model)).toBe('major_outage');
    const page = await c.get(`/status/admin/incidents/${first}`);
    expect(page.text).toContain('Measured (clear manual status)');

    const cleared = await c.post(`/status/admin/incidents/${first}/components`, {
      _csrf: csrf,
      component_id: model,
      status: '',
    });
    expect(cleared.status).toBe(303);
    expect(await statusOf(model)).toBe('operational');
  });

  it('merges one incident into another', async () => {
    const r = await c.post('/status/admin/incidents', {
      _csrf: csrf,
      name: 'Chat answers slow',
      body: 'Looking.',
      status: 'investigating',
      component_ids: [id('model:sim-anthropic')],
    });
    second = incidentIdOf(r.location);
    const page = await c.get(`/status/admin/incidents/${second}`);
    expect(page.text).toContain(`<option value="${first}">`);
    const m = await c.post(`/status/admin/incidents/${second}/merge`, { _csrf: csrf, into: first });
    expect(m.status).toBe(303);
    expect(incidentIdOf(m.location)).toBe(first);
    const open = await unresolved();
    expect(open.map((i) => i.id)).not.toContain(second);
    const target = open.find((i) => i.id === first)!;
    expect(target.components.map((x: Json) => x.id)).toContain(id('model:sim-anthropic'));
    // Merging an incident into itself is refused, with the reason on the page.
    const self = await c.post(`/status/admin/incidents/${first}/merge`, { _csrf: csrf, into: first });
    expect(self.status).toBe(400);
    expect(self.text).toContain('cannot be merged into itself');
  });

  it('resolving ends a manual status; a postmortem is published', async () => {
    const model = id('model:sim-anthropic');
    await c.post(`/status/admin/incidents/${first}/components`, {
      _csrf: csrf,
      component_id: model,
      status: 'partial_outage',
    });
    expect(await statusOf(model)).toBe('partial_outage');
    const early = await c.post(`/status/admin/incidents/${first}/postmortem`, {
      _csrf: csrf,
      body: '# Too soon',
    });
    expect(early.status).toBe(409);
    await c.post(`/status/admin/incidents/${first}/updates`, {
      _csrf: csrf,
      status: 'resolved',
      body: 'Rolled back; all good.',
    });
    expect(await statusOf(model)).toBe('operational');
    const pm = await c.post(`/status/admin/incidents/${first}/postmortem`, {
      _csrf: csrf,
      body: '## What happened\n\nA bad deploy.',
    });
    expect(pm.status).toBe(303);
    const inc = (await call(t.url, 'GET', '/api/v2/incidents.json')).body.incidents.find(
      (i: Json) => i.id === first,
    );
    expect(inc.status).toBe('postmortem');
    expect(inc.postmortem_body).toContain('A bad deploy.');
    const page = await c.get(`/status/admin/incidents/${first}`);
    expect(page.text).toContain('<h4>What happened</h4>');
  });
});

describe('operator pages: maintenance, reports, subscribers', () => {
  const local = (ms: number) => new Date(Date.now() + ms).toISOString().slice(0, 16);

  it('schedules maintenance, cancels one, completes one in progress', async () => {
    const api = id('platform:api');
    const later = await c.post('/status/admin/maintenance', {
      _csrf: csrf,
      name: 'Database upgrade',
      body: 'Short read-only window.',
      scheduled_for: local(86_400_000),
      scheduled_until: local(86_400_000 + 3_600_000),
      component_ids: [api],
    });
    expect(later.status).toBe(303);
    const upcoming = (await call(t.url, 'GET', '/api/v2/scheduled-maintenances/upcoming.json')).body
      .scheduled_maintenances;
    const up = upcoming.find((m: Json) => m.name === 'Database upgrade');
    expect(up).toBeTruthy();
    // datetime-local values are read as UTC.
    expect(up.scheduled_for.slice(0, 16)).toBe(local(86_400_000));

    const bad = await c.post('/status/admin/maintenance', {
      _csrf: csrf,
      name: 'Backwards',
      body: 'x',
      scheduled_for: local(7_200_000),
      scheduled_until: local(3_600_000),
      component_ids: [api],
    });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('scheduled_until must be after scheduled_for');

    const cancel = await c.post(`/status/admin/maintenance/${up.id}/cancel`, {
      _csrf: csrf,
      body: 'Not needed.',
    });
    expect(cancel.status).toBe(303);
    const all = (await call(t.url, 'GET', '/api/v2/scheduled-maintenances.json')).body.scheduled_maintenances;
    const done = all.find((m: Json) => m.id === up.id);
    expect(done.status).toBe('completed');
    expect(done.incident_updates[0].body).toBe('This maintenance has been cancelled. Not needed.');

    const model = id('model:sim-openai');
    const now = await c.post('/status/admin/maintenance', {
      _csrf: csrf,
      name: 'Provider migration',
      body: 'Moving regions.',
      scheduled_for: local(-60_000),
      scheduled_until: local(3_600_000),
      component_ids: [model],
    });
    expect(now.status).toBe(303);
    const active = await until('the window to start', async () => {
      const list = (await call(t.url, 'GET', '/api/v2/scheduled-maintenances/active.json')).body
        .scheduled_maintenances;
      return list.find((m: Json) => m.name === 'Provider migration');
    });
    await until(
      'under maintenance',
      async () => (await statusOf(model)) === 'under_maintenance' || undefined,
    );
    const complete = await c.post(`/status/admin/maintenance/${active.id}/complete`, {
      _csrf: csrf,
      body: '',
    });
    expect(complete.status).toBe(303);
    await until('back in service', async () => (await statusOf(model)) === 'operational' || undefined);
    const page = await c.get('/status/admin/maintenance');
    expect(page.text).toContain('Provider migration');
  });

  it('shows a report spike to operators; the confirm button puts it on the public page', async () => {
    const model = id('model:sim-anthropic');
    for (const n of [1, 2, 3, 4, 5]) {
      const r = await call(
        t.url,
        'POST',
        '/api/v2/reports',
        { component_id: model, category: 'error', text: `broken <${n}>` },
        { 'content-type': 'application/json', 'x-forwarded-for': `198.51.100.${n}` },
      );
      expect(r.status).toBe(201);
    }
    const page = await c.get('/status/admin/reports');
    expect(page.status).toBe(200);
    expect(page.text).toContain('Spike');
    expect(page.text).toContain('broken &lt;1&gt;');
    expect(await statusOf(model)).toBe('operational');
    const r = await c.post(`/status/admin/reports/${model}/confirm`, {
      _csrf: csrf,
      status: 'partial_outage',
    });
    expect(r.status).toBe(303);
    await until(
      'the confirmed spike on the page',
      async () => (await statusOf(model)) === 'partial_outage' || undefined,
    );
    const w = await c.post(`/status/admin/reports/${model}/confirm`, { _csrf: csrf, status: 'withdraw' });
    expect(w.status).toBe(303);
    await until('withdrawn', async () => (await statusOf(model)) === 'operational' || undefined);
  });

  it('lists subscribers (page and JSON), without their secrets', async () => {
    const sub = await call(
      t.url,
      'POST',
      '/api/v2/subscribers',
      { kind: 'webhook', target: 'http://127.0.0.1:9/hooks/status' },
      { 'content-type': 'application/json' },
    );
    expect(sub.status).toBe(201);
    const json = await call(t.url, 'GET', '/admin/status/subscribers');
    expect(json.status).toBe(200);
    expect(json.body.subscribers).toEqual([
      expect.objectContaining({
        id: sub.body.subscriber.id,
        kind: 'webhook',
        target: 'http://127.0.0.1:9/hooks/status',
      }),
    ]);
    expect(JSON.stringify(json.body)).not.toContain(sub.body.secret);
    expect((await call(t.url, 'GET', '/admin/status/subscribers', undefined, {})).status).toBe(401);
    const page = await c.get('/status/admin/subscribers');
    expect(page.text).toContain('http://127.0.0.1:9/hooks/status');
    expect(page.text).not.toContain(sub.body.secret);
  });
});
