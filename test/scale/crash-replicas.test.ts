import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient, type Json } from '../helpers/chat-client.ts';
import { deletePrefix, redisAvailable, SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.ts';
import { freePort, pgAvailable, pgSchema, type Replica, startReplica } from '../helpers/replica.ts';

/**
 * kill -9 of one of three replicas sharing PostgreSQL (and Redis, when there is one) while about twenty
 * chat answers stream across them. The single-process version is test/chat/crash.test.ts; here nothing
 * restarts: the survivors' recovery sweep finds the dead replica's answers by their silent heartbeat
 * (chat.orphan_after_ms, short here) and ends them incomplete and continuable, with no more text lost
 * than the hub's last flush interval.
 */

/** The hub's flush interval (src/chat/generation/hub.ts): the most streamed text a crash may lose. */
const FLUSH_MS = 250;
/** A busy two-core machine runs the flush timer and its write late by up to this much. */
const FLUSH_SLACK_MS = 250;
const ORPHAN_MS = 1_500;

const up = await pgAvailable();
const redis = (await redisAvailable()) ? { url: SHARED_REDIS_URL, prefix: uniquePrefix('crash') } : undefined;

interface Chunk {
  seq: number;
  text: string;
  /** performance.now() when the reader got it. */
  at: number;
}

interface Reader {
  chunks: Chunk[];
  done?: { status: string; meta: Json; content: string };
  /** The connection broke before `done` (the replica died under it). */
  cut: boolean;
  finished: Promise<void>;
}

/** Follows an answer's SSE stream to its `done` or until the connection breaks, timing each chunk. */
function follow(base: string, cookie: string, id: string, lastEventId?: number): Reader {
  const r: Reader = { chunks: [], cut: false, finished: Promise.resolve() };
  r.finished = (async () => {
    const headers: Record<string, string> = { cookie };
    if (lastEventId !== undefined) headers['last-event-id'] = String(lastEventId);
    try {
      const res = await fetch(`${base}/api/messages/${id}/stream`, { headers });
      if (res.status !== 200 || !res.body) throw new Error(`stream ${res.status}: ${await res.text()}`);
      const dec = new TextDecoder();
      let buf = '';
      for await (const part of res.body) {
        buf += dec.decode(part as Uint8Array, { stream: true });
        for (let sep = buf.indexOf('\n\n'); sep >= 0; sep = buf.indexOf('\n\n')) {
          const block = buf.slice(0, sep);
          buf = buf.slice(sep + 2);
          let seq = 0;
          let event = 'message';
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('id: ')) seq = Number(line.slice(4));
            else if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (event === 'chunk') r.chunks.push({ seq, text: JSON.parse(data).text, at: performance.now() });
          else if (event === 'done') {
            r.done = JSON.parse(data);
            return;
          }
        }
      }
      r.cut = true;
    } catch (err) {
      // A reset from the killed replica is what this test provokes; anything else is a failure.
      if (!(err instanceof Error && /terminated|ECONNRESET|socket/i.test(`${err.message} ${err.cause}`)))
        throw err;
      r.cut = true;
    }
  })();
  return r;
}

