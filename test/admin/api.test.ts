import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { ConsoleClient, DRILL_MODELS, DRILL_RESILIENCE, withKey } from './helpers.ts';

/** The admin console's JSON API against a real gateway (PGlite, simulated upstreams, real SDK). */

let t: TestGateway;
let callerKey: string;

beforeAll(async () => {
  t = await startTestGateway({ models: DRILL_MODELS, resilience: DRILL_RESILIENCE });
  callerKey = (await t.gw.keys.createKey({ name: 'a caller', models: ['*'] })).secret;
});
afterAll(async () => {
  await t?.close();
});

const sdk = (apiKey: string) => new OpenAI({ baseURL: `${t.url}/v1`, apiKey, maxRetries: 0 });
const ask = (apiKey: string) =>
  sdk(apiKey).chat.completions.create({ model: 'drill-sim', messages: [{ role: 'user', content: 'hi' }] });

/** The gateway's error shape (OpenAI's), as on /admin/chaos. */
function expectError(body: unknown, code: string, type: string): void {
  expect(body).toMatchObject({ error: { code, type, message: expect.any(String) } });
}

describe('admin console auth', () => {
  it('refuses the API without credentials (401), with a caller key (403) or a wrong key (401)', async () => {
    const none = await fetch(`${t.url}/admin/api/deployments`);
    expect(none.status).toBe(401);
    expectError(await none.json(), 'invalid_api_key', 'authentication_error');

    const caller = await withKey(t.url, 'GET', '/admin/api/deployments', undefined, callerKey);
    expect(caller.status).toBe(403);
    expectError(caller.body, 'admin_required', 'permission_error');

    const wrong = await withKey(t.url, 'GET', '/admin/api/keys', undefined, 'hf-not-a-key');
    expect(wrong.status).toBe(401);

    for (const [method, path] of [
      ['POST', '/admin/api/keys'],
      ['DELETE', '/admin/api/keys/x'],
      ['POST', '/admin/api/drills'],
      ['POST', '/admin/api/chaos/drill-primary'],
      ['GET', '/admin/api/users'],
    ] as const) {
      const r = await fetch(`${t.url}${path}`, {
        method,
        headers: { 'content-type': 'application/json' },
        body: method === 'POST' ? '{}' : undefined,
      });
      expect(r.status, `${method} ${path}`).toBe(401);
    }
  });

  it('answers the admin key as a bearer token, without CSRF (no cookie to forge)', async () => {
    const r = await withKey(t.url, 'GET', '/admin/api/session');
    expect(r).toMatchObject({ status: 200, body: { signedIn: true, via: 'key' } });
    const made = await withKey(t.url, 'POST', '/admin/api/keys', { name: 'by script' });
    expect(made.status).toBe(201);
  });

  it('signs in with the admin key: a strict, HttpOnly session cookie that also opens /status/admin', async () => {
    const c = new ConsoleClient(t.url);
    const bad = await c.signIn('not the key');
    expect(bad.status).toBe(401);
    expectError(bad.body, 'invalid_api_key', 'authentication_error');

    const ok = await c.signIn();
    expect(ok.status).toBe(200);
    expect(ok.body.csrfToken).toMatch(/^[\w-]{20,}$/);
    const set = ok.headers.getSetCookie();
    const consoleCookie = set.find((s) => s.startsWith('hf_admin='));
    expect(consoleCookie).toMatch(/Path=\/admin;/);
    expect(consoleCookie).toMatch(/HttpOnly/);
    expect(consoleCookie).toMatch(/SameSite=Strict/);
    expect(set.some((s) => s.startsWith('hf_status_admin=') && s.includes('Path=/status/admin'))).toBe(true);

    const me = await c.call('GET', '/admin/api/session');
    expect(me.body).toMatchObject({ signedIn: true, via: 'session', csrfToken: ok.body.csrfToken });

    // The same sign-in works on the status system's operator pages: no redirect to their sign-in.
    const statusPage = await c.call('GET', '/status/admin');
    expect(statusPage.status).toBe(200);

    const out = await c.call('DELETE', '/admin/api/session');
    expect(out.status).toBe(200);
    expect((await c.call('GET', '/admin/api/session')).status).toBe(401);
  });

  it('enforces CSRF on every change made through a session cookie', async () => {
    const c = new ConsoleClient(t.url);
    await c.signIn();
    const missing = await c.call('POST', '/admin/api/keys', { name: 'forged' }, { csrf: null });
    expect(missing.status).toBe(403);
    expectError(missing.body, 'csrf_failed', 'permission_error');
    const wrong = await c.call('DELETE', '/admin/api/chaos', undefined, { csrf: 'x'.repeat(43) });
    expect(wrong.status).toBe(403);
    const stop = await c.call('POST', '/admin/api/drills/stop', {}, { csrf: null });
    expect(stop.status).toBe(403);
    // Nothing was created by the refused requests.
    const keys = await c.call('GET', '/admin/api/keys');
    expect(keys.body.keys.map((k: { name: string }) => k.name)).not.toContain('forged');
    // Reads need no token; with the token the change goes through.
    const made = await c.call('POST', '/admin/api/keys', { name: 'with token' });
    expect(made.status).toBe(201);
  });
});

