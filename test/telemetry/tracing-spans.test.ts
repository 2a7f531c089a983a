import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterEach, describe, expect, it } from 'vitest';
import { ExpiringMap } from '../../src/telemetry/expiring-map.ts';
import {
  type AttemptRecord,
  attemptChannel,
  type OutcomeRecord,
  outcomeChannel,
  publishAttempt,
  publishOutcome,
} from '../../src/telemetry/outcome.ts';
import { RequestSpans } from '../../src/telemetry/request-spans.ts';
import { resolveTracesEndpoint, startTracing, type TracingSettings } from '../../src/telemetry/tracing.ts';
import { ms } from './traced-gateway.ts';

/** Span building from records, with hand-made records and clocks: no gateway, no network. */

const T0 = 1_800_000_000_000; // epoch ms of "now" in these tests
const ORIGIN = T0 - 50_000; // performance.timeOrigin stand-in: the engine clock reads 50 s at T0

function rig(opts: { maxPending?: number; ttlMs?: number } = {}) {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const clock = { epoch: T0, mono: 50_000 };
  const spans = new RequestSpans({
    tracer: provider.getTracer('test'),
    deployment: (id) =>
      id === 'east'
        ? { model: 'gpt-x', providerName: 'openai', address: 'api.example', port: 443 }
        : undefined,
    nowEpochMs: () => clock.epoch,
    engineToEpochMs: (t) => ORIGIN + t,
    monotonicMs: () => clock.mono,
    ...(opts.maxPending !== undefined ? { maxPendingRequests: opts.maxPending } : {}),
    ...(opts.ttlMs !== undefined ? { pendingTtlMs: opts.ttlMs } : {}),
  });
  return { exporter, spans, clock };
}

function attempt(requestId: string, over: Partial<AttemptRecord> = {}): AttemptRecord {
  return {
    requestId,
    deployment: 'east',
    provider: 'openai',
    region: 'us',
    ok: true,
    startedAt: 49_800, // engine clock: 200 ms before "now"
    latencyMs: 150,
    ttftMs: 40,
    firstTokenMs: 60,
    ...over,
  };
}

function outcome(requestId: string, over: Partial<OutcomeRecord> = {}): OutcomeRecord {
  return {
    requestId,
    startedAt: T0 - 250,
    dialect: 'openai',
    model: 'chat-default',
    stream: true,
    status: 200,
    ok: true,
    outcome: 'success',
    flag: 'OK',
    failovers: 0,
    deployment: 'east',
    provider: 'openai',
    region: 'us',
    attempts: 1,
    latencyMs: 250,
    ttftMs: 70,
    inputTokens: 12,
    outputTokens: 34,
    finishReason: 'max_tokens',
    ...over,
  };
}

describe('RequestSpans', () => {
  it('times spans from the records: request ends now and started latencyMs ago; attempts on the engine clock', () => {
    const { exporter, spans } = rig();
    spans.onAttempt(attempt('r1'));
    expect(exporter.getFinishedSpans()).toHaveLength(0);
    spans.onOutcome(outcome('r1'));

    const [child, server] = exporter.getFinishedSpans();
    expect(server!.kind).toBe(SpanKind.SERVER);
    expect(ms(server!.startTime)).toBeCloseTo(T0 - 250, 3);
    expect(ms(server!.endTime)).toBeCloseTo(T0, 3);
    expect(server!.attributes['gen_ai.response.finish_reasons']).toEqual(['length']);
    expect(server!.attributes['holdfast.finish_reason']).toBe('max_tokens');
    expect(server!.attributes['gen_ai.response.time_to_first_chunk']).toBeCloseTo(0.07, 9);
    expect(ms(server!.events[0]!.time)).toBeCloseTo(T0 - 250 + 70, 3);

    expect(child!.kind).toBe(SpanKind.CLIENT);
    expect(child!.name).toBe('chat gpt-x');
    expect(ms(child!.startTime)).toBeCloseTo(T0 - 200, 3);
    expect(ms(child!.endTime)).toBeCloseTo(T0 - 50, 3);
    expect(ms(child!.events[0]!.time)).toBeCloseTo(T0 - 200 + 60, 3);
    expect(child!.attributes).toMatchObject({
      'server.address': 'api.example',
      'server.port': 443,
      'gen_ai.provider.name': 'openai',
      'holdfast.first_token_ms': 60,
    });
  });

  it('a request with no attempts (refused before routing) still gets its span', () => {
    const { exporter, spans } = rig();
    spans.onOutcome(
      outcome('r2', {
        ok: false,
        outcome: 'client_error',
        flag: 'RATE_LIMITED',
        status: 429,
        errorCode: 'rate_limited',
        attempts: 0,
      }),
    );
    const [server] = exporter.getFinishedSpans();
    expect(server!.attributes['error.type']).toBe('rate_limited');
    expect(server!.status.code).toBe(SpanStatusCode.UNSET);
    expect(exporter.getFinishedSpans()).toHaveLength(1);
  });

  it('a hedge loser (ended without an error) is a cancelled attempt, not a failure', () => {
    const { exporter, spans } = rig();
    spans.onAttempt(attempt('r3', { ok: false }));
    spans.onAttempt(attempt('r3', { startedAt: 49_850 }));
    spans.onOutcome(outcome('r3', { flag: 'HEDGED', failovers: 1, attempts: 2 }));
    const children = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.CLIENT);
    expect(children.map((s) => s.attributes['holdfast.attempt.result'])).toEqual(['cancelled', 'ok']);
    expect(children.map((s) => s.status.code)).toEqual([SpanStatusCode.UNSET, SpanStatusCode.UNSET]);
  });

  it('an attempt that ends after its outcome still joins the request trace', () => {
    const { exporter, spans } = rig();
    spans.onAttempt(attempt('r4'));
    spans.onOutcome(outcome('r4'));
    spans.onAttempt(attempt('r4', { ok: false, startedAt: 49_900 }));
    const all = exporter.getFinishedSpans();
    const server = all.find((s) => s.kind === SpanKind.SERVER)!;
    const late = all.at(-1)!;
    expect(late.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
    expect(late.attributes['holdfast.attempt.index']).toBe(2);
  });

  it('attempts whose outcome never comes are dropped by age and by count, never kept forever', () => {
    const { spans, clock } = rig({ maxPending: 3, ttlMs: 1_000 });
    for (const id of ['a', 'b', 'c', 'd']) spans.onAttempt(attempt(id));
    expect(spans.pendingRequests).toBe(3);
    clock.mono += 1_001;
    spans.onAttempt(attempt('e'));
    expect(spans.pendingRequests).toBe(1);
  });
});

