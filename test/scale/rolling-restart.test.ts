import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Balancer, startBalancer } from '../helpers/balancer.ts';
import { ChatClient } from '../helpers/chat-client.ts';
import { deletePrefix, redisAvailable, SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.ts';
import { freePort, pgAvailable, pgSchema, type Replica, startReplica } from '../helpers/replica.ts';

/**
 * Three replicas as separate processes sharing one PostgreSQL schema (and Redis, when there is one), behind a load balancer that
 * sends traffic only to replicas whose /health/ready is 200 and retries a request elsewhere only when
 * it could not be sent (test/helpers/balancer.ts). Restarting them one at a time under steady load
 * fails no request; a chat answer whose reader was on a draining replica is followed to its end on
 * another one with no gap or duplicate.
 */

const ADMIN = 'hf-admin-rolling-restart-0123456789';
/** Longer than the balancer's readiness poll (200 ms), as it must be in production. */
const DRAIN_DELAY_MS = 1_000;

const up = await pgAvailable();
/** Redis is optional here: with it the replicas also share limits and membership, as in production. */
const redis = (await redisAvailable())
  ? { url: SHARED_REDIS_URL, prefix: uniquePrefix('rolling') }
  : undefined;

interface SseRead {
  chunks: Array<{ seq: number; text: string }>;
  done?: { status: string; content: string };
  /** `retry:` hints after the first (the one every stream opens with). */
  retryHints: number[];
}

/** Reads an answer's SSE stream until `done` or until the server ends it; `onChunk` sees each chunk. */
async function readAnswer(
  url: string,
  headers: Record<string, string>,
  onChunk: (count: number) => void = () => {},
): Promise<SseRead> {
  const res = await fetch(url, { headers });
  if (res.status !== 200 || !res.body) throw new Error(`stream ${res.status}: ${await res.text()}`);
  const out: SseRead = { chunks: [], retryHints: [] };
  const dec = new TextDecoder();
  let buf = '';
  let retries = 0;
  for await (const part of res.body) {
    buf += dec.decode(part as Uint8Array, { stream: true });
    for (let sep = buf.indexOf('\n\n'); sep >= 0; sep = buf.indexOf('\n\n')) {
      const block = buf.slice(0, sep);
      buf = buf.slice(sep + 2);
      let id = 0;
      let event = 'message';
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('id: ')) id = Number(line.slice(4));
        else if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
        else if (line.startsWith('retry: ') && retries++ > 0) out.retryHints.push(Number(line.slice(7)));
      }
      if (event === 'chunk') {
        out.chunks.push({ seq: id, text: JSON.parse(data).text });
        onChunk(out.chunks.length);
      } else if (event === 'done') {
        out.done = JSON.parse(data);
        return out;
      }
    }
  }
  return out;
}

/** Unary and streamed completions through the official SDK, back to back, until stopped. */
function steadyLoad(baseURL: string, workers: { unary: number; streaming: number }) {
  const client = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey: ADMIN, maxRetries: 0, timeout: 30_000 });
  const messages = [{ role: 'user' as const, content: 'Say something.' }];
  const counts = { unary: 0, streams: 0, failures: [] as string[] };
  let running = true;
  const unary = async (): Promise<void> => {
    const r = await client.chat.completions.create({ model: 'sim', messages });
    if (!r.choices[0]?.message.content) throw new Error('empty answer');
    counts.unary++;
  };
  const streamed = async (): Promise<void> => {
    const s = await client.chat.completions.create({ model: 'sim', messages, stream: true });
    let text = '';
    let finish: string | null | undefined;
    for await (const c of s) {
      text += c.choices[0]?.delta?.content ?? '';
      finish ??= c.choices[0]?.finish_reason;
    }
    if (!text || !finish) throw new Error(`stream ended early (${text.length} chars, finish ${finish})`);
    counts.streams++;
  };
  const loop = async (one: () => Promise<void>, kind: string): Promise<void> => {
    while (running) {
      await one().catch((err: unknown) => {
        counts.failures.push(`${kind}: ${err instanceof Error ? err.message : String(err)}`);
      });
    }
  };
  const all = Promise.all([
    ...Array.from({ length: workers.unary }, () => loop(unary, 'unary')),
    ...Array.from({ length: workers.streaming }, () => loop(streamed, 'stream')),
  ]);
  return {
    counts,
    async stop() {
      running = false;
      await all;
      return counts;
    },
  };
}

