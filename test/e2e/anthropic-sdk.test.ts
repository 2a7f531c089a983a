import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

const PNG_B64 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

const weatherTool: Anthropic.Tool = {
  name: 'get_weather',
  description: 'Current weather for a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

type ApiErr = InstanceType<typeof Anthropic.APIError>;

let t: TestGateway;
let client: Anthropic;

beforeAll(async () => {
  t = await startTestGateway();
  client = new Anthropic({ apiKey: ADMIN_KEY, baseURL: t.url, maxRetries: 0 });
});
afterAll(() => t?.close());

const hello: Anthropic.MessageParam[] = [{ role: 'user', content: 'Tell me about lighthouses.' }];

function textOf(msg: Anthropic.Message): string {
  return msg.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
}

describe.each([
  ['same dialect (Anthropic deployment)', 'sim-anthropic'],
  ['cross dialect (OpenAI deployment)', 'sim-openai'],
])('official @anthropic-ai/sdk client → Holdfast → %s', (_label, model) => {
  it('answers a plain message with usage and a simulated model name', async () => {
    const msg = await client.messages.create({
      model,
      max_tokens: 256,
      system: 'You are terse.',
      messages: hello,
    });
    expect(msg.type).toBe('message');
    expect(msg.role).toBe('assistant');
    expect(msg.model).toMatch(/simulated/);
    expect(textOf(msg).length).toBeGreaterThan(10);
    expect(msg.stop_reason).toBe('end_turn');
    expect(msg.usage.input_tokens).toBeGreaterThan(0);
    expect(msg.usage.output_tokens).toBeGreaterThan(0);
  });

  it('streams every event type and ends with the unary text', async () => {
    const unary = await client.messages.create({ model, max_tokens: 256, messages: hello });
    const stream = client.messages.stream({ model, max_tokens: 256, messages: hello });
    const types = new Set<string>();
    stream.on('streamEvent', (ev) => types.add(ev.type));
    const final = await stream.finalMessage();
    expect(textOf(final)).toBe(textOf(unary));
    expect(final.stop_reason).toBe('end_turn');
    expect(final.usage.output_tokens).toBe(unary.usage.output_tokens);
    for (const ty of [
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]) {
      expect(types).toContain(ty);
    }
  });

  it('stops at max_tokens', async () => {
    const msg = await client.messages.create({ model, max_tokens: 3, messages: hello });
    expect(msg.stop_reason).toBe('max_tokens');
    expect(msg.usage.output_tokens).toBe(3);
  });

  it('uses a tool (unary and streamed with input_json_delta) and reads its result', async () => {
    const messages: Anthropic.MessageParam[] = [{ role: 'user', content: 'What is the weather in Oslo?' }];
    const msg = await client.messages.create({
      model,
      max_tokens: 256,
      messages,
      tools: [weatherTool],
      tool_choice: { type: 'tool', name: 'get_weather' },
    });
    expect(msg.stop_reason).toBe('tool_use');
    const use = msg.content.find((b) => b.type === 'tool_use');
    if (use?.type !== 'tool_use') throw new Error('no tool_use block');
    expect(use.name).toBe('get_weather');
    expect(typeof (use.input as { city: unknown }).city).toBe('string');

    const stream = client.messages.stream({
      model,
      max_tokens: 256,
      messages,
      tools: [weatherTool],
      tool_choice: { type: 'any' },
    });
    let sawJsonDelta = false;
    stream.on('streamEvent', (ev) => {
      if (ev.type === 'content_block_delta' && ev.delta.type === 'input_json_delta') sawJsonDelta = true;
    });
    const final = await stream.finalMessage();
    const streamedUse = final.content.find((b) => b.type === 'tool_use');
    expect(sawJsonDelta).toBe(true);
    expect(streamedUse).toMatchObject({
      type: 'tool_use',
      id: use.id,
      name: 'get_weather',
      input: use.input,
    });

    const followUp = await client.messages.create({
      model,
      max_tokens: 256,
      tools: [weatherTool],
      messages: [
        ...messages,
        { role: 'assistant', content: msg.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'Sleet, 4°C' }] },
      ],
    });
    expect(followUp.stop_reason).toBe('end_turn');
    expect(textOf(followUp)).toBeTruthy();
  });

  it('accepts base64 images', async () => {
    const msg = await client.messages.create({
      model,
      max_tokens: 256,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG_B64 } },
            { type: 'text', text: 'Describe this.' },
          ],
        },
      ],
    });
    expect(textOf(msg)).toMatch(/image/i);
  });
});

describe('official @anthropic-ai/sdk client: stop sequences and prefill', () => {
  it('reports the stop sequence that ended the answer', async () => {
    const full = textOf(
      await client.messages.create({ model: 'sim-anthropic', max_tokens: 256, messages: hello }),
    );
    const words = full.split(' ');
    const stopAt = ` ${words[Math.floor(words.length / 2)]}`;
    const msg = await client.messages.create({
      model: 'sim-anthropic',
      max_tokens: 256,
      messages: hello,
      stop_sequences: [stopAt],
    });
    expect(msg.stop_reason).toBe('stop_sequence');
    expect(msg.stop_sequence).toBe(stopAt);
    expect(textOf(msg)).toBe(full.slice(0, full.indexOf(stopAt)));
  });

  it.each(['sim-anthropic', 'sim-openai'])(
    'continues a prefilled partial answer exactly (%s)',
    async (model) => {
      const full = textOf(await client.messages.create({ model, max_tokens: 256, messages: hello }));
      const cut = Math.floor(full.length / 3);
      const msg = await client.messages.create({
        model,
        max_tokens: 256,
        messages: [...hello, { role: 'assistant', content: full.slice(0, cut) }],
      });
      expect(full.slice(0, cut) + textOf(msg)).toBe(full);
    },
  );
});

describe('official @anthropic-ai/sdk client: errors in Anthropic shape', () => {
  it('unknown model → 404 not_found_error', async () => {
    const err = await client.messages
      .create({ model: 'nope', max_tokens: 10, messages: hello })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.NotFoundError);
    expect((err as ApiErr).error).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
  });

  it('missing max_tokens → 400 invalid_request_error', async () => {
    const err = await client.messages
      .create({
        model: 'sim-anthropic',
        messages: hello,
      } as unknown as Anthropic.MessageCreateParamsNonStreaming)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect((err as ApiErr).error).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    expect(JSON.stringify((err as ApiErr).error)).toMatch(/max_tokens/);
  });

  it('wrong key → 401 authentication_error', async () => {
    const bad = new Anthropic({ apiKey: 'hf-wrong', baseURL: t.url, maxRetries: 0 });
    const err = await bad.messages
      .create({ model: 'sim-anthropic', max_tokens: 10, messages: hello })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.AuthenticationError);
    expect((err as ApiErr).error).toMatchObject({ error: { type: 'authentication_error' } });
  });

  it('lists models in Anthropic shape', async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids.sort()).toEqual(['sim-anthropic', 'sim-openai']);
  });
});
