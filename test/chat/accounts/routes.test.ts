import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Db, openDatabase } from '../../../src/stores/database.ts';
import { fakeClock, type Harness, setCookie, signed, signup, startHarness } from './harness.ts';

// One database for the file (PGlite takes a second to start); each test begins with no accounts.
let shared: Db;
let h: Harness | undefined;
beforeAll(async () => {
  shared = await openDatabase({ data_dir: 'memory://' });
});
afterAll(async () => {
  await shared?.close();
});
afterEach(async () => {
  await h?.close();
  h = undefined;
  await shared.kysely.deleteFrom('users').execute();
});

async function start(opts: Omit<Parameters<typeof startHarness>[0] & object, 'db'> = {}): Promise<Harness> {
  h = await startHarness({ ...opts, db: shared });
  return h;
}

const alice = { email: 'alice@example.com', password: 'correct horse battery', name: 'Alice' };
const bob = { email: 'bob@example.com', password: 'hunter2hunter2', name: 'Bob' };

describe('sign-up, sign-in, me, sign-out', () => {
  it('signs up: 201 with the user, a CSRF token and a session cookie that /me accepts', async () => {
    const { app } = await start();
    const res = await app.inject({ method: 'POST', url: '/api/auth/signup', payload: alice });
    expect(res.statusCode).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json();
    expect(body.user).toEqual({
      id: expect.any(String),
      email: 'alice@example.com',
      name: 'Alice',
      role: 'admin',
    });
    expect(body.csrfToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const s = signed(res);

    const me = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie: s.cookie } });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toEqual({ user: body.user, csrfToken: body.csrfToken });
  });

  it('answers /me without a cookie, or with an unknown one, with 401 unauthorized', async () => {
    const { app } = await start();
    const none = await app.inject({ method: 'GET', url: '/api/auth/me' });
    expect(none.statusCode).toBe(401);
    expect(none.json()).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
    const forged = await app.inject({
      method: 'GET',
      url: '/api/auth/me',
      headers: { cookie: `hf_session=${'A'.repeat(43)}` },
    });
    expect(forged.statusCode).toBe(401);
  });

  it('makes the first account admin and every later one a plain user', async () => {
    const { app } = await start();
    expect((await signup(app, alice)).user.role).toBe('admin');
    expect((await signup(app, bob)).user.role).toBe('user');
    expect((await signup(app, { ...bob, email: 'carol@example.com' })).user.role).toBe('user');
  });

  it('gives exactly one admin when the first sign-ups race', async () => {
    const { app } = await start();
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => signup(app, { ...alice, email: `racer${i}@example.com` })),
    );
    expect(results.filter((r) => r.user.role === 'admin')).toHaveLength(1);
  });

  it('normalises emails and refuses a duplicate with 409 email_taken', async () => {
    const { app } = await start();
    const first = await signup(app, { ...alice, email: '  Alice@Example.COM ' });
    expect(first.user.email).toBe('alice@example.com');
    const dup = await app.inject({
      method: 'POST',
      url: '/api/auth/signup',
      payload: { ...bob, email: 'ALICE@example.com' },
    });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().error.code).toBe('email_taken');
    expect(setCookie(dup, 'hf_session')).toBeUndefined();
  });

  it.each([
    ['a malformed email', { ...alice, email: 'not-an-email' }, /email/],
    ['a short password', { ...alice, password: 'short12' }, /at least 8/],
    ['a password over 1024 characters', { ...alice, password: 'x'.repeat(1025) }, /password/],
    ['an empty name', { ...alice, name: '   ' }, /name/],
    ['a missing field', { email: alice.email, password: alice.password }, /name/],
  ])('refuses sign-up with %s: 400 invalid_request naming the field', async (_what, payload, message) => {
    const { app } = await start();
    const res = await app.inject({ method: 'POST', url: '/api/auth/signup', payload });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('invalid_request');
    expect(res.json().error.message).toMatch(message);
  });

  it('accepts a password of exactly 8 and of exactly 1024 characters', async () => {
    const { app } = await start();
    await signup(app, { ...alice, password: '12345678' });
    await signup(app, { ...bob, password: 'y'.repeat(1024) });
    const res = await app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { email: bob.email, password: 'y'.repeat(1024) },
    });
    expect(res.statusCode).toBe(200);
  });

  it('signs in with the right password (any email case) and refuses a wrong one or an unknown email alike', async () => {
    const { app } = await start();
    const up = await signup(app, alice);
    const ok = await app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { email: 'ALICE@example.com ', password: alice.password },
    });
    expect(ok.statusCode).toBe(200);
    const s = signed(ok);
    expect(s.user).toEqual(up.user);
    expect(s.cookie).not.toBe(up.cookie);
    expect(s.csrfToken).not.toBe(up.csrfToken);

    const wrong = await app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { email: alice.email, password: 'wrong password' },
    });
    const unknown = await app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { email: 'nobody@example.com', password: 'wrong password' },
    });
    for (const res of [wrong, unknown]) {
      expect(res.statusCode).toBe(401);
      expect(setCookie(res, 'hf_session')).toBeUndefined();
    }
    expect(wrong.json()).toEqual(unknown.json());
    expect(wrong.json().error.code).toBe('invalid_credentials');
  });

  it('refuses password sign-in to an account created without a password', async () => {
    const { app, accounts } = await start();
    await accounts.createUser({ email: 'sso@example.com', name: 'SSO only' });
    const res = await app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { email: 'sso@example.com', password: 'anything at all' },
    });
    expect(res.statusCode).toBe(401);
  });

  it('ends the session the browser had when it signs in again', async () => {
    const { app } = await start();
    const first = await signup(app, alice);
    const again = await app.inject({
      method: 'POST',
      url: '/api/auth/login',
      headers: { cookie: first.cookie },
      payload: { email: alice.email, password: alice.password },
    });
    expect(again.statusCode).toBe(200);
    const old = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie: first.cookie } });
    expect(old.statusCode).toBe(401);
  });

  it('signs out: needs the CSRF token, then deletes the session and clears the cookie', async () => {
    const { app, db } = await start();
    const s = await signup(app, alice);

    const forged = await app.inject({
      method: 'POST',
      url: '/api/auth/logout',
      headers: { cookie: s.cookie },
    });
    expect(forged.statusCode).toBe(403);
    expect(forged.json().error.code).toBe('csrf_failed');
    const still = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie: s.cookie } });
    expect(still.statusCode).toBe(200);

    const out = await app.inject({
      method: 'POST',
      url: '/api/auth/logout',
      headers: { cookie: s.cookie, 'x-csrf-token': s.csrfToken },
    });
    expect(out.statusCode).toBe(204);
    const cleared = setCookie(out, 'hf_session');
    expect(cleared?.pair).toBe('hf_session=');
    expect(cleared?.line).toMatch(/Max-Age=0/);
    expect(await db.kysely.selectFrom('sessions').selectAll().execute()).toEqual([]);
    const after = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie: s.cookie } });
    expect(after.statusCode).toBe(401);
  });

  it('answers sign-out without a live session with 204 and a cleared cookie', async () => {
    const { app } = await start();
    const res = await app.inject({
      method: 'POST',
      url: '/api/auth/logout',
      headers: { cookie: `hf_session=${'B'.repeat(43)}` },
    });
    expect(res.statusCode).toBe(204);
    expect(setCookie(res, 'hf_session')?.line).toMatch(/Max-Age=0/);
  });
});

