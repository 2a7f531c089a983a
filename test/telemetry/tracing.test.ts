import Anthropic from '@anthropic-ai/sdk';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.ts';
import { ADMIN_KEY } from '../helpers/gateway.ts';
import { ms, spansOf, startTracedGateway, type TracedGateway } from './traced-gateway.ts';

/**
 * Trace shape end to end: a real gateway with tracing on, spans caught by an in-memory exporter, real
 * SDK clients, the simulator upstream and the chaos API to force failovers.
 */

const SIM = { ttft_ms: 0, tokens_per_sec: 0, answer_tokens: 24 };

const models: ConfigInput['models'] = [
  {
    name: 'solo',
    deployments: [
      {
        id: 'solo-oa',
        provider: 'simulator',
        model: 'oa-1',
        region: 'east',
        simulator: { ...SIM, dialect: 'openai' },
      },
    ],
  },
  {
    name: 'solo-an',
    deployments: [
      {
        id: 'solo-an',
        provider: 'simulator',
        model: 'an-1',
        region: 'west',
        simulator: { ...SIM, dialect: 'anthropic' },
      },
    ],
  },
  {
    // Tiers make the order of attempts certain: the primary while it is healthy, then the backup.
    name: 'pair',
    deployments: [
      {
        id: 'primary',
        provider: 'simulator',
        model: 'm-primary',
        region: 'r1',
        tier: 0,
        simulator: { ...SIM, dialect: 'openai' },
      },
      {
        id: 'backup',
        provider: 'simulator',
        model: 'm-backup',
        region: 'r2',
        tier: 1,
        simulator: { ...SIM, dialect: 'anthropic' },
      },
    ],
  },
];

const exporter = new InMemorySpanExporter();
let t: TracedGateway;
let openai: OpenAI;
let seq = 0;
const rid = (tag: string): string => `req-${tag}-${++seq}`;

// Starting a gateway (PGlite, migrations, simulators) is slow on a busy machine: the hooks get room.
const START_MS = 60_000;

