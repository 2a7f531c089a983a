import { Counter, Gauge, type Registry } from 'prom-client';
import type { LabelSpaces } from './labels.ts';

/** Every state `engine.health()` reports, so each deployment always has one series per state. */
export const HEALTH_STATES = ['healthy', 'suspect', 'probing', 'ejected', 'blocked'] as const;

/** The slice of the ResilienceEngine read at scrape time. */
export interface EngineView {
  health(id: string): string;
  isDrained(id: string): boolean;
  readonly deployments: ReadonlyMap<
    string,
    { outstanding: number; throttle: { rejectProbability(): number } }
  >;
  readonly outlier: { snapshot(): ReadonlyArray<{ id: string; ejections: number }> };
}

/**
 * The resilience engine's live view of each deployment, read at scrape time: health (the outlier
 * detector is the circuit breaker: healthy = closed, ejected = open, probing = half-open), maintenance
 * drains, ejections so far, requests in flight and the client-side throttle.
 */
export function registerDeploymentMetrics(
  registry: Registry,
  labels: LabelSpaces,
  engine: () => EngineView,
): void {
  const each = function* () {
    const e = engine();
    for (const { model, deployment } of labels.get().deployments()) {
      const state = e.deployments.get(deployment);
      if (state) yield { e, model, deployment, state };
    }
  };
  new Gauge({
    name: 'holdfast_deployment_health',
    help: 'Health of each deployment: 1 for its current state (healthy, suspect, probing, ejected, blocked), 0 for the others. Breaker terms: healthy/suspect = closed, ejected = open, probing = half-open; blocked = obeying a retry-after.',
    labelNames: ['model', 'deployment', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const { e, model, deployment } of each()) {
        const now = e.health(deployment);
        for (const state of HEALTH_STATES) this.set({ model, deployment, state }, now === state ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: 'holdfast_deployment_drained',
    help: '1 while a deployment is drained for a status maintenance window (no new attempts).',
    labelNames: ['model', 'deployment'],
    registers: [registry],
    collect() {
      this.reset();
      for (const { e, model, deployment } of each())
        this.set({ model, deployment }, e.isDrained(deployment) ? 1 : 0);
    },
  });
  new Gauge({
    name: 'holdfast_deployment_in_flight',
    help: 'Upstream attempts running on a deployment now (hedges included).',
    labelNames: ['model', 'deployment'],
    registers: [registry],
    collect() {
      this.reset();
      for (const { model, deployment, state } of each()) this.set({ model, deployment }, state.outstanding);
    },
  });
  new Gauge({
    name: 'holdfast_deployment_throttle_ratio',
    help: 'Share of requests the client-side throttle refuses locally because the deployment keeps answering 429/529 (Google SRE adaptive throttling).',
    labelNames: ['model', 'deployment'],
    registers: [registry],
    collect() {
      this.reset();
      for (const { model, deployment, state } of each())
        this.set({ model, deployment }, state.throttle.rejectProbability());
    },
  });
  new Counter({
    name: 'holdfast_deployment_ejections_total',
    help: 'Times the outlier detector ejected a deployment (consecutive failures or a failed trial request).',
    labelNames: ['model', 'deployment'],
    registers: [registry],
    collect() {
      // The detector counts; a counter has no set(), so it is rebuilt from the counts at each scrape.
      this.reset();
      const ejections = new Map(
        engine()
          .outlier.snapshot()
          .map((s) => [s.id, s.ejections]),
      );
      for (const { model, deployment } of labels.get().deployments())
        this.inc({ model, deployment }, ejections.get(deployment) ?? 0);
    },
  });
}
