import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DeploymentConfig, deploymentSchema } from '../../src/config/schema.ts';
import type { ChatRequest, StreamEvent } from '../../src/core/chat.ts';
import { collect } from '../../src/core/collect.ts';
import { UpstreamError } from '../../src/core/upstream-error.ts';
import {
  AnthropicStreamDecoder,
  buildAnthropicRequest,
  createAnthropicAdapter,
  parseMessageResponse,
} from '../../src/providers/anthropic/adapter.ts';
import { classifyAnthropicError } from '../../src/providers/anthropic/classify.ts';
import type { WireMessagesRequest } from '../../src/providers/anthropic/wire.ts';
import * as fx from '../fixtures/anthropic/wire.ts';
import { adapterContract, baseRequest, type WireFixture } from './adapter-contract.ts';

const API_KEY = 'sk-ant-api03-test';
const MODEL = 'claude-sonnet-4-5-20250929';

function deployment(baseUrl: string, extra: Partial<DeploymentConfig> = {}): DeploymentConfig {
  return deploymentSchema.parse({
    id: 'anthropic-test',
    provider: 'anthropic',
    base_url: baseUrl,
    api_key: API_KEY,
    model: MODEL,
    ...extra,
  });
}

adapterContract('anthropic', {
  fixtures: fx.contractFixtures,
  makeAdapter: (baseUrl) => createAnthropicAdapter(deployment(baseUrl)),
  checkRequest(req, sent) {
    expect(req.method).toBe('POST');
    expect(req.url).toBe('/v1/messages');
    expect(req.headers['x-api-key']).toBe(API_KEY);
    expect(req.headers['anthropic-version']).toBe('2023-06-01');
    expect(req.headers.authorization).toBeUndefined();
    const body = req.body as WireMessagesRequest;
    expect(body.model).toBe(MODEL);
    expect(body.stream).toBe(sent.stream);
    expect(body.max_tokens).toBe(sent.maxTokens);
    const system = sent.messages.flatMap((m) => (m.role === 'system' ? m.content.map((p) => p.text) : []));
    if (system.length > 0) expect(body.system).toBe(system.join('\n\n'));
    else expect(body.system).toBeUndefined();
    expect(body.messages.some((m) => (m.role as string) === 'system')).toBe(false);
    expect(body.messages[0]?.role).toBe('user');
    if (sent.tools) {
      expect(body.tools).toEqual(
        sent.tools.map((t) => ({ name: t.name, description: t.description, input_schema: t.parameters })),
      );
      expect(body.tool_choice).toEqual({ type: 'auto' });
    }
  },
});

/** A one-route server that records the request and answers with whatever fixture is current. */
class Upstream {
  server: Server;
  current: WireFixture = { status: 500, body: '' };
  bodies: WireMessagesRequest[] = [];
  headers: IncomingHttpHeaders[] = [];
  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as WireMessagesRequest);
        this.headers.push(req.headers);
        const f = this.current;
        res.writeHead(f.status, {
          'content-type': f.body.startsWith('event:') ? 'text/event-stream' : 'application/json',
          ...f.headers,
        });
        res.end(f.body);
      });
    });
  }
  async listen(): Promise<string> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

async function run(
  adapter: ReturnType<typeof createAnthropicAdapter>,
  req: ChatRequest,
): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for await (const ev of adapter.call(req, { signal: new AbortController().signal, requestId: 't' }))
    out.push(ev);
  return out;
}

async function failure(p: Promise<unknown>): Promise<UpstreamError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(UpstreamError);
    return err as UpstreamError;
  }
  throw new Error('expected the call to fail');
}

function textOf(events: StreamEvent[]): string {
  return events.map((e) => (e.type === 'text' ? e.text : '')).join('');
}

function prefillRequest(stream: boolean, partial: string): ChatRequest {
  return {
    ...baseRequest(stream),
    continueFinalMessage: true,
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'Say hello.' }] },
      { role: 'assistant', content: [{ type: 'text', text: partial }] },
    ],
  };
}

