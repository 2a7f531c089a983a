import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient, type Json } from '../helpers/chat-client.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({
    store: { data_dir: 'memory://' },
    models: [
      {
        name: 'tiny',
        deployments: [
          {
            id: 'tiny-1',
            provider: 'simulator',
            model: 't',
            simulator: { ttft_ms: 0, tokens_per_sec: 0, answer_tokens: 30 },
          },
        ],
      },
    ],
    // A context so small that a few turns overflow it.
    chat: { overflow: 'summarise', context_tokens: { tiny: 700 }, max_answer_tokens: 100 },
  });
});
afterAll(() => t?.close());

describe('chat context overflow: summarise', () => {
  it('summarises turns that no longer fit, caches the summary, and reports it', async () => {
    const c = await ChatClient.signUp(t.url, 'Sum');
    const conv = (await c.call('POST', '/api/conversations', {})).body.conversation.id;
    for (let i = 0; i < 6; i++) {
      const r = await c.call('POST', `/api/conversations/${conv}/messages`, {
        content: `Turn ${i}: ${'the harbour lights were flickering again '.repeat(8)}`,
        idempotencyKey: `sum-key-${i}-00`,
      });
      const s = await c.stream(r.body.assistantMessage.id);
      expect(s.done?.status).toBe('complete');
    }
    const got = (await c.call('GET', `/api/conversations/${conv}`)).body;
    expect(got.conversation.context.droppedCount).toBeGreaterThan(0);
    expect(got.conversation.context.summarisedCount).toBe(got.conversation.context.droppedCount);
    const summarised = got.messages.filter((m: Json) => typeof m.meta.summary === 'string');
    expect(summarised.length).toBeGreaterThan(0);
    expect(summarised[0].meta.summary.length).toBeGreaterThan(10);
  });
});
