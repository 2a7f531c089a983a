import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/load.ts';
import type { DeploymentConfig } from '../../src/config/schema.ts';
import type { ChatRequest, StreamEvent } from '../../src/core/chat.ts';
import type { ProviderAdapter } from '../../src/core/provider.ts';
import { ResilienceEngine } from '../../src/pipeline/resilient.ts';
import type { DeploymentRuntime } from '../../src/providers/registry.ts';
import { dispatchContext } from '../helpers/engine.ts';

/** Answers "<id>:" at once, then the rest of the answer when released (while it is held, it is in flight). */
class Gated implements ProviderAdapter {
  readonly upstreamModel = 'm';
  readonly id: string;
  calls = 0;
  hold: Promise<void> | undefined;
  constructor(id: string) {
    this.id = id;
  }
  async *call(_req: ChatRequest): AsyncGenerator<StreamEvent> {
    this.calls += 1;
    yield { type: 'start', id: 'x', model: 'm' };
    yield { type: 'text', text: `${this.id}:` };
    if (this.hold) await this.hold;
    yield { type: 'text', text: 'done' };
    yield { type: 'finish', reason: 'end_turn' };
  }
  async close(): Promise<void> {}
}

function setup() {
  const config = buildConfig(
    {
      models: [
        {
          name: 'chat',
          hedge: { enabled: false },
          deployments: [
            { id: 'a', provider: 'simulator', model: 'm', tier: 0 },
            { id: 'b', provider: 'simulator', model: 'm', tier: 1 },
          ],
        },
      ],
    },
    {},
  );
  const adapters = new Map<string, Gated>();
  const runtimes = new Map<string, DeploymentRuntime>();
  for (const d of config.models[0]!.deployments) {
    const a = new Gated(d.id);
    adapters.set(d.id, a);
    runtimes.set(d.id, { config: d as DeploymentConfig, adapter: a, endpoint: '', close: async () => {} });
  }
  const engine = new ResilienceEngine({
    models: config.models,
    runtimes,
    resilience: config.resilience,
    clock: { now: () => performance.now() },
    rng: () => 0.5,
  });
  async function* run(): AsyncGenerator<string> {
    const ctx = dispatchContext('chat', true);
    for await (const batch of engine.dispatch(ctx))
      for (const ev of batch) if (ev.type === 'text') yield ev.text;
  }
  const ask = async (): Promise<string> => {
    let s = '';
    for await (const t of run()) s += t;
    return s;
  };
  return { engine, adapters, run, ask };
}

describe('ResilienceEngine.drain (maintenance windows)', () => {
  it('sends no new attempts to a drained deployment, lets its in-flight answer finish, and takes it back after', async () => {
    const { engine, adapters, run, ask } = setup();
    let release!: () => void;
    adapters.get('a')!.hold = new Promise((r) => {
      release = r;
    });
    const inflight = run();
    expect((await inflight.next()).value).toBe('a:');

    engine.drain(['a'], true);
    expect(engine.isDrained('a')).toBe(true);
    const during = await Promise.all([ask(), ask(), ask()]);
    expect(during).toEqual(['b:done', 'b:done', 'b:done']);
    expect(adapters.get('a')!.calls).toBe(1);

    release();
    let rest = '';
    for await (const t of inflight) rest += t;
    expect(rest).toBe('done');

    engine.drain(['a'], false);
    expect(await ask()).toBe('a:done');
  });
});
