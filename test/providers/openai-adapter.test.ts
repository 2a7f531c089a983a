import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DeploymentConfig, deploymentSchema } from '../../src/config/schema.ts';
import type { ChatRequest, StreamEvent } from '../../src/core/chat.ts';
import { collect } from '../../src/core/collect.ts';
import { CONTINUE_INSTRUCTION } from '../../src/core/continuation.ts';
import type { ProviderAdapter } from '../../src/core/provider.ts';
import { UpstreamError } from '../../src/core/upstream-error.ts';
import { createOpenAIAdapter, toWireRequest } from '../../src/providers/openai/adapter.ts';
import { classifyOpenAIError, parseResetDuration } from '../../src/providers/openai/classify.ts';
import { openaiDoor } from '../../src/providers/openai/door.ts';

function dep(extra: Record<string, unknown> = {}): DeploymentConfig {
  return deploymentSchema.parse({
    id: 'd1',
    provider: 'openai',
    base_url: 'http://127.0.0.1:1/v1',
    model: 'served-model',
    ...extra,
  });
}

const hello: ChatRequest = {
  model: 'public',
  stream: false,
  messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }],
};

describe('openai adapter: request mapping', () => {
  it('maps every request field to the OpenAI wire', () => {
    const body = toWireRequest(
      {
        model: 'public',
        stream: true,
        includeUsage: false,
        messages: [
          {
            role: 'system',
            content: [
              { type: 'text', text: 'Be ' },
              { type: 'text', text: 'kind.' },
            ],
          },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Look:' },
              { type: 'image', source: { kind: 'url', url: 'https://x/a.png' } },
              { type: 'image', source: { kind: 'base64', mediaType: 'image/jpeg', data: 'AAAA' } },
            ],
          },
          {
            role: 'assistant',
            content: [
              { type: 'tool_call', id: 'c1', name: 'f', arguments: '{"a":1}' },
              { type: 'tool_call', id: 'c2', name: 'g', arguments: '' },
            ],
          },
          {
            role: 'user',
            content: [
              { type: 'tool_result', toolCallId: 'c1', content: [{ type: 'text', text: 'one' }] },
              {
                type: 'tool_result',
                toolCallId: 'c2',
                isError: true,
                content: [
                  { type: 'text', text: 'chart:' },
                  { type: 'image', source: { kind: 'url', url: 'https://x/chart.png' } },
                ],
              },
              { type: 'text', text: 'Now summarise.' },
            ],
          },
          { role: 'assistant', content: [{ type: 'text', text: 'Sure.' }] },
        ],
        tools: [{ name: 'f', description: 'F', parameters: { type: 'object' } }],
        toolChoice: { type: 'tool', name: 'f' },
        parallelToolCalls: false,
        responseFormat: { type: 'json_schema', name: 'out', schema: { type: 'object' }, strict: true },
        stop: ['END'],
        maxTokens: 50,
        temperature: 0.5,
        topP: 0.8,
        seed: 3,
        user: 'u1',
      },
      dep(),
    );
    expect(body).toEqual({
      model: 'served-model',
      messages: [
        { role: 'system', content: 'Be kind.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Look:' },
            { type: 'image_url', image_url: { url: 'https://x/a.png' } },
            { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,AAAA' } },
          ],
        },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'c1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } },
            { id: 'c2', type: 'function', function: { name: 'g', arguments: '{}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'c1', content: 'one' },
        { role: 'tool', tool_call_id: 'c2', content: 'chart:' },
        {
          role: 'user',
          content: [
            { type: 'image_url', image_url: { url: 'https://x/chart.png' } },
            { type: 'text', text: 'Now summarise.' },
          ],
        },
        { role: 'assistant', content: 'Sure.' },
      ],
      tools: [
        { type: 'function', function: { name: 'f', description: 'F', parameters: { type: 'object' } } },
      ],
      parallel_tool_calls: false,
      tool_choice: { type: 'function', function: { name: 'f' } },
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'out', schema: { type: 'object' }, strict: true },
      },
      stop: ['END'],
      max_tokens: 50,
      temperature: 0.5,
      top_p: 0.8,
      seed: 3,
      user: 'u1',
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it('the OpenAI door accepts what the adapter sends (the simulator relies on it)', () => {
    const req: ChatRequest = {
      ...hello,
      messages: [...hello.messages, { role: 'assistant', content: [{ type: 'text', text: 'Hel' }] }],
      continueFinalMessage: true,
    };
    const parsed = openaiDoor.parseRequest(toWireRequest(req, dep({ continuation: 'prefill' })), {});
    expect(parsed.continueFinalMessage).toBe(true);
    expect(parsed.messages).toEqual(req.messages);
    expect(parsed.model).toBe('served-model');
  });

  it('continues a partial answer by prefill when the deployment supports it (vLLM)', () => {
    const req: ChatRequest = {
      ...hello,
      messages: [...hello.messages, { role: 'assistant', content: [{ type: 'text', text: 'Hel' }] }],
      continueFinalMessage: true,
    };
    const body = toWireRequest(req, dep({ continuation: 'prefill' }));
    expect(body.messages.at(-1)).toEqual({ role: 'assistant', content: 'Hel' });
    expect(body.continue_final_message).toBe(true);
    expect(body.add_generation_prompt).toBe(false);
  });

  it('continues a partial answer by instruction by default', () => {
    const req: ChatRequest = {
      ...hello,
      messages: [...hello.messages, { role: 'assistant', content: [{ type: 'text', text: 'Hel' }] }],
      continueFinalMessage: true,
    };
    const body = toWireRequest(req, dep());
    expect(body.messages.slice(-2)).toEqual([
      { role: 'assistant', content: 'Hel' },
      { role: 'user', content: CONTINUE_INSTRUCTION },
    ]);
    expect(body.continue_final_message).toBeUndefined();
    expect(body.add_generation_prompt).toBeUndefined();
  });
});

/** A loopback upstream whose answer each test sets. */
class Upstream {
  answer: (res: ServerResponse) => void = (res) => res.end();
  readonly server = createServer((req, res) => {
    req.resume();
    req.on('end', () => this.answer(res));
  });
  url = '';
  async start(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  sse(body: string): void {
    this.answer = (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(body);
    };
  }
  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm', choices, ...extra })}\n\n`;
const delta = (d: unknown, finish: string | null = null, extra: Record<string, unknown> = {}) =>
  chunk([{ index: 0, delta: d, finish_reason: finish, ...extra }]);

describe('openai adapter: stream variants', () => {
  const upstream = new Upstream();
  let adapter: ProviderAdapter;
  beforeAll(async () => {
    await upstream.start();
    adapter = createOpenAIAdapter(dep({ base_url: upstream.url }));
  });
  afterAll(async () => {
    await adapter.close();
    await upstream.close();
  });

  const run = async (
    req: ChatRequest = { ...hello, stream: true },
    signal = new AbortController().signal,
  ) => {
    const out: StreamEvent[] = [];
    for await (const ev of adapter.call(req, { signal, requestId: 't' })) out.push(ev);
    return out;
  };
  const failure = async (req?: ChatRequest): Promise<unknown> =>
    run(req).then(
      () => new Error('no failure'),
      (e: unknown) => e,
    );

  it('holds finish until the usage chunk and emits usage before it', async () => {
    upstream.sse(
      `${delta({ role: 'assistant', content: '' })}${delta({ content: 'Hi' })}${delta({}, 'stop')}${chunk([], { usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } })}data: [DONE]\n\n`,
    );
    expect(await run()).toEqual([
      { type: 'start', id: 'chatcmpl-1', model: 'm' },
      { type: 'text', text: 'Hi' },
      { type: 'usage', usage: { inputTokens: 3, outputTokens: 1 } },
      { type: 'finish', reason: 'end_turn' },
    ]);
  });

  it('takes usage from the finish chunk (llama.cpp) and a stream that ends without [DONE]', async () => {
    upstream.sse(
      `${delta({ content: 'ok' })}${chunk([{ index: 0, delta: {}, finish_reason: 'stop' }], { usage: { prompt_tokens: 5, completion_tokens: 2 } })}`,
    );
    const res = await collect(
      adapter.call({ ...hello, stream: true }, { signal: new AbortController().signal, requestId: 't' }),
    );
    expect(res).toMatchObject({
      content: [{ type: 'text', text: 'ok' }],
      finishReason: 'end_turn',
      usage: { inputTokens: 5, outputTokens: 2 },
    });
  });

  it('reports the stop sequence vLLM names in stop_reason', async () => {
    upstream.sse(`${delta({ content: 'a' })}${delta({}, 'stop', { stop_reason: 'END' })}data: [DONE]\n\n`);
    const evs = await run({ ...hello, stream: true, stop: ['END'] });
    expect(evs.at(-1)).toEqual({ type: 'finish', reason: 'stop_sequence', stopSequence: 'END' });
  });

  it('accepts tool calls without index or id (some Ollama/Gemini builds) and object arguments', async () => {
    upstream.sse(
      `${delta({ tool_calls: [{ id: 'a', function: { name: 'f', arguments: '{"x":' } }] })}${delta({ tool_calls: [{ function: { arguments: '1}' } }] })}${delta({ tool_calls: [{ id: 'b', function: { name: 'g', arguments: { y: 2 } } }] })}${delta({}, 'tool_calls')}data: [DONE]\n\n`,
    );
    const res = await collect(
      adapter.call({ ...hello, stream: true }, { signal: new AbortController().signal, requestId: 't' }),
    );
    expect(res.content).toEqual([
      { type: 'tool_call', id: 'a', name: 'f', arguments: '{"x":1}' },
      { type: 'tool_call', id: 'b', name: 'g', arguments: '{"y":2}' },
    ]);
    expect(res.finishReason).toBe('tool_use');
  });

  it('generates an id for a tool call that has none', async () => {
    upstream.sse(
      `${delta({ tool_calls: [{ index: 0, function: { name: 'f', arguments: '{}' } }] })}${delta({}, 'tool_calls')}data: [DONE]\n\n`,
    );
    const start = (await run()).find((e) => e.type === 'tool_call_start');
    expect(start).toMatchObject({
      type: 'tool_call_start',
      index: 0,
      name: 'f',
      id: expect.stringMatching(/^call_/),
    });
  });

  it('classifies an in-band error chunk', async () => {
    upstream.sse(
      `${delta({ content: 'par' })}data: {"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}}\n\n`,
    );
    const err = (await failure()) as UpstreamError;
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err).toMatchObject({ kind: 'server', midStream: true, message: 'The server had an error' });
  });

  it('classifies vLLM in-band errors by the status in code', async () => {
    upstream.sse(
      `data: {"error":{"object":"error","message":"too many","type":"TooManyRequests","param":null,"code":429}}\n\n`,
    );
    const err = (await failure()) as UpstreamError;
    expect(err).toMatchObject({ kind: 'rate_limited', status: 429, midStream: false });
  });

  it('treats [DONE] without a finish_reason as a truncated stream', async () => {
    upstream.sse(`${delta({ content: 'par' })}data: [DONE]\n\n`);
    expect(await failure()).toMatchObject({ kind: 'protocol', midStream: true });
  });

  it('treats a clean end without finish_reason as truncated', async () => {
    upstream.sse(delta({ content: 'par' }));
    expect(await failure()).toMatchObject({ kind: 'protocol', midStream: true });
  });

  it('a malformed first chunk is not mid-stream', async () => {
    upstream.sse('data: {oops\n\n');
    expect(await failure()).toMatchObject({ kind: 'protocol', midStream: false });
  });

  it('a unary answer that is not JSON is a protocol error', async () => {
    upstream.answer = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('<html>');
    };
    expect(await failure(hello)).toMatchObject({ kind: 'protocol', midStream: false });
  });

  it('a unary 200 carrying an error body is classified', async () => {
    upstream.answer = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"error":{"message":"Rate limit","type":"rate_limit_error","code":"rate_limit_exceeded"}}');
    };
    expect(await failure(hello)).toMatchObject({ kind: 'rate_limited' });
  });

  it('maps unary finish reasons and refusals', async () => {
    upstream.answer = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: 'x',
          model: 'm',
          choices: [
            {
              index: 0,
              message: { role: 'assistant', content: null, refusal: 'I cannot help.' },
              finish_reason: 'content_filter',
            },
          ],
        }),
      );
    };
    const res = await collect(adapter.call(hello, { signal: new AbortController().signal, requestId: 't' }));
    expect(res).toMatchObject({
      content: [{ type: 'text', text: 'I cannot help.' }],
      finishReason: 'content_filter',
      usage: { inputTokens: 0, outputTokens: 0 },
    });
  });

  it('lets a caller abort propagate as the abort, not as an upstream fault', async () => {
    upstream.answer = (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(delta({ content: 'first' }));
      // …and then nothing: the caller gives up.
    };
    const ac = new AbortController();
    const it = adapter
      .call({ ...hello, stream: true }, { signal: ac.signal, requestId: 't' })
      [Symbol.asyncIterator]();
    expect((await it.next()).value).toMatchObject({ type: 'start' });
    expect((await it.next()).value).toEqual({ type: 'text', text: 'first' });
    const pending = it.next();
    ac.abort();
    const err = await pending.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeDefined();
    expect(err).not.toBeInstanceOf(UpstreamError);
  });

  it('an idle upstream hits the idle timeout as a retryable mid-stream timeout', async () => {
    const slow = createOpenAIAdapter(
      dep({
        base_url: upstream.url,
        timeouts: { connect_ms: 1000, first_byte_ms: 1000, idle_ms: 200, total_ms: 5000 },
      }),
    );
    upstream.answer = (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(delta({ content: 'first' }));
    };
    const err = await collect(
      slow.call({ ...hello, stream: true }, { signal: new AbortController().signal, requestId: 't' }),
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    await slow.close();
    expect(err).toMatchObject({ kind: 'timeout', midStream: true });
    expect((err as UpstreamError).retryable).toBe(true);
  });
});