describe('session cookie and storage', () => {
  it('sets HttpOnly, SameSite=Lax, Path=/ and a Max-Age of the session lifetime, not Secure by default', async () => {
    const { app } = await start({ chat: { session_ttl_hours: 2 } });
    const res = await app.inject({ method: 'POST', url: '/api/auth/signup', payload: alice });
    const line = setCookie(res, 'hf_session')?.line ?? '';
    const attrs = line.split('; ').slice(1);
    expect(attrs).toEqual(expect.arrayContaining(['HttpOnly', 'SameSite=Lax', 'Path=/', 'Max-Age=7200']));
    expect(attrs).not.toContain('Secure');
  });

  it('marks the cookie Secure when chat.secure_cookies is set, on sign-in and on sign-out', async () => {
    const { app } = await start({ chat: { secure_cookies: true } });
    const up = await app.inject({ method: 'POST', url: '/api/auth/signup', payload: alice });
    expect(setCookie(up, 'hf_session')?.line.split('; ')).toContain('Secure');
    const s = signed(up);
    const out = await app.inject({
      method: 'POST',
      url: '/api/auth/logout',
      headers: { cookie: s.cookie, 'x-csrf-token': s.csrfToken },
    });
    expect(setCookie(out, 'hf_session')?.line.split('; ')).toContain('Secure');
  });

  it('stores only the sha256 of the cookie secret, and the password as a self-describing scrypt hash', async () => {
    const { app, db } = await start();
    const s = await signup(app, alice);
    const secret = s.cookie.slice('hf_session='.length);
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const rows = await db.kysely.selectFrom('sessions').selectAll().execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]?.id_hash).toBe(createHash('sha256').update(secret).digest('hex'));
    expect(JSON.stringify(rows)).not.toContain(secret);
    const user = await db.kysely.selectFrom('users').selectAll().executeTakeFirstOrThrow();
    expect(user.password_hash).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(user.password_hash).not.toContain(alice.password);
  });

  it('expires a session after session_ttl_hours by the injected clock and deletes it', async () => {
    const clock = fakeClock();
    const { app, db } = await start({ chat: { session_ttl_hours: 1 }, now: clock.now });
    const s = await signup(app, alice);
    const expires = await db.kysely.selectFrom('sessions').select('expires_at').executeTakeFirstOrThrow();
    expect(new Date(expires.expires_at).getTime()).toBe(clock.now() + 3_600_000);

    clock.advance(3_600_000 - 1_000);
    expect(
      (await app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie: s.cookie } })).statusCode,
    ).toBe(200);
    clock.advance(1_000);
    expect(
      (await app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie: s.cookie } })).statusCode,
    ).toBe(401);
    expect(await db.kysely.selectFrom('sessions').selectAll().execute()).toEqual([]);
    const guarded = await app.inject({
      method: 'POST',
      url: '/api/test/guarded',
      headers: { cookie: s.cookie, 'x-csrf-token': s.csrfToken },
    });
    expect(guarded.statusCode).toBe(401);
  });
});

