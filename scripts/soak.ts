/**
 * `npm run soak`: dependency outages at full length under steady load (docs/soak.md).
 *
 *   npm run soak                                 Redis stopped 60 s (killed, restarted empty), Redis frozen
 *                                                60 s (SIGSTOP), PostgreSQL cut 60 s; 3 gateways; ~5 minutes
 *   npm run soak -- --outages redis-stop         one outage only (redis-stop, redis-pause, postgres)
 *   npm run soak -- --outage-s 15 --settle-s 5 --gateways 2
 *
 * Gateway processes (`node bin/holdfast.js start`) share one PostgreSQL schema (created and dropped here),
 * reached through a TCP proxy this script owns, and a redis-server it starts on a free port (never the
 * machine's shared 6379); all on loopback. Official OpenAI and Anthropic SDK clients send steady traffic
 * round-robin over the gateways, one rate-limited virtual key is offered three times its limit, and one
 * chat user per gateway keeps chatting. Each outage: Redis killed then restarted empty, Redis frozen then
 * thawed, the PostgreSQL proxy cut (every connection reset, new ones refused) then restored.
 *
 * Reports per phase: requests, failures, latency, chat turns, the limited key's admitted against expected;
 * how long the gateways took to notice each outage and to recover from it (state shared again; buffer
 * drained); and whether every chat message landed in PostgreSQL exactly once, in order. Exits 1 on any
 * failed request or out-of-bounds figure; stops itself (and everything it started) past its time budget.
 */

import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import pg from 'pg';
import { ChatClient } from '../test/helpers/chat-client.ts';
import { type OwnRedis, startRedisServer } from '../test/helpers/redis.ts';
import {
  freePort,
  pgAvailable,
  pgSchema,
  type Replica,
  startReplica,
  TEST_PG,
} from '../test/helpers/replica.ts';
import { startTcpProxy, type TcpProxy } from '../test/helpers/tcp-proxy.ts';

const ADMIN = `hf-admin-soak-${randomBytes(8).toString('hex')}`;
const MODEL = 'sim';
/** Per phase: the limited key's admitted count may stray this far from what its limit allows. */
const LIMIT_TOLERANCE = 0.25;
const OUTAGES = ['redis-stop', 'redis-pause', 'postgres'] as const;
type Outage = (typeof OUTAGES)[number];

const { values: args } = parseArgs({
  options: {
    'outage-s': { type: 'string', default: '60' },
    'settle-s': { type: 'string', default: '10' },
    gateways: { type: 'string', default: '3' },
    outages: { type: 'string', default: OUTAGES.join(',') },
    /** Steady SDK requests per second, over all gateways. */
    rps: { type: 'string', default: '30' },
    'limit-rpm': { type: 'string', default: '120' },
    pg: { type: 'string', default: TEST_PG },
  },
});

const num = (name: keyof typeof args, min: number): number => {
  const v = Number(args[name]);
  if (!Number.isFinite(v) || v < min) throw new Error(`--${name} must be a number >= ${min}`);
  return v;
};
const outageMs = num('outage-s', 1) * 1000;
const settleMs = num('settle-s', 2) * 1000;
const gatewayCount = num('gateways', 2);
const rps = num('rps', 1);
const limitRpm = num('limit-rpm', 6);
const outages = args.outages!.split(',').map((o) => {
  if (!OUTAGES.includes(o.trim() as Outage)) throw new Error(`--outages: ${o}? (${OUTAGES.join(', ')})`);
  return o.trim() as Outage;
});
if (gatewayCount > 3) throw new Error('--gateways: 2 or 3 (the machine has 2 cores)');
const pgUrl = new URL(args.pg!);
if (!['127.0.0.1', 'localhost', '[::1]'].includes(pgUrl.hostname))
  throw new Error(`--pg must be on loopback, not ${pgUrl.hostname}`);

// ---- bounded: everything this script starts is stopped, on success, failure, Ctrl-C or overrun ----

const cleanups: Array<() => Promise<void>> = [];
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const c of cleanups.reverse()) await c().catch((e: unknown) => console.error('cleanup:', e));
  })();
  return cleaning;
}
const budgetMs = outages.length * (outageMs + 2 * settleMs + 60_000) + 90_000;
const overrun = setTimeout(() => {
  console.error(`soak: over its ${Math.round(budgetMs / 1000)} s budget; stopping`);
  void cleanup().finally(() => process.exit(1));
}, budgetMs);
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.once(sig, () => void cleanup().finally(() => process.exit(130)));