describe('anthropic adapter over HTTP', () => {
  const upstream = new Upstream();
  let adapter: ReturnType<typeof createAnthropicAdapter>;
  let baseUrl: string;
  beforeAll(async () => {
    baseUrl = await upstream.listen();
    adapter = createAnthropicAdapter(deployment(baseUrl, { headers: { 'x-proxy-tag': 'holdfast' } }));
  });
  afterAll(async () => {
    await adapter.close();
    await upstream.close();
  });

  for (const stream of [true, false]) {
    it(`strips prefill whitespace and drops it from the continuation (${stream ? 'stream' : 'unary'})`, async () => {
      upstream.current = stream
        ? {
            status: 200,
            body: fx.sse(
              fx.MESSAGE_START('msg_01Prefill', 20),
              fx.TEXT_START(0),
              fx.PING,
              fx.TEXT_DELTA(0, ' '),
              fx.TEXT_DELTA(0, 'wor'),
              fx.TEXT_DELTA(0, 'ld!'),
              fx.BLOCK_STOP(0),
              fx.MESSAGE_DELTA('end_turn', 3),
              fx.MESSAGE_STOP,
            ),
          }
        : {
            status: 200,
            body: JSON.stringify({
              id: 'msg_01Prefill',
              type: 'message',
              role: 'assistant',
              model: MODEL,
              content: [{ type: 'text', text: ' world!' }],
              stop_reason: 'end_turn',
              stop_sequence: null,
              usage: { input_tokens: 20, output_tokens: 3 },
            }),
          };
      upstream.bodies = [];
      const partial = 'Hello, ';
      const evs = await run(adapter, prefillRequest(stream, partial));
      const sent = upstream.bodies[0];
      expect(sent?.messages.at(-1)).toEqual({
        role: 'assistant',
        content: [{ type: 'text', text: 'Hello,' }],
      });
      expect(partial + textOf(evs)).toBe('Hello, world!');
    });
  }

  it('keeps the model text when it does not repeat the cut whitespace', async () => {
    upstream.current = {
      status: 200,
      body: fx.sse(
        fx.MESSAGE_START('msg_01Prefill2', 20),
        fx.TEXT_START(0),
        fx.TEXT_DELTA(0, '\nSecond'),
        fx.BLOCK_STOP(0),
        fx.MESSAGE_DELTA('end_turn', 2),
        fx.MESSAGE_STOP,
      ),
    };
    const evs = await run(adapter, prefillRequest(true, 'First line\n\n'));
    expect(textOf(evs)).toBe('Second');
  });

  it('drops an all-whitespace prefill turn and still trims the answer', async () => {
    upstream.current = fx.textStream;
    upstream.bodies = [];
    const evs = await run(adapter, prefillRequest(true, '  '));
    expect(upstream.bodies[0]?.messages.map((m) => m.role)).toEqual(['user']);
    expect(textOf(evs)).toBe('Hello! How can I help you today?');
  });

  it('sends deployment headers, and no x-api-key when none is configured', async () => {
    upstream.current = fx.textUnary;
    upstream.headers = [];
    await run(adapter, baseRequest(false));
    expect(upstream.headers[0]?.['x-proxy-tag']).toBe('holdfast');
    const keyless = createAnthropicAdapter(
      deployment(`${baseUrl}/`, { api_key: undefined, anthropic_version: '2023-01-01' }),
    );
    await run(keyless, baseRequest(false));
    await keyless.close();
    expect(upstream.headers[1]?.['x-api-key']).toBeUndefined();
    expect(upstream.headers[1]?.['anthropic-version']).toBe('2023-01-01');
  });

  it('classifies an in-stream overloaded_error before any text as not mid-stream', async () => {
    upstream.current = fx.overloadedInStreamEarly;
    const err = await failure(run(adapter, baseRequest(true)));
    expect(err.kind).toBe('overloaded');
    expect(err.midStream).toBe(false);
    expect(err.retryable).toBe(true);
  });

  it('classifies an in-stream overloaded_error after text as mid-stream', async () => {
    upstream.current = fx.overloadedInStreamLate;
    const err = await failure(run(adapter, baseRequest(true)));
    expect(err.kind).toBe('overloaded');
    expect(err.midStream).toBe(true);
    expect(err.providerCode).toBe('overloaded_error');
  });

  it('treats a stream that ends cleanly without message_stop as a mid-stream protocol error', async () => {
    upstream.current = fx.endsWithoutStop;
    const err = await failure(run(adapter, baseRequest(true)));
    expect(err.kind).toBe('protocol');
    expect(err.midStream).toBe(true);
  });

  it('classifies an unparseable unary body as a protocol error', async () => {
    upstream.current = { status: 200, body: '{"id":"msg_01' };
    const err = await failure(run(adapter, baseRequest(false)));
    expect(err.kind).toBe('protocol');
  });

  it('passes a caller abort through untouched', async () => {
    upstream.current = fx.textStream;
    const ac = new AbortController();
    ac.abort();
    const err = await (async () => {
      try {
        for await (const _ of adapter.call(baseRequest(true), { signal: ac.signal, requestId: 't' })) {
          // drain
        }
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeDefined();
    expect(err).not.toBeInstanceOf(UpstreamError);
  });
});

describe('anthropic request mapping', () => {
  it('maps tools, tool calls and results, images, sampling and metadata', () => {
    const req: ChatRequest = {
      model: 'public',
      stream: false,
      temperature: 1.6,
      topP: 0.9,
      stop: ['\n', 'END'],
      user: 'user-42',
      parallelToolCalls: false,
      toolChoice: { type: 'required' },
      tools: [{ name: 'get_weather', parameters: { properties: { city: { type: 'string' } } } }],
      messages: [
        { role: 'system', content: [{ type: 'text', text: 'Be brief.' }] },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Weather here?' },
            { type: 'image', source: { kind: 'url', url: 'data:image/png;base64,iVBORw0KGgo=' } },
            { type: 'image', source: { kind: 'url', url: 'https://example.com/a.jpg' } },
          ],
        },
        {
          role: 'assistant',
          content: [{ type: 'tool_call', id: 'toolu_1', name: 'get_weather', arguments: '{"city":"Paris"}' }],
        },
        {
          role: 'user',
          content: [{ type: 'tool_result', toolCallId: 'toolu_1', content: [{ type: 'text', text: '18C' }] }],
        },
        { role: 'user', content: [{ type: 'text', text: 'And tomorrow?' }] },
        { role: 'system', content: [{ type: 'text', text: 'Answer in French.' }] },
        {
          role: 'assistant',
          content: [{ type: 'tool_call', id: 'toolu_2', name: 'get_weather', arguments: 'not json' }],
        },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'thanks' },
            { type: 'tool_result', toolCallId: 'toolu_2', content: [], isError: true },
          ],
        },
      ],
    };
    const { body, prefillTrim } = buildAnthropicRequest(req, MODEL);
    expect(prefillTrim).toBe('');
    expect(body).toEqual({
      model: MODEL,
      max_tokens: 4096,
      system: 'Be brief.\n\nAnswer in French.',
      stop_sequences: ['END'],
      temperature: 1,
      metadata: { user_id: 'user-42' },
      tools: [
        { name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } },
      ],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
      stream: false,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Weather here?' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/a.jpg' } },
          ],
        },
        {
          role: 'assistant',
          content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: '18C' }] },
            { type: 'text', text: 'And tomorrow?' },
          ],
        },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_2', name: 'get_weather', input: {} }] },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_2', is_error: true },
            { type: 'text', text: 'thanks' },
          ],
        },
      ],
    });
  });

  it('keeps top_p when temperature is absent, and maps the other tool choices', () => {
    const base: ChatRequest = {
      ...baseRequest(true),
      topP: 0.5,
      tools: [{ name: 't', parameters: { type: 'object' } }],
    };
    expect(buildAnthropicRequest(base, MODEL).body.top_p).toBe(0.5);
    expect(buildAnthropicRequest(base, MODEL).body.tool_choice).toBeUndefined();
    const choice = (toolChoice: ChatRequest['toolChoice']) =>
      buildAnthropicRequest({ ...base, ...(toolChoice ? { toolChoice } : {}) }, MODEL).body.tool_choice;
    expect(choice({ type: 'none' })).toEqual({ type: 'none' });
    expect(choice({ type: 'tool', name: 't' })).toEqual({ type: 'tool', name: 't' });
    expect(choice({ type: 'auto' })).toEqual({ type: 'auto' });
    expect(
      buildAnthropicRequest({ ...base, toolChoice: { type: 'required' }, tools: [] }, MODEL).body.tool_choice,
    ).toBeUndefined();
  });

  it('asks for JSON in the system prompt for response_format', () => {
    const obj = buildAnthropicRequest(
      { ...baseRequest(false), responseFormat: { type: 'json_object' } },
      MODEL,
    ).body;
    expect(obj.system).toMatch(/^Be brief\.\n\nRespond with a single valid JSON object/);
    const schema = { type: 'object', properties: { a: { type: 'number' } } };
    const sch = buildAnthropicRequest(
      { ...baseRequest(false), responseFormat: { type: 'json_schema', name: 'x', schema } },
      MODEL,
    ).body;
    expect(sch.system).toContain(JSON.stringify(schema));
    const text = buildAnthropicRequest(
      { ...baseRequest(false), responseFormat: { type: 'text' } },
      MODEL,
    ).body;
    expect(text.system).toBe('Be brief.');
  });

  it('cuts trailing whitespace across prefill blocks', () => {
    const { body, prefillTrim } = buildAnthropicRequest(
      {
        ...baseRequest(true),
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
          { role: 'assistant', content: [{ type: 'text', text: 'Part one. ' }] },
          { role: 'assistant', content: [{ type: 'text', text: ' \n' }] },
        ],
      },
      MODEL,
    );
    expect(prefillTrim).toBe('  \n');
    expect(body.messages.at(-1)).toEqual({
      role: 'assistant',
      content: [{ type: 'text', text: 'Part one.' }],
    });
  });
});

