import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Gateway, startGateway } from '../../src/app.ts';
import { buildConfig } from '../../src/config/load.ts';
import { ChatClient, type Json } from '../helpers/chat-client.ts';
import { ADMIN_KEY, simModels } from '../helpers/gateway.ts';
import { pgAvailable, pgSchema } from '../helpers/replica.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';

/**
 * PostgreSQL unreachable (issue #7, docs/postgres-outage.md): a gateway with the chat app on PostgreSQL
 * through a test-owned TCP proxy that the test cuts (every connection reset, new ones refused) and
 * restores. While cut, chat and the API keep answering; afterwards every message is in the database
 * exactly once, in order, and the conversation reads back whole.
 *
 * The default outage lasts 8 s; the full 60 s runs with
 *   HOLDFAST_PG_OUTAGE_S=60 npx vitest run test/stores/postgres-outage.test.ts
 */
const OUTAGE_S = Number(process.env.HOLDFAST_PG_OUTAGE_S ?? 8);
const up = await pgAvailable();

interface Harness {
  proxy: TcpProxy;
  url: string;
  dataDir: string;
  logs: string[];
  drop(): Promise<void>;
  query<T extends Record<string, unknown>>(text: string, values?: unknown[]): Promise<T[]>;
}

/** A unique schema, a proxy in front of PostgreSQL, a data directory for the buffer, and a log sink. */
async function harness(): Promise<Harness> {
  const schema = await pgSchema(`hf_outage_${randomBytes(5).toString('hex')}`);
  const proxy = await startTcpProxy({ host: '127.0.0.1', port: 5432 });
  const url = schema.url.replace('127.0.0.1:5432', `127.0.0.1:${proxy.port}`);
  const dataDir = mkdtempSync(join(tmpdir(), 'holdfast-pg-outage-'));
  return {
    proxy,
    url,
    dataDir,
    logs: [],
    async drop() {
      await proxy.close();
      await schema.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
    async query(text, values) {
      // Straight to PostgreSQL, not through the proxy: what is really stored.
      const c = new pg.Client({ connectionString: schema.url });
      await c.connect();
      try {
        return (await c.query(text, values)).rows;
      } finally {
        await c.end();
      }
    },
  };
}

async function gateway(h: Harness, buffer: Record<string, unknown> = {}): Promise<Gateway> {
  const config = buildConfig(
    {
      server: { host: '127.0.0.1', port: 0 },
      auth: { admin_key: ADMIN_KEY },
      store: { url: h.url, data_dir: h.dataDir, outage_buffer: { timeout_ms: 1_000, ...buffer } },
      log: { level: 'warn' },
      models: simModels({ answer_tokens: 16 }),
    },
    {},
  );
  return startGateway(config, {
    env: {},
    logDestination: { write: (line: string) => void h.logs.push(line) },
  });
}

/** Sends a chat message and reads its answer to the end. */
async function chat(c: ChatClient, convId: string, content: string, key = randomUUID()) {
  const sent = await c.call('POST', `/api/conversations/${convId}/messages`, {
    content,
    idempotencyKey: key,
  });
  if (sent.status !== 201 && sent.status !== 200) return { sent, answer: undefined };
  const answer = await c.stream(sent.body.assistantMessage.id);
  return { sent, answer };
}

async function completion(gw: Gateway, key: string): Promise<{ status: number; body: Json }> {
  const r = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'sim-openai', messages: [{ role: 'user', content: 'ping' }] }),
  });
  return { status: r.status, body: await r.json() };
}

