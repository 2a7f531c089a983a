import { describe, expect, it } from 'vitest';
import type { ChatResponse, StreamEvent } from '../../src/core/chat.ts';
import type { RenderContext } from '../../src/core/door.ts';
import { type ErrorCode, HoldfastError } from '../../src/core/errors.ts';
import { openaiDoor } from '../../src/providers/openai/door.ts';

const PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

const base = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] };

function parse(body: unknown) {
  return openaiDoor.parseRequest(body, {});
}

function rejection(body: unknown): HoldfastError {
  try {
    parse(body);
  } catch (err) {
    if (err instanceof HoldfastError) return err;
    throw err;
  }
  throw new Error('expected the request to be rejected');
}

function expectReject(body: unknown, code: ErrorCode, param: string | undefined): HoldfastError {
  const err = rejection(body);
  expect({ code: err.code, param: err.param, status: err.status }).toEqual({
    code,
    param,
    status:
      code === 'unsupported_parameter' || code === 'invalid_request' || code === 'missing_field'
        ? 400
        : err.status,
  });
  expect(err.message).not.toBe('');
  return err;
}

function withMessages(...messages: unknown[]) {
  return { model: 'gpt-4o-mini', messages };
}

describe('openai door: rejects bad input with the offending param', () => {
  it('body', () => {
    expectReject(null, 'invalid_request', undefined);
    expectReject([base], 'invalid_request', undefined);
    expectReject('{"model":"x"}', 'invalid_request', undefined);
  });

  it('model', () => {
    expectReject({ messages: base.messages }, 'missing_field', 'model');
    expectReject({ ...base, model: 42 }, 'invalid_request', 'model');
    expectReject({ ...base, model: '' }, 'invalid_request', 'model');
  });

  it('messages (array)', () => {
    expectReject({ model: 'm' }, 'missing_field', 'messages');
    expectReject({ model: 'm', messages: 'Hi' }, 'invalid_request', 'messages');
    expectReject({ model: 'm', messages: [] }, 'invalid_request', 'messages');
    expectReject(withMessages('Hi'), 'invalid_request', 'messages.0');
    // model is checked before messages
    expect(rejection({}).param).toBe('model');
  });

  it('messages.N.role', () => {
    expectReject(
      withMessages({ role: 'user', content: 'a' }, { content: 'b' }),
      'missing_field',
      'messages.1.role',
    );
    expectReject(withMessages({ role: 7, content: 'b' }), 'invalid_request', 'messages.0.role');
    expectReject(withMessages({ role: 'bot', content: 'b' }), 'unsupported_parameter', 'messages.0.role');
    expectReject(
      withMessages({ role: 'function', name: 'f', content: 'b' }),
      'unsupported_parameter',
      'messages.0.role',
    );
  });

  it('system / developer content', () => {
    expectReject(withMessages({ role: 'system' }), 'missing_field', 'messages.0.content');
    expectReject(withMessages({ role: 'developer', content: 5 }), 'invalid_request', 'messages.0.content');
    expectReject(
      withMessages({
        role: 'system',
        content: [{ type: 'image_url', image_url: { url: 'https://x/y.png' } }],
      }),
      'unsupported_parameter',
      'messages.0.content.0.type',
    );
  });

  it('user content', () => {
    expectReject(withMessages({ role: 'user' }), 'missing_field', 'messages.0.content');
    expectReject(withMessages({ role: 'user', content: null }), 'invalid_request', 'messages.0.content');
    expectReject(withMessages({ role: 'user', content: 12 }), 'invalid_request', 'messages.0.content');
    expectReject(withMessages({ role: 'user', content: [] }), 'invalid_request', 'messages.0.content');
    expectReject(
      withMessages({ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text' }] }),
      'missing_field',
      'messages.0.content.1.text',
    );
    expectReject(
      withMessages({ role: 'user', content: [{ type: 'text', text: 3 }] }),
      'invalid_request',
      'messages.0.content.0.text',
    );
    expectReject(
      withMessages({ role: 'user', content: [{ text: 'a' }] }),
      'missing_field',
      'messages.0.content.0.type',
    );
    expectReject(withMessages({ role: 'user', content: ['a'] }), 'invalid_request', 'messages.0.content.0');
  });

  it('content part types we cannot honour', () => {
    const audio = { type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } };
    expectReject(
      withMessages({ role: 'user', content: [audio] }),
      'unsupported_parameter',
      'messages.0.content.0.type',
    );
    const file = { type: 'file', file: { file_id: 'file-1' } };
    expectReject(
      withMessages({ role: 'user', content: [{ type: 'text', text: 'see' }, file] }),
      'unsupported_parameter',
      'messages.0.content.1.type',
    );
    expectReject(
      withMessages({ role: 'user', content: [{ type: 'video' }] }),
      'unsupported_parameter',
      'messages.0.content.0.type',
    );
  });

  it('image_url parts', () => {
    const img = (image_url: unknown) =>
      withMessages({ role: 'user', content: [{ type: 'image_url', image_url }] });
    expectReject(img(undefined), 'missing_field', 'messages.0.content.0.image_url');
    expectReject(img('https://x/y.png'), 'invalid_request', 'messages.0.content.0.image_url');
    expectReject(img({}), 'missing_field', 'messages.0.content.0.image_url.url');
    expectReject(img({ url: 'ftp://x/y.png' }), 'invalid_request', 'messages.0.content.0.image_url.url');
    expectReject(img({ url: 'not a url' }), 'invalid_request', 'messages.0.content.0.image_url.url');
    expectReject(
      img({ url: 'data:text/plain;base64,aGk=' }),
      'invalid_request',
      'messages.0.content.0.image_url.url',
    );
    expectReject(
      img({ url: 'data:image/png,rawbytes' }),
      'invalid_request',
      'messages.0.content.0.image_url.url',
    );
    expectReject(
      img({ url: 'https://x/y.png', detail: 'ultra' }),
      'invalid_request',
      'messages.0.content.0.image_url.detail',
    );
  });

  it('assistant messages', () => {
    const user = { role: 'user', content: 'q' };
    expectReject(withMessages(user, { role: 'assistant' }), 'missing_field', 'messages.1.content');
    expectReject(
      withMessages(user, { role: 'assistant', content: null, tool_calls: [] }),
      'missing_field',
      'messages.1.content',
    );
    expectReject(
      withMessages(user, { role: 'assistant', content: 5 }),
      'invalid_request',
      'messages.1.content',
    );
    expectReject(
      withMessages(user, {
        role: 'assistant',
        content: [{ type: 'image_url', image_url: { url: 'https://x' } }],
      }),
      'unsupported_parameter',
      'messages.1.content.0.type',
    );
    expectReject(
      withMessages(user, {
        role: 'assistant',
        content: null,
        tool_calls: [{ type: 'function', function: { name: 'f', arguments: '{}' } }],
      }),
      'missing_field',
      'messages.1.tool_calls.0.id',
    );
    expectReject(
      withMessages(user, {
        role: 'assistant',
        tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: {} } }],
      }),
      'invalid_request',
      'messages.1.tool_calls.0.function.arguments',
    );
    expectReject(
      withMessages(user, {
        role: 'assistant',
        tool_calls: [{ id: 'c1', type: 'custom', function: { name: 'f', arguments: '' } }],
      }),
      'invalid_request',
      'messages.1.tool_calls.0.type',
    );
    expectReject(
      withMessages(user, { role: 'assistant', content: null, function_call: { name: 'f', arguments: '{}' } }),
      'unsupported_parameter',
      'messages.1.function_call',
    );
  });

  it('tool messages', () => {
    const user = { role: 'user', content: 'q' };
    expectReject(
      withMessages(user, { role: 'tool', content: 'r' }),
      'missing_field',
      'messages.1.tool_call_id',
    );
    expectReject(
      withMessages(user, { role: 'tool', tool_call_id: 1, content: 'r' }),
      'invalid_request',
      'messages.1.tool_call_id',
    );
    expectReject(
      withMessages(user, { role: 'tool', tool_call_id: 'c1' }),
      'missing_field',
      'messages.1.content',
    );
  });

  it('tools', () => {
    expectReject({ ...base, tools: {} }, 'invalid_request', 'tools');
    expectReject({ ...base, tools: [{ type: 'web_search' }] }, 'unsupported_parameter', 'tools.0.type');
    expectReject({ ...base, tools: [{ function: { name: 'f' } }] }, 'missing_field', 'tools.0.type');
    expectReject({ ...base, tools: [{ type: 'function' }] }, 'missing_field', 'tools.0.function');
    expectReject(
      { ...base, tools: [{ type: 'function', function: {} }] },
      'missing_field',
      'tools.0.function.name',
    );
    expectReject(
      { ...base, tools: [{ type: 'function', function: { name: 'get weather!' } }] },
      'invalid_request',
      'tools.0.function.name',
    );
    expectReject(
      { ...base, tools: [{ type: 'function', function: { name: 'f', parameters: 'object' } }] },
      'invalid_request',
      'tools.0.function.parameters',
    );
  });

  it('tool_choice', () => {
    const tools = [{ type: 'function', function: { name: 'f' } }];
    expectReject({ ...base, tools, tool_choice: 'any' }, 'invalid_request', 'tool_choice');
    expectReject({ ...base, tools, tool_choice: 3 }, 'invalid_request', 'tool_choice');
    expectReject(
      { ...base, tools, tool_choice: { type: 'function' } },
      'missing_field',
      'tool_choice.function',
    );
    expectReject(
      { ...base, tools, tool_choice: { type: 'allowed_tools' } },
      'unsupported_parameter',
      'tool_choice.type',
    );
    expectReject(
      { ...base, tools, tool_choice: { type: 'function', function: { name: 'g' } } },
      'invalid_request',
      'tool_choice.function.name',
    );
    expectReject({ ...base, tool_choice: 'required' }, 'invalid_request', 'tool_choice');
  });

  it('parallel_tool_calls', () => {
    expectReject({ ...base, parallel_tool_calls: 'yes' }, 'invalid_request', 'parallel_tool_calls');
  });

  it('response_format', () => {
    expectReject({ ...base, response_format: 'json' }, 'invalid_request', 'response_format');
    expectReject({ ...base, response_format: {} }, 'missing_field', 'response_format.type');
    expectReject(
      { ...base, response_format: { type: 'grammar' } },
      'unsupported_parameter',
      'response_format.type',
    );
    expectReject(
      { ...base, response_format: { type: 'json_schema' } },
      'missing_field',
      'response_format.json_schema',
    );
    expectReject(
      { ...base, response_format: { type: 'json_schema', json_schema: { schema: {} } } },
      'missing_field',
      'response_format.json_schema.name',
    );
    expectReject(
      { ...base, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: [] } } },
      'invalid_request',
      'response_format.json_schema.schema',
    );
  });

  it('stop', () => {
    expectReject({ ...base, stop: 5 }, 'invalid_request', 'stop');
    expectReject({ ...base, stop: ['a', 'b', 'c', 'd', 'e'] }, 'invalid_request', 'stop');
    expectReject({ ...base, stop: ['a', 2] }, 'invalid_request', 'stop.1');
  });

  it('max_tokens / max_completion_tokens', () => {
    for (const field of ['max_tokens', 'max_completion_tokens']) {
      expectReject({ ...base, [field]: 0 }, 'invalid_request', field);
      expectReject({ ...base, [field]: -5 }, 'invalid_request', field);
      expectReject({ ...base, [field]: 1.5 }, 'invalid_request', field);
      expectReject({ ...base, [field]: '100' }, 'invalid_request', field);
    }
  });

  it('sampling: temperature, top_p, seed, penalties', () => {
    expectReject({ ...base, temperature: 2.5 }, 'invalid_request', 'temperature');
    expectReject({ ...base, temperature: -0.1 }, 'invalid_request', 'temperature');
    expectReject({ ...base, temperature: 'hot' }, 'invalid_request', 'temperature');
    expectReject({ ...base, top_p: 1.1 }, 'invalid_request', 'top_p');
    expectReject({ ...base, top_p: -1 }, 'invalid_request', 'top_p');
    expectReject({ ...base, seed: 1.5 }, 'invalid_request', 'seed');
    expectReject({ ...base, seed: '7' }, 'invalid_request', 'seed');
    expectReject({ ...base, presence_penalty: 3 }, 'invalid_request', 'presence_penalty');
    expectReject({ ...base, frequency_penalty: -3 }, 'invalid_request', 'frequency_penalty');
  });

  it('user, stream, stream_options', () => {
    expectReject({ ...base, user: 12 }, 'invalid_request', 'user');
    expectReject({ ...base, stream: 'true' }, 'invalid_request', 'stream');
    expectReject({ ...base, stream: true, stream_options: true }, 'invalid_request', 'stream_options');
    expectReject(
      { ...base, stream: true, stream_options: { include_usage: 'yes' } },
      'invalid_request',
      'stream_options.include_usage',
    );
  });

  it('values we cannot honour', () => {
    expectReject({ ...base, n: 2 }, 'unsupported_parameter', 'n');
    expectReject({ ...base, n: 0 }, 'invalid_request', 'n');
    expectReject({ ...base, logprobs: true }, 'unsupported_parameter', 'logprobs');
    expectReject({ ...base, top_logprobs: 5 }, 'unsupported_parameter', 'top_logprobs');
    expectReject({ ...base, modalities: ['text', 'audio'] }, 'unsupported_parameter', 'modalities');
    expectReject({ ...base, audio: { voice: 'alloy', format: 'wav' } }, 'unsupported_parameter', 'audio');
    expectReject(
      { ...base, functions: [{ name: 'f', parameters: {} }] },
      'unsupported_parameter',
      'functions',
    );
    expectReject({ ...base, function_call: 'auto' }, 'unsupported_parameter', 'function_call');
  });

  it('continue_final_message', () => {
    expectReject({ ...base, continue_final_message: 'yes' }, 'invalid_request', 'continue_final_message');
    expectReject({ ...base, continue_final_message: true }, 'invalid_request', 'continue_final_message');
  });

  it('renders its errors in OpenAI shape', () => {
    const err = rejection({ ...base, n: 3 });
    expect(openaiDoor.renderError(err)).toEqual({
      error: {
        message: err.message,
        type: 'invalid_request_error',
        param: 'n',
        code: 'unsupported_parameter',
      },
    });
    expect(openaiDoor.renderError(new HoldfastError('rate_limited'))).toEqual({
      error: { message: 'Too many requests.', type: 'rate_limit_error', param: null, code: 'rate_limited' },
    });
    expect(openaiDoor.renderError(new HoldfastError('quota_exhausted'))).toMatchObject({
      error: { type: 'insufficient_quota' },
    });
  });
});

