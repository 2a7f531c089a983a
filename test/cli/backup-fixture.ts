import { randomBytes } from 'node:crypto';
import { CompiledQuery, type Kysely, sql } from 'kysely';
import pg from 'pg';
import { expect } from 'vitest';
import { startGateway } from '../../src/app.ts';
import { buildConfig } from '../../src/config/load.ts';
import { describeTables } from '../../src/stores/backup/introspect.ts';
import { type Database, jsonb } from '../../src/stores/database.ts';
import { ChatClient, type Json } from '../helpers/chat-client.ts';
import { ADMIN_KEY, simModels, type TestGateway } from '../helpers/gateway.ts';
import { call, FAST_STATUS } from '../status/gateway.ts';

/** What the fixture made, to look for after a restore. */
export interface Fixture {
  secret: string;
  email: string;
  password: string;
  conversationId: string;
  incidentName: string;
}

const PASSWORD = 'correct horse battery';

/**
 * Fills a store through a running gateway's own code paths: an API key, a chat account with a persona,
 * a character, a conversation with a streamed answer (messages and chunks), a report and an incident
 * with an update. Status components and settings come from the gateway's start.
 */
export async function populateThroughGateway(t: TestGateway): Promise<Fixture> {
  const { secret } = await t.gw.keys.createKey({ name: 'restored-key', models: ['*'] });
  const email = `ada-${randomBytes(4).toString('hex')}@example.test`;
  const c = new ChatClient(t.url);
  const signup = await c.call('POST', '/api/auth/signup', { email, password: PASSWORD, name: 'Ada' });
  expect(signup.status).toBe(201);
  expect(
    (await c.call('POST', '/api/personas', { name: 'Captain', description: 'Sails', isDefault: true }))
      .status,
  ).toBe(201);
  const character = await c.call('POST', '/api/characters', {
    character: { name: 'Navigator', description: 'Knows the tides 🌊', first_mes: 'Ahoy, {{user}}.' },
  });
  expect(character.status).toBe(201);
  const conv = await c.call('POST', '/api/conversations', { characterId: character.body.id });
  expect(conv.status).toBe(201);
  const conversationId: string = conv.body.conversation.id;
  const sent = await c.call('POST', `/api/conversations/${conversationId}/messages`, {
    content: 'Which way is north? Ünïcödé ✓',
    idempotencyKey: 'backup-fixture-1',
  });
  expect(sent.status).toBe(201);
  const streamed = await c.stream(sent.body.assistantMessage.id);
  expect(streamed.done?.status).toBe('complete');
  expect((await c.call('POST', '/api/reports', { category: 'error', text: 'slow answer' })).status).toBe(201);
  const incidentName = 'Tidal surge on the primary';
  const incident = await call(t.url, 'POST', '/admin/status/incidents', {
    name: incidentName,
    body: 'We are looking into it.',
  });
  expect(incident.status).toBe(201);
  const update = await call(t.url, 'POST', `/admin/status/incidents/${incident.body.id}/updates`, {
    status: 'identified',
    body: 'Found it.',
  });
  expect(update.status).toBe(201);
  return { secret, email, password: PASSWORD, conversationId, incidentName };
}

/**
 * The rows no quick API call makes (daily rollups, a subscriber and its outbox entry), and values that
 * are easy to get subtly wrong: jsonb numbers beyond a double, microsecond timestamps, infinity, text
 * with control characters and astral-plane code points.
 */
