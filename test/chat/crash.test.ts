import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ChatClient, type Json } from '../helpers/chat-client.ts';

const ENTRY = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'holdfast-crash-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const cfg = join(dir, 'holdfast.yaml');
writeFileSync(
  cfg,
  `server: { port: 0 }
store: { data_dir: ${join(dir, 'data')} }
admission: { initial_limit: 64 }
models:
  - name: slow
    deployments:
      - { id: s1, provider: simulator, model: x, simulator: { ttft_ms: 0, tokens_per_sec: 40, answer_tokens: 4000 } }
`,
);

/** The server in its own process (run directly by this Node, so SIGKILL hits the server itself). */
function start(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [ENTRY, 'start', '--config', cfg], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ child, url: m[1]! });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited ${code} before listening: ${out}`)));
  });
}

describe('crash: kill -9 mid-stream, restart', () => {
  it('keeps every user message and every partial answer (incomplete, continuable), none duplicated', async () => {
    const first = await start();
    const c = await ChatClient.signUp(first.url, 'Crash');
    const sent: Array<{ conv: string; user: string; answer: string; key: string; seen: string }> = [];
    for (let i = 0; i < 20; i++) {
      const conv = (await c.call('POST', '/api/conversations', {})).body.conversation.id;
      const key = `crash-key-${i}-0000`;
      const r = await c.call('POST', `/api/conversations/${conv}/messages`, {
        content: `Story number ${i}, please.`,
        idempotencyKey: key,
      });
      expect(r.status).toBe(201);
      sent.push({ conv, user: r.body.userMessage.id, answer: r.body.assistantMessage.id, key, seen: '' });
    }
    // Every answer is mid-stream: read a few chunks of each, then give the 250 ms flush time to run.
    await Promise.all(
      sent.map(async (s) => {
        const head = await c.stream(s.answer, { maxChunks: 3 });
        s.seen = head.chunks.map((x) => x.text).join('');
      }),
    );
    await new Promise((r) => setTimeout(r, 600));
    const died = new Promise((r) => first.child.once('exit', r));
    first.child.kill('SIGKILL');
    await died;

    const second = await start();
    const again = new ChatClient(second.url);
    again.cookie = c.cookie;
    const me = await again.call('GET', '/api/auth/me');
    expect(me.status).toBe(200);
    for (const s of sent) {
      const conv = await again.call('GET', `/api/conversations/${s.conv}`);
      expect(conv.status).toBe(200);
      const msgs: Json[] = conv.body.messages;
      expect(msgs.filter((m) => m.role === 'user')).toHaveLength(1);
      expect(msgs.filter((m) => m.role === 'assistant')).toHaveLength(1);
      const answer = msgs.find((m) => m.id === s.answer);
      expect(answer.status).toBe('incomplete');
      expect(answer.meta.interrupted).toBe(true);
      expect(answer.content.startsWith(s.seen)).toBe(true);
      expect(answer.content.length).toBeGreaterThanOrEqual(s.seen.length);
      // A retried send after the restart is recognised, not duplicated.
      const retry = await again.call('POST', `/api/conversations/${s.conv}/messages`, {
        content: 'ignored: the key was used',
        idempotencyKey: s.key,
      });
      expect(retry.status).toBe(200);
      expect(retry.body.userMessage.id).toBe(s.user);
    }
    // Partial answers are continuable: one of them finishes, keeping what was there.
    const one = sent[0]!;
    const before = (await again.call('GET', `/api/conversations/${one.conv}`)).body.messages.find(
      (m: Json) => m.id === one.answer,
    ).content;
    expect((await again.call('POST', `/api/messages/${one.answer}/continue`)).status).toBe(200);
    // Read from the start until the text grows past what was kept: old chunks first, then new ones.
    const read = await again.stream(one.answer, { until: (text) => text.length > before.length });
    expect(read.chunks.map((x) => x.seq)).toEqual(read.chunks.map((_, i) => i + 1));
    expect(
      read.chunks
        .map((x) => x.text)
        .join('')
        .startsWith(before),
    ).toBe(true);
    const stopped = await again.call('POST', `/api/messages/${one.answer}/stop`);
    expect(stopped.body.message.content.startsWith(before)).toBe(true);
    expect(stopped.body.message.content.length).toBeGreaterThan(before.length);
    second.child.kill('SIGTERM');
  }, 60_000);
});
