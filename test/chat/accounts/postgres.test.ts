import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Db, openDatabase } from '../../../src/stores/database.ts';
import { fakeClock, type Harness, setCookie, signed, signup, startHarness } from './harness.ts';
import { startTestProvider } from './oidc-provider.ts';

/** The main account flows once more against PostgreSQL, in a schema of this run's own. */
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';
const postgresDown = await probe(DATABASE_URL);
const postgresAvailable = postgresDown === undefined;
if (!postgresAvailable) {
  console.warn(
    `[chat accounts] PostgreSQL at ${redact(DATABASE_URL)} is unreachable (${postgresDown}); skipping the Postgres run of the accounts tests.`,
  );
}

const schema = `hf_accounts_${process.pid}_${randomBytes(4).toString('hex')}`;

describe.skipIf(!postgresAvailable)('accounts on PostgreSQL', () => {
  let db: Db;
  let h: Harness | undefined;

  beforeAll(async () => {
    db = await openDatabase({ url: DATABASE_URL, data_dir: 'unused' }, { schema });
  });
  afterAll(async () => {
    await db?.close();
    await withClient(DATABASE_URL, (c) => c.query(`drop schema if exists "${schema}" cascade`));
  });
  afterEach(async () => {
    await h?.close();
    h = undefined;
    await db.kysely.deleteFrom('users').execute();
  });

  const alice = { email: 'alice@example.com', password: 'correct horse battery', name: 'Alice' };

  it('runs on the Postgres engine', () => {
    expect(db.engine).toBe('postgres');
  });

  it('sign-up, duplicate, sign-in, me, CSRF guard, sign-out', async () => {
    h = await startHarness({ db });
    const { app } = h;
    const up = await signup(app, alice);
    expect(up.user.role).toBe('admin');
    const dup = await app.inject({ method: 'POST', url: '/api/auth/signup', payload: alice });
    expect(dup.statusCode).toBe(409);

    const wrong = await app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { email: alice.email, password: 'nope nope' },
    });
    expect(wrong.statusCode).toBe(401);
    const s = signed(
      await app.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { email: alice.email, password: alice.password },
      }),
    );
    const me = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie: s.cookie } });
    expect(me.json()).toEqual({ user: up.user, csrfToken: s.csrfToken });

    const guarded = (headers: Record<string, string>) =>
      app.inject({ method: 'POST', url: '/api/test/guarded', headers, payload: {} });
    expect((await guarded({ cookie: s.cookie })).statusCode).toBe(403);
    expect((await guarded({ cookie: s.cookie, 'x-csrf-token': s.csrfToken })).statusCode).toBe(200);

    const out = await app.inject({
      method: 'POST',
      url: '/api/auth/logout',
      headers: { cookie: s.cookie, 'x-csrf-token': s.csrfToken },
    });
    expect(out.statusCode).toBe(204);
    expect(
      (await app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie: s.cookie } })).statusCode,
    ).toBe(401);
  });

  it('gives exactly one admin when the first sign-ups race on a connection pool', async () => {
    h = await startHarness({ db });
    const { app } = h;
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => signup(app, { ...alice, email: `racer${i}@example.com` })),
    );
    expect(results.filter((r) => r.user.role === 'admin')).toHaveLength(1);
  });

  it('gives exactly one admin when password-less accounts are created all at once', async () => {
    h = await startHarness({ db });
    const { accounts } = h;
    // No scrypt to spread them out: the inserts really do overlap.
    const users = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        accounts.createUser({ email: `sso${i}@example.com`, name: `S${i}` }),
      ),
    );
    expect(users.filter((u) => u.role === 'admin')).toHaveLength(1);
  });

  it('expires sessions and throttles sign-in by the injected clock', async () => {
    const clock = fakeClock();
    h = await startHarness({
      db,
      now: clock.now,
      chat: { session_ttl_hours: 1, login_attempts: 2, login_lockout_s: 30 },
    });
    const { app } = h;
    const s = await signup(app, alice);
    clock.advance(3_600_000);
    expect(
      (await app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie: s.cookie } })).statusCode,
    ).toBe(401);
    const login = (password: string) =>
      app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: alice.email, password } });
    expect((await login('wrong one')).statusCode).toBe(401);
    expect((await login('wrong two')).statusCode).toBe(401);
    const locked = await login(alice.password);
    expect(locked.statusCode).toBe(429);
    expect(locked.headers['retry-after']).toBe('30');
    clock.advance(30_000);
    expect((await login(alice.password)).statusCode).toBe(200);
  });

  it('OIDC sign-in creates, then finds, the account', async () => {
    const provider = await startTestProvider();
    try {
      h = await startHarness({
        db,
        chat: {
          oidc: {
            issuer: provider.issuer,
            client_id: provider.clientId,
            client_secret: provider.clientSecret,
            redirect_uri: 'http://app.test/api/auth/oidc/callback',
          },
        },
      });
      const { app } = h;
      const ids: string[] = [];
      for (let i = 0; i < 2; i++) {
        const start = await app.inject({ method: 'GET', url: '/api/auth/oidc/start' });
        const back = new URL(
          (await fetch(String(start.headers.location), { redirect: 'manual' })).headers.get('location') ?? '',
        );
        const cb = await app.inject({
          method: 'GET',
          url: `${back.pathname}${back.search}`,
          headers: { cookie: setCookie(start, 'hf_oidc')?.pair ?? '' },
        });
        expect(cb.statusCode).toBe(302);
        const me = await app.inject({
          method: 'GET',
          url: '/api/auth/me',
          headers: { cookie: setCookie(cb, 'hf_session')?.pair ?? '' },
        });
        expect(me.json().user.email).toBe('sso@example.com');
        ids.push(me.json().user.id);
      }
      expect(ids[0]).toBe(ids[1]);
    } finally {
      await provider.close();
    }
  });
});

/** Undefined when reachable, otherwise why not. */
async function probe(url: string): Promise<string | undefined> {
  try {
    await withClient(url, (c) => c.query('select 1'));
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message || error.name : String(error);
  }
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}
