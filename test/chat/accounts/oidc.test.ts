import { generateKeyPairSync } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Db, openDatabase } from '../../../src/stores/database.ts';
import { fakeClock, type Harness, setCookie, signup, startHarness } from './harness.ts';
import { startTestProvider, type TestProvider } from './oidc-provider.ts';

const REDIRECT_URI = 'http://app.test/api/auth/oidc/callback';

let db: Db;
let provider: TestProvider;
let h: Harness;

beforeAll(async () => {
  db = await openDatabase({ data_dir: 'memory://' });
});
afterAll(async () => {
  await db?.close();
});
beforeEach(async () => {
  provider = await startTestProvider();
  h = await startHarness({
    db,
    chat: {
      oidc: {
        issuer: provider.issuer,
        client_id: provider.clientId,
        client_secret: provider.clientSecret,
        redirect_uri: REDIRECT_URI,
      },
    },
  });
});
afterEach(async () => {
  await h.close();
  await provider.close();
  await db.kysely.deleteFrom('users').execute();
});

interface Started {
  location: URL;
  stateCookie: string;
}

async function start(): Promise<Started> {
  const res = await h.app.inject({ method: 'GET', url: '/api/auth/oidc/start' });
  expect(res.statusCode).toBe(302);
  const c = setCookie(res, 'hf_oidc');
  if (!c) throw new Error('no hf_oidc cookie');
  return { location: new URL(String(res.headers.location)), stateCookie: c.pair };
}

/** The browser's trip to the provider: where it is sent back to. */
async function authorize(location: URL): Promise<URL> {
  const res = await fetch(location, { redirect: 'manual' });
  expect(res.status).toBe(302);
  return new URL(res.headers.get('location') ?? '');
}

function callback(back: URL, cookie: string | undefined): Promise<LightMyRequestResponse> {
  return h.app.inject({
    method: 'GET',
    url: `${back.pathname}${back.search}`,
    headers: cookie === undefined ? {} : { cookie },
  });
}

async function signIn(): Promise<LightMyRequestResponse> {
  const s = await start();
  return callback(await authorize(s.location), s.stateCookie);
}

async function me(res: LightMyRequestResponse) {
  const session = setCookie(res, 'hf_session');
  if (!session) throw new Error('no session cookie');
  const r = await h.app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie: session.pair } });
  expect(r.statusCode).toBe(200);
  return r.json<{ user: { id: string; email: string; name: string; role: string }; csrfToken: string }>();
}

function expectRefused(res: LightMyRequestResponse, code = 'oidc_failed', status = 400): void {
  expect(res.statusCode).toBe(status);
  expect(res.json().error.code).toBe(code);
  expect(setCookie(res, 'hf_session')).toBeUndefined();
}

describe('OIDC sign-in against a local provider', () => {
  it('start redirects to the discovered authorization endpoint with PKCE, state and nonce', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/api/auth/oidc/start' });
    expect(res.statusCode).toBe(302);
    const loc = new URL(String(res.headers.location));
    expect(`${loc.origin}${loc.pathname}`).toBe(`${provider.issuer}/authorize`);
    const q = loc.searchParams;
    expect(q.get('response_type')).toBe('code');
    expect(q.get('client_id')).toBe(provider.clientId);
    expect(q.get('redirect_uri')).toBe(REDIRECT_URI);
    expect(q.get('scope')).toBe('openid email profile');
    expect(q.get('code_challenge_method')).toBe('S256');
    expect(q.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.get('nonce')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const cookie = setCookie(res, 'hf_oidc');
    expect(cookie?.pair).toBe(`hf_oidc=${q.get('state')}`);
    expect(cookie?.line.split('; ')).toEqual(
      expect.arrayContaining(['HttpOnly', 'SameSite=Lax', 'Path=/api/auth/oidc', 'Max-Age=600']),
    );
    const again = await h.app.inject({ method: 'GET', url: '/api/auth/oidc/start' });
    expect(new URL(String(again.headers.location)).searchParams.get('state')).not.toBe(q.get('state'));
  });

  it('happy path: code exchanged with PKCE and client auth, token verified, user created, session, redirect to /', async () => {
    const res = await signIn();
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe('/');
    expect(setCookie(res, 'hf_oidc')?.line).toMatch(/Max-Age=0/);
    const session = setCookie(res, 'hf_session');
    expect(session?.line.split('; ')).toEqual(expect.arrayContaining(['HttpOnly', 'SameSite=Lax', 'Path=/']));

    const who = await me(res);
    expect(who.user).toEqual({
      id: expect.any(String),
      email: 'sso@example.com',
      name: 'Sso User',
      role: 'admin',
    });
    expect(provider.tokenRequests).toHaveLength(1);
    expect(provider.tokenRequests[0]?.form).toMatchObject({
      grant_type: 'authorization_code',
      redirect_uri: REDIRECT_URI,
      code_verifier: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    });
    const row = await db.kysely.selectFrom('users').selectAll().executeTakeFirstOrThrow();
    expect(row.oidc_subject).toBe(`${provider.issuer}#user-1`);
    expect(row.password_hash).toBeNull();

    // The same identity again finds the same account, even when the provider changed its email.
    provider.identity = { ...provider.identity, email: 'renamed@example.com' };
    const second = await me(await signIn());
    expect(second.user.id).toBe(who.user.id);
    expect(await db.kysely.selectFrom('users').select('id').execute()).toHaveLength(1);
  });

  it('a second identity becomes a plain user, named from the token', async () => {
    await signIn();
    provider.identity = { sub: 'user-2', email: 'Two@Example.com', email_verified: false, name: '  ' };
    const who = await me(await signIn());
    expect(who.user).toMatchObject({ email: 'two@example.com', name: 'Two', role: 'user' });
  });

  it('links to an existing account by verified email; password sign-in keeps working', async () => {
    const local = await signup(h.app, {
      email: 'sso@example.com',
      password: 'local password',
      name: 'Local',
    });
    const who = await me(await signIn());
    expect(who.user).toEqual(local.user);
    const row = await db.kysely.selectFrom('users').selectAll().executeTakeFirstOrThrow();
    expect(row.oidc_subject).toBe(`${provider.issuer}#user-1`);
    const login = await h.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { email: 'sso@example.com', password: 'local password' },
    });
    expect(login.statusCode).toBe(200);
  });

  it('does not link by an unverified email (409 email_taken), nor to an account linked to someone else', async () => {
    await signup(h.app, { email: 'sso@example.com', password: 'local password', name: 'Local' });
    provider.identity = { ...provider.identity, email_verified: false };
    expectRefused(await signIn(), 'email_taken', 409);
    const row = await db.kysely.selectFrom('users').selectAll().executeTakeFirstOrThrow();
    expect(row.oidc_subject).toBeNull();

    provider.identity = { ...provider.identity, email_verified: true };
    await signIn();
    provider.identity = { sub: 'intruder', email: 'sso@example.com', email_verified: true };
    expectRefused(await signIn());
  });

  it('refuses a provider identity without an email', async () => {
    provider.identity = { sub: 'no-email' };
    expectRefused(await signIn());
    expect(await db.kysely.selectFrom('users').select('id').execute()).toEqual([]);
  });
});