describe('CSRF guard (requireSession) on a state-changing route', () => {
  it('refuses without a session, without the header, with a wrong or another session token; accepts the right one', async () => {
    const { app } = await start();
    const a = await signup(app, alice);
    const b = await signup(app, bob);
    const post = (headers: Record<string, string>) =>
      app.inject({ method: 'POST', url: '/api/test/guarded', headers, payload: {} });

    expect((await post({})).statusCode).toBe(401);
    expect((await post({ 'x-csrf-token': a.csrfToken })).statusCode).toBe(401);
    const missing = await post({ cookie: a.cookie });
    expect(missing.statusCode).toBe(403);
    expect(missing.json().error.code).toBe('csrf_failed');
    expect((await post({ cookie: a.cookie, 'x-csrf-token': 'x'.repeat(43) })).statusCode).toBe(403);
    expect((await post({ cookie: a.cookie, 'x-csrf-token': b.csrfToken })).statusCode).toBe(403);

    const ok = await post({ cookie: a.cookie, 'x-csrf-token': a.csrfToken });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ userId: a.user.id });
  });

  it('gives each session its own token, stable for the session (what /me returns)', async () => {
    const { app } = await start();
    const a = await signup(app, alice);
    const login = signed(
      await app.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { email: alice.email, password: alice.password },
      }),
    );
    expect(login.csrfToken).not.toBe(a.csrfToken);
    const me = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie: login.cookie } });
    expect(me.json().csrfToken).toBe(login.csrfToken);
  });
});

