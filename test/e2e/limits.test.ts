import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OUTCOME_CHANNEL, type OutcomeRecord } from '../../src/telemetry/outcome.ts';
import { simModels, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

let t: TestGateway;
let secret: string;

beforeAll(async () => {
  t = await startTestGateway({
    models: simModels({ tokens_per_sec: 40, answer_tokens: 20 }),
    limits: { key: { rpm: 6, tpm: 20_000, concurrent: 2 } },
    store: { data_dir: 'memory://' },
  });
  secret = (await t.gw.keys.createKey({ name: 'limited', models: ['*'] })).secret;
});
afterAll(() => t?.close());

describe('rate limits per key', () => {
  it('reports OpenAI-style headers on every answer and rejects past the limit with a 429 and retry-after', async () => {
    const client = new OpenAI({ apiKey: secret, baseURL: `${t.url}/v1`, maxRetries: 0 });
    const outcomes: OutcomeRecord[] = [];
    const on = (m: unknown): void => {
      outcomes.push(m as OutcomeRecord);
    };
    subscribe(OUTCOME_CHANNEL, on);
    try {
      const remaining: number[] = [];
      for (let i = 0; i < 5; i++) {
        const { response } = await client.chat.completions
          .create({ model: 'sim-openai', max_tokens: 50, messages: [{ role: 'user', content: `hi ${i}` }] })
          .withResponse();
        expect(response.headers.get('x-ratelimit-limit-requests')).toBe('6');
        expect(response.headers.get('x-ratelimit-limit-tokens')).toBe('20000');
        expect(response.headers.get('x-ratelimit-reset-requests')).toMatch(/^\d+(\.\d+)?(ms|s)$|^\d+m\d+s$/);
        remaining.push(Number(response.headers.get('x-ratelimit-remaining-requests')));
      }
      expect(remaining).toEqual([5, 4, 3, 2, 1]);
      await client.chat.completions.create({
        model: 'sim-openai',
        max_tokens: 50,
        messages: [{ role: 'user', content: 'last' }],
      });
      const err = await client.chat.completions
        .create({
          model: 'sim-openai',
          max_tokens: 50,
          messages: [{ role: 'user', content: 'one too many' }],
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.RateLimitError);
      const e = err as InstanceType<typeof OpenAI.RateLimitError>;
      expect(e.code).toBe('rate_limited');
      expect(Number(e.headers?.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(e.headers?.get('x-ratelimit-remaining-requests')).toBe('0');
      await new Promise((r) => setTimeout(r, 20));
      expect(outcomes.at(-1)).toMatchObject({ status: 429, flag: 'RATE_LIMITED', attempts: 0 });
    } finally {
      unsubscribe(OUTCOME_CHANNEL, on);
    }
  });

  it('answers Anthropic callers with anthropic-ratelimit-* headers and an Anthropic-shaped 429', async () => {
    const other = (await t.gw.keys.createKey({ name: 'anthropic-user', models: ['*'] })).secret;
    const client = new Anthropic({ apiKey: other, baseURL: t.url, maxRetries: 0 });
    const { response } = await client.messages
      .create({ model: 'sim-anthropic', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    expect(response.headers.get('anthropic-ratelimit-requests-limit')).toBe('6');
    expect(response.headers.get('anthropic-ratelimit-requests-remaining')).toBe('5');
    expect(Date.parse(response.headers.get('anthropic-ratelimit-requests-reset') ?? '')).toBeGreaterThan(
      Date.now() - 1_000,
    );
    for (let i = 0; i < 5; i++)
      await client.messages.create({
        model: 'sim-anthropic',
        max_tokens: 50,
        messages: [{ role: 'user', content: `x${i}` }],
      });
    const err = await client.messages
      .create({ model: 'sim-anthropic', max_tokens: 50, messages: [{ role: 'user', content: 'no' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.RateLimitError);
    expect((err as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({
      type: 'error',
      error: { type: 'rate_limit_error' },
    });
  });

  it('refuses a request whose token estimate alone exceeds the per-minute token limit', async () => {
    const k = (await t.gw.keys.createKey({ name: 'tpm', models: ['*'] })).secret;
    const client = new OpenAI({ apiKey: k, baseURL: `${t.url}/v1`, maxRetries: 0 });
    const err = await client.chat.completions
      .create({ model: 'sim-openai', max_tokens: 50_000, messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect((err as Error).message).toMatch(/max_tokens/);
  });

  it("applies a key's own limits over the configured defaults", async () => {
    const { secret: k } = await t.gw.keys.createKey({ name: 'tight', models: ['*'], limits: { rpm: 2 } });
    const client = new OpenAI({ apiKey: k, baseURL: `${t.url}/v1`, maxRetries: 0 });
    const ask = () =>
      client.chat.completions
        .create({ model: 'sim-openai', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] })
        .withResponse();
    const first = await ask();
    expect(first.response.headers.get('x-ratelimit-limit-requests')).toBe('2');
    await ask();
    await expect(ask()).rejects.toBeInstanceOf(OpenAI.RateLimitError);
  });

  it('limits concurrent requests per key', async () => {
    const k = (await t.gw.keys.createKey({ name: 'concurrent', models: ['*'] })).secret;
    const client = new OpenAI({ apiKey: k, baseURL: `${t.url}/v1`, maxRetries: 0 });
    const results = await Promise.all(
      [0, 1, 2].map((i) =>
        client.chat.completions
          .create({ model: 'sim-openai', max_tokens: 20, messages: [{ role: 'user', content: `c${i}` }] })
          .then(
            () => 'ok',
            (e: unknown) => (e instanceof OpenAI.RateLimitError ? 'limited' : String(e)),
          ),
      ),
    );
    expect(results.sort()).toEqual(['limited', 'ok', 'ok']);
    // Slots come back when requests end.
    const again = await client.chat.completions.create({
      model: 'sim-openai',
      max_tokens: 20,
      messages: [{ role: 'user', content: 'again' }],
    });
    expect(again.choices[0]!.message.content).toBeTruthy();
  });
});
