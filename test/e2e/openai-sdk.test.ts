import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

const PNG =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

const weatherTool: OpenAI.Chat.Completions.ChatCompletionTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' }, days: { type: 'integer' } },
      required: ['city'],
    },
  },
};

type ApiErr = InstanceType<typeof OpenAI.APIError>;

let t: TestGateway;
let client: OpenAI;

beforeAll(async () => {
  t = await startTestGateway();
  client = new OpenAI({ apiKey: ADMIN_KEY, baseURL: `${t.url}/v1`, maxRetries: 0 });
});
afterAll(() => t?.close());

const hello: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [
  { role: 'developer', content: 'You are terse.' },
  { role: 'user', content: 'Tell me about lighthouses.' },
];

async function streamText(
  model: string,
  messages = hello,
): Promise<{ text: string; usage?: OpenAI.CompletionUsage | null; finish?: string | null }> {
  const stream = await client.chat.completions.create({
    model,
    messages,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let usage: OpenAI.CompletionUsage | null | undefined;
  let finish: string | null | undefined;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
    if (chunk.usage) usage = chunk.usage;
  }
  return { text, usage, finish };
}

describe.each([
  ['same dialect (OpenAI deployment)', 'sim-openai'],
  ['cross dialect (Anthropic deployment)', 'sim-anthropic'],
])('official openai client → Holdfast → %s', (_label, model) => {
  it('answers a plain completion with usage and a simulated model name', async () => {
    const res = await client.chat.completions.create({
      model,
      messages: hello,
      max_tokens: 200,
      temperature: 0.2,
      seed: 7,
      user: 'u-1',
    });
    expect(res.object).toBe('chat.completion');
    expect(res.model).toMatch(/simulated/);
    expect(res.choices[0]!.message.role).toBe('assistant');
    expect(res.choices[0]!.message.content!.length).toBeGreaterThan(10);
    expect(res.choices[0]!.finish_reason).toBe('stop');
    expect(res.usage!.prompt_tokens).toBeGreaterThan(0);
    expect(res.usage!.completion_tokens).toBeGreaterThan(0);
    expect(res.usage!.total_tokens).toBe(res.usage!.prompt_tokens + res.usage!.completion_tokens);
  });

  it('streams the same text as the unary answer, with a usage chunk', async () => {
    const unary = await client.chat.completions.create({ model, messages: hello });
    const s = await streamText(model);
    expect(s.text).toBe(unary.choices[0]!.message.content);
    expect(s.finish).toBe('stop');
    expect(s.usage!.completion_tokens).toBe(unary.usage!.completion_tokens);
  });

  it('stops at max_tokens with finish_reason length', async () => {
    const res = await client.chat.completions.create({ model, messages: hello, max_completion_tokens: 3 });
    expect(res.choices[0]!.finish_reason).toBe('length');
    expect(res.usage!.completion_tokens).toBe(3);
  });

  it('calls a tool, unary and streamed, then answers the tool result', async () => {
    const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [
      { role: 'user', content: 'What is the weather in Oslo?' },
    ];
    const res = await client.chat.completions.create({
      model,
      messages,
      tools: [weatherTool],
      tool_choice: 'required',
    });
    const call = res.choices[0]!.message.tool_calls![0]!;
    expect(res.choices[0]!.finish_reason).toBe('tool_calls');
    expect(call.type).toBe('function');
    if (call.type !== 'function') throw new Error('unreachable');
    expect(call.function.name).toBe('get_weather');
    expect(typeof JSON.parse(call.function.arguments).city).toBe('string');

    const stream = await client.chat.completions.create({
      model,
      messages,
      tools: [weatherTool],
      tool_choice: 'required',
      stream: true,
    });
    let args = '';
    let name = '';
    let id = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      for (const d of chunk.choices[0]?.delta.tool_calls ?? []) {
        if (d.id) id = d.id;
        if (d.function?.name) name = d.function.name;
        args += d.function?.arguments ?? '';
      }
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect({ id, name, args: JSON.parse(args) }).toEqual({
      id: call.id,
      name: 'get_weather',
      args: JSON.parse(call.function.arguments),
    });
    expect(finish).toBe('tool_calls');

    const followUp = await client.chat.completions.create({
      model,
      tools: [weatherTool],
      messages: [
        ...messages,
        res.choices[0]!.message,
        { role: 'tool', tool_call_id: call.id, content: '{"temp_c": 4, "sky": "sleet"}' },
      ],
    });
    expect(followUp.choices[0]!.finish_reason).toBe('stop');
    expect(followUp.choices[0]!.message.content).toBeTruthy();
  });

  it('accepts image parts', async () => {
    const res = await client.chat.completions.create({
      model,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in this picture?' },
            { type: 'image_url', image_url: { url: PNG } },
          ],
        },
      ],
    });
    expect(res.choices[0]!.message.content).toMatch(/image/i);
  });

  it('honours stop sequences', async () => {
    const full = (await client.chat.completions.create({ model, messages: hello })).choices[0]!.message
      .content!;
    const words = full.split(' ');
    const stopAt = ` ${words[Math.floor(words.length / 2)]}`;
    const res = await client.chat.completions.create({ model, messages: hello, stop: [stopAt] });
    expect(res.choices[0]!.message.content).toBe(full.slice(0, full.indexOf(stopAt)));
    expect(res.choices[0]!.finish_reason).toBe('stop');
  });
});

describe('official openai client: errors in OpenAI shape', () => {
  it('unknown model → 404 model_not_found', async () => {
    const err = await client.chat.completions
      .create({ model: 'nope', messages: hello })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as ApiErr).code).toBe('model_not_found');
    expect((err as ApiErr).param).toBe('model');
  });

  it('bad parameter value → 400 with the param path', async () => {
    const err = await client.chat.completions
      .create({ model: 'sim-openai', messages: hello, temperature: 5 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as ApiErr).param).toBe('temperature');
    expect((err as ApiErr).type).toBe('invalid_request_error');
  });

  it('wrong key → 401 invalid_api_key', async () => {
    const bad = new OpenAI({ apiKey: 'hf-wrong', baseURL: `${t.url}/v1`, maxRetries: 0 });
    const err = await bad.chat.completions
      .create({ model: 'sim-openai', messages: hello })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((err as ApiErr).code).toBe('invalid_api_key');
  });

  it('lists models', async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids.sort()).toEqual(['sim-anthropic', 'sim-openai']);
  });
});