describe('openai error classification', () => {
  const body = (error: unknown) => JSON.stringify({ error });

  it('tolerates bodies that are not OpenAI JSON', () => {
    expect(classifyOpenAIError(502, {}, '<html>Bad gateway</html>')).toMatchObject({
      kind: 'server',
      status: 502,
      message: '<html>Bad gateway</html>',
    });
    expect(classifyOpenAIError(500, {}, '')).toMatchObject({
      kind: 'server',
      message: 'upstream answered HTTP 500',
    });
    expect(
      classifyOpenAIError(404, {}, '{"error":"model \\"llama3\\" not found, try pulling it first"}'),
    ).toMatchObject({
      kind: 'not_found',
      message: 'model "llama3" not found, try pulling it first',
    });
    expect(
      classifyOpenAIError(
        400,
        {},
        '{"object":"error","message":"This model\'s maximum context length is 4096 tokens.","type":"BadRequestError","code":400}',
      ),
    ).toMatchObject({
      kind: 'context_too_long',
    });
    expect(
      classifyOpenAIError(
        400,
        {},
        body({
          code: 400,
          message: 'the request exceeds the available context size, try increasing it',
          type: 'exceed_context_size_error',
        }),
      ),
    ).toMatchObject({ kind: 'context_too_long' });
  });

  it('classifies by status', () => {
    expect(classifyOpenAIError(403, {}, body({ message: 'no' })).kind).toBe('auth');
    expect(classifyOpenAIError(408, {}, '').kind).toBe('timeout');
    expect(classifyOpenAIError(422, {}, body({ message: 'bad' })).kind).toBe('bad_request');
    expect(classifyOpenAIError(402, {}, '').kind).toBe('quota_exhausted');
    expect(classifyOpenAIError(503, {}, body({ message: 'Service Unavailable' })).kind).toBe('server');
    expect(
      classifyOpenAIError(503, { 'retry-after': '7' }, body({ message: 'Model is overloaded' })),
    ).toMatchObject({ kind: 'overloaded', retryAfterMs: 7000 });
    expect(classifyOpenAIError(429, {}, body({ type: 'insufficient_quota', message: 'quota' })).kind).toBe(
      'quota_exhausted',
    );
    expect(classifyOpenAIError(429, {}, body({ message: 'slow down' }))).toMatchObject({
      kind: 'rate_limited',
      retryAfterMs: undefined,
    });
  });

  it('keeps the provider code for logs and the provider message for the caller', () => {
    const err = classifyOpenAIError(
      400,
      {},
      body({
        message: "Invalid 'temperature'",
        type: 'invalid_request_error',
        code: 'decimal_above_max_value',
      }),
    );
    expect(err).toMatchObject({ kind: 'bad_request', providerCode: 'decimal_above_max_value' });
    expect(err.toHoldfastError().message).toBe("Invalid 'temperature'");
  });

  it('parses OpenAI reset durations', () => {
    expect(parseResetDuration('1s')).toBe(1000);
    expect(parseResetDuration('6m0s')).toBe(360_000);
    expect(parseResetDuration('12ms')).toBe(12);
    expect(parseResetDuration('1h2m3.5s')).toBe(3_723_500);
    expect(parseResetDuration('soon')).toBeUndefined();
  });
});
