import type { StreamEvent } from '../core/chat.ts';
import { HoldfastError } from '../core/errors.ts';
import { UpstreamError } from '../core/upstream-error.ts';
import type { DeploymentRuntime } from '../providers/registry.ts';
import type { Balancer } from '../resilience/types.ts';
import { publishAttempt } from '../telemetry/outcome.ts';
import type { RequestContext } from './context.ts';

/**
 * The upstream half of the pipeline, undici-style: a Dispatch turns a routed request into the internal
 * event stream, and interceptors wrap it (retry, failover, breaker, limits arrive as interceptors in
 * later issues). The chain is composed once at startup.
 */
export type Dispatch = (ctx: RequestContext) => AsyncIterable<StreamEvent>;
export type Interceptor = (next: Dispatch) => Dispatch;

export function composeDispatch(core: Dispatch, interceptors: readonly Interceptor[]): Dispatch {
  return interceptors.reduceRight<Dispatch>((next, wrap) => wrap(next), core);
}

/** One try against one deployment, measured and published on the attempt channel. */
export async function* attempt(dep: DeploymentRuntime, ctx: RequestContext): AsyncGenerator<StreamEvent> {
  ctx.attempts += 1;
  ctx.deployment = dep;
  const t = performance.now();
  let ttftMs: number | undefined;
  const base = {
    requestId: ctx.requestId,
    deployment: dep.config.id,
    provider: dep.config.provider,
    region: dep.config.region,
  };
  try {
    for await (const ev of dep.adapter.call(ctx.request!, { signal: ctx.signal, requestId: ctx.requestId })) {
      if (ttftMs === undefined) ttftMs = performance.now() - t;
      yield ev;
    }
    publishAttempt({
      ...base,
      ok: true,
      latencyMs: performance.now() - t,
      ...(ttftMs !== undefined ? { ttftMs } : {}),
    });
  } catch (err) {
    if (err instanceof UpstreamError && ttftMs !== undefined) err.midStream = true;
    publishAttempt({
      ...base,
      ok: false,
      latencyMs: performance.now() - t,
      ...(ttftMs !== undefined ? { ttftMs } : {}),
      ...(err instanceof UpstreamError
        ? { errorKind: err.kind, midStream: err.midStream, ...(err.status ? { status: err.status } : {}) }
        : {}),
    });
    throw err;
  }
}

/**
 * The spine's core dispatch: the balancer orders the model's deployments and the first one is tried
 * once. Retries and failover within a budget are issue #3's interceptors.
 */
export function createCoreDispatch(balancer: Balancer): Dispatch {
  return (ctx) => {
    const route = ctx.route!;
    const byId = new Map(route.deployments.map((d) => [d.config.id, d]));
    const order = balancer.order(
      route.deployments.map((d) => ({ id: d.config.id, region: d.config.region, weight: d.config.weight })),
    );
    const first = order[0] && byId.get(order[0].id);
    if (!first) throw new HoldfastError('no_healthy_upstream');
    return attempt(first, ctx);
  };
}
