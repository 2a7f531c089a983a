import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient } from '../helpers/chat-client.ts';
import { ADMIN_KEY, type TestGateway } from '../helpers/gateway.ts';
import { rawConnect, startHardened } from './harness.ts';

/**
 * The connection timeouts must never cut an answer: with header, request and idle timeouts shrunk far
 * below an answer's length (and below its silent wait for a first token), streamed and unary answers, the
 * chat app's resumable stream and its own call to the gateway all finish. A client that stops reading is
 * still closed by the idle rule.
 */
const IDLE_MS = 500;
const REQUEST_MS = 600;
const FIRST_TOKEN_MS = 1_500;

let t: TestGateway;

beforeAll(async () => {
  const sim = (dialect: 'openai' | 'anthropic') => ({
    dialect,
    ttft_ms: FIRST_TOKEN_MS,
    tokens_per_sec: 10,
    answer_tokens: 15,
  });
  t = await startHardened({
    server: {
      headers_timeout_ms: 300,
      request_timeout_ms: REQUEST_MS,
      idle_timeout_ms: IDLE_MS,
      // No SSE keep-alive comes in the silent first-token wait: only the idle rule's exemption saves it.
      keepalive_s: 60,
    },
    chat: { enabled: true, default_model: 'slow' },
    models: [
      {
        name: 'slow',
        deployments: [{ id: 'slow-oa', provider: 'simulator', model: 's1', simulator: sim('openai') }],
      },
      {
        name: 'slow-an',
        deployments: [{ id: 'slow-an', provider: 'simulator', model: 's2', simulator: sim('anthropic') }],
      },
    ],
  });
}, 60_000);
afterAll(() => t?.close());

const atLeast = FIRST_TOKEN_MS + 1_000;

describe('long answers outlive the connection timeouts', () => {
  it('an OpenAI SDK stream, an Anthropic SDK stream and a unary answer each last longer than every timeout', async () => {
    const openai = new OpenAI({ apiKey: ADMIN_KEY, baseURL: `${t.url}/v1`, maxRetries: 0 });
    const anthropic = new Anthropic({ apiKey: ADMIN_KEY, baseURL: t.url, maxRetries: 0 });
    const timed = async <T>(f: () => Promise<T>): Promise<{ value: T; ms: number }> => {
      const start = performance.now();
      const value = await f();
      return { value, ms: performance.now() - start };
    };
    const [oaStream, anStream, unary] = await Promise.all([
      timed(async () => {
        const s = await openai.chat.completions.create({
          model: 'slow',
          stream: true,
          messages: [{ role: 'user', content: 'Tell me a long story.' }],
        });
        let text = '';
        let finish: string | null | undefined;
        for await (const c of s) {
          text += c.choices[0]?.delta.content ?? '';
          finish = c.choices[0]?.finish_reason ?? finish;
        }
        return { text, finish };
      }),
      timed(async () => {
        const s = anthropic.messages.stream({
          model: 'slow-an',
          max_tokens: 200,
          messages: [{ role: 'user', content: 'Tell me a long story.' }],
        });
        const m = await s.finalMessage();
        return m.stop_reason;
      }),
      timed(() =>
        openai.chat.completions.create({ model: 'slow', messages: [{ role: 'user', content: 'Hi' }] }),
      ),
    ]);
    expect(oaStream.value.finish).toBe('stop');
    expect(oaStream.value.text.length).toBeGreaterThan(20);
    expect(anStream.value).toBe('end_turn');
    expect(unary.value.choices[0]?.finish_reason).toBe('stop');
    // The setup is meaningful only if each answer outlasted the timeouts it survived.
    for (const r of [oaStream, anStream, unary]) expect(r.ms).toBeGreaterThan(atLeast);
  });

  it("the chat app's resumable stream, and its own call through the gateway, outlive them too", async () => {
    const c = await ChatClient.signUp(t.url, 'Lena');
    const conv = await c.call('POST', '/api/conversations', {});
    expect(conv.status).toBe(201);
    const sent = await c.call('POST', `/api/conversations/${conv.body.conversation.id}/messages`, {
      content: 'Tell me a long story.',
      idempotencyKey: 'long-stream-0001',
    });
    expect(sent.status).toBe(201);
    const start = performance.now();
    const s = await c.stream(sent.body.assistantMessage.id);
    expect(performance.now() - start).toBeGreaterThan(atLeast);
    expect(s.done?.status).toBe('complete');
    expect(s.chunks.map((x) => x.text).join('')).toBe(s.done?.content);
    expect(s.done?.content.length).toBeGreaterThan(20);
  });

  it('a client that stops reading is closed by the idle rule', async () => {
    // Pipelined requests for a large file, never read: our writes pile up until the kernel buffers are
    // full, then nothing moves, and the idle timeout closes the socket. (A paused socket does not see
    // the close, so it is resumed after a while and reads what it was sent before it.)
    const file = await fetch(`${t.url}/vendor/highlight/core.js`).then((r) => r.arrayBuffer());
    const copies = 200;
    const conn = await rawConnect(t.url);
    conn.socket.pause();
    conn.socket.write('GET /vendor/highlight/core.js HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(copies));
    await new Promise((r) => setTimeout(r, 4 * IDLE_MS));
    conn.socket.resume();
    await conn.closed;
    const answered = conn.received.split('HTTP/1.1 200').length - 1;
    expect(answered).toBeGreaterThan(0);
    expect(answered).toBeLessThan(copies);
    expect(conn.received.length).toBeLessThan(copies * file.byteLength);
    const stillServing = await fetch(`${t.url}/health/live`);
    expect(stillServing.status).toBe(200);
  });
});
