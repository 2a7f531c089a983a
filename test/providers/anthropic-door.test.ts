import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import type { ChatRequest, ChatResponse, StreamEvent } from '../../src/core/chat.ts';
import type { RenderContext } from '../../src/core/door.ts';
import { HoldfastError } from '../../src/core/errors.ts';
import { anthropicDoor } from '../../src/providers/anthropic/door.ts';
import { parseSse } from '../../src/providers/sse.ts';

const door = anthropicDoor;
const HEADERS: IncomingHttpHeaders = { 'anthropic-version': '2023-06-01' };

function body(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: 'claude-x', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }], ...extra };
}

function rejects(b: unknown, headers: IncomingHttpHeaders = HEADERS): HoldfastError {
  try {
    door.parseRequest(b, headers);
  } catch (err) {
    expect(err).toBeInstanceOf(HoldfastError);
    return err as HoldfastError;
  }
  throw new Error('expected parseRequest to throw');
}

function expectError(b: unknown, code: HoldfastError['code'], param: string | undefined): void {
  const err = rejects(b);
  // Every request-shape error is a 400 in both dialects.
  expect({ code: err.code, param: err.param, status: err.status }).toEqual({ code, param, status: 400 });
  if (param) expect(err.message.startsWith(`${param}: `)).toBe(true);
}