describe('openai door: parses requests', () => {
  it('accepts the minimal request and defaults', () => {
    expect(parse(base)).toEqual({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
      stream: false,
    });
  });

  it('ignores unknown extras and nulls the SDKs send', () => {
    const req = parse({
      ...base,
      metadata: { a: 'b' },
      store: false,
      reasoning_effort: 'low',
      service_tier: 'auto',
      prediction: null,
      logprobs: false,
      n: 1,
      temperature: null,
      stop: null,
      audio: null,
      top_logprobs: 0,
      modalities: ['text'],
      presence_penalty: 0.5,
      extra_body: { top_k: 5 },
    });
    expect(req).toEqual({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
      stream: false,
    });
  });

  it('maps a rich conversation with tools, images and tool answers', () => {
    const req = parse({
      model: 'gpt-4o',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'developer', content: [{ type: 'text', text: 'Use metric units.' }] },
        {
          role: 'user',
          name: 'ann',
          content: [
            { type: 'text', text: 'Weather here and in Oslo?' },
            { type: 'image_url', image_url: { url: 'https://example.com/sky.jpg', detail: 'low' } },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } },
          ],
        },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'call_1',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
            },
            {
              id: 'call_2',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Oslo"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '18C sunny' },
        { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: '4C snow' }] },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Paris 18C, ' },
            { type: 'refusal', refusal: 'no more' },
          ],
        },
        { role: 'user', content: 'thanks' },
      ],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Weather by city',
            parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
            strict: true,
          },
        },
        { type: 'function', function: { name: 'now' } },
      ],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      parallel_tool_calls: false,
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'answer', schema: { type: 'object' }, strict: true },
      },
      stop: 'END',
      max_tokens: 100,
      max_completion_tokens: 200,
      temperature: 0.2,
      top_p: 0.9,
      seed: 42,
      user: 'user-7',
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(req).toEqual({
      model: 'gpt-4o',
      messages: [
        { role: 'system', content: [{ type: 'text', text: 'You are terse.' }] },
        { role: 'system', content: [{ type: 'text', text: 'Use metric units.' }] },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Weather here and in Oslo?' },
            { type: 'image', source: { kind: 'url', url: 'https://example.com/sky.jpg' } },
            { type: 'image', source: { kind: 'base64', mediaType: 'image/png', data: PNG } },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'tool_call', id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
            { type: 'tool_call', id: 'call_2', name: 'get_weather', arguments: '{"city":"Oslo"}' },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', toolCallId: 'call_1', content: [{ type: 'text', text: '18C sunny' }] },
            { type: 'tool_result', toolCallId: 'call_2', content: [{ type: 'text', text: '4C snow' }] },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Paris 18C, ' },
            { type: 'text', text: 'no more' },
          ],
        },
        { role: 'user', content: [{ type: 'text', text: 'thanks' }] },
      ],
      tools: [
        {
          name: 'get_weather',
          description: 'Weather by city',
          parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        },
        { name: 'now', parameters: { type: 'object', properties: {} } },
      ],
      toolChoice: { type: 'tool', name: 'get_weather' },
      parallelToolCalls: false,
      responseFormat: { type: 'json_schema', name: 'answer', schema: { type: 'object' }, strict: true },
      stop: ['END'],
      maxTokens: 200,
      temperature: 0.2,
      topP: 0.9,
      seed: 42,
      user: 'user-7',
      stream: true,
      includeUsage: true,
    });
  });

  it('maps the simple forms of tool_choice, response_format, stop and max_tokens', () => {
    const tools = [{ type: 'function', function: { name: 'f' } }];
    for (const choice of ['auto', 'none', 'required'] as const) {
      expect(parse({ ...base, tools, tool_choice: choice }).toolChoice).toEqual({ type: choice });
    }
    expect(parse({ ...base, tool_choice: 'none' }).toolChoice).toEqual({ type: 'none' });
    expect(parse({ ...base, response_format: { type: 'json_object' } }).responseFormat).toEqual({
      type: 'json_object',
    });
    expect(parse({ ...base, response_format: { type: 'text' } }).responseFormat).toEqual({ type: 'text' });
    expect(parse({ ...base, stop: ['a', 'b', 'c', 'd'] }).stop).toEqual(['a', 'b', 'c', 'd']);
    expect(parse({ ...base, max_tokens: 7 }).maxTokens).toBe(7);
    expect(parse({ ...base, stream: true }).includeUsage).toBe(false);
  });

  it('maps vLLM continue_final_message to a continuation request', () => {
    const req = parse({
      ...withMessages(
        { role: 'user', content: 'Count to five' },
        { role: 'assistant', content: 'One, two,' },
      ),
      continue_final_message: true,
      add_generation_prompt: false,
    });
    expect(req.continueFinalMessage).toBe(true);
    expect(req.messages.at(-1)).toEqual({
      role: 'assistant',
      content: [{ type: 'text', text: 'One, two,' }],
    });
  });

  it('keeps separate tool turns apart when a user message sits between them', () => {
    const req = parse(
      withMessages(
        { role: 'tool', tool_call_id: 'a', content: '1' },
        { role: 'user', content: 'and?' },
        { role: 'tool', tool_call_id: 'b', content: '2' },
      ),
    );
    expect(req.messages.map((m) => m.content.length)).toEqual([1, 1, 1]);
  });
});