describe('admin console API', () => {
  it('serves the console page with a strict CSP and no data in it', async () => {
    const r = await fetch(`${t.url}/admin`);
    expect(r.status).toBe(200);
    const csp = r.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self' 'sha256-");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(await r.text()).toContain('/admin/ui/app.js');
    expect((await fetch(`${t.url}/admin/ui/app.js`)).status).toBe(200);
    expect((await fetch(`${t.url}/admin/vendor/preact.js`)).status).toBe(200);
    expect((await fetch(`${t.url}/admin/ui/../console.ts`)).status).toBe(404);
  });

  it('creates a key whose secret is shown once, works with the OpenAI SDK, and is refused once revoked', async () => {
    const c = new ConsoleClient(t.url);
    await c.signIn();
    const made = await c.call('POST', '/admin/api/keys', { name: 'sdk e2e', models: ['drill-sim'] });
    expect(made.status).toBe(201);
    expect(made.headers.get('cache-control')).toBe('no-store');
    const { key, secret } = made.body;
    expect(secret).toMatch(/^hf-/);
    expect(key).toMatchObject({ name: 'sdk e2e', models: ['drill-sim'], revokedAt: null });
    expect(secret.startsWith(key.prefix)).toBe(true);

    const answer = await ask(secret);
    expect(answer.choices[0]?.message.content).toBeTruthy();

    const list = await c.call('GET', '/admin/api/keys');
    const listed = list.body.keys.find((k: { id: string }) => k.id === key.id);
    expect(listed).toMatchObject({ name: 'sdk e2e', prefix: key.prefix });
    expect(JSON.stringify(list.body)).not.toContain(secret);

    const revoked = await c.call('DELETE', `/admin/api/keys/${key.id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.key.revokedAt).toBeTruthy();
    // Refused at once (the verification cache is dropped), not after the 5 s cache.
    await expect(ask(secret)).rejects.toBeInstanceOf(OpenAI.AuthenticationError);

    const again = await c.call('GET', '/admin/api/keys');
    expect(again.body.keys.find((k: { id: string }) => k.id === key.id).revokedAt).toBeTruthy();
    expect((await c.call('DELETE', '/admin/api/keys/no-such-key')).status).toBe(404);
  });

  it('refuses bad key requests naming the field', async () => {
    const bad = await withKey(t.url, 'POST', '/admin/api/keys', { name: '' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'invalid_request', param: 'name' });
    const model = await withKey(t.url, 'POST', '/admin/api/keys', { name: 'x', models: ['nope'] });
    expect(model.body.error).toMatchObject({ code: 'invalid_request', param: 'models' });
    const extra = await withKey(t.url, 'POST', '/admin/api/keys', { name: 'x', secret: 'mine' });
    expect(extra.body.error).toMatchObject({ code: 'invalid_request', param: 'secret' });
  });

  it('shows every deployment with health, limits, latency and budgets', async () => {
    await ask(ADMIN_KEY);
    const r = await withKey(t.url, 'GET', '/admin/api/deployments');
    expect(r.status).toBe(200);
    const m = r.body.models.find((x: { name: string }) => x.name === 'drill-sim');
    expect(m.retryBudget).toMatchObject({ ratio: expect.any(Number), requests: expect.any(Number) });
    expect(m.queue).toMatchObject({ queued: 0, waitByClass: { critical: 0, interactive: 0, batch: 0 } });
    expect(m.deployments.map((d: { id: string }) => d.id)).toEqual(['drill-primary', 'drill-backup']);
    const p = m.deployments[0];
    expect(p).toMatchObject({
      provider: 'simulator',
      region: 'east',
      tier: 0,
      health: 'healthy',
      inflight: 0,
    });
    expect(p.limit.limit).toBeGreaterThan(0);
    expect(p.latency.ewmaMs).toBeGreaterThanOrEqual(0);
    expect(p.lastOkAt).toBeGreaterThan(Date.now() - 60_000);
  });

  it('shows the queue per model and class', async () => {
    const r = await withKey(t.url, 'GET', '/admin/api/queue');
    expect(r.body.enabled).toBe(true);
    expect(r.body.models[0]).toMatchObject({
      model: 'drill-sim',
      queued: 0,
      byClass: { critical: 0, interactive: 0, batch: 0 },
    });
  });

  it('injects and ends chaos faults in the registry the chaos API uses', async () => {
    const c = new ConsoleClient(t.url);
    await c.signIn();
    const made = await c.call('POST', '/admin/api/chaos/drill-backup', {
      kind: 'latency',
      ms: 5,
      duration_s: 30,
    });
    expect(made.status).toBe(201);
    const seen = await withKey(t.url, 'GET', '/admin/chaos/drill-backup');
    expect(seen.body.faults.map((f: { id: string }) => f.id)).toEqual([made.body.fault.id]);
    const ended = await c.call('DELETE', `/admin/api/chaos/drill-backup/${made.body.fault.id}`);
    expect(ended.body).toEqual({ cleared: 1 });
    expect((await withKey(t.url, 'GET', '/admin/chaos')).body.faults).toEqual([]);
    const unknown = await c.call('POST', '/admin/api/chaos/nope', { kind: 'refuse', duration_s: 1 });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatchObject({ code: 'not_found', param: 'deployment' });
    const bad = await c.call('POST', '/admin/api/chaos/drill-backup', { kind: 'error', duration_s: 0 });
    expect(bad.body.error).toMatchObject({ code: 'invalid_request', param: 'duration_s' });
  });

  it('runs a saved drill: primary down, traffic fails over, the report and the health say so', async () => {
    const c = new ConsoleClient(t.url);
    await c.signIn();
    const list = await c.call('GET', '/admin/api/drills');
    expect(list.body.scenarios.map((s: { id: string }) => s.id)).toContain('primary-down');
    expect(list.body.models).toEqual(['drill-sim']);

    const started = await c.call('POST', '/admin/api/drills', {
      scenario: 'primary-down',
      model: 'drill-sim',
    });
    expect(started.status).toBe(201);
    expect(started.body.drill).toMatchObject({ state: 'running', targets: { primary: ['drill-primary'] } });
    const again = await c.call('POST', '/admin/api/drills', { scenario: 'slow-upstream' });
    expect(again.status).toBe(409);
    expectError(again.body, 'conflict', 'invalid_request_error');

    for (let i = 0; i < 6; i++) await ask(callerKey); // every one answered, by the backup

    const deps = await c.call('GET', '/admin/api/deployments');
    const primary = deps.body.models[0].deployments[0];
    expect(primary.health).toBe('ejected');
    expect(primary.ejectedUntil).toBeGreaterThan(Date.now());
    expect(primary.lastFailure).toMatchObject({ kind: 'connection' });
    expect(primary.faults[0]).toMatchObject({ kind: 'refuse' });

    const during = (await c.call('GET', '/admin/api/drills')).body.current;
    expect(during.requests.total).toBe(6);
    expect(during.requests.failed).toBe(0);
    expect(during.requests.failovers).toBeGreaterThanOrEqual(2);
    expect(during.requests.byFlag.FAILED_OVER).toBeGreaterThanOrEqual(2);
    expect(during.requests.byDeployment['drill-backup']).toBe(6);
    expect(during.ejections).toBe(1);
    expect(
      during.timeline.some((e: { type: string; to?: string }) => e.type === 'health' && e.to === 'ejected'),
    ).toBe(true);

    const stopped = await c.call('POST', '/admin/api/drills/stop', {});
    expect(stopped.body.drill).toMatchObject({ state: 'stopped' });
    expect(stopped.body.drill.faults[0].cleared).toBe(true);
    expect((await withKey(t.url, 'GET', '/admin/chaos')).body.faults).toEqual([]);
    const after = (await c.call('GET', '/admin/api/drills')).body;
    expect(after.current).toBeNull();
    expect(after.history[0].id).toBe(started.body.drill.id);
    expect((await c.call('POST', '/admin/api/drills/stop', {})).status).toBe(404);
  });

  it('lists chat accounts read-only, with role and sessions', async () => {
    const signup = await fetch(`${t.url}/api/auth/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'ops@example.com', password: 'a long password', name: 'Ops' }),
    });
    expect(signup.status).toBe(201);
    const r = await withKey(t.url, 'GET', '/admin/api/users');
    expect(r.body.total).toBe(1);
    expect(r.body.users[0]).toMatchObject({
      email: 'ops@example.com',
      role: 'admin',
      password: true,
      sso: false,
      sessions: 1,
    });
    expect(JSON.stringify(r.body)).not.toMatch(/password_hash|\$argon|scrypt/);
  });

  it('shows open incidents with links into the status admin pages', async () => {
    const r = await withKey(t.url, 'GET', '/admin/api/incidents');
    expect(r.body).toMatchObject({
      enabled: true,
      links: { incidents: '/status/admin', maintenance: '/status/admin/maintenance' },
      incidents: [],
    });
    expect(r.body.components.length).toBeGreaterThan(0);
  });
});

// Last: it locks 127.0.0.1 out of signing in for the rest of this gateway's life.
describe('admin console sign-in throttle', () => {
  it('slows down guessing: after 10 wrong keys from one address, even the right one waits', async () => {
    const c = new ConsoleClient(t.url);
    let tries = 0;
    while ((await c.signIn(`guess-${tries}`)).status === 401) tries++;
    // Earlier tests' failed sign-ins from this address count too.
    expect(tries).toBeLessThanOrEqual(10);
    const locked = await c.signIn();
    expect(locked.status).toBe(429);
    expect(locked.headers.get('retry-after')).toBe('60');
    expectError(locked.body, 'rate_limited', 'rate_limit_error');
  });
});