describe.skipIf(!up)('rolling restart of three replicas (skipped without PostgreSQL on :5432)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-rolling-'));
  const cfg = join(dir, 'holdfast.yaml');
  const schemaName = `hf_rolling_${randomBytes(5).toString('hex')}`;
  let dropSchema: () => Promise<void> = async () => {};
  const ports: number[] = [];
  const replicas: Replica[] = [];
  let lb: Balancer;

  const start = async (i: number): Promise<Replica> => {
    replicas[i] = await startReplica({ name: `r${i}`, config: cfg, port: ports[i]! });
    return replicas[i]!;
  };

  beforeAll(async () => {
    const schema = await pgSchema(schemaName);
    dropSchema = schema.drop;
    writeFileSync(
      cfg,
      `server: { host: 127.0.0.1, drain_delay_ms: ${DRAIN_DELAY_MS}, shutdown_grace_ms: 15000 }
auth: { admin_key: ${ADMIN} }
store: { url: "${schema.url}" }
${redis ? `shared_state: { redis_url: "${redis.url}", key_prefix: "${redis.prefix}", replica_id: \${HOLDFAST_REPLICA} }\n` : ''}status: { enabled: false }
log: { level: warn }
models:
  - name: sim
    deployments:
      - { id: sim-1, provider: simulator, model: s, simulator: { ttft_ms: 10, tokens_per_sec: 150, answer_tokens: 20 } }
  - name: story
    deployments:
      - { id: story-1, provider: simulator, model: t, simulator: { ttft_ms: 0, tokens_per_sec: 25, answer_tokens: 80 } }
`,
    );
    for (let i = 0; i < 3; i++) ports.push(await freePort());
    // The first one creates the tables; the other two start on a migrated schema.
    await start(0);
    await Promise.all([start(1), start(2)]);
    lb = await startBalancer({ backends: replicas.map((r) => r.url), pollMs: 200 });
    for (const r of replicas) await lb.waitFor(r.url, true);
  }, 60_000);

  afterAll(async () => {
    await lb?.close();
    await Promise.all(
      replicas.map(async (r) => {
        const stopped = r.stop('SIGTERM');
        const late = setTimeout(() => r.child.kill('SIGKILL'), 5_000);
        await stopped;
        clearTimeout(late);
      }),
    );
    await dropSchema();
    if (redis) await deletePrefix(redis.url, redis.prefix);
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('hands a chat answer being read on a draining replica over to another, with no gap or duplicate', async () => {
    const a = replicas[0]!;
    const user = await ChatClient.signUp(lb.url, 'Handover');
    // Talk to replica A itself, so the answer is written there and its reader is attached there.
    const onA = new ChatClient(a.url);
    onA.cookie = user.cookie;
    onA.csrf = user.csrf;
    const conv = (await onA.call('POST', '/api/conversations', { model: 'story' })).body.conversation.id;
    const sent = await onA.call('POST', `/api/conversations/${conv}/messages`, {
      content: 'Tell me a long story.',
      idempotencyKey: `handover-${randomBytes(4).toString('hex')}`,
    });
    expect(sent.status).toBe(201);
    const id: string = sent.body.assistantMessage.id;

    let exited: Promise<number | null> | undefined;
    const first = await readAnswer(`${a.url}/api/messages/${id}/stream`, { cookie: user.cookie }, (n) => {
      // A few chunks in, A is told to stop; its reader keeps receiving during the drain delay.
      if (n === 5) exited = a.stop('SIGTERM');
    });
    expect(exited).toBeDefined();
    // Handed over before the answer ended: no `done`, a reconnect hint, and text still to come.
    expect(first.done).toBeUndefined();
    expect(first.retryHints).toHaveLength(1);
    expect(first.retryHints[0]).toBeLessThanOrEqual(1_000);
    const last = first.chunks.at(-1)!.seq;
    expect(last).toBeGreaterThanOrEqual(5);

    // The reader reconnects (as EventSource does) through the balancer, which no longer picks A.
    const rest = await readAnswer(`${lb.url}/api/messages/${id}/stream`, {
      cookie: user.cookie,
      'last-event-id': String(last),
      'x-test-trace': `handover-${id}`,
    });
    const servedBy = lb.servedBy(`handover-${id}`);
    expect(servedBy).toBeDefined();
    expect(servedBy).not.toBe(a.url);
    expect(rest.done?.status).toBe('complete');

    const seqs = [...first.chunks, ...rest.chunks].map((c) => c.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    const text = [...first.chunks, ...rest.chunks].map((c) => c.text).join('');
    expect(text).toBe(rest.done!.content);
    expect(rest.chunks.length).toBeGreaterThan(0);

    expect(await exited).toBe(0);
    await start(0);
    await lb.waitFor(a.url, true);
  }, 40_000);

  it('serves steady unary and streamed traffic with no failed request while each replica restarts in turn', async () => {
    const load = steadyLoad(lb.url, { unary: 3, streaming: 2 });
    await new Promise((r) => setTimeout(r, 1_000));
    const servedAfterRestart: Array<{ url: string; at: number }> = [];
    const exitCodes: Array<number | null> = [];
    for (let i = 0; i < 3; i++) {
      const old = replicas[i]!;
      exitCodes.push(await old.stop('SIGTERM'));
      const fresh = await start(i);
      await lb.waitFor(fresh.url, true);
      servedAfterRestart.push({ url: fresh.url, at: lb.stats.served[fresh.url] ?? 0 });
    }
    await new Promise((r) => setTimeout(r, 1_000));
    const counts = await load.stop();
    console.log(
      `rolling restart: ${counts.unary} unary + ${counts.streams} streamed answers, ` +
        `${counts.failures.length} failed; balancer ${JSON.stringify(lb.stats)}`,
    );

    expect(counts.failures).toEqual([]);
    expect(lb.stats.failed).toBe(0);
    expect(exitCodes).toEqual([0, 0, 0]);
    expect(counts.unary).toBeGreaterThan(30);
    expect(counts.streams).toBeGreaterThan(20);
    // Each restarted replica took traffic again.
    for (const s of servedAfterRestart) expect(lb.stats.served[s.url] ?? 0).toBeGreaterThan(s.at);
  }, 60_000);
});