const ctx: RenderContext = {
  id: 'chatcmpl-test1',
  model: 'gpt-4o-mini',
  created: 1741569952,
  includeUsage: false,
};

describe('openai door: renders answers', () => {
  it('renders a text completion', () => {
    const res: ChatResponse = {
      id: 'up-1',
      model: 'upstream',
      content: [
        { type: 'text', text: 'Hello' },
        { type: 'text', text: ' there' },
      ],
      finishReason: 'end_turn',
      usage: { inputTokens: 9, outputTokens: 2 },
    };
    expect(openaiDoor.renderResponse(res, ctx)).toEqual({
      id: 'chatcmpl-test1',
      object: 'chat.completion',
      created: 1741569952,
      model: 'gpt-4o-mini',
      system_fingerprint: null,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Hello there', refusal: null },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 },
    });
  });

  it('renders tool calls with null content, and every finish reason', () => {
    const res: ChatResponse = {
      id: 'x',
      model: 'x',
      content: [{ type: 'tool_call', id: 'call_9', name: 'f', arguments: '{"a":1}' }],
      finishReason: 'tool_use',
      usage: { inputTokens: 1, outputTokens: 1 },
    };
    const out = openaiDoor.renderResponse(res, ctx) as {
      choices: Array<{ message: unknown; finish_reason: string }>;
    };
    expect(out.choices[0]?.message).toEqual({
      role: 'assistant',
      content: null,
      tool_calls: [{ id: 'call_9', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }],
      refusal: null,
    });
    expect(out.choices[0]?.finish_reason).toBe('tool_calls');
    const finish = (finishReason: ChatResponse['finishReason']) =>
      (openaiDoor.renderResponse({ ...res, content: [], finishReason }, ctx) as typeof out).choices[0]
        ?.finish_reason;
    expect(finish('end_turn')).toBe('stop');
    expect(finish('stop_sequence')).toBe('stop');
    expect(finish('max_tokens')).toBe('length');
    expect(finish('content_filter')).toBe('content_filter');
    expect(
      (
        openaiDoor.renderResponse({ ...res, content: [] }, ctx) as {
          choices: Array<{ message: { content: unknown } }>;
        }
      ).choices[0]?.message.content,
    ).toBe('');
  });

  function renderStream(events: StreamEvent[], includeUsage: boolean): string {
    const r = openaiDoor.streamRenderer({ ...ctx, includeUsage });
    return r.begin() + events.map((e) => r.event(e)).join('') + r.end();
  }

  function frames(sse: string): unknown[] {
    expect(sse.endsWith('data: [DONE]\n\n')).toBe(true);
    return sse
      .split('\n\n')
      .filter((f) => f !== '' && f !== 'data: [DONE]')
      .map((f) => {
        expect(f.startsWith('data: ')).toBe(true);
        return JSON.parse(f.slice('data: '.length));
      });
  }

  const head = {
    id: 'chatcmpl-test1',
    object: 'chat.completion.chunk',
    created: 1741569952,
    model: 'gpt-4o-mini',
    system_fingerprint: null,
  };
  const choice = (delta: unknown, finish: string | null = null) => ({
    ...head,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  });

  it('streams text exactly like OpenAI, with the usage chunk when asked', () => {
    const sse = renderStream(
      [
        { type: 'start', id: 'up', model: 'up' },
        { type: 'text', text: 'Hel' },
        { type: 'text', text: 'lo' },
        { type: 'usage', usage: { inputTokens: 5, outputTokens: 2 } },
        { type: 'finish', reason: 'max_tokens' },
      ],
      true,
    );
    expect(frames(sse)).toEqual([
      { ...choice({ role: 'assistant', content: '' }), usage: null },
      { ...choice({ content: 'Hel' }), usage: null },
      { ...choice({ content: 'lo' }), usage: null },
      { ...choice({}, 'length'), usage: null },
      { ...head, choices: [], usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 } },
    ]);
    expect(sse.split('\n\n').at(-2)).toBe('data: [DONE]');
  });

  it('streams tool calls with OpenAI indexes and argument deltas, without usage when not asked', () => {
    const sse = renderStream(
      [
        { type: 'start' },
        { type: 'text', text: 'Checking.' },
        // An Anthropic upstream numbers content blocks: the text was block 0.
        { type: 'tool_call_start', index: 1, id: 'toolu_1', name: 'get_weather' },
        { type: 'tool_call_delta', index: 1, argumentsDelta: '{"city":' },
        { type: 'tool_call_delta', index: 1, argumentsDelta: '"Paris"}' },
        { type: 'tool_call_start', index: 2, id: 'toolu_2', name: 'now' },
        { type: 'usage', usage: { outputTokens: 30 } },
        { type: 'finish', reason: 'tool_use' },
      ],
      false,
    );
    expect(frames(sse)).toEqual([
      choice({ role: 'assistant', content: '' }),
      choice({ content: 'Checking.' }),
      choice({
        tool_calls: [
          { index: 0, id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '' } },
        ],
      }),
      choice({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
      choice({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
      choice({
        tool_calls: [{ index: 1, id: 'toolu_2', type: 'function', function: { name: 'now', arguments: '' } }],
      }),
      choice({}, 'tool_calls'),
    ]);
  });

  it('sends the role chunk once even when a failover repeats start', () => {
    const sse = renderStream(
      [
        { type: 'start' },
        { type: 'text', text: 'a' },
        { type: 'start' },
        { type: 'text', text: 'b' },
        { type: 'finish', reason: 'end_turn' },
      ],
      false,
    );
    expect(frames(sse)).toHaveLength(4);
  });

  it('renders in-band errors and keep-alives', () => {
    const r = openaiDoor.streamRenderer(ctx);
    expect(r.keepAlive()).toBe(': keep-alive\n\n');
    const err = new HoldfastError('stream_interrupted');
    expect(r.error(err)).toBe(
      `data: ${JSON.stringify({ error: { message: err.message, type: 'server_error', param: null, code: 'stream_interrupted' } })}\n\n`,
    );
  });

  it('makes OpenAI-looking ids', () => {
    const a = openaiDoor.newId();
    expect(a).toMatch(/^chatcmpl-[A-Za-z0-9]{29}$/);
    expect(openaiDoor.newId()).not.toBe(a);
  });

  it('round-trips: a rendered completion parses back as the same conversation turn', () => {
    const res: ChatResponse = {
      id: 'x',
      model: 'x',
      content: [
        { type: 'text', text: 'Let me look.' },
        { type: 'tool_call', id: 'call_1', name: 'f', arguments: '{}' },
      ],
      finishReason: 'tool_use',
      usage: { inputTokens: 1, outputTokens: 1 },
    };
    const out = openaiDoor.renderResponse(res, ctx) as { choices: Array<{ message: unknown }> };
    const req = parse(withMessages({ role: 'user', content: 'go' }, out.choices[0]?.message));
    expect(req.messages[1]).toEqual({ role: 'assistant', content: res.content });
  });
});
