import { describe, expect, it } from 'vitest';
import { withChaos } from '../../src/chaos/adapter.ts';
import { ChaosRegistry } from '../../src/chaos/registry.ts';
import type { ChatRequest, StreamEvent } from '../../src/core/chat.ts';
import type { CallContext, ProviderAdapter } from '../../src/core/provider.ts';
import { UpstreamError } from '../../src/core/upstream-error.ts';

const EVENTS: StreamEvent[] = [
  { type: 'start', id: 'x', model: 'm' },
  { type: 'text', text: 'one' },
  { type: 'text', text: ' two' },
  { type: 'tool_call_start', index: 0, id: 'call_1', name: 'f' },
  { type: 'tool_call_delta', index: 0, argumentsDelta: '{}' },
  { type: 'usage', usage: { outputTokens: 3 } },
  { type: 'finish', reason: 'tool_use' },
];

function stub() {
  const s = {
    calls: 0,
    released: 0,
    closed: 0,
    /** What a plain call returns, to check the wrapper hands it back untouched. */
    last: undefined as AsyncIterable<StreamEvent> | undefined,
    adapter: undefined as unknown as ProviderAdapter,
  };
  async function* gen(): AsyncGenerator<StreamEvent> {
    try {
      yield* EVENTS;
    } finally {
      s.released += 1;
    }
  }
  s.adapter = {
    upstreamModel: 'up-1',
    call() {
      s.calls += 1;
      s.last = gen();
      return s.last;
    },
    async close() {
      s.closed += 1;
    },
  };
  return s;
}

const req = (stream = true): ChatRequest => ({
  model: 'm',
  messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }],
  stream,
});

function ctx(signal: AbortSignal = new AbortController().signal): CallContext {
  return { signal, requestId: 'r1' };
}

async function drain(it: AsyncIterable<StreamEvent>): Promise<{ events: StreamEvent[]; error?: unknown }> {
  const events: StreamEvent[] = [];
  try {
    for await (const ev of it) events.push(ev);
    return { events };
  } catch (error) {
    return { events, error };
  }
}

function setup(opts: Parameters<typeof withChaos>[3] = {}) {
  const registry = new ChaosRegistry();
  const inner = stub();
  const wrapped = withChaos(inner.adapter, 'dep', registry, opts);
  return { registry, inner, wrapped };
}

describe('withChaos without faults', () => {
  it('returns the inner iterable itself and delegates model and close', async () => {
    const { registry, inner, wrapped } = setup();
    expect(wrapped.call(req(), ctx())).toBe(inner.last);
    registry.inject('other', { kind: 'refuse', duration_s: 10 });
    expect(wrapped.call(req(), ctx())).toBe(inner.last);
    registry.inject('dep', { kind: 'refuse', rate: 0, duration_s: 10 });
    expect(wrapped.call(req(), ctx())).toBe(inner.last);
    expect(wrapped.upstreamModel).toBe('up-1');
    await wrapped.close();
    expect(inner.closed).toBe(1);
  });
});

