import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatRequest, FinishReason, StreamEvent } from '../../src/core/chat.ts';
import { collect } from '../../src/core/collect.ts';
import type { ProviderAdapter } from '../../src/core/provider.ts';
import { UpstreamError, type UpstreamErrorKind } from '../../src/core/upstream-error.ts';

/**
 * One contract every provider adapter must meet. Each dialect supplies recorded wire answers (written from
 * the provider's documented formats) and the suite replays them from a real loopback HTTP server and
 * asserts the same internal events and error classes for all of them.
 */

/** A recorded upstream answer. `body` is the raw bytes sent (JSON text or an SSE transcript). */
export interface WireFixture {
  status: number;
  headers?: Record<string, string>;
  body: string;
  /** Destroy the socket after sending the body (simulates a cut stream). */
  cut?: boolean;
}

export interface ContractFixtures {
  /** Plain text answer. Expected: text, finish reason, usage. */
  text: {
    unary: WireFixture;
    stream: WireFixture;
    expectText: string;
    expectFinish: FinishReason;
    expectUsage: { inputTokens: number; outputTokens: number };
  };
  /** One tool call with JSON arguments. */
  toolCall: {
    unary: WireFixture;
    stream: WireFixture;
    expectName: string;
    expectId: string;
    expectArguments: unknown;
  };
  /** Answer stopped by max_tokens. */
  maxTokens: { stream: WireFixture };
  /** Each upstream error response and the kind it must be classified as. */
  errors: Array<{ name: string; fixture: WireFixture; kind: UpstreamErrorKind; retryAfterMs?: number }>;
  /** A stream that breaks off with a malformed JSON data line. */
  malformedStream: WireFixture;
  /** A stream that ends (socket closed) before its final event. */
  truncatedStream: WireFixture;
}

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

export interface AdapterContractSetup {
  fixtures: ContractFixtures;
  /** Build the adapter under test against the fixture server's base URL. */
  makeAdapter(baseUrl: string): ProviderAdapter;
  /** Extra assertions on what the adapter sent upstream (path, auth headers, body shape). */
  checkRequest(req: ReceivedRequest, sent: ChatRequest): void;
}

class FixtureServer {
  server: Server;
  current: WireFixture = { status: 500, body: '' };
  received: ReceivedRequest[] = [];
  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        this.received.push({
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: text ? JSON.parse(text) : undefined,
        });
        const f = this.current;
        const isSse = f.body.startsWith('event:') || f.body.startsWith('data:');
        res.writeHead(f.status, {
          'content-type': isSse ? 'text/event-stream' : 'application/json',
          ...f.headers,
        });
        if (f.cut) {
          res.write(f.body, () => res.socket?.destroy());
        } else {
          res.end(f.body);
        }
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

export function baseRequest(stream: boolean): ChatRequest {
  return {
    model: 'public-model',
    stream,
    includeUsage: true,
    maxTokens: 64,
    messages: [
      { role: 'system', content: [{ type: 'text', text: 'Be brief.' }] },
      { role: 'user', content: [{ type: 'text', text: 'Say hello.' }] },
    ],
  };
}

export function toolRequest(stream: boolean): ChatRequest {
  return {
    ...baseRequest(stream),
    messages: [{ role: 'user', content: [{ type: 'text', text: 'What is the weather in Paris?' }] }],
    tools: [
      {
        name: 'get_weather',
        description: 'Current weather for a city',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      },
    ],
    toolChoice: { type: 'auto' },
  };
}

async function events(adapter: ProviderAdapter, req: ChatRequest): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for await (const ev of adapter.call(req, { signal: new AbortController().signal, requestId: 'test' }))
    out.push(ev);
  return out;
}

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail');
}