describe('OIDC key rotation', () => {
  it('re-reads the JWKS for an unknown key id, at most every 30 s', async () => {
    const clock = fakeClock(Date.now());
    await h.close();
    h = await startHarness({
      db,
      now: clock.now,
      chat: {
        oidc: {
          issuer: provider.issuer,
          client_id: provider.clientId,
          client_secret: provider.clientSecret,
          redirect_uri: REDIRECT_URI,
        },
      },
    });
    expect((await signIn()).statusCode).toBe(302);
    provider.rotateKey();
    expectRefused(await signIn());
    clock.advance(31_000);
    expect((await signIn()).statusCode).toBe(302);
  });
});

describe('OIDC refusals', () => {
  it('bad state: query state not matching the browser cookie', async () => {
    const s = await start();
    const back = await authorize(s.location);
    back.searchParams.set('state', 'A'.repeat(43));
    const res = await callback(back, s.stateCookie);
    expectRefused(res);
    expect(provider.tokenRequests).toHaveLength(0);
    // The attempt is over either way: the browser's state cookie goes.
    expect(setCookie(res, 'hf_oidc')?.line).toMatch(/^hf_oidc=; Max-Age=0; Path=\/api\/auth\/oidc;/);
  });

  it('bad state: no state cookie (callback link replayed in another browser)', async () => {
    const s = await start();
    expectRefused(await callback(await authorize(s.location), undefined));
    expect(provider.tokenRequests).toHaveLength(0);
  });

  it('bad state: a genuine callback carried to a browser that started a different sign-in', async () => {
    const attacker = await start();
    const victim = await start();
    const attackerBack = await authorize(attacker.location);
    expectRefused(await callback(attackerBack, victim.stateCookie));
    expect(provider.tokenRequests).toHaveLength(0);
  });

  it('bad state: a state the server never issued, even with a matching cookie', async () => {
    const s = await start();
    const back = await authorize(s.location);
    back.searchParams.set('state', 'Z'.repeat(43));
    expectRefused(await callback(back, `hf_oidc=${'Z'.repeat(43)}`));
  });

  it('bad state: a callback used twice', async () => {
    const s = await start();
    const back = await authorize(s.location);
    expect((await callback(back, s.stateCookie)).statusCode).toBe(302);
    expectRefused(await callback(back, s.stateCookie));
  });

  it('bad signature: token signed by a key other than the JWKS one', async () => {
    provider.tamper = { signWith: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey };
    expectRefused(await signIn());
    expect(await db.kysely.selectFrom('users').select('id').execute()).toEqual([]);
  });

  it('wrong audience', async () => {
    provider.tamper = { audience: 'some-other-client' };
    expectRefused(await signIn());
  });

  it('wrong audience: several audiences without us as authorized party', async () => {
    provider.tamper = { audience: [provider.clientId, 'another-client'] };
    expectRefused(await signIn());
  });

  it('wrong issuer, wrong nonce, expired token, alg none', async () => {
    for (const tamper of [
      { issuer: 'https://evil.example' },
      { nonce: 'not-the-nonce' },
      { expOffsetS: -3600 },
      { alg: 'none' },
    ]) {
      provider.tamper = tamper;
      expectRefused(await signIn());
    }
    expect(await db.kysely.selectFrom('users').select('id').execute()).toEqual([]);
  });

  it('the provider reporting an error', async () => {
    const s = await start();
    const res = await callback(new URL(`${REDIRECT_URI}?error=access_denied&state=x`), s.stateCookie);
    expectRefused(res);
    expect(res.json().error.message).toMatch(/access_denied/);
  });

  it('a provider that cannot be reached', async () => {
    await provider.close();
    const res = await h.app.inject({ method: 'GET', url: '/api/auth/oidc/start' });
    expectRefused(res);
    expect(setCookie(res, 'hf_oidc')).toBeUndefined();
  });
});
