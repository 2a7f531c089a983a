import { buildConfig } from '../../src/config/load.ts';
import type { ConfigInput, DeploymentConfig } from '../../src/config/schema.ts';
import type { ChatRequest, StreamEvent } from '../../src/core/chat.ts';
import { responseToEvents } from '../../src/core/collect.ts';
import type { ProviderAdapter } from '../../src/core/provider.ts';
import type { RequestContext } from '../../src/pipeline/context.ts';
import { ResilienceEngine } from '../../src/pipeline/resilient.ts';
import { openaiDoor } from '../../src/providers/openai/door.ts';
import type { DeploymentRuntime } from '../../src/providers/registry.ts';
import type { Clock } from '../../src/resilience/types.ts';

/** A deployment that answers "ok from <id>" at once. */
class Answering implements ProviderAdapter {
  readonly upstreamModel = 'm';
  readonly id: string;
  constructor(id: string) {
    this.id = id;
  }
  async *call(_req: ChatRequest): AsyncGenerator<StreamEvent> {
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

export interface TestEngine {
  engine: ResilienceEngine;
  /** Sends one request through the engine; the deployment that answered, or the error. */
  ask(model?: string): Promise<{ deployment?: string; error?: unknown }>;
}

/** A real ResilienceEngine over in-process deployments that always answer, on the given clock. */
export function testEngine(
  models: ConfigInput['models'],
  clock: Clock,
  resilience: ConfigInput['resilience'] = {},
): TestEngine {
  const config = buildConfig({ models, resilience }, {});
  const runtimes = new Map<string, DeploymentRuntime>();
  for (const m of config.models)
    for (const d of m.deployments)
      runtimes.set(d.id, {
        config: d as DeploymentConfig,
        adapter: new Answering(d.id),
        endpoint: '',
        close: async () => {},
      });
  let seed = 11;
  const rng = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const engine = new ResilienceEngine({
    models: config.models,
    runtimes,
    resilience: config.resilience,
    clock,
    rng,
  });
  async function ask(model = 'chat'): Promise<{ deployment?: string; error?: unknown }> {
    const ctx = dispatchContext(model);
    try {
      for await (const _ of engine.dispatch(ctx)) {
        // drained
      }
      return { deployment: ctx.deployment?.config.id };
    } catch (error) {
      return { error };
    }
  }
  return { engine, ask };
}

/** A request context as the pipeline hands it to the engine: parsed, routed to `model`, never started. */
export function dispatchContext(model = 'chat', stream = false): RequestContext {
  return {
    requestId: 'r',
    door: openaiDoor,
    startedAt: 0,
    t0: 0,
    headers: {},
    ip: '127.0.0.1',
    responseHeaders: {},
    onEnd: [],
    body: undefined,
    signal: new AbortController().signal,
    attempts: 0,
    failovers: 0,
    request: {
      model,
      stream,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }],
    },
    route: { name: model, ownedBy: 'x', deployments: [] },
  };
}

export const simDeployments = (ids: string[]) =>
  ids.map((id) => ({ id, provider: 'simulator' as const, model: 'm' }));

/** A clock the test moves by hand. */
export function manualClock(start = 1_000): Clock & { t: number } {
  return {
    t: start,
    now() {
      return this.t;
    },
  };
}