describe('anthropic response decoding', () => {
  it('maps stop reasons, skips thinking blocks and counts cached input', () => {
    const res = parseMessageResponse(
      JSON.stringify({
        id: 'msg_1',
        model: MODEL,
        content: [
          { type: 'thinking', thinking: 'hmm', signature: 'sig' },
          { type: 'text', text: 'Sorry, no.' },
        ],
        stop_reason: 'refusal',
        stop_sequence: null,
        usage: {
          input_tokens: 5,
          cache_read_input_tokens: 100,
          cache_creation_input_tokens: 10,
          output_tokens: 4,
        },
      }),
    );
    expect(res).toEqual({
      id: 'msg_1',
      model: MODEL,
      content: [{ type: 'text', text: 'Sorry, no.' }],
      finishReason: 'content_filter',
      usage: { inputTokens: 115, outputTokens: 4 },
    });
    const stopped = parseMessageResponse(
      JSON.stringify({
        id: 'm',
        model: MODEL,
        content: [],
        stop_reason: 'stop_sequence',
        stop_sequence: 'END',
        usage: {},
      }),
    );
    expect(stopped.finishReason).toBe('stop_sequence');
    expect(stopped.stopSequence).toBe('END');
  });

  it('decodes a stream with thinking, a stop sequence and unknown events', async () => {
    const d = new AnthropicStreamDecoder();
    const frames: Array<[string, string]> = [
      fx.MESSAGE_START('msg_2', 7),
      [
        'content_block_start',
        '{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}',
      ],
      [
        'content_block_delta',
        '{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me"}}',
      ],
      [
        'content_block_delta',
        '{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQB"}}',
      ],
      fx.BLOCK_STOP(0),
      fx.TEXT_START(1),
      fx.TEXT_DELTA(1, 'Done'),
      fx.BLOCK_STOP(1),
      ['future_event', '{"type":"future_event","x":1}'],
      [
        'message_delta',
        '{"type":"message_delta","delta":{"stop_reason":"stop_sequence","stop_sequence":"END"},"usage":{"output_tokens":9}}',
      ],
      fx.MESSAGE_STOP,
    ];
    const evs = frames.flatMap(([e, data]) => d.push(e, data));
    const res = await collect(evs.values() as unknown as AsyncIterable<StreamEvent>);
    expect(res).toMatchObject({
      id: 'msg_2',
      content: [{ type: 'text', text: 'Done' }],
      finishReason: 'stop_sequence',
      stopSequence: 'END',
      usage: { inputTokens: 7, outputTokens: 9 },
    });
  });

  it('classifies bodies that are not Anthropic JSON', () => {
    expect(classifyAnthropicError(503, {}, '')).toMatchObject({ kind: 'server', message: 'HTTP 503' });
    expect(classifyAnthropicError(529, {}, 'overloaded')).toMatchObject({
      kind: 'overloaded',
      message: 'overloaded',
    });
    expect(classifyAnthropicError(429, { 'retry-after': '2' }, 'slow down')).toMatchObject({
      kind: 'rate_limited',
      retryAfterMs: 2000,
    });
    expect(classifyAnthropicError(408, {}, 'null').kind).toBe('timeout');
    expect(
      classifyAnthropicError(402, {}, '{"type":"error","error":{"type":"billing_error","message":"pay"}}')
        .kind,
    ).toBe('quota_exhausted');
    expect(classifyAnthropicError(422, {}, '{"error":"x"}').kind).toBe('bad_request');
    expect(
      classifyAnthropicError(
        400,
        {},
        JSON.stringify({
          type: 'error',
          error: {
            type: 'invalid_request_error',
            message: 'You have reached your specified API usage limits.',
          },
        }),
      ).kind,
    ).toBe('quota_exhausted');
  });
});