describe('login throttling', () => {
  const login = (h: Harness, password: string, remoteAddress = '10.0.0.1', email = alice.email) =>
    h.app.inject({ method: 'POST', url: '/api/auth/login', remoteAddress, payload: { email, password } });

  it('locks an email after login_attempts failures, with retry-after, until login_lockout_s has passed', async () => {
    const clock = fakeClock();
    const hh = await start({ chat: { login_attempts: 3, login_lockout_s: 60 }, now: clock.now });
    await signup(hh.app, alice);
    for (let i = 0; i < 3; i++)
      expect((await login(hh, 'wrong password', `10.0.0.${i + 1}`)).statusCode).toBe(401);

    const locked = await login(hh, alice.password, '10.0.9.9');
    expect(locked.statusCode).toBe(429);
    expect(locked.json().error.code).toBe('login_throttled');
    expect(locked.headers['retry-after']).toBe('60');
    expect(setCookie(locked, 'hf_session')).toBeUndefined();

    clock.advance(30_500);
    expect((await login(hh, alice.password, '10.0.9.9')).headers['retry-after']).toBe('30');
    clock.advance(29_500);
    expect((await login(hh, alice.password, '10.0.9.9')).statusCode).toBe(200);
  });

  it('forgets failures older than the window', async () => {
    const clock = fakeClock();
    const hh = await start({ chat: { login_attempts: 3, login_lockout_s: 60 }, now: clock.now });
    await signup(hh.app, alice);
    await login(hh, 'wrong password');
    await login(hh, 'wrong password');
    clock.advance(61_000);
    expect((await login(hh, 'wrong password')).statusCode).toBe(401);
    expect((await login(hh, alice.password)).statusCode).toBe(200);
  });

  it('resets the per-email count on a successful sign-in', async () => {
    const hh = await start({ chat: { login_attempts: 3, login_lockout_s: 60 } });
    await signup(hh.app, alice);
    expect((await login(hh, 'wrong password', '10.0.0.1')).statusCode).toBe(401);
    expect((await login(hh, 'wrong password', '10.0.0.1')).statusCode).toBe(401);
    expect((await login(hh, alice.password, '10.0.0.1')).statusCode).toBe(200);
    // From another address, so only the email's count is in play: without the reset the next one locks.
    expect((await login(hh, 'wrong password', '10.0.0.2')).statusCode).toBe(401);
    expect((await login(hh, 'wrong password', '10.0.0.2')).statusCode).toBe(401);
    expect((await login(hh, 'wrong password', '10.0.0.2')).statusCode).toBe(401);
    expect((await login(hh, alice.password, '10.0.0.2')).statusCode).toBe(429);
  });

  it('locks an address guessing across many emails, and only that address', async () => {
    const hh = await start({ chat: { login_attempts: 3, login_lockout_s: 60 } });
    await signup(hh.app, alice);
    for (const email of ['x@example.com', 'y@example.com', 'z@example.com'])
      expect((await login(hh, 'wrong password', '10.1.1.1', email)).statusCode).toBe(401);
    const locked = await login(hh, alice.password, '10.1.1.1');
    expect(locked.statusCode).toBe(429);
    expect(locked.headers['retry-after']).toBe('60');
    expect((await login(hh, alice.password, '10.2.2.2')).statusCode).toBe(200);
  });

  it('counts parallel guesses one by one: a burst gets exactly login_attempts tries', async () => {
    const hh = await start({ chat: { login_attempts: 3, login_lockout_s: 60 } });
    await signup(hh.app, alice);
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => login(hh, `wrong password ${i}`, `10.3.0.${i + 1}`)),
    );
    const codes = results.map((r) => r.statusCode).sort();
    expect(codes).toEqual([401, 401, 401, 429, 429, 429, 429, 429]);
  });
});

describe('createUser', () => {
  it('creates accounts with the first one admin unless a role is given, and hashes a given password', async () => {
    const { app, accounts } = await start();
    const first = await accounts.createUser({
      email: 'Root@Example.com',
      name: 'Root',
      password: 'rootroot1',
    });
    expect(first).toEqual({ id: expect.any(String), email: 'root@example.com', name: 'Root', role: 'admin' });
    expect((await accounts.createUser({ email: 'u@example.com', name: 'U' })).role).toBe('user');
    expect((await accounts.createUser({ email: 'a2@example.com', name: 'A2', role: 'admin' })).role).toBe(
      'admin',
    );
    await expect(accounts.createUser({ email: 'root@example.com', name: 'Again' })).rejects.toMatchObject({
      code: 'email_taken',
      status: 409,
    });
    const res = await app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { email: 'root@example.com', password: 'rootroot1' },
    });
    expect(res.json().user.role).toBe('admin');
  });

  it('leaves the first-admin rule alone when the first account is created with role user', async () => {
    const { accounts } = await start();
    expect((await accounts.createUser({ email: 'u1@example.com', name: 'U1', role: 'user' })).role).toBe(
      'user',
    );
    expect((await accounts.createUser({ email: 'u2@example.com', name: 'U2' })).role).toBe('user');
  });
});

describe('OIDC not configured', () => {
  it.each(['/api/auth/oidc/start', '/api/auth/oidc/callback?code=x&state=y'])(
    '%s answers 404 oidc_unavailable',
    async (url) => {
      const { app } = await start();
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(404);
      expect(res.json().error.code).toBe('oidc_unavailable');
    },
  );
});