async function metric(gw: Gateway, line: string): Promise<boolean> {
  const r = await fetch(`${gw.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  return (await r.text()).split('\n').includes(line);
}

interface Row extends Record<string, unknown> {
  id: string;
  parent_id: string | null;
  role: string;
  content: string;
  status: string;
}

const rows = (h: Harness, convId: string): Promise<Row[]> =>
  h.query<Row>(
    'select id, parent_id, role, content, status from messages where conversation_id = $1 order by created_at, id',
    [convId],
  );

/** Every user message in `sent` once, in that order, each followed by its complete answer. */
function expectLanded(stored: Row[], sent: Array<{ content: string; answer: string }>): void {
  const users = stored.filter((r) => r.role === 'user');
  expect(users.map((u) => u.content)).toEqual(sent.map((s) => s.content));
  for (const [i, u] of users.entries()) {
    const answers = stored.filter((r) => r.parent_id === u.id);
    expect(answers, `answers to message ${i}`).toHaveLength(1);
    expect(answers[0]).toMatchObject({ role: 'assistant', status: 'complete', content: sent[i]!.answer });
  }
}

describe.skipIf(!up)('PostgreSQL unreachable (skipped without PostgreSQL on 127.0.0.1:5432)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness();
  });
  afterAll(() => h?.drop());

  it(
    `keeps chat and the API answering through a ${OUTAGE_S} s outage; every message lands once, in order`,
    async () => {
      const gw = await gateway(h);
      try {
        const key = (await gw.keys.createKey({ name: 'outage', models: ['*'] })).secret;
        const unseen = (await gw.keys.createKey({ name: 'never used', models: ['*'] })).secret;
        expect((await completion(gw, key)).status).toBe(200);
        const alice = await ChatClient.signUp(gw.url, 'Alice');
        const conv = (await alice.call('POST', '/api/conversations', { model: 'sim-openai' })).body
          .conversation;
        const sent: Array<{ content: string; answer: string }> = [];
        const first = await chat(alice, conv.id, 'before the outage');
        expect(first.sent.body.savingDelayed).toBe(false);
        sent.push({ content: 'before the outage', answer: first.answer!.done!.content });

        h.proxy.cut();
        const until = Date.now() + OUTAGE_S * 1000;
        let n = 0;
        let delayedSeen = false;
        let retried = false;
        while (Date.now() < until) {
          const content = `during the outage #${++n}`;
          const idem = randomUUID();
          const r = await chat(alice, conv.id, content, idem);
          expect(r.sent.status, JSON.stringify(r.sent.body)).toBe(201);
          expect(r.answer?.done?.status).toBe('complete');
          sent.push({ content, answer: r.answer!.done!.content });
          delayedSeen ||= r.sent.body.savingDelayed === true;
          if (!retried) {
            // A double submit during the outage returns the first send's messages.
            retried = true;
            const again = await alice.call('POST', `/api/conversations/${conv.id}/messages`, {
              content,
              idempotencyKey: idem,
            });
            expect(again.status).toBe(200);
            expect(again.body.userMessage.id).toBe(r.sent.body.userMessage.id);
          }
          const api = await completion(gw, key);
          expect(api.status, JSON.stringify(api.body)).toBe(200);
          await new Promise((res) => setTimeout(res, 250));
        }
        expect(delayedSeen).toBe(true);
        expect(n).toBeGreaterThan(3);
        // The chat says saving is delayed; operators see it in health and metrics.
        const status = await alice.call('GET', '/api/status');
        expect(status.body.storage).toMatchObject({ state: 'buffering', savingDelayed: true });
        expect(gw.storeOutage?.health()).toMatchObject({ reachable: false, state: 'buffering' });
        expect(await metric(gw, 'holdfast_store_buffer_state{state="buffering"} 1')).toBe(true);
        expect(await metric(gw, 'holdfast_store_reachable 0')).toBe(true);
        // The conversation reads back from memory, whole.
        const during = await alice.call('GET', `/api/conversations/${conv.id}`);
        expect(during.status).toBe(200);
        expect(during.body.messages.filter((m: Json) => m.role === 'user')).toHaveLength(sent.length);
        // A key this replica never verified cannot be checked: 503, not 401.
        const stranger = await completion(gw, unseen);
        expect(stranger.status).toBe(503);
        expect(stranger.body.error.code).toBe('store_unavailable');
        // Nothing of the outage has reached the database.
        expect((await rows(h, conv.id)).filter((r) => r.role === 'user')).toHaveLength(1);

        h.proxy.restore();
        await gw.storeOutage!.buffer.drained();
        expectLanded(await rows(h, conv.id), sent);
        // Chunks landed once each too, and spell the answers.
        const chunks = await h.query<{ message_id: string; text: string; n: string; d: string }>(
          `select c.message_id, string_agg(c.text, '' order by c.seq) as text, count(*) as n, count(distinct c.seq) as d
             from message_chunks c join messages m on m.id = c.message_id
            where m.conversation_id = $1 group by c.message_id`,
          [conv.id],
        );
        const stored = await rows(h, conv.id);
        for (const c of chunks) {
          expect(c.n).toBe(c.d);
          expect(c.text).toBe(stored.find((r) => r.id === c.message_id)?.content);
        }
        const after = await alice.call('GET', `/api/conversations/${conv.id}`);
        expect(after.body.messages.map((m: Json) => m.content)).toEqual(stored.map((r) => r.content));
        expect((await alice.call('GET', '/api/status')).body.storage).toEqual({
          state: 'ok',
          savingDelayed: false,
        });
        expect(await metric(gw, 'holdfast_store_buffer_state{state="ok"} 1')).toBe(true);
        // Logged once when it went down and once when it drained, not once per write.
        const down = h.logs.filter((l) => l.includes('PostgreSQL unreachable: writes go to'));
        expect(down).toHaveLength(1);
        const next = await chat(alice, conv.id, 'after the outage');
        expect(next.sent.status).toBe(201);
        expect(next.sent.body.savingDelayed).toBe(false);
      } finally {
        h.proxy.restore();
        await gw.close(1_000);
      }
    },
    OUTAGE_S * 1000 + 60_000,
  );

  it('refuses new messages loudly when the buffer is full, and loses none it accepted', async () => {
    h.logs.length = 0;
    const gw = await gateway(h, { max_bytes: 8_192 });
    try {
      const bob = await ChatClient.signUp(gw.url, 'Bob');
      const conv = (await bob.call('POST', '/api/conversations', { model: 'sim-openai' })).body.conversation;
      h.proxy.cut();
      const accepted: Array<{ content: string; answer: string }> = [];
      let refusal: Json;
      for (let i = 0; i < 60 && !refusal; i++) {
        const content = `message ${i} ${'x'.repeat(200)}`;
        const r = await chat(bob, conv.id, content);
        if (r.sent.status === 201) accepted.push({ content, answer: r.answer!.done!.content });
        else refusal = r.sent;
      }
      expect(accepted.length).toBeGreaterThan(0);
      expect(refusal.status).toBe(503);
      expect(refusal.body.error.code).toBe('storage_unavailable');
      expect(refusal.headers.get('retry-after')).toBe('10');
      expect((await bob.call('GET', '/api/status')).body.storage).toMatchObject({
        state: 'full',
        savingDelayed: true,
      });
      expect(await metric(gw, 'holdfast_store_buffer_state{state="full"} 1')).toBe(true);
      expect(h.logs.filter((l) => l.includes('outage buffer FULL'))).toHaveLength(1);
      const again = await chat(bob, conv.id, 'still refused');
      expect(again.sent.status).toBe(503);

      h.proxy.restore();
      await gw.storeOutage!.buffer.drained();
      // Answers that could not even use the reserve kept their final state in memory; it lands now.
      await expect
        .poll(
          async () =>
            (await rows(h, conv.id)).filter((r) => r.role === 'assistant' && r.status === 'complete').length,
          {
            timeout: 10_000,
          },
        )
        .toBe(accepted.length);
      expectLanded(await rows(h, conv.id), accepted);
      expect(gw.storeOutage?.health().refused).toBeGreaterThanOrEqual(2);
      expect((await chat(bob, conv.id, 'accepted again')).sent.status).toBe(201);
    } finally {
      h.proxy.restore();
      await gw.close(1_000);
    }
  }, 60_000);

  it('treats a database gone silent (packets dropped) like one refusing, within the timeout', async () => {
    const gw = await gateway(h);
    try {
      const dan = await ChatClient.signUp(gw.url, 'Dan');
      const conv = (await dan.call('POST', '/api/conversations', { model: 'sim-openai' })).body.conversation;
      const sent: Array<{ content: string; answer: string }> = [];
      const before = await chat(dan, conv.id, 'before the silence');
      sent.push({ content: 'before the silence', answer: before.answer!.done!.content });
      // Connections through the proxy now hang, and those it froze never come back.
      h.proxy.blackhole();
      for (const content of ['into the silence', 'still silent']) {
        const t0 = performance.now();
        const r = await chat(dan, conv.id, content);
        expect(r.sent.status, JSON.stringify(r.sent.body)).toBe(201);
        // Bounded by the 1 s outage timeout (and a connect or two), not by TCP's minutes.
        expect(performance.now() - t0).toBeLessThan(8_000);
        sent.push({ content, answer: r.answer!.done!.content });
      }
      expect(gw.storeOutage?.health()).toMatchObject({ reachable: false, state: 'buffering' });
      h.proxy.restore();
      await gw.storeOutage!.buffer.drained();
      expectLanded(await rows(h, conv.id), sent);
    } finally {
      h.proxy.restore();
      await gw.close(1_000);
    }
  }, 60_000);

  it('replays what a stopped replica buffered when it starts again, before it serves', async () => {
    const first = await gateway(h);
    const carol = await ChatClient.signUp(first.url, 'Carol');
    const conv = (await carol.call('POST', '/api/conversations', { model: 'sim-openai' })).body.conversation;
    const sent: Array<{ content: string; answer: string }> = [];
    const before = await chat(carol, conv.id, 'online');
    sent.push({ content: 'online', answer: before.answer!.done!.content });
    h.proxy.cut();
    for (const content of ['buffered one', 'buffered two', 'buffered three']) {
      const r = await chat(carol, conv.id, content);
      expect(r.sent.status).toBe(201);
      sent.push({ content, answer: r.answer!.done!.content });
    }
    const dir = first.storeOutage!.buffer.dir;
    await first.close(1_000);
    expect(readFileSync(join(dir, 'wal.jsonl'), 'utf8')).toContain('buffered three');
    h.proxy.restore();
    expect((await rows(h, conv.id)).filter((r) => r.role === 'user')).toHaveLength(1);

    const second = await gateway(h);
    try {
      // Replayed during startup: in the database before the first request.
      expect(second.storeOutage?.buffer.dir).toBe(dir);
      expectLanded(await rows(h, conv.id), sent);
      expect(second.storeOutage?.health()).toMatchObject({ state: 'ok', entries: 0 });
      expect(readFileSync(join(dir, 'wal.jsonl'), 'utf8')).toBe('');
      const reader = new ChatClient(second.url);
      reader.cookie = carol.cookie;
      reader.csrf = carol.csrf;
      const back = await reader.call('GET', `/api/conversations/${conv.id}`);
      expect(back.body.messages.filter((m: Json) => m.role === 'user').map((m: Json) => m.content)).toEqual(
        sent.map((s) => s.content),
      );
    } finally {
      await second.close(1_000);
    }
  }, 60_000);
});