beforeAll(async () => {
  t = await startTracedGateway(
    { models, telemetry: { tracing: { enabled: true, service_name: 'holdfast-test' } } },
    { processor: new SimpleSpanProcessor({ exporter }) },
  );
  openai = new OpenAI({ apiKey: ADMIN_KEY, baseURL: `${t.url}/v1`, maxRetries: 0 });
}, START_MS);
afterAll(() => t?.close());
afterEach(async () => {
  await fetch(`${t.url}/admin/chaos`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${ADMIN_KEY}` },
  });
});

async function inject(deployment: string, fault: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${t.url}/admin/chaos/${deployment}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ duration_s: 60, ...fault }),
  });
  expect(res.status).toBe(201);
}

function endpointOf(id: string): URL {
  return new URL(t.gw.deployments.find((d) => d.config.id === id)!.endpoint);
}

describe('tracing on', () => {
  it('a plain request: one SERVER span with the GenAI attributes and one CLIENT child', async () => {
    const id = rid('plain');
    const res = await openai.chat.completions.create(
      { model: 'solo', messages: [{ role: 'user', content: 'Hello there' }] },
      { headers: { 'x-request-id': id } },
    );
    const { server, attempts } = await spansOf(exporter, id, 1);

    expect(server.name).toBe('chat solo');
    expect(server.kind).toBe(SpanKind.SERVER);
    expect(server.parentSpanContext).toBeUndefined();
    expect(server.status.code).toBe(SpanStatusCode.UNSET);
    expect(server.resource.attributes['service.name']).toBe('holdfast-test');
    expect(server.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'solo',
      'gen_ai.response.model': 'oa-1',
      'gen_ai.provider.name': 'simulator',
      'gen_ai.usage.input_tokens': res.usage!.prompt_tokens,
      'gen_ai.usage.output_tokens': res.usage!.completion_tokens,
      'gen_ai.response.finish_reasons': ['stop'],
      'gen_ai.request.stream': false,
      'http.response.status_code': 200,
      'holdfast.flag': 'OK',
      'holdfast.outcome': 'success',
      'holdfast.dialect': 'openai',
      'holdfast.stream': false,
      'holdfast.failovers': 0,
      'holdfast.attempts': 1,
      'holdfast.deployment': 'solo-oa',
      'holdfast.region': 'east',
    });
    expect(res.usage!.completion_tokens).toBeGreaterThan(0);
    expect(server.attributes['error.type']).toBeUndefined();

    expect(attempts).toHaveLength(1);
    const [a] = attempts;
    const up = endpointOf('solo-oa');
    expect(a!.name).toBe('chat oa-1');
    expect(a!.kind).toBe(SpanKind.CLIENT);
    expect(a!.spanContext().traceId).toBe(server.spanContext().traceId);
    expect(a!.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
    expect(a!.status.code).toBe(SpanStatusCode.UNSET);
    expect(a!.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'simulator',
      'gen_ai.system': 'simulator',
      'gen_ai.request.model': 'oa-1',
      'server.address': up.hostname,
      'server.port': Number(up.port),
      'holdfast.deployment': 'solo-oa',
      'holdfast.region': 'east',
      'holdfast.attempt.index': 1,
      'holdfast.attempt.result': 'ok',
    });
    expect(a!.attributes['holdfast.ttft_ms']).toBeTypeOf('number');
    // The attempt lies inside its request (both are read off the same monotonic clock).
    expect(ms(a!.startTime)).toBeGreaterThanOrEqual(ms(server.startTime) - 0.01);
    expect(ms(a!.endTime)).toBeLessThanOrEqual(ms(server.endTime) + 0.01);
    expect(ms(server.endTime)).toBeGreaterThan(ms(server.startTime));
  });

  it('a streamed request (Anthropic wire): stream attributes, time to first token and its event', async () => {
    const id = rid('stream');
    const anthropic = new Anthropic({
      apiKey: ADMIN_KEY,
      baseURL: t.url,
      maxRetries: 0,
      defaultHeaders: { 'x-request-id': id },
    });
    const msg = await anthropic.messages
      .stream({ model: 'solo-an', max_tokens: 200, messages: [{ role: 'user', content: 'Stream me' }] })
      .finalMessage();
    const { server, attempts } = await spansOf(exporter, id, 1);

    expect(server.name).toBe('chat solo-an');
    expect(server.attributes).toMatchObject({
      'gen_ai.request.model': 'solo-an',
      'gen_ai.response.model': 'an-1',
      'gen_ai.request.stream': true,
      'gen_ai.usage.output_tokens': msg.usage.output_tokens,
      'holdfast.stream': true,
      'holdfast.dialect': 'anthropic',
      'holdfast.flag': 'OK',
    });
    const ttft = server.attributes['holdfast.ttft_ms'];
    expect(ttft).toBeTypeOf('number');
    expect(server.attributes['gen_ai.response.time_to_first_chunk']).toBeCloseTo(Number(ttft) / 1000, 9);
    const first = server.events.find((e) => e.name === 'holdfast.first_token');
    expect(first).toBeDefined();
    expect(ms(first!.time)).toBeCloseTo(ms(server.startTime) + Number(ttft), 1);
    expect(attempts).toHaveLength(1);
    expect(attempts[0]!.attributes['holdfast.deployment']).toBe('solo-an');
    expect(attempts[0]!.events.map((e) => e.name)).toContain('holdfast.first_token');
  });

  it('a failover: two children, the first failed with error status, the request FAILED_OVER', async () => {
    await inject('primary', { kind: 'error', status: 503 });
    const id = rid('failover');
    const res = await openai.chat.completions.create(
      { model: 'pair', messages: [{ role: 'user', content: 'Are you there?' }] },
      { headers: { 'x-request-id': id } },
    );
    expect(res.choices[0]!.message.content).toBeTruthy();
    const { server, attempts } = await spansOf(exporter, id, 2);

    expect(server.attributes).toMatchObject({
      'holdfast.flag': 'FAILED_OVER',
      'holdfast.failovers': 1,
      'holdfast.attempts': 2,
      'holdfast.deployment': 'backup',
      'gen_ai.response.model': 'm-backup',
    });
    expect(server.status.code).toBe(SpanStatusCode.UNSET);
    expect(attempts).toHaveLength(2);
    const [first, second] = attempts;
    expect(first!.attributes).toMatchObject({
      'holdfast.deployment': 'primary',
      'gen_ai.request.model': 'm-primary',
      'holdfast.attempt.result': 'error',
      'error.type': 'server',
      'holdfast.error_kind': 'server',
      'http.response.status_code': 503,
      'holdfast.mid_stream': false,
    });
    expect(first!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'server' });
    expect(second!.attributes).toMatchObject({
      'holdfast.deployment': 'backup',
      'gen_ai.request.model': 'm-backup',
      'holdfast.region': 'r2',
      'holdfast.attempt.result': 'ok',
    });
    expect(second!.status.code).toBe(SpanStatusCode.UNSET);
    for (const a of attempts) expect(a.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
    expect(ms(second!.startTime)).toBeGreaterThanOrEqual(ms(first!.endTime) - 0.01);
  });

  it('a stream cut mid-answer: the first child records the mid-stream failure, the answer continues', async () => {
    await inject('primary', { kind: 'cut', after_tokens: 3 });
    const id = rid('cut');
    const stream = await openai.chat.completions.create(
      { model: 'pair', stream: true, messages: [{ role: 'user', content: 'Tell me a long story' }] },
      { headers: { 'x-request-id': id } },
    );
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    expect(text.length).toBeGreaterThan(0);
    const { server, attempts } = await spansOf(exporter, id, 2);

    expect(server.attributes).toMatchObject({ 'holdfast.flag': 'FAILED_OVER', 'holdfast.stream': true });
    expect(attempts[0]!.attributes).toMatchObject({
      'holdfast.deployment': 'primary',
      'holdfast.mid_stream': true,
      'holdfast.attempt.result': 'error',
    });
    expect(attempts[0]!.status.code).toBe(SpanStatusCode.ERROR);
    expect(attempts[1]!.attributes['holdfast.attempt.result']).toBe('ok');
  });

  it('a failed request: error.type and ERROR status on the server span', async () => {
    await inject('solo-oa', { kind: 'error', status: 500 });
    const id = rid('fail');
    const res = await fetch(`${t.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${ADMIN_KEY}`,
        'content-type': 'application/json',
        'x-request-id': id,
      },
      body: JSON.stringify({ model: 'solo', messages: [{ role: 'user', content: 'Hi' }] }),
    });
    expect(res.status).toBeGreaterThanOrEqual(500);
    const body = (await res.json()) as { error: { code: string } };
    const { server, attempts } = await spansOf(exporter, id, 1);
    expect(server.status).toEqual({ code: SpanStatusCode.ERROR, message: body.error.code });
    expect(server.attributes['error.type']).toBe(body.error.code);
    expect(server.attributes['http.response.status_code']).toBe(res.status);
    expect(attempts.every((a) => a.status.code === SpanStatusCode.ERROR)).toBe(true);
  });

  it('a client error is not a server fault: error.type set, status left unset', async () => {
    const id = rid('bad');
    const res = await fetch(`${t.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${ADMIN_KEY}`,
        'content-type': 'application/json',
        'x-request-id': id,
      },
      body: JSON.stringify({ model: 'no-such-model', messages: [{ role: 'user', content: 'Hi' }] }),
    });
    expect(res.status).toBe(404);
    const { server, attempts } = await spansOf(exporter, id, 0);
    expect(attempts).toHaveLength(0);
    expect(server.status.code).toBe(SpanStatusCode.UNSET);
    expect(server.attributes['holdfast.outcome']).toBe('client_error');
    expect(server.attributes['error.type']).toBeTypeOf('string');
  });

  it("joins the caller's trace from a W3C traceparent (and keeps its tracestate)", async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parentId = '00f067aa0ba902b7';
    const id = rid('parent');
    const res = await fetch(`${t.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${ADMIN_KEY}`,
        'content-type': 'application/json',
        'x-request-id': id,
        traceparent: `00-${traceId}-${parentId}-01`,
        tracestate: 'vendor=abc',
      },
      body: JSON.stringify({ model: 'solo', messages: [{ role: 'user', content: 'Hi' }] }),
    });
    expect(res.status).toBe(200);
    const { server, attempts } = await spansOf(exporter, id, 1);
    expect(server.spanContext().traceId).toBe(traceId);
    expect(server.parentSpanContext?.spanId).toBe(parentId);
    expect(server.parentSpanContext?.isRemote).toBe(true);
    expect(server.spanContext().traceState?.get('vendor')).toBe('abc');
    expect(attempts[0]!.spanContext().traceId).toBe(traceId);
  });

  it("follows the caller's decision not to sample", async () => {
    const unsampled = rid('unsampled');
    const res = await fetch(`${t.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${ADMIN_KEY}`,
        'content-type': 'application/json',
        'x-request-id': unsampled,
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00',
      },
      body: JSON.stringify({ model: 'solo', messages: [{ role: 'user', content: 'Hi' }] }),
    });
    expect(res.status).toBe(200);
    // A later request's spans arriving means the first one's outcome has been handled too.
    const after = rid('after');
    await openai.chat.completions.create(
      { model: 'solo', messages: [{ role: 'user', content: 'Hi' }] },
      { headers: { 'x-request-id': after } },
    );
    await spansOf(exporter, after, 1);
    const leaked = exporter
      .getFinishedSpans()
      .filter((s) => s.attributes['holdfast.request_id'] === unsampled);
    expect(leaked).toEqual([]);
  });
});

describe('tracing off (the default)', () => {
  const quiet = new InMemorySpanExporter();
  let off: TracedGateway;
  beforeAll(async () => {
    off = await startTracedGateway(
      { models: [models[0]!], telemetry: {} },
      { processor: new SimpleSpanProcessor({ exporter: quiet }) },
    );
  }, START_MS);
  afterAll(() => off?.close());

  it('builds no spans even with an exporter at hand, including after a shutdown flush', async () => {
    expect(off.gw.config.telemetry.tracing.enabled).toBe(false);
    const client = new OpenAI({ apiKey: ADMIN_KEY, baseURL: `${off.url}/v1`, maxRetries: 0 });
    const r = await client.chat.completions.create({
      model: 'solo',
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(r.choices[0]!.message.content).toBeTruthy();
    await off.close();
    expect(quiet.getFinishedSpans()).toEqual([]);
  });
});