export async function addAwkwardRows(db: Kysely<Database>): Promise<void> {
  const [component] = await db.selectFrom('status_components').select('id').limit(1).execute();
  expect(component).toBeDefined();
  await db
    .insertInto('status_daily')
    .values({
      component_id: component!.id,
      day: '2030-01-07',
      worst_status: 'partial_outage',
      seconds: jsonb({ operational: 86_000, partial_outage: 400 }),
      latency: null,
    })
    .execute();
  await sql`insert into status_daily (component_id, day, worst_status, seconds, latency)
    values (${component!.id}, '2030-01-08', 'operational',
            cast('{"operational": 86400, "big": 123456789012345678901234567890.000001, "tiny": 1e-30}' as jsonb),
            cast('{"p50": 12.5, "nested": {"a": [1, "two", null, true]}}' as jsonb))`.execute(db);
  await db
    .insertInto('status_subscribers')
    .values({
      id: 'sub_1',
      kind: 'webhook',
      target: 'https://hooks.example.test/holdfast',
      secret: 'whsec_0123456789',
      component_ids: null,
    })
    .execute();
  await sql`insert into status_outbox (id, subscriber_id, topic, payload, attempts, next_attempt_at, last_error, created_at)
    values ('out_1', 'sub_1', 'incident:1', cast('{"text": "line\\nbreak\\ttab \\"quoted\\" \\\\ back 𝄞"}' as jsonb), 3,
            '2030-01-07 10:00:00.123456+00', E'tab\\there\\nnew line', 'infinity')`.execute(db);
  await sql`update api_keys set limits = cast('{"rpm": 60, "tpm": 9007199254740993}' as jsonb), priority = 'batch',
    last_used_at = '1999-12-31 23:59:59.999999+00'`.execute(db);
}

/** Every application table's rows as Postgres renders them (to_jsonb, times in UTC), in key order. */
export async function tableContents(db: Kysely<Database>): Promise<Record<string, string[]>> {
  // One connection throughout, so the time zone set here is the one every query below renders with.
  return db.connection().execute(async (conn) => {
    const out: Record<string, string[]> = {};
    await sql`set timezone = 'UTC'`.execute(conn);
    for (const t of await describeTables(conn)) {
      const order = t.key.length > 0 ? t.key.map((k) => `"${k}"`).join(', ') : '1';
      const { rows } = await conn.executeQuery<{ row: string }>(
        CompiledQuery.raw(`select to_jsonb(t)::text as row from "${t.name}" t order by ${order}`),
      );
      out[t.name] = rows.map((r) => r.row);
    }
    return out;
  });
}

export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';

/** Why Postgres cannot be used, or undefined when it can. */
export async function postgresProblem(url = DATABASE_URL): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await client.end().catch(() => {});
  }
}

/** A fresh schema of this test's own, and a URL whose connections use it. */
export async function createSchema(
  prefix: string,
): Promise<{ schema: string; url: string; drop(): Promise<void> }> {
  const schema = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
  await withClient((c) => c.query(`create schema "${schema}"`));
  const u = new URL(DATABASE_URL);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return {
    schema,
    url: u.toString(),
    drop: () => withClient((c) => c.query(`drop schema if exists "${schema}" cascade`)).then(() => {}),
  };
}

async function withClient<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Signs in as the fixture's user and lists their conversations. */
export async function conversationsOf(url: string, f: Fixture): Promise<Json[]> {
  const c = new ChatClient(url);
  const login = await c.call('POST', '/api/auth/login', { email: f.email, password: f.password });
  expect(login.status).toBe(200);
  const list = await c.call('GET', '/api/conversations');
  expect(list.status).toBe(200);
  return list.body.conversations;
}

/** One completion with the fixture's key: the status code says whether the key is known. */
export async function completeWithKey(url: string, secret: string): Promise<number> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'sim-openai', messages: [{ role: 'user', content: 'hi' }] }),
  });
  await res.text();
  return res.status;
}

/** A gateway with the chat app and status on the given store (PostgreSQL URL or PGlite directory). */
export async function startGatewayOn(store: { url: string } | { data_dir: string }): Promise<TestGateway> {
  const config = buildConfig(
    {
      server: { host: '127.0.0.1', port: 0 },
      auth: { admin_key: ADMIN_KEY },
      store,
      log: { level: 'silent' },
      models: simModels(),
      status: FAST_STATUS,
    },
    {},
  );
  const gw = await startGateway(config, { env: {} });
  return {
    gw,
    url: gw.url,
    async close() {
      await gw.close(1_000);
    },
  };
}
