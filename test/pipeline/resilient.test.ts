import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/load.ts';
import type { ConfigInput, DeploymentConfig } from '../../src/config/schema.ts';
import type { ChatRequest, StreamEvent } from '../../src/core/chat.ts';
import { responseToEvents } from '../../src/core/collect.ts';
import type { ProviderAdapter } from '../../src/core/provider.ts';
import { UpstreamError, type UpstreamErrorKind } from '../../src/core/upstream-error.ts';
import type { RequestContext } from '../../src/pipeline/context.ts';
import { ResilienceEngine } from '../../src/pipeline/resilient.ts';
import type { DeploymentRuntime } from '../../src/providers/registry.ts';
import { dispatchContext } from '../helpers/engine.ts';

/** A scripted deployment: fails with `failWith` (when set) or answers "ok from <id>". */
class Scripted implements ProviderAdapter {
  readonly upstreamModel = 'm';
  calls = 0;
  failWith: (() => UpstreamError) | undefined;
  readonly id: string;
  constructor(id: string) {
    this.id = id;
  }
  async *call(_req: ChatRequest): AsyncGenerator<StreamEvent> {
    this.calls += 1;
    if (this.failWith) throw this.failWith();
    yield* responseToEvents({
      id: 'x',
      model: 'm',
      content: [{ type: 'text', text: `ok from ${this.id}` }],
      finishReason: 'end_turn',
      usage: { inputTokens: 1, outputTokens: 3 },
    });
  }
  async close(): Promise<void> {}
}