describe('ExpiringMap', () => {
  it('expires entries by the time they were first set, and drops the oldest when full', () => {
    let now = 0;
    const m = new ExpiringMap<string, number>({ max: 2, ttlMs: 100, now: () => now });
    m.set('a', 1);
    now = 50;
    m.set('b', 2);
    m.set('a', 3); // an update keeps a's first-set time
    now = 101;
    expect(m.get('a')).toBeUndefined();
    expect(m.get('b')).toBe(2);
    m.set('c', 4);
    m.set('d', 5);
    expect(m.get('b')).toBeUndefined();
    expect(m.take('c')).toBe(4);
    expect(m.take('c')).toBeUndefined();
    expect(m.evicted).toBe(2);
  });
});

describe('resolveTracesEndpoint', () => {
  it('prefers the config, then the signal variable, then the base variable, then localhost', () => {
    const env = {
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces.example:4318/custom/path',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://base.example:4318/',
    };
    expect(resolveTracesEndpoint('http://cfg.example:4318', env)).toBe('http://cfg.example:4318/v1/traces');
    expect(resolveTracesEndpoint('http://cfg.example/otlp/v1/traces', env)).toBe(
      'http://cfg.example/otlp/v1/traces',
    );
    expect(resolveTracesEndpoint(undefined, env)).toBe('http://traces.example:4318/custom/path');
    expect(
      resolveTracesEndpoint(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: env.OTEL_EXPORTER_OTLP_ENDPOINT }),
    ).toBe('http://base.example:4318/v1/traces');
    expect(resolveTracesEndpoint(undefined, {})).toBe('http://localhost:4318/v1/traces');
  });
});

describe('startTracing', () => {
  const settings: TracingSettings = {
    enabled: true,
    headers: {},
    service_name: 'svc',
    sample_ratio: 1,
  };
  let stop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await stop?.();
    stop = undefined;
  });

  it('disabled: returns nothing and subscribes to nothing, so the records are not even built', () => {
    // Nothing else in this file subscribes: the channels report no subscribers unless tracing does.
    expect(
      startTracing({ ...settings, enabled: false }, { exporter: new InMemorySpanExporter() }),
    ).toBeUndefined();
    expect(attemptChannel.hasSubscribers).toBe(false);
    expect(outcomeChannel.hasSubscribers).toBe(false);
  });

  it('OTEL_SDK_DISABLED=true wins over the config', () => {
    expect(startTracing(settings, { env: { OTEL_SDK_DISABLED: 'true' } })).toBeUndefined();
    expect(outcomeChannel.hasSubscribers).toBe(false);
  });

  it('enabled: listens to both channels until shut down, and flushes what it built', async () => {
    const exporter = new InMemorySpanExporter();
    const tracing = startTracing(settings, { exporter, env: {} })!;
    stop = () => tracing.shutdown();
    expect(tracing.endpoint).toBe('injected');
    expect(attemptChannel.hasSubscribers).toBe(true);
    expect(outcomeChannel.hasSubscribers).toBe(true);

    const now = performance.now();
    publishAttempt(attempt('live', { startedAt: now - 20, latencyMs: 15 }));
    publishOutcome(outcome('live', { latencyMs: 30 }));
    await tracing.flush();
    const names = exporter
      .getFinishedSpans()
      .map((s) => `${s.name}/${s.resource.attributes['service.name']}`);
    expect(names.sort()).toEqual(['chat chat-default/svc', 'chat/svc']);

    await tracing.shutdown();
    expect(attemptChannel.hasSubscribers).toBe(false);
    expect(outcomeChannel.hasSubscribers).toBe(false);
  });

  it('a record it cannot handle is skipped, never thrown into the request that published it', async () => {
    const exporter = new InMemorySpanExporter();
    const tracing = startTracing(settings, { exporter, env: {} })!;
    stop = () => tracing.shutdown();
    // A malformed record (no dialect or model): the span builder must not take the publisher down.
    expect(() => publishOutcome(null as unknown as OutcomeRecord)).not.toThrow();
    publishOutcome(outcome('after-bad'));
    await tracing.flush();
    expect(exporter.getFinishedSpans().map((s) => s.attributes['holdfast.request_id'])).toEqual([
      'after-bad',
    ]);
  });
});
