import type { ChaosRegistry } from '../chaos/registry.ts';
import type { Config, DeploymentConfig } from '../config/schema.ts';
import type { RateStore } from '../overload/rate-store.ts';
import { Admission } from '../pipeline/admission.ts';
import { type Authenticator, authStage } from '../pipeline/auth.ts';
import type { ModelRoute, Stage } from '../pipeline/context.ts';
import { composeDispatch, type Dispatch } from '../pipeline/dispatch.ts';
import { parseStage } from '../pipeline/parse.ts';
import { createRateLimitStage } from '../pipeline/rate-limit.ts';
import { ResilienceEngine } from '../pipeline/resilient.ts';
import { createRouteStage, ModelTable } from '../pipeline/route.ts';
import { type DeploymentRuntime, startDeployment } from '../providers/registry.ts';
import type { Clock, Rng } from '../resilience/types.ts';

/** What one request runs through, all from one generation: the request never mixes two configs. */
export interface Pipeline {
  readonly stages: readonly Stage[];
  readonly dispatch: Dispatch;
  readonly models: ModelTable;
}

/**
 * Everything built from the reloadable part of the config: model table, deployments, resilience engine,
 * admission and the request stages. A config reload builds the next generation and swaps it in; requests
 * already running finish on the one they started with (docs/hot-reload.md).
 */
export interface Generation extends Pipeline {
  readonly number: number;
  readonly config: Config;
  readonly deployments: readonly DeploymentRuntime[];
  readonly engine: ResilienceEngine;
  readonly admission: Admission;
  /** Requests that entered through this generation and have not ended yet. */
  readonly active: number;
  /** Resolves once no request of this generation is left. */
  idle(): Promise<void>;
}

/** What lives across generations (state that must not reset on a reload, and the process's clock). */
export interface GenerationShared {
  chaos: ChaosRegistry;
  rateStore: RateStore;
  authenticator: Authenticator;
  clock: Clock;
  rng: Rng;
}

function toClass(c: { target_wait_ms: number; max_wait_ms: number }): {
  targetWaitMs: number;
  maxWaitMs: number;
} {
  return { targetWaitMs: c.target_wait_ms, maxWaitMs: c.max_wait_ms };
}

function sameDeployment(a: DeploymentConfig, b: DeploymentConfig): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Deployments of `previous` whose config is unchanged in `next`: their runtimes and learnt state carry over. */
export function carriedDeployments(previous: Config, next: Config): Set<string> {
  const before = new Map(previous.models.flatMap((m) => m.deployments.map((d) => [d.id, d] as const)));
  const carry = new Set<string>();
  for (const m of next.models)
    for (const d of m.deployments) {
      const old = before.get(d.id);
      if (old && sameDeployment(old, d)) carry.add(d.id);
    }
  return carry;
}

/**
 * Builds a generation. With `previous`, deployments whose config did not change keep their runtime
 * (connections, a simulator's server) and what the engine and admission learnt about them; the rest are
 * started fresh. On failure everything this call started is closed again and nothing of `previous` is.
 */
export async function buildGeneration(
  config: Config,
  shared: GenerationShared,
  previous?: Generation,
): Promise<Generation> {
  const carry = previous ? carriedDeployments(previous.config, config) : new Set<string>();
  const reusable = new Map((previous?.deployments ?? []).map((d) => [d.config.id, d]));
  const started: DeploymentRuntime[] = [];
  let routes: ModelRoute[];
  try {
    routes = await Promise.all(
      config.models.map(async (m) => ({
        name: m.name,
        ownedBy: m.owned_by,
        deployments: await Promise.all(
          m.deployments.map(async (d) => {
            const kept = carry.has(d.id) ? reusable.get(d.id) : undefined;
            if (kept) return kept;
            const rt = await startDeployment(d, shared.chaos);
            started.push(rt);
            return rt;
          }),
        ),
      })),
    );
  } catch (err) {
    await Promise.allSettled(started.map((d) => d.close()));
    throw err;
  }
  const deployments = routes.flatMap((r) => r.deployments);
  const models = new ModelTable(routes);
  const engine = new ResilienceEngine({
    models: config.models,
    runtimes: new Map(deployments.map((d) => [d.config.id, d])),
    resilience: config.resilience,
    clock: shared.clock,
    rng: shared.rng,
    ...(previous ? { previous: { engine: previous.engine, carry } } : {}),
  });
  const admission = new Admission({
    models: config.models,
    engine,
    clock: shared.clock,
    defaultOutputTokens: config.limits.default_output_tokens,
    classes: {
      critical: toClass(config.admission.classes.critical),
      interactive: toClass(config.admission.classes.interactive),
      batch: toClass(config.admission.classes.batch),
    },
    limits: {
      initial: config.admission.initial_limit,
      min: config.admission.min_limit,
      max: config.admission.max_limit,
    },
    ...(previous ? { previous: { admission: previous.admission, carry } } : {}),
  });

  let active = 0;
  let waiters: Array<() => void> = [];
  const left = (): void => {
    active -= 1;
    if (active > 0) return;
    const wake = waiters;
    waiters = [];
    for (const w of wake) w();
  };
  // First in line so that every request that reaches a stage is counted, and its end (ctx.onEnd runs
  // for every request whose stages began) uncounts it.
  const tracking: Stage = {
    name: 'generation',
    run(ctx) {
      active += 1;
      ctx.onEnd.push(left);
    },
  };
  // The request lifecycle, in order (docs/architecture.md): cheap refusals first.
  const stages: Stage[] = [
    tracking,
    authStage(shared.authenticator),
    parseStage,
    createRouteStage(models),
    createRateLimitStage({ store: shared.rateStore, limits: config.limits }),
    ...(config.admission.enabled ? [admission.stage] : []),
  ];
  return {
    number: (previous?.number ?? 0) + 1,
    config,
    deployments,
    engine,
    admission,
    models,
    stages,
    dispatch: composeDispatch(engine.dispatch, []),
    get active() {
      return active;
    },
    idle() {
      if (active === 0) return Promise.resolve();
      return new Promise<void>((resolve) => waiters.push(resolve));
    },
  };
}

/**
 * Lets a replaced generation finish: it stops learning at once (its successor has taken over the shared
 * state), serves what it already admitted, then closes the deployments its successor did not keep.
 */
export async function retireGeneration(old: Generation, next: Generation): Promise<void> {
  old.admission.retire();
  await old.idle();
  old.admission.close();
  const kept = new Set(next.deployments);
  await Promise.allSettled(old.deployments.filter((d) => !kept.has(d)).map((d) => d.close()));
}
