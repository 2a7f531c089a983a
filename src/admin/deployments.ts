import type { ChaosFault } from '../chaos/faults.ts';
import type { AdaptiveLimitStats } from '../overload/adaptive-limit.ts';
import type { Priority } from '../overload/queue.ts';
import type { QueueReport } from '../pipeline/admission.ts';
import type { DeploymentState, ResilienceEngine } from '../pipeline/resilient.ts';
import type { DrillHealth } from './drills.ts';
import type { LastFailure } from './failures.ts';

/** What the console reads from admission control (absent when admission is off). */
export interface AdmissionView {
  report(): QueueReport[];
  limitStats(deploymentId: string): AdaptiveLimitStats | undefined;
  waitByClass(model: string): Record<Priority, number> | undefined;
}

export interface ViewSources {
  engine: ResilienceEngine;
  admission: AdmissionView | undefined;
  faults(deploymentId: string): ChaosFault[];
  lastFailure(deploymentId: string): LastFailure | undefined;
  /** Epoch ms. */
  now: number;
}

export interface LatencyView {
  /** Streamed attempts' time to first event over the last minute (null below 20 samples). */
  ttftP50: number | null;
  ttftP95: number | null;
  ttftSamples: number;
  /** Whole-answer time of unary attempts over the last minute. */
  unaryP50: number | null;
  unaryP95: number | null;
  unarySamples: number;
  /** The balancer's peak-EWMA latency (failures count as slow answers); 0 before any traffic. */
  ewmaMs: number;
}

export interface DeploymentView {
  id: string;
  provider: string;
  region: string;
  model: string;
  tier: number;
  weight: number;
  /** healthy | suspect | ejected | probing | blocked (engine.health). */
  health: string;
  /** In a maintenance window: takes no new attempts. */
  drained: boolean;
  /** Epoch ms. */
  ejectedUntil: number | null;
  blockedUntil: number | null;
  consecutiveFailures: number;
  ejections: number;
  lastOkAt: number | null;
  lastFailAt: number | null;
  lastFailure: LastFailure | null;
  inflight: number;
  /** The adaptive concurrency limit and what steers it (null when admission is off). */
  limit: AdaptiveLimitStats | null;
  latency: LatencyView;
  faults: ChaosFault[];
}

export interface ModelView {
  name: string;
  fallbacks: string[];
  retryBudget: { ratio: number; requests: number; retries: number; active: number };
  hedgeBudget: { ratio: number; requests: number; hedges: number };
  queue: QueueView | null;
  deployments: DeploymentView[];
}

export interface QueueView extends QueueReport {
  /** The wait a request arriving now in each class should expect. */
  waitByClass: Record<Priority, number> | null;
}

const round = (v: number | undefined): number | null => (v === undefined ? null : Math.round(v));

/** Deployments of a group in the order the balancer prefers them: tier, then config order. */
export function preferenceOrder(engine: ResilienceEngine, model: string): string[] | undefined {
  const g = engine.groups.get(model);
  if (!g) return undefined;
  return g.deployments
    .map((d, i) => ({ id: d.id, tier: d.runtime.config.tier, i }))
    .sort((a, b) => a.tier - b.tier || a.i - b.i)
    .map((d) => d.id);
}

/** Health as the drill runner tracks it, for a model's group and its fallbacks. */
export function chainHealth(engine: ResilienceEngine, model: string, now: number): DrillHealth[] {
  const snap = new Map(engine.outlier.snapshot().map((s) => [s.id, s]));
  const toEpoch = epochOf(engine, now);
  return engine.chain(model).flatMap((g) =>
    g.deployments.map((d) => {
      const s = snap.get(d.id);
      const until = s?.ejectedUntil ?? s?.blockedUntil;
      return {
        id: d.id,
        state: engine.health(d.id),
        ejections: s?.ejections ?? 0,
        ...(until !== undefined ? { until: toEpoch(until) } : {}),
      };
    }),
  );
}

/** Engine times are monotonic; operators read wall-clock times. */
function epochOf(engine: ResilienceEngine, now: number): (t: number) => number {
  const mono = engine.clock.now();
  return (t) => Math.round(now - (mono - t));
}

/** One screen's worth of live state for every model group (the Deployments page). */
export function modelsView(src: ViewSources): ModelView[] {
  const { engine } = src;
  const snap = new Map(engine.outlier.snapshot().map((s) => [s.id, s]));
  const toEpoch = epochOf(engine, src.now);
  const finite = (t: number): number | null => (Number.isFinite(t) ? toEpoch(t) : null);
  const queues = new Map((src.admission?.report() ?? []).map((q) => [q.model, q]));

  const deployment = (d: DeploymentState): DeploymentView => {
    const cfg = d.runtime.config;
    const s = snap.get(d.id);
    return {
      id: d.id,
      provider: cfg.provider,
      region: cfg.region,
      model: cfg.model,
      tier: cfg.tier,
      weight: cfg.weight,
      health: engine.health(d.id),
      drained: engine.isDrained(d.id),
      ejectedUntil: s?.ejectedUntil !== undefined ? toEpoch(s.ejectedUntil) : null,
      blockedUntil: s?.blockedUntil !== undefined ? toEpoch(s.blockedUntil) : null,
      consecutiveFailures: s?.consecutiveFailures ?? 0,
      ejections: s?.ejections ?? 0,
      lastOkAt: finite(d.lastOkAt),
      lastFailAt: finite(d.lastFailAt),
      lastFailure: src.lastFailure(d.id) ?? null,
      inflight: d.outstanding,
      limit: src.admission?.limitStats(d.id) ?? null,
      latency: {
        ttftP50: round(d.ttft.quantile(0.5)),
        ttftP95: round(d.ttft.quantile(0.95)),
        ttftSamples: d.ttft.count(),
        unaryP50: round(d.unary.quantile(0.5)),
        unaryP95: round(d.unary.quantile(0.95)),
        unarySamples: d.unary.count(),
        ewmaMs: Math.round(d.ttftEwma.value()),
      },
      faults: src.faults(d.id),
    };
  };

  return [...engine.groups.values()].map((g) => {
    const retry = g.retryBudget.stats();
    const hedge = g.hedgeBudget.stats();
    const q = queues.get(g.name);
    return {
      name: g.name,
      fallbacks: [...g.config.fallbacks],
      retryBudget: { ratio: g.config.retry.budget_ratio, ...retry },
      hedgeBudget: { ratio: g.config.hedge.budget_ratio, ...hedge },
      queue: q ? { ...q, waitByClass: src.admission?.waitByClass(g.name) ?? null } : null,
      deployments: g.deployments.map(deployment),
    };
  });
}

/** The Queue page: every model's queue, by class. */
export function queuesView(admission: AdmissionView | undefined): QueueView[] {
  return (admission?.report() ?? []).map((q) => ({
    ...q,
    waitByClass: admission?.waitByClass(q.model) ?? null,
  }));
}