describe('withChaos whole-request faults', () => {
  it.each([
    [{ kind: 'refuse' }, { kind: 'connection' }],
    [
      { kind: 'error', status: 502 },
      { kind: 'server', status: 502 },
    ],
    [
      { kind: 'rate_limit', retry_after_s: 3 },
      { kind: 'rate_limited', status: 429, retryAfterMs: 3000 },
    ],
    [{ kind: 'overloaded' }, { kind: 'overloaded', status: 529 }],
  ])('%o fails at once without calling the upstream', async (spec, want) => {
    const { registry, inner, wrapped } = setup();
    registry.inject('dep', { ...spec, duration_s: 10 });
    const { events, error } = await drain(wrapped.call(req(), ctx()));
    expect(events).toEqual([]);
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({ ...want, midStream: false });
    expect((error as UpstreamError).retryable).toBe(true);
    expect(inner.calls).toBe(0);
  });

  it('latency delays the call, then passes the answer through', async () => {
    const { registry, wrapped } = setup();
    registry.inject('dep', { kind: 'latency', ms: 60, duration_s: 10 });
    const t = performance.now();
    const { events, error } = await drain(wrapped.call(req(), ctx()));
    expect(performance.now() - t).toBeGreaterThanOrEqual(55);
    expect(error).toBeUndefined();
    expect(events).toEqual(EVENTS);
  });

  it('latency is abortable and the abort reason comes back untouched', async () => {
    const { registry, inner, wrapped } = setup();
    registry.inject('dep', { kind: 'latency', ms: 10_000, duration_s: 10 });
    const ac = new AbortController();
    const reason = new Error('caller went away');
    setTimeout(() => ac.abort(reason), 20);
    const { error } = await drain(wrapped.call(req(), ctx(ac.signal)));
    expect(error).toBe(reason);
    expect(inner.calls).toBe(0);
  });

  it('latency past the first-byte timeout becomes a timeout, as the transport would make it', async () => {
    const { registry, inner, wrapped } = setup({ firstByteTimeoutMs: 30 });
    registry.inject('dep', { kind: 'latency', ms: 5_000, duration_s: 10 });
    const t = performance.now();
    const { error } = await drain(wrapped.call(req(), ctx()));
    expect(performance.now() - t).toBeLessThan(1_000);
    expect(error).toMatchObject({ kind: 'timeout', midStream: false });
    expect(inner.calls).toBe(0);
  });

  it('blackhole never answers; only the caller abort ends it', async () => {
    const { registry, inner, wrapped } = setup();
    registry.inject('dep', { kind: 'blackhole', duration_s: 10 });
    const ac = new AbortController();
    let settled = false;
    const done = drain(wrapped.call(req(), ctx(ac.signal))).finally(() => {
      settled = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toBe(false);
    const reason = new DOMException('deadline', 'TimeoutError');
    ac.abort(reason);
    expect((await done).error).toBe(reason);
    expect(inner.calls).toBe(0);
  });

  it('blackhole with a first-byte timeout ends as an upstream timeout', async () => {
    const { registry, wrapped } = setup({ firstByteTimeoutMs: 20 });
    registry.inject('dep', { kind: 'blackhole', duration_s: 10 });
    const { error } = await drain(wrapped.call(req(), ctx()));
    expect(error).toMatchObject({ kind: 'timeout', midStream: false });
  });
});

describe('withChaos stream faults', () => {
  it('cut drops the connection after N tokens, mid-stream, and releases the upstream', async () => {
    const { registry, inner, wrapped } = setup();
    registry.inject('dep', { kind: 'cut', after_tokens: 1, duration_s: 10 });
    const { events, error } = await drain(wrapped.call(req(), ctx()));
    expect(events).toEqual(EVENTS.slice(0, 2));
    expect(error).toMatchObject({ kind: 'connection', midStream: true });
    expect(inner.released).toBe(1);
  });

  it('counts tool-call argument deltas as tokens', async () => {
    const { registry, wrapped } = setup();
    registry.inject('dep', { kind: 'cut', after_tokens: 2, duration_s: 10 });
    const { events, error } = await drain(wrapped.call(req(), ctx()));
    expect(events).toEqual(EVENTS.slice(0, 4));
    expect(error).toMatchObject({ kind: 'connection', midStream: true });
  });

  it('an answer shorter than the cut completes', async () => {
    const { registry, wrapped } = setup();
    registry.inject('dep', { kind: 'cut', after_tokens: 3, duration_s: 10 });
    expect(await drain(wrapped.call(req(), ctx()))).toEqual({ events: EVENTS });
  });

  it('a cut unary answer delivers nothing and is not mid-stream', async () => {
    const { registry, inner, wrapped } = setup();
    registry.inject('dep', { kind: 'cut', after_tokens: 1, duration_s: 10 });
    const { events, error } = await drain(wrapped.call(req(false), ctx()));
    expect(events).toEqual([]);
    expect(error).toMatchObject({ kind: 'connection', midStream: false });
    expect(inner.released).toBe(1);
  });

  it('stall goes silent after N tokens until the idle timeout, then times out mid-stream', async () => {
    const { registry, inner, wrapped } = setup({ idleTimeoutMs: 40 });
    registry.inject('dep', { kind: 'stall', after_tokens: 2, duration_s: 10 });
    const t = performance.now();
    const { events, error } = await drain(wrapped.call(req(), ctx()));
    expect(performance.now() - t).toBeGreaterThanOrEqual(35);
    expect(events).toEqual(EVENTS.slice(0, 4));
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({ kind: 'timeout', midStream: true });
    expect(inner.released).toBe(1);
  });

  it('stall without an idle timeout waits for the caller abort', async () => {
    const { registry, inner, wrapped } = setup();
    registry.inject('dep', { kind: 'stall', after_tokens: 0, duration_s: 10 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('gave up')), 30);
    const { events, error } = await drain(wrapped.call(req(), ctx(ac.signal)));
    expect(events).toEqual(EVENTS.slice(0, 1));
    expect(error).toMatchObject({ message: 'gave up' });
    expect(inner.released).toBe(1);
  });

  it('a stalled unary answer times out before delivering anything', async () => {
    const { registry, wrapped } = setup({ idleTimeoutMs: 10 });
    registry.inject('dep', { kind: 'stall', after_tokens: 0, duration_s: 10 });
    const { events, error } = await drain(wrapped.call(req(false), ctx()));
    expect(events).toEqual([]);
    expect(error).toMatchObject({ kind: 'timeout', midStream: false });
  });

  it('stall wins a tie with cut; otherwise the earlier one strikes', async () => {
    const { registry, wrapped } = setup({ idleTimeoutMs: 5 });
    registry.inject('dep', { kind: 'cut', after_tokens: 1, duration_s: 10 });
    registry.inject('dep', { kind: 'stall', after_tokens: 1, duration_s: 10 });
    expect((await drain(wrapped.call(req(), ctx()))).error).toMatchObject({ kind: 'timeout' });
    registry.inject('dep', { kind: 'cut', after_tokens: 0, duration_s: 10 });
    expect((await drain(wrapped.call(req(), ctx()))).error).toMatchObject({ kind: 'connection' });
  });

  it('stops striking when the fault expires', async () => {
    let now = 0;
    const registry = new ChaosRegistry({ now: () => now });
    const inner = stub();
    const wrapped = withChaos(inner.adapter, 'dep', registry);
    registry.inject('dep', { kind: 'refuse', duration_s: 1 });
    expect((await drain(wrapped.call(req(), ctx()))).error).toMatchObject({ kind: 'connection' });
    now = 1_000;
    expect(wrapped.call(req(), ctx())).toBe(inner.last);
  });
});