const user = (content: unknown) => ({ role: 'user', content });
const assistant = (content: unknown) => ({ role: 'assistant', content });
const msgs = (...m: unknown[]) => body({ messages: m });
const img = (source: unknown) => ({ type: 'image', source });
const PNG = { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' };

describe('anthropic door: rejecting bad requests', () => {
  const cases: Array<[string, unknown, HoldfastError['code'], string | undefined]> = [
    // body
    ['a non-object body', [1, 2], 'invalid_request', undefined],
    ['a null body', null, 'invalid_request', undefined],
    // required fields
    ['missing model', { max_tokens: 1, messages: [user('x')] }, 'missing_field', 'model'],
    ['missing messages', { model: 'm', max_tokens: 1 }, 'missing_field', 'messages'],
    ['missing max_tokens', { model: 'm', messages: [user('x')] }, 'missing_field', 'max_tokens'],
    ['an empty body', {}, 'missing_field', 'model'],
    // model / max_tokens
    ['a numeric model', body({ model: 7 }), 'invalid_request', 'model'],
    ['an empty model', body({ model: '' }), 'invalid_request', 'model'],
    ['max_tokens 0', body({ max_tokens: 0 }), 'invalid_request', 'max_tokens'],
    ['fractional max_tokens', body({ max_tokens: 1.5 }), 'invalid_request', 'max_tokens'],
    ['string max_tokens', body({ max_tokens: '100' }), 'invalid_request', 'max_tokens'],
    // messages
    ['messages not an array', body({ messages: 'hi' }), 'invalid_request', 'messages'],
    ['no messages', body({ messages: [] }), 'invalid_request', 'messages'],
    ['a message that is not an object', msgs('hi'), 'invalid_request', 'messages.0'],
    ['an unknown role', msgs({ role: 'tool', content: 'x' }), 'invalid_request', 'messages.0.role'],
    ['a missing role', msgs({ content: 'x' }), 'missing_field', 'messages.0.role'],
    ['missing content', msgs({ role: 'user' }), 'missing_field', 'messages.0.content'],
    ['numeric content', msgs(user(5)), 'invalid_request', 'messages.0.content'],
    ['object content', msgs(user({ type: 'text', text: 'x' })), 'invalid_request', 'messages.0.content'],
    [
      'empty content before the end',
      msgs(user(''), assistant('ok'), user('x')),
      'invalid_request',
      'messages.0.content',
    ],
    ['an empty block list', msgs(user([])), 'invalid_request', 'messages.0.content'],
    [
      'only system turns',
      body({ system: 'x', messages: [{ role: 'system', content: 'y' }] }),
      'invalid_request',
      'messages',
    ],
    // content blocks
    ['a block without type', msgs(user([{ text: 'x' }])), 'missing_field', 'messages.0.content.0.type'],
    ['a numeric block type', msgs(user([{ type: 3 }])), 'invalid_request', 'messages.0.content.0.type'],
    [
      'an unknown block type',
      msgs(user([{ type: 'hologram' }])),
      'unsupported_parameter',
      'messages.0.content.0.type',
    ],
    [
      'a document block',
      msgs(
        user([
          { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' } },
        ]),
      ),
      'unsupported_parameter',
      'messages.0.content.0.type',
    ],
    [
      'a search_result block',
      msgs(user([{ type: 'search_result', source: 's', title: 't', content: [] }])),
      'unsupported_parameter',
      'messages.0.content.0.type',
    ],
    [
      'a text block without text',
      msgs(user([{ type: 'text' }])),
      'missing_field',
      'messages.0.content.0.text',
    ],
    [
      'a text block with numeric text',
      msgs(user([{ type: 'text', text: 1 }])),
      'invalid_request',
      'messages.0.content.0.text',
    ],
    ['a block list that is not all objects', msgs(user(['x'])), 'invalid_request', 'messages.0.content.0'],
    // images
    [
      'an image without source',
      msgs(user('a'), assistant('b'), user([{ type: 'image' }])),
      'missing_field',
      'messages.2.content.0.source',
    ],
    [
      'an image with a file source',
      msgs(user([img({ type: 'file', file_id: 'file_1' })])),
      'unsupported_parameter',
      'messages.0.content.0.source.type',
    ],
    [
      'an image with an unknown media type',
      msgs(user([img({ ...PNG, media_type: 'image/bmp' })])),
      'invalid_request',
      'messages.0.content.0.source.media_type',
    ],
    [
      'an image without data',
      msgs(user([img({ type: 'base64', media_type: 'image/png' })])),
      'missing_field',
      'messages.0.content.0.source.data',
    ],
    [
      'an image url that is not a string',
      msgs(user([img({ type: 'url', url: 5 })])),
      'invalid_request',
      'messages.0.content.0.source.url',
    ],
    [
      'an image in an assistant turn',
      msgs(user('x'), assistant([img(PNG)])),
      'invalid_request',
      'messages.1.content.0.type',
    ],
    // tool_use / tool_result
    [
      'tool_use in a user turn',
      msgs(user([{ type: 'tool_use', id: 't', name: 'n', input: {} }])),
      'invalid_request',
      'messages.0.content.0.type',
    ],
    [
      'tool_use without id',
      msgs(user('x'), assistant([{ type: 'tool_use', name: 'n', input: {} }])),
      'missing_field',
      'messages.1.content.0.id',
    ],
    [
      'tool_use with array input',
      msgs(user('x'), assistant([{ type: 'tool_use', id: 't', name: 'n', input: [1] }])),
      'invalid_request',
      'messages.1.content.0.input',
    ],
    [
      'tool_result in an assistant turn',
      msgs(user('x'), assistant([{ type: 'tool_result', tool_use_id: 't' }])),
      'invalid_request',
      'messages.1.content.0.type',
    ],
    [
      'tool_result without tool_use_id',
      msgs(user([{ type: 'tool_result', content: 'x' }])),
      'missing_field',
      'messages.0.content.0.tool_use_id',
    ],
    [
      'tool_result with a string is_error',
      msgs(user([{ type: 'tool_result', tool_use_id: 't', is_error: 'yes' }])),
      'invalid_request',
      'messages.0.content.0.is_error',
    ],
    [
      'tool_result holding a document',
      msgs(user([{ type: 'tool_result', tool_use_id: 't', content: [{ type: 'document' }] }])),
      'unsupported_parameter',
      'messages.0.content.0.content.0.type',
    ],
    [
      'thinking in a user turn',
      msgs(user([{ type: 'thinking', thinking: 'x', signature: 's' }])),
      'invalid_request',
      'messages.0.content.0.type',
    ],
    [
      'an image in a system turn',
      msgs({ role: 'system', content: [img(PNG)] }, user('x')),
      'invalid_request',
      'messages.0.content.0.type',
    ],
    // system
    ['a numeric system', body({ system: 5 }), 'invalid_request', 'system'],
    ['a system image block', body({ system: [img(PNG)] }), 'invalid_request', 'system.0.type'],
    // sampling
    ['temperature above 1', body({ temperature: 1.5 }), 'invalid_request', 'temperature'],
    ['negative temperature', body({ temperature: -0.1 }), 'invalid_request', 'temperature'],
    ['string temperature', body({ temperature: 'hot' }), 'invalid_request', 'temperature'],
    ['top_p above 1', body({ top_p: 2 }), 'invalid_request', 'top_p'],
    ['negative top_k', body({ top_k: -1 }), 'invalid_request', 'top_k'],
    ['fractional top_k', body({ top_k: 2.5 }), 'invalid_request', 'top_k'],
    ['stop_sequences as a string', body({ stop_sequences: 'END' }), 'invalid_request', 'stop_sequences'],
    ['a numeric stop sequence', body({ stop_sequences: ['a', 1] }), 'invalid_request', 'stop_sequences.1'],
    ['a string stream flag', body({ stream: 'yes' }), 'invalid_request', 'stream'],
    // metadata
    ['a numeric user_id', body({ metadata: { user_id: 5 } }), 'invalid_request', 'metadata.user_id'],
    ['metadata that is not an object', body({ metadata: 'u' }), 'invalid_request', 'metadata'],
    // tools
    ['tools not an array', body({ tools: {} }), 'invalid_request', 'tools'],
    [
      'a tool without name',
      body({ tools: [{ input_schema: { type: 'object' } }] }),
      'missing_field',
      'tools.0.name',
    ],
    [
      'a tool with a spaced name',
      body({ tools: [{ name: 'get weather', input_schema: { type: 'object' } }] }),
      'invalid_request',
      'tools.0.name',
    ],
    [
      'a tool without input_schema',
      body({ tools: [{ name: 't' }] }),
      'missing_field',
      'tools.0.input_schema',
    ],
    [
      'a non-object input_schema',
      body({ tools: [{ name: 't', input_schema: { type: 'string' } }] }),
      'invalid_request',
      'tools.0.input_schema.type',
    ],
    [
      'a server tool',
      body({ tools: [{ type: 'web_search_20250305', name: 'web_search' }] }),
      'unsupported_parameter',
      'tools.0.type',
    ],
    // tool_choice
    ['tool_choice as a string', body({ tool_choice: 'auto' }), 'invalid_request', 'tool_choice'],
    [
      'an unknown tool_choice type',
      body({ tool_choice: { type: 'sometimes' } }),
      'unsupported_parameter',
      'tool_choice.type',
    ],
    [
      'tool_choice tool without name',
      body({ tool_choice: { type: 'tool' } }),
      'missing_field',
      'tool_choice.name',
    ],
    [
      'a string disable_parallel_tool_use',
      body({ tool_choice: { type: 'auto', disable_parallel_tool_use: 'y' } }),
      'invalid_request',
      'tool_choice.disable_parallel_tool_use',
    ],
    // features we cannot honour
    [
      'extended thinking',
      body({ thinking: { type: 'enabled', budget_tokens: 2048 } }),
      'unsupported_parameter',
      'thinking.type',
    ],
    ['adaptive thinking', body({ thinking: { type: 'adaptive' } }), 'unsupported_parameter', 'thinking.type'],
    ['thinking without type', body({ thinking: {} }), 'missing_field', 'thinking.type'],
    [
      'mcp_servers',
      body({ mcp_servers: [{ type: 'url', url: 'https://x', name: 'x' }] }),
      'unsupported_parameter',
      'mcp_servers',
    ],
    ['a container', body({ container: 'cntr_1' }), 'unsupported_parameter', 'container'],
    [
      'an unknown top-level field',
      body({ frequency_penalty: 1 }),
      'unsupported_parameter',
      'frequency_penalty',
    ],
    [
      'an output format that is not json_schema',
      body({ output_config: { format: { type: 'xml' } } }),
      'invalid_request',
      'output_config.format.type',
    ],
  ];
  for (const [name, b, code, param] of cases) {
    it(`rejects ${name} with ${code}${param ? ` at ${param}` : ''}`, () => expectError(b, code, param));
  }

  it('rejects an unparseable anthropic-version header', () => {
    for (const v of ['latest', '2023-6-1', '2023-13-45', '']) {
      const err = rejects(body(), { 'anthropic-version': v });
      expect([err.code, err.param, err.status]).toEqual(['invalid_request', 'anthropic-version', 400]);
    }
  });

  it('accepts an absent, known or well-formed anthropic-version', () => {
    for (const headers of [
      {},
      { 'anthropic-version': '2023-06-01' },
      { 'anthropic-version': '2023-01-01' },
      { 'anthropic-version': ['2023-06-01'] },
    ]) {
      expect(door.parseRequest(body(), headers).model).toBe('claude-x');
    }
  });
});

describe('anthropic door: parsing', () => {
  it('maps a full request', () => {
    const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
    const req = door.parseRequest(
      {
        model: 'claude-x',
        max_tokens: 512,
        system: [
          { type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral' } },
          { type: 'text', text: 'Use metric units.' },
        ],
        messages: [
          user([
            { type: 'text', text: 'Weather?' },
            img(PNG),
            img({ type: 'url', url: 'https://example.com/cat.jpg' }),
          ]),
          assistant([
            { type: 'thinking', thinking: 'The user wants weather.', signature: 'EqQB' },
            { type: 'text', text: 'Checking.' },
            { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
          ]),
          user([
            { type: 'tool_result', tool_use_id: 'toolu_1', content: '18C' },
            {
              type: 'tool_result',
              tool_use_id: 'toolu_2',
              content: [{ type: 'text', text: 'err' }, img(PNG)],
              is_error: true,
            },
            { type: 'tool_result', tool_use_id: 'toolu_3' },
          ]),
          user('And tomorrow?'),
        ],
        tools: [
          {
            name: 'get_weather',
            description: 'Weather',
            input_schema: schema,
            cache_control: { type: 'ephemeral' },
          },
        ],
        tool_choice: { type: 'any', disable_parallel_tool_use: true },
        stop_sequences: ['END'],
        temperature: 0.3,
        top_p: 0.9,
        top_k: 40,
        metadata: { user_id: 'u-1' },
        stream: true,
        thinking: { type: 'disabled' },
        service_tier: 'auto',
        output_config: { format: { type: 'json_schema', schema }, effort: 'low' },
      },
      HEADERS,
    );
    const expected: ChatRequest = {
      model: 'claude-x',
      maxTokens: 512,
      stream: true,
      includeUsage: true,
      messages: [
        {
          role: 'system',
          content: [
            { type: 'text', text: 'You are terse.' },
            { type: 'text', text: 'Use metric units.' },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Weather?' },
            { type: 'image', source: { kind: 'base64', mediaType: 'image/png', data: 'iVBORw0KGgo=' } },
            { type: 'image', source: { kind: 'url', url: 'https://example.com/cat.jpg' } },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Checking.' },
            { type: 'tool_call', id: 'toolu_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', toolCallId: 'toolu_1', content: [{ type: 'text', text: '18C' }] },
            {
              type: 'tool_result',
              toolCallId: 'toolu_2',
              content: [
                { type: 'text', text: 'err' },
                { type: 'image', source: { kind: 'base64', mediaType: 'image/png', data: 'iVBORw0KGgo=' } },
              ],
              isError: true,
            },
            { type: 'tool_result', toolCallId: 'toolu_3', content: [] },
          ],
        },
        { role: 'user', content: [{ type: 'text', text: 'And tomorrow?' }] },
      ],
      tools: [{ name: 'get_weather', description: 'Weather', parameters: schema }],
      toolChoice: { type: 'required' },
      parallelToolCalls: false,
      stop: ['END'],
      temperature: 0.3,
      topP: 0.9,
      user: 'u-1',
      responseFormat: { type: 'json_schema', name: 'response', schema },
    };
    expect(req).toEqual(expected);
  });

  it('maps the minimal request with string system and defaults', () => {
    expect(door.parseRequest(body({ system: 'Be brief.' }), {})).toEqual({
      model: 'claude-x',
      maxTokens: 100,
      stream: false,
      includeUsage: true,
      messages: [
        { role: 'system', content: [{ type: 'text', text: 'Be brief.' }] },
        { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
      ],
    });
  });

  it('maps each tool_choice', () => {
    const tc = (tool_choice: unknown) => door.parseRequest(body({ tool_choice }), HEADERS);
    expect(tc({ type: 'auto' }).toolChoice).toEqual({ type: 'auto' });
    expect(tc({ type: 'auto' }).parallelToolCalls).toBeUndefined();
    expect(tc({ type: 'none' }).toolChoice).toEqual({ type: 'none' });
    expect(tc({ type: 'tool', name: 'f' })).toMatchObject({ toolChoice: { type: 'tool', name: 'f' } });
    expect(tc({ type: 'any' }).toolChoice).toEqual({ type: 'required' });
  });

  it('treats a trailing assistant turn as a prefill', () => {
    const req = door.parseRequest(msgs(user('Name a colour.'), assistant('The colour is ')), HEADERS);
    expect(req.continueFinalMessage).toBe(true);
    expect(req.messages.at(-1)).toEqual({
      role: 'assistant',
      content: [{ type: 'text', text: 'The colour is ' }],
    });
  });

  it('drops an empty trailing assistant turn instead of prefilling nothing', () => {
    const req = door.parseRequest(msgs(user('Hi'), assistant('')), HEADERS);
    expect(req.continueFinalMessage).toBeUndefined();
    expect(req.messages.map((m) => m.role)).toEqual(['user']);
  });

  it('accepts consecutive same-role turns, an assistant first turn and system turns', () => {
    const req = door.parseRequest(
      msgs(
        assistant('Hello, traveller.'),
        user('Hi'),
        user('Anyone?'),
        { role: 'system', content: 'Stay in character.' },
        user('x'),
      ),
      HEADERS,
    );
    expect(req.messages.map((m) => m.role)).toEqual(['assistant', 'user', 'user', 'system', 'user']);
    expect(req.continueFinalMessage).toBeUndefined();
  });

  it('ignores null metadata.user_id and empty stop_sequences', () => {
    const req = door.parseRequest(body({ metadata: { user_id: null }, stop_sequences: [] }), HEADERS);
    expect(req.user).toBeUndefined();
    expect(req.stop).toBeUndefined();
  });
});

const CTX: RenderContext = {
  id: 'msg_01Gateway',
  model: 'claude-public',
  created: 1_700_000_000,
  includeUsage: true,
  inputTokens: 21,
};

async function frames(text: string): Promise<Array<{ event: string | undefined; data: unknown }>> {
  const out: Array<{ event: string | undefined; data: unknown }> = [];
  for await (const m of parseSse(Readable.from([text])))
    out.push({ event: m.event, data: JSON.parse(m.data) });
  return out;
}

function render(events: StreamEvent[], ctx: RenderContext = CTX): string {
  const r = door.streamRenderer(ctx);
  return r.begin() + events.map((e) => r.event(e)).join('') + r.end();
}

const TEXT_THEN_TOOL: StreamEvent[] = [
  { type: 'start', id: 'up', model: 'up' },
  { type: 'usage', usage: { inputTokens: 25 } },
  { type: 'text', text: 'Let me ' },
  { type: 'text', text: 'check.' },
  { type: 'tool_call_start', index: 0, id: 'toolu_1', name: 'get_weather' },
  { type: 'tool_call_delta', index: 0, argumentsDelta: '{"city":' },
  { type: 'tool_call_delta', index: 0, argumentsDelta: '"Paris"}' },
  { type: 'text', text: 'And more.' },
  { type: 'usage', usage: { outputTokens: 40 } },
  { type: 'finish', reason: 'tool_use' },
];

describe('anthropic door: rendering', () => {
  it('renders a unary message with text and tool_use', () => {
    const res: ChatResponse = {
      id: 'upstream-id',
      model: 'upstream-model',
      content: [
        { type: 'text', text: 'Checking.' },
        { type: 'tool_call', id: 'toolu_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
        { type: 'tool_call', id: 'toolu_2', name: 'broken', arguments: '{"city":' },
      ],
      finishReason: 'tool_use',
      usage: { inputTokens: 30, outputTokens: 12 },
    };
    expect(door.renderResponse(res, CTX)).toEqual({
      id: 'msg_01Gateway',
      type: 'message',
      role: 'assistant',
      model: 'claude-public',
      content: [
        { type: 'text', text: 'Checking.' },
        { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
        { type: 'tool_use', id: 'toolu_2', name: 'broken', input: {} },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 30, output_tokens: 12 },
    });
  });

  it('maps stop reasons', () => {
    const r = (finishReason: ChatResponse['finishReason'], stopSequence?: string) =>
      door.renderResponse(
        {
          id: '',
          model: '',
          content: [],
          finishReason,
          usage: { inputTokens: 0, outputTokens: 0 },
          ...(stopSequence ? { stopSequence } : {}),
        },
        CTX,
      ) as { stop_reason: string; stop_sequence: string | null };
    expect(r('end_turn')).toMatchObject({ stop_reason: 'end_turn', stop_sequence: null });
    expect(r('max_tokens').stop_reason).toBe('max_tokens');
    expect(r('stop_sequence', 'END')).toMatchObject({ stop_reason: 'stop_sequence', stop_sequence: 'END' });
    expect(r('content_filter').stop_reason).toBe('refusal');
  });

  it('renders errors in the Anthropic shape', () => {
    expect(door.renderError(new HoldfastError('rate_limited'))).toEqual({
      type: 'error',
      error: { type: 'rate_limit_error', message: 'Too many requests.' },
    });
    expect(door.renderError(new HoldfastError('overloaded', { message: 'Busy' }))).toEqual({
      type: 'error',
      error: { type: 'overloaded_error', message: 'Busy' },
    });
  });

  it('makes msg_ ids', () => {
    const a = door.newId();
    expect(a).toMatch(/^msg_01[A-Za-z0-9]{22}$/);
    expect(door.newId()).not.toBe(a);
  });

  it('renders the exact SSE sequence for text, a tool call and text again', async () => {
    const text = render(TEXT_THEN_TOOL);
    expect(text.startsWith('event: message_start\ndata: {')).toBe(true);
    expect(await frames(text)).toEqual([
      {
        event: 'message_start',
        data: {
          type: 'message_start',
          message: {
            id: 'msg_01Gateway',
            type: 'message',
            role: 'assistant',
            model: 'claude-public',
            content: [],
            stop_reason: null,
            stop_sequence: null,
            usage: { input_tokens: 21, output_tokens: 1 },
          },
        },
      },
      { event: 'ping', data: { type: 'ping' } },
      {
        event: 'content_block_start',
        data: { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
      },
      {
        event: 'content_block_delta',
        data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Let me ' } },
      },
      {
        event: 'content_block_delta',
        data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'check.' } },
      },
      { event: 'content_block_stop', data: { type: 'content_block_stop', index: 0 } },
      {
        event: 'content_block_start',
        data: {
          type: 'content_block_start',
          index: 1,
          content_block: { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} },
        },
      },
      {
        event: 'content_block_delta',
        data: {
          type: 'content_block_delta',
          index: 1,
          delta: { type: 'input_json_delta', partial_json: '{"city":' },
        },
      },
      {
        event: 'content_block_delta',
        data: {
          type: 'content_block_delta',
          index: 1,
          delta: { type: 'input_json_delta', partial_json: '"Paris"}' },
        },
      },
      { event: 'content_block_stop', data: { type: 'content_block_stop', index: 1 } },
      {
        event: 'content_block_start',
        data: { type: 'content_block_start', index: 2, content_block: { type: 'text', text: '' } },
      },
      {
        event: 'content_block_delta',
        data: { type: 'content_block_delta', index: 2, delta: { type: 'text_delta', text: 'And more.' } },
      },
      { event: 'content_block_stop', data: { type: 'content_block_stop', index: 2 } },
      {
        event: 'message_delta',
        data: {
          type: 'message_delta',
          delta: { stop_reason: 'tool_use', stop_sequence: null },
          usage: { output_tokens: 40, input_tokens: 25 },
        },
      },
      { event: 'message_stop', data: { type: 'message_stop' } },
    ]);
  });

  it('renders a stop sequence, an empty answer and the default input count', async () => {
    const f = await frames(
      render([{ type: 'start' }, { type: 'finish', reason: 'stop_sequence', stopSequence: 'END' }], {
        ...CTX,
        inputTokens: undefined,
      }),
    );
    expect(f.map((x) => x.event)).toEqual(['message_start', 'ping', 'message_delta', 'message_stop']);
    expect(f[0]?.data).toMatchObject({ message: { usage: { input_tokens: 0 } } });
    expect(f[2]?.data).toEqual({
      type: 'message_delta',
      delta: { stop_reason: 'stop_sequence', stop_sequence: 'END' },
      usage: { output_tokens: 0 },
    });
  });

  it('renders two tool calls as consecutive blocks', async () => {
    const f = await frames(
      render([
        { type: 'tool_call_start', index: 0, id: 'a', name: 'f' },
        { type: 'tool_call_delta', index: 0, argumentsDelta: '{}' },
        { type: 'tool_call_start', index: 1, id: 'b', name: 'g' },
        { type: 'tool_call_delta', index: 1, argumentsDelta: '{"x":1}' },
        { type: 'finish', reason: 'tool_use' },
      ]),
    );
    expect(f.slice(2).map((x) => [x.event, (x.data as { index?: number }).index])).toEqual([
      ['content_block_start', 0],
      ['content_block_delta', 0],
      ['content_block_stop', 0],
      ['content_block_start', 1],
      ['content_block_delta', 1],
      ['content_block_stop', 1],
      ['message_delta', undefined],
      ['message_stop', undefined],
    ]);
  });

  it('renders an in-band error and keep-alive pings', async () => {
    const r = door.streamRenderer(CTX);
    r.begin();
    r.event({ type: 'text', text: 'Hel' });
    const err = r.error(new HoldfastError('stream_interrupted'));
    expect(await frames(err)).toEqual([
      {
        event: 'error',
        data: { type: 'error', error: { type: 'api_error', message: 'The answer stream was interrupted.' } },
      },
    ]);
    expect(r.keepAlive()).toBe('event: ping\ndata: {"type":"ping"}\n\n');
  });
});

describe('anthropic door: round trip through the official SDK', () => {
  it('serves the SDK for unary and streamed calls, with what the SDK sends parsed back', async () => {
    const parsed: ChatRequest[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const chat = door.parseRequest(JSON.parse(Buffer.concat(chunks).toString('utf8')), req.headers);
        parsed.push(chat);
        const ctx: RenderContext = {
          id: door.newId(),
          model: chat.model,
          created: 0,
          includeUsage: true,
          inputTokens: 25,
        };
        if (chat.stream) {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.end(render(TEXT_THEN_TOOL, ctx));
        } else {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify(
              door.renderResponse(
                {
                  id: 'x',
                  model: 'x',
                  content: [
                    { type: 'text', text: 'Hi there.' },
                    { type: 'tool_call', id: 'toolu_9', name: 'f', arguments: '{"a":1}' },
                  ],
                  finishReason: 'tool_use',
                  usage: { inputTokens: 3, outputTokens: 4 },
                },
                ctx,
              ),
            ),
          );
        }
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = new Anthropic({
      apiKey: 'test',
      baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      maxRetries: 0,
    });
    try {
      const params = {
        model: 'claude-public',
        max_tokens: 64,
        system: 'Be brief.',
        messages: [{ role: 'user' as const, content: 'Weather in Paris?' }],
        tools: [{ name: 'get_weather', input_schema: { type: 'object' as const, properties: {} } }],
      };
      const unary = await client.messages.create(params);
      expect(unary.content).toMatchObject([
        { type: 'text', text: 'Hi there.' },
        { type: 'tool_use', id: 'toolu_9', name: 'f', input: { a: 1 } },
      ]);
      expect(unary.usage).toMatchObject({ input_tokens: 3, output_tokens: 4 });

      const streamed = await client.messages.stream(params).finalMessage();
      expect(streamed.content).toMatchObject([
        { type: 'text', text: 'Let me check.' },
        { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
        { type: 'text', text: 'And more.' },
      ]);
      expect(streamed.stop_reason).toBe('tool_use');
      expect(streamed.usage.output_tokens).toBe(40);
      expect(parsed[0]).toMatchObject({ model: 'claude-public', maxTokens: 64, stream: false });
      expect(parsed[1]).toMatchObject({ stream: true, tools: [{ name: 'get_weather' }] });
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