function fail(kind: UpstreamErrorKind, retryAfterMs?: number): () => UpstreamError {
  return () =>
    new UpstreamError({ kind, message: kind, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
}

function setup(models: ConfigInput['models']) {
  const config = buildConfig(
    { models, resilience: { outlier: { consecutive_failures: 3, base_ejection_ms: 10_000 } } },
    {},
  );
  const clock = {
    t: 1_000,
    now() {
      return this.t;
    },
  };
  let seed = 7;
  const rng = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const adapters = new Map<string, Scripted>();
  const runtimes = new Map<string, DeploymentRuntime>();
  for (const m of config.models) {
    for (const d of m.deployments) {
      const a = new Scripted(d.id);
      adapters.set(d.id, a);
      runtimes.set(d.id, { config: d as DeploymentConfig, adapter: a, endpoint: '', close: async () => {} });
    }
  }
  const engine = new ResilienceEngine({
    models: config.models,
    runtimes,
    resilience: config.resilience,
    clock,
    rng,
  });
  async function ask(model = 'chat'): Promise<{ text: string; ctx: RequestContext; error?: unknown }> {
    const ctx = dispatchContext(model);
    let text = '';
    try {
      for await (const batch of engine.dispatch(ctx))
        for (const ev of batch) if (ev.type === 'text') text += ev.text;
      return { text, ctx };
    } catch (error) {
      return { text, ctx, error };
    }
  }
  return { engine, adapters, clock, ask };
}

const sims = (ids: string[]) => ids.map((id) => ({ id, provider: 'simulator' as const, model: 'm' }));

describe('ResilienceEngine: per-deployment room (admission limits)', () => {
  it('passes over a deployment at its limit while another has room, and uses it when none has', async () => {
    const { adapters, ask, engine } = setup([{ name: 'chat', deployments: sims(['a', 'b']) }]);
    let full = new Set(['a']);
    engine.setRoom((id) => !full.has(id));
    for (let i = 0; i < 10; i++) await ask();
    expect(adapters.get('a')!.calls).toBe(0);
    expect(adapters.get('b')!.calls).toBe(10);
    full = new Set(['a', 'b']);
    const r = await ask();
    expect(r.error).toBeUndefined();
    expect(r.text).toMatch(/^ok from [ab]$/);
  });
});

describe('ResilienceEngine: busy is not sick', () => {
  it('never ejects a deployment for 429/529, but does for server errors', () => {
    const { engine } = setup([{ name: 'chat', deployments: sims(['a', 'b']) }]);
    const a = engine.deployments.get('a')!;
    // Recorded directly: the balancer would otherwise steer away from `a` after its first failure.
    for (let i = 0; i < 10; i++) engine.record(a, false, fail('overloaded')());
    for (let i = 0; i < 10; i++) engine.record(a, false, fail('rate_limited')());
    expect(engine.outlier.state('a')).not.toBe('ejected');
    for (let i = 0; i < 3; i++) engine.record(a, false, fail('server')());
    expect(engine.outlier.state('a')).toBe('ejected');
  });
});

describe('ResilienceEngine with scripted deployments and a fake clock', () => {
  it('fails over a deployment fault to another deployment', async () => {
    const { adapters, ask } = setup([{ name: 'chat', deployments: sims(['a', 'b']) }]);
    adapters.get('a')!.failWith = fail('server');
    for (let i = 0; i < 10; i++) {
      const r = await ask();
      expect(r.error).toBeUndefined();
      expect(r.text).toBe('ok from b');
    }
  });

  it('reports a deployment the balancer avoids after a failure as suspect, and healthy once it succeeds', async () => {
    const { engine, adapters, clock, ask } = setup([{ name: 'chat', deployments: sims(['a', 'b']) }]);
    adapters.get('a')!.failWith = fail('server');
    for (let i = 0; i < 20 && adapters.get('a')!.calls === 0; i++) await ask();
    expect(engine.outlier.state('a')).toBe('healthy');
    expect(engine.health('a')).toBe('suspect');
    expect(engine.health('b')).toBe('healthy');
    adapters.get('a')!.failWith = undefined;
    adapters.get('b')!.failWith = fail('server');
    clock.t += 60_000;
    for (let i = 0; i < 5; i++) await ask();
    expect(engine.health('a')).toBe('healthy');
  });

  it('never retries a bad request', async () => {
    const { adapters, ask } = setup([{ name: 'chat', deployments: sims(['a', 'b']) }]);
    adapters.get('a')!.failWith = fail('bad_request');
    adapters.get('b')!.failWith = fail('bad_request');
    const r = await ask();
    expect(r.error).toBeInstanceOf(UpstreamError);
    expect(r.ctx.attempts).toBe(1);
  });

  it('keeps traffic off a deployment until its retry-after has passed', async () => {
    const { engine, adapters, clock, ask } = setup([{ name: 'chat', deployments: sims(['a', 'b']) }]);
    adapters.get('a')!.failWith = fail('rate_limited', 5_000);
    for (let i = 0; i < 30 && adapters.get('a')!.calls === 0; i++) await ask();
    expect(adapters.get('a')!.calls).toBe(1);
    expect(engine.outlier.state('a')).toBe('blocked');
    // Blocked means blocked, even when it is the only way left to go.
    adapters.get('b')!.failWith = fail('server');
    const during = await ask();
    expect(during.error).toBeDefined();
    expect(adapters.get('a')!.calls).toBe(1);
    adapters.get('a')!.failWith = undefined;
    clock.t += 5_001;
    expect(engine.outlier.state('a')).toBe('healthy');
    const after = await ask();
    expect(after.text).toBe('ok from a');
  });

  it('a quota error is not retried in its group but may fall back', async () => {
    const { adapters, ask } = setup([
      { name: 'chat', fallbacks: ['backup'], deployments: sims(['a', 'b']) },
      { name: 'backup', deployments: sims(['z']) },
    ]);
    adapters.get('a')!.failWith = fail('quota_exhausted');
    adapters.get('b')!.failWith = fail('quota_exhausted');
    const r = await ask();
    expect(r.text).toBe('ok from z');
    expect(r.ctx.attempts).toBe(2);
  });

  it('makes at most max_attempts tries, then says no healthy upstream', async () => {
    const { adapters, ask } = setup([{ name: 'chat', deployments: sims(['a', 'b', 'c', 'd', 'e']) }]);
    for (const a of adapters.values()) a.failWith = fail('connection');
    const r = await ask();
    expect(r.ctx.attempts).toBe(3);
    expect((r.error as { code?: string }).code).toBe('no_healthy_upstream');
  });

  it('ejects after consecutive failures, probes one request at a time when the ejection ends, and readmits', async () => {
    const { engine, adapters, clock, ask } = setup([{ name: 'chat', deployments: sims(['a', 'b', 'c']) }]);
    adapters.get('a')!.failWith = fail('server');
    // Time passes between requests, so the balancer's memory of a's failures fades and it is tried again.
    for (let i = 0; i < 400 && engine.outlier.state('a') === 'healthy'; i++) {
      clock.t += 5_000;
      await ask();
    }
    expect(engine.outlier.state('a')).toBe('ejected');
    const before = adapters.get('a')!.calls;
    for (let i = 0; i < 10; i++) await ask();
    expect(adapters.get('a')!.calls).toBe(before);
    adapters.get('a')!.failWith = undefined;
    clock.t += 10_001;
    expect(engine.outlier.state('a')).toBe('probing');
    for (let i = 0; i < 400 && engine.outlier.state('a') !== 'healthy'; i++) {
      clock.t += 100;
      await ask();
    }
    expect(engine.outlier.state('a')).toBe('healthy');
  });

  it('a full-provider outage with a fallback settles at about one attempt per request', async () => {
    const { adapters, ask } = setup([
      { name: 'chat', fallbacks: ['backup'], deployments: sims(['a', 'b']) },
      { name: 'backup', deployments: sims(['z']) },
    ]);
    adapters.get('a')!.failWith = fail('connection');
    adapters.get('b')!.failWith = fail('connection');
    let attempts = 0;
    const n = 100;
    for (let i = 0; i < n; i++) {
      const r = await ask();
      expect(r.text).toBe('ok from z');
      attempts += r.ctx.attempts;
    }
    expect(attempts / n).toBeLessThanOrEqual(1.2);
  });
});