// ---- load ----

interface Sample {
  at: number;
  ms: number;
  kind: string;
  /** 'ok', 'limited' (429 on the limited key) or the failure. */
  outcome: string;
}

const api: Sample[] = [];
const limited: Sample[] = [];
const chats: Sample[] = [];
const t0 = performance.now();
const now = (): number => performance.now() - t0;

function errorText(err: unknown): string {
  if (err instanceof OpenAI.APIError || err instanceof Anthropic.APIError)
    return `${err.status} ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

type Call = (gateway: number) => Promise<void>;

function steadyCalls(urls: string[]): Record<string, Call> {
  const openai = urls.map(
    (u) => new OpenAI({ baseURL: `${u}/v1`, apiKey: ADMIN, maxRetries: 0, timeout: 30_000 }),
  );
  const anthropic = urls.map(
    (u) => new Anthropic({ baseURL: u, apiKey: ADMIN, maxRetries: 0, timeout: 30_000 }),
  );
  const messages = [{ role: 'user' as const, content: 'Say something.' }];
  return {
    'openai unary': async (g) => {
      const r = await openai[g]!.chat.completions.create({ model: MODEL, messages });
      if (!r.choices[0]?.message.content) throw new Error('empty answer');
    },
    'openai stream': async (g) => {
      const s = await openai[g]!.chat.completions.create({ model: MODEL, messages, stream: true });
      let text = '';
      let finish: string | null | undefined;
      for await (const c of s) {
        text += c.choices[0]?.delta?.content ?? '';
        finish ??= c.choices[0]?.finish_reason;
      }
      if (!text || !finish) throw new Error(`stream ended early (${text.length} chars, finish ${finish})`);
    },
    'anthropic unary': async (g) => {
      const r = await anthropic[g]!.messages.create({ model: MODEL, max_tokens: 64, messages });
      if (!r.content.some((b) => b.type === 'text' && b.text)) throw new Error('empty answer');
    },
    'anthropic stream': async (g) => {
      const s = anthropic[g]!.messages.stream({ model: MODEL, max_tokens: 64, messages });
      const m = await s.finalMessage();
      if (!m.stop_reason || !m.content.some((b) => b.type === 'text' && b.text))
        throw new Error(`stream ended early (stop ${m.stop_reason})`);
    },
  };
}

/** Runs `step(i)` every `intervalMs` (skipping ahead when late) until stopped. */
function paced(intervalMs: number, offsetMs: number, step: (i: number) => Promise<void>) {
  let running = true;
  const done = (async () => {
    let next = now() + offsetMs;
    for (let i = 0; running; i++) {
      await sleep(Math.max(0, next - now()));
      next = Math.max(next + intervalMs, now());
      if (running) await step(i);
    }
  })();
  return async () => {
    running = false;
    await done;
  };
}

/** One paced worker per call kind, each round-robin over the gateways, together `rps` a second. */
function steadyLoad(urls: string[]): () => Promise<void> {
  const calls = Object.entries(steadyCalls(urls));
  const intervalMs = (1000 * calls.length) / rps;
  const stops = calls.map(([kind, call], w) =>
    paced(intervalMs, (w * intervalMs) / calls.length, async (i) => {
      const at = now();
      const outcome = await call((i + w) % urls.length).then(
        () => 'ok',
        (err: unknown) => errorText(err),
      );
      api.push({ at, ms: now() - at, kind, outcome });
    }),
  );
  return async () => {
    await Promise.all(stops.map((s) => s()));
  };
}

/** Open loop at three times the key's limit, round-robin: 200 admitted, 429 refused, anything else fails. */
function limitedLoad(urls: string[], secret: string): () => Promise<void> {
  const clients = urls.map(
    (u) => new OpenAI({ baseURL: `${u}/v1`, apiKey: secret, maxRetries: 0, timeout: 30_000 }),
  );
  const inflight = new Set<Promise<void>>();
  const stop = paced(60_000 / (3 * limitRpm), 0, async (i) => {
    const at = now();
    const p = clients[i % clients.length]!.chat.completions.create({
      model: MODEL,
      max_tokens: 4,
      messages: [{ role: 'user', content: 'hi' }],
    })
      .then(
        () => 'ok',
        (err: unknown) => (err instanceof OpenAI.APIError && err.status === 429 ? 'limited' : errorText(err)),
      )
      .then((outcome) => {
        limited.push({ at, ms: now() - at, kind: 'limited key', outcome });
      });
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  });
  return async () => {
    await stop();
    await Promise.all(inflight);
  };
}

/** A chat user on one gateway, in one conversation, sending a message a second and reading each answer. */
interface ChatWorker {
  conv: string;
  sent: Array<{ content: string; answer: string }>;
  /** Sends answered with savingDelayed (PostgreSQL unreachable, written to the buffer). */
  delayed: number;
  /** A repeated send (same idempotency key) answered with the first one's messages. */
  replays: number;
}

async function chatLoad(urls: string[]): Promise<{ workers: ChatWorker[]; stop(): Promise<void> }> {
  const workers: ChatWorker[] = [];
  const stops: Array<() => Promise<void>> = [];
  for (const [g, url] of urls.entries()) {
    const c = await ChatClient.signUp(url, `Soak${g}`);
    const conv = (await c.call('POST', '/api/conversations', { model: MODEL })).body.conversation
      .id as string;
    const w: ChatWorker = { conv, sent: [], delayed: 0, replays: 0 };
    workers.push(w);
    stops.push(
      paced(1_000, (g * 1_000) / urls.length, async (i) => {
        const at = now();
        const content = `soak message ${i} on gateway ${g + 1}`;
        const key = randomUUID();
        let outcome = 'ok';
        try {
          const r = await c.call('POST', `/api/conversations/${conv}/messages`, {
            content,
            idempotencyKey: key,
          });
          if (r.status !== 201) throw new Error(`send ${r.status} ${JSON.stringify(r.body)}`);
          if (r.body.savingDelayed) w.delayed++;
          const answer = await c.stream(r.body.assistantMessage.id);
          if (answer.done?.status !== 'complete') throw new Error(`answer ${JSON.stringify(answer.done)}`);
          w.sent.push({ content, answer: answer.done.content });
          if (i % 10 === 5) {
            // A double submit (a retry after a lost answer) gets the same messages back.
            const again = await c.call('POST', `/api/conversations/${conv}/messages`, {
              content,
              idempotencyKey: key,
            });
            if (again.status !== 200 || again.body.userMessage.id !== r.body.userMessage.id)
              throw new Error(`repeated send ${again.status} ${JSON.stringify(again.body)}`);
            w.replays++;
          }
        } catch (err) {
          outcome = errorText(err);
        }
        chats.push({ at, ms: now() - at, kind: 'chat turn', outcome });
      }),
    );
  }
  return {
    workers,
    async stop() {
      await Promise.all(stops.map((s) => s()));
    },
  };
}

// ---- the cluster ----

async function getJson<T>(url: string, auth = false): Promise<T> {
  const r = await fetch(url, auth ? { headers: { authorization: `Bearer ${ADMIN}` } } : {});
  if (r.status !== 200) throw new Error(`${url}: ${r.status}`);
  return (await r.json()) as T;
}

type SharedView = { mode: string; liveReplicas: number };
type StoreView = { reachable: boolean; state: string; entries: number; replayed: number; rejected: number };
const shared = (url: string) => getJson<SharedView>(`${url}/admin/shared-state`, true);
const store = (url: string) => getJson<StoreView>(`${url}/health/store`);

/** Polls until `ok` holds for every gateway; resolves with the ms it took. */
async function whenAll<T>(
  urls: string[],
  read: (url: string) => Promise<T>,
  ok: (s: T) => boolean,
  limitMs: number,
): Promise<number> {
  const start = now();
  for (;;) {
    const states = await Promise.all(urls.map(read));
    if (states.every(ok)) return now() - start;
    if (now() - start > limitMs) throw new Error(`gateways did not converge: ${JSON.stringify(states)}`);
    await sleep(50);
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0
    ? 0
    : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface Check {
  name: string;
  pass: boolean;
  value: string;
}

/** Every message each chat worker saw answered is in PostgreSQL once, in order, with its complete answer. */
async function verifyChats(directUrl: string, workers: ChatWorker[]): Promise<Check> {
  const c = new pg.Client({ connectionString: directUrl });
  await c.connect();
  let messages = 0;
  const problems: string[] = [];
  try {
    for (const w of workers) {
      const rows = (
        await c.query<{
          id: string;
          parent_id: string | null;
          role: string;
          content: string;
          status: string;
        }>(
          'select id, parent_id, role, content, status from messages where conversation_id = $1 order by created_at, id',
          [w.conv],
        )
      ).rows;
      const users = rows.filter((r) => r.role === 'user');
      const expected = w.sent.map((s) => s.content);
      // A send the worker counted as failed may still have landed (then exactly once); anything else is wrong.
      const seen = users.map((u) => u.content);
      if (new Set(seen).size !== seen.length) problems.push(`${w.conv}: a user message is stored twice`);
      const inOrder = seen.filter((s) => expected.includes(s));
      if (JSON.stringify(inOrder) !== JSON.stringify(expected))
        problems.push(`${w.conv}: ${expected.length} sent, ${inOrder.length} of them stored in order`);
      for (const s of w.sent) {
        const u = users.find((x) => x.content === s.content);
        const answers = rows.filter((r) => u && r.parent_id === u.id);
        if (answers.length !== 1 || answers[0]!.status !== 'complete' || answers[0]!.content !== s.answer)
          problems.push(`${w.conv}: "${s.content}" has ${answers.length} answers (${answers[0]?.status})`);
      }
      messages += w.sent.length;
    }
  } finally {
    await c.end();
  }
  return {
    name: 'every chat message in PostgreSQL exactly once, in order, with its complete answer',
    pass: problems.length === 0 && messages > 0,
    value: problems.length === 0 ? `${messages} messages` : problems.slice(0, 5).join('; '),
  };
}

async function main(): Promise<number> {
  if (!(await pgAvailable(args.pg))) {
    console.error(`soak: needs PostgreSQL at ${args.pg} (--pg URL on loopback)`);
    return 2;
  }
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-soak-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  const schema = await pgSchema(`hf_soak_${randomBytes(5).toString('hex')}`, args.pg);
  cleanups.push(schema.drop);
  const proxy: TcpProxy = await startTcpProxy({ host: pgUrl.hostname, port: Number(pgUrl.port || 5432) });
  cleanups.push(() => proxy.close());
  const viaProxy = new URL(schema.url);
  viaProxy.hostname = '127.0.0.1';
  viaProxy.port = String(proxy.port);
  const redis: OwnRedis = await startRedisServer();
  cleanups.push(async () => {
    redis.resume();
    await redis.close();
  });

  const cfg = join(dir, 'holdfast.yaml');
  writeFileSync(
    cfg,
    // Production defaults for shared_state and the outage buffer (timeouts, backoff, heartbeats, bounds):
    // that is what is soaked. Each gateway gets its own buffer directory under data_dir.
    `server: { host: 127.0.0.1 }
auth: { admin_key: ${ADMIN} }
store: { url: "${viaProxy.href}", data_dir: "${join(dir, 'data')}" }
shared_state: { redis_url: "${redis.url}", key_prefix: "soak:", replica_id: "\${HOLDFAST_REPLICA}" }
status: { enabled: false }
log: { level: warn }
limits: { key: { rpm: ${limitRpm} } }
models:
  - name: ${MODEL}
    deployments:
      - { id: sim-1, provider: simulator, model: s, simulator: { ttft_ms: 10, tokens_per_sec: 400, answer_tokens: 20 } }
`,
  );
  const replicas: Replica[] = [];
  cleanups.push(async () => {
    await Promise.all(
      replicas.map(async (r) => {
        const late = setTimeout(() => r.child.kill('SIGKILL'), 5_000);
        await r.stop('SIGINT');
        clearTimeout(late);
      }),
    );
  });
  const ports = await Promise.all(Array.from({ length: gatewayCount }, () => freePort()));
  // The first one creates the tables; the others start on a migrated schema.
  replicas.push(await startReplica({ name: 'g1', config: cfg, port: ports[0]! }));
  replicas.push(
    ...(await Promise.all(
      ports.slice(1).map((port, i) => startReplica({ name: `g${i + 2}`, config: cfg, port })),
    )),
  );
  const urls = replicas.map((r) => r.url);
  await whenAll(urls, shared, (s) => s.mode === 'shared' && s.liveReplicas === gatewayCount, 15_000);

  const created = await fetch(`${urls[0]}/admin/api/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'soak-limited', models: ['*'] }),
  });
  if (created.status !== 201) throw new Error(`key not created: ${created.status} ${await created.text()}`);
  const { secret } = (await created.json()) as { secret: string };
  // Spend the key's burst (a full bucket is the whole minute's limit), so that every phase after it is
  // held to the limit's rate alone and says something about enforcement. This also has every gateway
  // verify the key while PostgreSQL answers, as in production before an outage.
  const drainers = urls.map((u) => new OpenAI({ baseURL: `${u}/v1`, apiKey: secret, maxRetries: 0 }));
  let refusedOn = 0;
  for (let i = 0; refusedOn < urls.length; i++) {
    if (i > 2 * limitRpm + urls.length) throw new Error(`the limited key was never refused (${i} requests)`);
    const refused = await drainers[i % urls.length]!.chat.completions.create({
      model: MODEL,
      max_tokens: 4,
      messages: [{ role: 'user', content: 'hi' }],
    }).then(
      () => false,
      (err: unknown) => {
        if (err instanceof OpenAI.APIError && err.status === 429) return true;
        throw err;
      },
    );
    if (refused) refusedOn++;
  }

  console.log(
    `soak: ${gatewayCount} gateways on PostgreSQL (through a proxy) + redis-server :${redis.port}; ` +
      `${rps} req/s steady SDK load (OpenAI and Anthropic, unary and streamed), one chat user per gateway ` +
      `(a turn a second), one key limited to ${limitRpm}/min offered ${3 * limitRpm}/min; ` +
      `outages ${outages.join(', ')}, ${outageMs / 1000} s each (budget ${Math.round(budgetMs / 1000)} s)`,
  );
  const phases: Array<{ name: string; from: number; to: number }> = [];
  const events: Record<string, number> = {};
  const stopSteady = steadyLoad(urls);
  const stopLimited = limitedLoad(urls, secret);
  const chat = await chatLoad(urls);
  let phaseStart = now();
  const endPhase = (name: string): void => {
    phases.push({ name, from: phaseStart, to: now() });
    phaseStart = now();
  };
  const fallback = (s: SharedView) => s.mode === 'local-fallback';
  const allShared = (s: SharedView) => s.mode === 'shared' && s.liveReplicas === gatewayCount;
  try {
    await sleep(settleMs);
    endPhase('before');
    for (const o of outages) {
      console.log(`soak: ${o} for ${outageMs / 1000} s`);
      const down = now();
      if (o === 'redis-stop') await redis.kill();
      else if (o === 'redis-pause') redis.pause();
      else proxy.cut();
      events[`${o}: noticed by every gateway after ms`] = Math.round(
        o === 'postgres'
          ? await whenAll(urls, store, (s) => !s.reachable, outageMs)
          : await whenAll(urls, shared, fallback, outageMs),
      );
      await sleep(Math.max(0, down + outageMs - now()));
      endPhase(o);
      if (o === 'redis-stop') await redis.restart();
      else if (o === 'redis-pause') redis.resume();
      else proxy.restore();
      const back = Math.round(
        o === 'postgres'
          ? await whenAll(urls, store, (s) => s.reachable && s.state === 'ok' && s.entries === 0, 120_000)
          : await whenAll(urls, shared, allShared, 60_000),
      );
      events[`${o}: recovered on every gateway after ms`] = back;
      console.log(
        `soak: ${o} over; every gateway ${o === 'postgres' ? 'drained its buffer' : 'shares state again'} after ${back} ms`,
      );
      await sleep(settleMs);
      endPhase(`after ${o}`);
    }
  } finally {
    await Promise.all([stopSteady(), stopLimited(), chat.stop()]);
  }

  // ---- report ----
  const header = [
    'phase',
    's',
    'API requests',
    'failed',
    'p50 ms',
    'p99 ms',
    'max ms',
    'chat turns',
    'failed',
    'limited key: admitted',
    'expected',
    'refused',
  ];
  const rows: string[][] = [];
  const checks: Check[] = [];
  const failed = (s: Sample[]) => s.filter((x) => x.outcome !== 'ok' && x.outcome !== 'limited').length;
  for (const p of phases) {
    const inPhase = <T extends Sample>(s: T[]) => s.filter((x) => x.at >= p.from && x.at < p.to);
    const a = inPhase(api);
    const lim = inPhase(limited);
    const ch = inPhase(chats);
    const lat = a.map((s) => s.ms).sort((x, y) => x - y);
    const admitted = lim.filter((s) => s.outcome === 'ok').length;
    const refused = lim.filter((s) => s.outcome === 'limited').length;
    // The burst was spent before the first phase: from then on, the limit's rate.
    const expected = (limitRpm * (p.to - p.from)) / 60_000;
    rows.push([
      p.name,
      ((p.to - p.from) / 1000).toFixed(1),
      String(a.length + lim.length),
      String(failed(a) + failed(lim)),
      lat.length ? percentile(lat, 50).toFixed(0) : '-',
      lat.length ? percentile(lat, 99).toFixed(0) : '-',
      lat.length ? lat.at(-1)!.toFixed(0) : '-',
      String(ch.length),
      String(failed(ch)),
      String(admitted),
      expected.toFixed(1),
      String(refused),
    ]);
    const err = (admitted - expected) / expected;
    checks.push({
      name: `limited key within ${LIMIT_TOLERANCE * 100}% of its limit: ${p.name}`,
      pass: Math.abs(err) <= LIMIT_TOLERANCE && refused > 0,
      value: `${admitted} admitted, ${expected.toFixed(1)} expected (${(err * 100).toFixed(1)}%)`,
    });
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(`\n${line(header)}\n${rows.map(line).join('\n')}\n`);

  const failures = [...api, ...limited, ...chats].filter(
    (s) => s.outcome !== 'ok' && s.outcome !== 'limited',
  );
  const total = api.length + limited.length + chats.length;
  checks.unshift({
    name: 'no failed request',
    pass: failures.length === 0,
    value: `${failures.length} of ${total}`,
  });
  if (outages.includes('postgres')) {
    const delayed = chat.workers.reduce((n, w) => n + w.delayed, 0);
    checks.push({
      name: 'chat said saving is delayed while PostgreSQL was cut',
      pass: delayed > 0,
      value: `${delayed} sends with savingDelayed`,
    });
  }
  checks.push({
    name: 'repeated sends (same idempotency key) not duplicated',
    pass: chat.workers.every((w) => w.replays > 0),
    value: `${chat.workers.reduce((n, w) => n + w.replays, 0)} repeated`,
  });
  checks.push(await verifyChats(schema.url, chat.workers));
  const stores = await Promise.all(urls.map(store));
  const rejected = stores.reduce((n, s) => n + s.rejected, 0);
  checks.push({ name: 'no buffered write set aside', pass: rejected === 0, value: `${rejected} rejected` });
  const crashed = replicas.filter((r) => r.child.exitCode !== null || r.child.signalCode !== null);
  checks.push({
    name: 'every gateway still running',
    pass: crashed.length === 0,
    value: `${gatewayCount - crashed.length} of ${gatewayCount}`,
  });
  for (const [k, v] of Object.entries(events)) console.log(`${k}: ${v}`);
  console.log(`buffered writes replayed: ${stores.map((s) => s.replayed).join(', ')} (per gateway)`);
  for (const f of failures.slice(0, 10))
    console.log(`  failed at ${(f.at / 1000).toFixed(1)} s (${f.kind}): ${f.outcome}`);
  for (const c of checks) console.log(`${c.pass ? 'PASS' : 'FAIL'}  ${c.name}: ${c.value}`);
  for (const r of crashed) console.log(`--- ${r.name} output ---\n${r.output()}`);
  const result = {
    gateways: gatewayCount,
    outageMs,
    rps,
    limitRpm,
    requests: total,
    failures: failures.length,
    events,
    phases: rows.map((r) => Object.fromEntries(header.map((h, i) => [i === 8 ? 'chat failed' : h, r[i]]))),
    checks,
  };
  console.log(`soak result ${JSON.stringify(result)}`);
  return checks.every((c) => c.pass) ? 0 : 1;
}

main()
  .catch((err: unknown) => {
    console.error('soak:', err);
    return 1;
  })
  .then(async (code) => {
    clearTimeout(overrun);
    await cleanup();
    process.exit(code);
  });