const textOf = (chunks: ReadonlyArray<{ text: string }>): string => chunks.map((c) => c.text).join('');

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(!up)('kill -9 across three replicas (skipped without PostgreSQL at 127.0.0.1:5432)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-crash-replicas-'));
  const cfg = join(dir, 'holdfast.yaml');
  let dropSchema: () => Promise<void> = async () => {};
  const replicas: Replica[] = [];

  beforeAll(async () => {
    const schema = await pgSchema(`hf_crash_${randomBytes(5).toString('hex')}`);
    dropSchema = schema.drop;
    writeFileSync(
      cfg,
      `server: { host: 127.0.0.1, drain_delay_ms: 0 }
store: { url: "${schema.url}", data_dir: "${join(dir, 'data')}" }
${redis ? `shared_state: { redis_url: "${redis.url}", key_prefix: "${redis.prefix}", replica_id: \${HOLDFAST_REPLICA} }\n` : ''}status: { enabled: false }
log: { level: warn }
admission: { initial_limit: 64 }
chat: { orphan_after_ms: ${ORPHAN_MS} }
models:
  - name: story
    deployments:
      - { id: story-1, provider: simulator, model: s, simulator: { ttft_ms: 0, tokens_per_sec: 40, answer_tokens: 4000 } }
`,
    );
    const ports = [await freePort(), await freePort(), await freePort()];
    // The first one creates the tables; the other two start on a migrated schema.
    replicas.push(await startReplica({ name: 'r0', config: cfg, port: ports[0]! }));
    replicas.push(
      ...(await Promise.all(
        [1, 2].map((i) => startReplica({ name: `r${i}`, config: cfg, port: ports[i]! })),
      )),
    );
  }, 60_000);

  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.stop('SIGKILL')));
    await dropSchema();
    if (redis) await deletePrefix(redis.url, redis.prefix);
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('keeps every accepted message; the dead replica’s answers end incomplete and continuable elsewhere', async () => {
    const user = await ChatClient.signUp(replicas[0]!.url, 'Crash');
    const on = replicas.map((r) => {
      const c = new ChatClient(r.url);
      c.cookie = user.cookie;
      c.csrf = user.csrf;
      return c;
    });
    const VICTIM = 1;
    const victim = replicas[VICTIM]!;

    type Sent = { replica: number; conv: string; user: string; answer: string; key: string; content: string };
    const sent: Sent[] = [];
    for (let i = 0; i < 21; i++) {
      const replica = i % 3;
      const c = on[replica]!;
      const conv = (await c.call('POST', '/api/conversations', {})).body.conversation.id;
      const key = `crash-${i}-${randomBytes(4).toString('hex')}`;
      const content = `Story number ${i}, please.`;
      const r = await c.call('POST', `/api/conversations/${conv}/messages`, { content, idempotencyKey: key });
      expect(r.status).toBe(201);
      sent.push({
        replica,
        conv,
        user: r.body.userMessage.id,
        answer: r.body.assistantMessage.id,
        key,
        content,
      });
    }
    // Each answer read where it is written (live, chunk by chunk); the dead replica's also from a survivor
    // (polling the database), as a second tab on another replica would.
    const live = sent.map((s) => follow(replicas[s.replica]!.url, user.cookie, s.answer));
    const elsewhere = new Map(
      sent
        .filter((s) => s.replica === VICTIM)
        .map((s) => [s.answer, follow(replicas[0]!.url, user.cookie, s.answer)]),
    );
    await until('every answer streaming', 15_000, async () =>
      live.every((r) => r.chunks.length >= 8) ? true : undefined,
    );
    await new Promise((r) => setTimeout(r, 500));

    // Sends to the victim as it dies, a few milliseconds apart; it is killed as the first is accepted,
    // so some were accepted and the rest cut at some point on the way. None may be half-kept.
    const late = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const conv = (await on[VICTIM]!.call('POST', '/api/conversations', {})).body.conversation.id;
        return { conv, key: `late-${i}-${randomBytes(4).toString('hex')}`, content: `Late message ${i}.` };
      }),
    );
    let firstAccepted: () => void = () => {};
    const accepted = new Promise<void>((r) => (firstAccepted = r));
    const lateSends = late.map(async (l, i) => {
      await new Promise((r) => setTimeout(r, i * 3));
      const status = await on[VICTIM]!.call('POST', `/api/conversations/${l.conv}/messages`, {
        content: l.content,
        idempotencyKey: l.key,
      }).then(
        (r) => r.status,
        () => 0,
      );
      if (status === 201) firstAccepted();
      return status;
    });
    await accepted;
    const died = new Promise((r) => victim.child.once('exit', r));
    const killedAt = performance.now();
    victim.child.kill('SIGKILL');
    await died;
    const lateStatus = await Promise.all(lateSends);
    await Promise.all(sent.map((s, i) => (s.replica === VICTIM ? live[i]!.finished : undefined)));

    // The survivors' sweep finds the dead replica's answers by their silent heartbeat.
    const survivor = on[2]!;
    const convOf = async (c: ChatClient, id: string): Promise<Json[]> => {
      const r = await c.call('GET', `/api/conversations/${id}`);
      expect(r.status).toBe(200);
      return r.body.messages;
    };
    const stored = new Map<string, Json>();
    for (const s of sent.filter((x) => x.replica === VICTIM)) {
      stored.set(
        s.answer,
        await until(`recovery of ${s.answer}`, 15_000, async () => {
          const m = (await convOf(survivor, s.conv)).find((x) => x.id === s.answer);
          return m.status === 'streaming' || m.status === 'queued' ? undefined : m;
        }),
      );
    }
    const recoveredAfterMs = performance.now() - killedAt;

    let worstLossMs = 0;
    let lostChars = 0;
    for (const [i, s] of sent.entries()) {
      const msgs = await convOf(survivor, s.conv);
      // Every accepted user message is there, once, with its answer.
      expect(msgs.filter((m) => m.role === 'user').map((m) => [m.id, m.content])).toEqual([
        [s.user, s.content],
      ]);
      expect(msgs.filter((m) => m.role === 'assistant').map((m) => m.id)).toEqual([s.answer]);
      // A retried send with the same key is recognised on any replica, not duplicated.
      const retry = await survivor.call('POST', `/api/conversations/${s.conv}/messages`, {
        content: 'ignored: the key was used',
        idempotencyKey: s.key,
      });
      expect(retry.status).toBe(200);
      expect(retry.body.userMessage.id).toBe(s.user);
      expect(retry.body.assistantMessage.id).toBe(s.answer);
      if (s.replica !== VICTIM) {
        // Not touched by the crash: still being written by its own replica.
        expect(msgs.find((m) => m.id === s.answer).status).toBe('streaming');
        continue;
      }
      const answer = stored.get(s.answer);
      expect(answer.status).toBe('incomplete');
      expect(answer.meta.interrupted).toBe(true);
      const reader = live[i]!;
      expect(reader.cut).toBe(true);
      expect(reader.done).toBeUndefined();
      // What was stored is what the reader saw up to the last flush: the same chunks, nothing reordered.
      const seen = textOf(reader.chunks);
      expect(reader.chunks.map((c) => c.seq)).toEqual(reader.chunks.map((_, j) => j + 1));
      expect(seen.startsWith(answer.content) || answer.content.startsWith(seen)).toBe(true);
      // Lost: chunks the reader got that never reached the database; all of them arrived within the
      // last flush interval before the kill.
      let storedLen = 0;
      const lost = reader.chunks.filter((c) => {
        storedLen += c.text.length;
        return storedLen > answer.content.length;
      });
      if (lost.length > 0) {
        worstLossMs = Math.max(worstLossMs, killedAt - lost[0]!.at);
        lostChars += seen.length - answer.content.length;
      }
      for (const c of lost) expect(killedAt - c.at).toBeLessThanOrEqual(FLUSH_MS + FLUSH_SLACK_MS);

      // The reader on the survivor saw the whole stored answer end incomplete, with no gap or duplicate.
      const other = elsewhere.get(s.answer)!;
      await other.finished;
      expect(other.done?.status).toBe('incomplete');
      expect(other.chunks.map((c) => c.seq)).toEqual(other.chunks.map((_, j) => j + 1));
      expect(textOf(other.chunks)).toBe(answer.content);
      expect(other.done?.content).toBe(answer.content);
      // The cut reader reconnects to a survivor (as EventSource does) and gets the end from there.
      const resumed = follow(replicas[2]!.url, user.cookie, s.answer, reader.chunks.at(-1)?.seq ?? 0);
      await resumed.finished;
      expect(resumed.done?.status).toBe('incomplete');
      expect(resumed.done?.content).toBe(answer.content);
    }

    // Late sends: accepted ones (201) are kept; a retry with the same key elsewhere never duplicates.
    const retried: number[] = [];
    for (const [i, l] of late.entries()) {
      const retry = await survivor.call('POST', `/api/conversations/${l.conv}/messages`, {
        content: l.content,
        idempotencyKey: l.key,
      });
      retried.push(retry.status);
      if (lateStatus[i] === 201) expect(retry.status).toBe(200);
      else expect([200, 201]).toContain(retry.status);
      const msgs = await convOf(survivor, l.conv);
      expect(msgs.filter((m) => m.role === 'user').map((m) => [m.id, m.content])).toEqual([
        [retry.body.userMessage.id, l.content],
      ]);
      expect(msgs.filter((m) => m.role === 'assistant').map((m) => m.id)).toEqual([
        retry.body.assistantMessage.id,
      ]);
    }

    // One of the dead replica's answers is continued through a survivor, keeping what was stored.
    const one = sent.find((s) => s.replica === VICTIM)!;
    const before: string = stored.get(one.answer).content;
    expect((await survivor.call('POST', `/api/messages/${one.answer}/continue`)).status).toBe(200);
    const read = await survivor.stream(one.answer, { until: (text) => text.length > before.length + 20 });
    expect(read.chunks.map((x) => x.seq)).toEqual(read.chunks.map((_, j) => j + 1));
    expect(textOf(read.chunks).startsWith(before)).toBe(true);
    const stopped = await survivor.call('POST', `/api/messages/${one.answer}/stop`);
    expect(stopped.body.message.content.startsWith(before)).toBe(true);
    expect(stopped.body.message.content.length).toBeGreaterThan(before.length);

    console.log(
      `crash across replicas: ${sent.filter((s) => s.replica === VICTIM).length} answers on the killed replica ` +
        `recovered ${Math.round(recoveredAfterMs)} ms after kill -9 (orphan_after_ms ${ORPHAN_MS}); ` +
        `worst loss ${Math.round(worstLossMs)} ms of stream (${lostChars} chars over all answers; flush ${FLUSH_MS} ms); ` +
        `late sends ${JSON.stringify(lateStatus)} (0: cut), retried elsewhere ${JSON.stringify(retried)}`,
    );
  }, 45_000);
});
