import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishAttempt, publishOutcome } from '../../src/telemetry/outcome.ts';
import { startTracing } from '../../src/telemetry/tracing.ts';
import { ADMIN_KEY } from '../helpers/gateway.ts';
import { startTracedGateway } from './traced-gateway.ts';

/**
 * The exporter configuration proven over the wire: a small OTLP/HTTP receiver on loopback takes the
 * export requests, and the spans in them are decoded from OTLP JSON.
 */

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: OtlpTraces;
}
interface OtlpAttribute {
  key: string;
  value: { stringValue?: string; intValue?: number | string; boolValue?: boolean };
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string | number;
  endTimeUnixNano: string | number;
  attributes: OtlpAttribute[];
}
interface OtlpTraces {
  resourceSpans: Array<{
    resource: { attributes: OtlpAttribute[] };
    scopeSpans: Array<{ scope: { name: string }; spans: OtlpSpan[] }>;
  }>;
}

const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;

let receiver: Server;
let base = '';
const received: Received[] = [];

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        path: req.url ?? '',
        headers: req.headers,
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpTraces,
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => receiver.close(() => resolve())));

function attr(list: OtlpAttribute[], key: string): unknown {
  const v = list.find((a) => a.key === key)?.value;
  return v?.stringValue ?? v?.intValue ?? v?.boolValue;
}

function spansFor(requestId: string): { spans: OtlpSpan[]; resource: OtlpAttribute[]; got: Received }[] {
  return received.flatMap((got) =>
    got.body.resourceSpans.map((rs) => ({
      got,
      resource: rs.resource.attributes,
      spans: rs.scopeSpans
        .flatMap((s) => s.spans)
        .filter((s) => attr(s.attributes, 'holdfast.request_id') === requestId),
    })),
  );
}

describe('OTLP/HTTP export', () => {
  it('a gateway sends its request and attempt spans to the configured collector, with its headers', async () => {
    const t = await startTracedGateway({
      models: [
        {
          name: 'otlp-model',
          deployments: [
            {
              id: 'otlp-dep',
              provider: 'simulator',
              model: 'up-1',
              simulator: { dialect: 'openai', ttft_ms: 0, tokens_per_sec: 0 },
            },
          ],
        },
      ],
      telemetry: {
        tracing: {
          enabled: true,
          otlp_endpoint: base, // no path: /v1/traces is added
          headers: { 'x-otlp-token': 'sekret' },
          service_name: 'holdfast-otlp',
        },
      },
    });
    const id = 'otlp-request-1';
    try {
      const client = new OpenAI({ apiKey: ADMIN_KEY, baseURL: `${t.url}/v1`, maxRetries: 0 });
      await client.chat.completions.create(
        { model: 'otlp-model', messages: [{ role: 'user', content: 'Hi' }] },
        { headers: { 'x-request-id': id } },
      );
    } finally {
      // Spans are batched; closing the gateway flushes them.
      await t.close();
    }

    const batches = spansFor(id).filter((b) => b.spans.length > 0);
    expect(batches.length).toBeGreaterThan(0);
    const { got, resource } = batches[0]!;
    expect(got.path).toBe('/v1/traces');
    expect(got.headers['content-type']).toMatch(/^application\/json/);
    expect(got.headers['x-otlp-token']).toBe('sekret');
    expect(attr(resource, 'service.name')).toBe('holdfast-otlp');

    const spans = batches.flatMap((b) => b.spans);
    const server = spans.find((s) => s.kind === SPAN_KIND_SERVER)!;
    const client = spans.find((s) => s.kind === SPAN_KIND_CLIENT)!;
    expect(server.name).toBe('chat otlp-model');
    expect(attr(server.attributes, 'gen_ai.operation.name')).toBe('chat');
    expect(attr(server.attributes, 'gen_ai.request.model')).toBe('otlp-model');
    expect(attr(server.attributes, 'holdfast.flag')).toBe('OK');
    expect(client.name).toBe('chat up-1');
    expect(client.traceId).toBe(server.traceId);
    expect(client.parentSpanId).toBe(server.spanId);
    expect(server.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(BigInt(server.endTimeUnixNano)).toBeGreaterThan(BigInt(server.startTimeUnixNano));
  }, 60_000); // starting a whole gateway is slow on a busy machine

  it('with no endpoint in the config, OTEL_EXPORTER_OTLP_ENDPOINT says where', async () => {
    const tracing = startTracing(
      { enabled: true, headers: {}, service_name: 'from-env', sample_ratio: 1 },
      { env: { OTEL_EXPORTER_OTLP_ENDPOINT: base } },
    )!;
    try {
      expect(tracing.endpoint).toBe(`${base}/v1/traces`);
      const now = performance.now();
      publishAttempt({
        requestId: 'otlp-env-1',
        deployment: 'x',
        provider: 'openai',
        region: 'r',
        ok: true,
        startedAt: now - 5,
        latencyMs: 4,
      });
      publishOutcome({
        requestId: 'otlp-env-1',
        startedAt: Date.now() - 10,
        dialect: 'anthropic',
        model: 'env-model',
        stream: false,
        status: 200,
        ok: true,
        outcome: 'success',
        flag: 'OK',
        failovers: 0,
        attempts: 1,
        latencyMs: 10,
        inputTokens: 1,
        outputTokens: 2,
      });
      await tracing.flush();
    } finally {
      await tracing.shutdown();
    }
    const batches = spansFor('otlp-env-1').filter((b) => b.spans.length > 0);
    expect(batches.map((b) => attr(b.resource, 'service.name'))).toContain('from-env');
    expect(batches.flatMap((b) => b.spans.map((s) => s.name)).sort()).toEqual(['chat', 'chat env-model']);
  });

  it('a collector that is down never fails the shutdown: the spans are dropped with a warning', async () => {
    const gone = createServer();
    await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
    const port = (gone.address() as AddressInfo).port;
    await new Promise<void>((resolve) => gone.close(() => resolve()));
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const tracing = startTracing(
      {
        enabled: true,
        otlp_endpoint: `http://127.0.0.1:${port}`,
        headers: {},
        service_name: 'x',
        sample_ratio: 1,
      },
      { env: {}, logger, shutdownTimeoutMs: 300 },
    )!;
    publishOutcome({
      requestId: 'otlp-down-1',
      startedAt: Date.now() - 10,
      dialect: 'openai',
      stream: false,
      status: 200,
      ok: true,
      outcome: 'success',
      flag: 'OK',
      failovers: 0,
      attempts: 0,
      latencyMs: 10,
      inputTokens: 0,
      outputTokens: 0,
    });
    await expect(tracing.shutdown()).resolves.toBeUndefined();
    const warned = lines
      .map((l) => JSON.parse(l) as { level: number; msg: string })
      .filter((l) => l.level === 40);
    expect(warned.map((l) => l.msg)).toContain('trace export at shutdown failed; spans dropped');
  });
});