export function adapterContract(name: string, setup: AdapterContractSetup): void {
  describe(`adapter contract: ${name}`, () => {
    const server = new FixtureServer();
    let adapter: ProviderAdapter;
    beforeAll(async () => {
      adapter = setup.makeAdapter(await server.listen());
    });
    afterAll(async () => {
      await adapter?.close();
      await server.close();
    });
    const f = setup.fixtures;

    for (const stream of [false, true]) {
      const mode = stream ? 'stream' : 'unary';
      it(`maps a ${mode} text answer to start/text/usage/finish events`, async () => {
        server.current = stream ? f.text.stream : f.text.unary;
        server.received = [];
        const req = baseRequest(stream);
        const evs = await events(adapter, req);
        expect(evs[0]?.type).toBe('start');
        expect(evs.at(-1)).toMatchObject({ type: 'finish', reason: f.text.expectFinish });
        const res = await collect(evs.values() as unknown as AsyncIterable<StreamEvent>);
        expect(res.content).toEqual([{ type: 'text', text: f.text.expectText }]);
        expect(res.usage).toEqual(f.text.expectUsage);
        expect(server.received).toHaveLength(1);
        setup.checkRequest(server.received[0]!, req);
      });

      it(`maps a ${mode} tool call`, async () => {
        server.current = stream ? f.toolCall.stream : f.toolCall.unary;
        server.received = [];
        const req = toolRequest(stream);
        const evs = await events(adapter, req);
        const res = await collect(evs.values() as unknown as AsyncIterable<StreamEvent>);
        const call = res.content.find((p) => p.type === 'tool_call');
        expect(call).toMatchObject({
          type: 'tool_call',
          id: f.toolCall.expectId,
          name: f.toolCall.expectName,
        });
        expect(JSON.parse(call?.type === 'tool_call' ? call.arguments : 'null')).toEqual(
          f.toolCall.expectArguments,
        );
        expect(res.finishReason).toBe('tool_use');
        setup.checkRequest(server.received[0]!, req);
      });
    }

    it('maps a stream stopped by max_tokens', async () => {
      server.current = f.maxTokens.stream;
      const res = await collect(
        adapter.call(baseRequest(true), { signal: new AbortController().signal, requestId: 't' }),
      );
      expect(res.finishReason).toBe('max_tokens');
    });

    for (const e of f.errors) {
      for (const stream of [false, true]) {
        it(`classifies ${e.name} as ${e.kind} (${stream ? 'stream' : 'unary'})`, async () => {
          server.current = e.fixture;
          const err = await caught(events(adapter, baseRequest(stream)));
          expect(err).toBeInstanceOf(UpstreamError);
          const ue = err as UpstreamError;
          expect(ue.kind).toBe(e.kind);
          expect(ue.status).toBe(e.fixture.status);
          if (e.retryAfterMs !== undefined) expect(ue.retryAfterMs).toBe(e.retryAfterMs);
          expect(ue.midStream).toBe(false);
        });
      }
    }

    it('classifies a malformed stream chunk as a protocol error after output began', async () => {
      server.current = f.malformedStream;
      const err = await caught(events(adapter, baseRequest(true)));
      expect(err).toBeInstanceOf(UpstreamError);
      expect((err as UpstreamError).kind).toBe('protocol');
      expect((err as UpstreamError).retryable).toBe(true);
    });

    it('classifies a stream that ends before its final event as mid-stream and retryable', async () => {
      server.current = f.truncatedStream;
      const err = await caught(events(adapter, baseRequest(true)));
      expect(err).toBeInstanceOf(UpstreamError);
      expect((err as UpstreamError).midStream).toBe(true);
      expect((err as UpstreamError).retryable).toBe(true);
    });

    it('classifies a refused connection as a retryable connection error', async () => {
      const dead = setup.makeAdapter('http://127.0.0.1:9');
      const err = await caught(events(dead, baseRequest(true)));
      await dead.close();
      expect(err).toBeInstanceOf(UpstreamError);
      expect((err as UpstreamError).kind).toBe('connection');
      expect((err as UpstreamError).retryable).toBe(true);
    });
  });
}
