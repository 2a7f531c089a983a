import { Gauge, type Registry } from 'prom-client';
import type { Config } from '../../config/schema.ts';
import { PRIORITIES } from '../../overload/queue.ts';
import type { QueueReport } from '../../pipeline/admission.ts';
import { carriedDeployments } from '../../runtime/generation.ts';
import type { AdmissionEvent } from '../admission.ts';
import type { LabelSpaces } from './labels.ts';
import { FastCounter, FastHistogram } from './series.ts';

/** Queue waits (seconds): admitted at once (the first bucket) up to the batch class's two minutes. */
const WAIT_BUCKETS = [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/**
 * Admission control: waits, queueing and sheds from `holdfast:admission:event`; queue length, in-flight
 * and capacity per model group from the queue report at scrape time; each deployment's adaptive
 * concurrency limit from the `limit` events (Admission keeps its limits private, and an event is
 * published on every change).
 */
export class AdmissionMetrics {
  readonly #labels: LabelSpaces;
  /** Adaptive limit per deployment id, as last announced. */
  readonly #limits = new Map<string, number>();
  /** The config the tracked limits belong to. */
  #limitsOf: Config | undefined;
  readonly #initialLimit: () => number;

  readonly wait: FastHistogram;
  readonly queued: FastCounter;
  readonly dropped: FastCounter;

  constructor(
    registry: Registry,
    labels: LabelSpaces,
    opts: { queues: () => readonly QueueReport[]; initialLimit: () => number },
  ) {
    this.#labels = labels;
    this.#initialLimit = opts.initialLimit;
    this.wait = new FastHistogram(
      registry,
      'holdfast_queue_wait_seconds',
      'Time admitted requests waited for capacity (0 when there was room at once), by priority class.',
      ['model', 'priority'],
      WAIT_BUCKETS,
    );
    this.queued = new FastCounter(
      registry,
      'holdfast_queued_total',
      'Requests that had to wait in the admission queue.',
      ['model', 'priority'],
    );
    this.dropped = new FastCounter(
      registry,
      'holdfast_queue_dropped_total',
      'Requests the admission queue turned away (shed): queue_full, queue_timeout, deadline or displaced.',
      ['model', 'priority', 'reason'],
    );

    const queues = opts.queues;
    const space = (): ReturnType<LabelSpaces['get']> => this.#labels.get();
    new Gauge({
      name: 'holdfast_queue_length',
      help: 'Requests waiting in the admission queue now.',
      labelNames: ['model', 'priority'],
      registers: [registry],
      collect() {
        this.reset();
        for (const q of queues())
          for (const p of PRIORITIES) this.set({ model: q.model, priority: p }, q.byClass[p] ?? 0);
      },
    });
    new Gauge({
      name: 'holdfast_queue_oldest_wait_seconds',
      help: 'How long the oldest queued request has been waiting.',
      labelNames: ['model'],
      registers: [registry],
      collect() {
        this.reset();
        for (const q of queues()) this.set({ model: q.model }, q.oldestWaitMs / 1000);
      },
    });
    new Gauge({
      name: 'holdfast_queue_estimated_wait_seconds',
      help: 'Expected wait of a request joining the queue now (what the waiting room tells callers).',
      labelNames: ['model'],
      registers: [registry],
      collect() {
        this.reset();
        for (const q of queues()) this.set({ model: q.model }, q.estimatedWaitMs / 1000);
      },
    });
    new Gauge({
      name: 'holdfast_admission_in_flight',
      help: 'Requests admitted to a model group and not finished.',
      labelNames: ['model'],
      registers: [registry],
      collect() {
        this.reset();
        for (const q of queues()) this.set({ model: q.model }, q.inflight);
      },
    });
    new Gauge({
      name: 'holdfast_admission_capacity',
      help: "What a model group may have in flight: the adaptive limits of its available deployments (its fallbacks' included).",
      labelNames: ['model'],
      registers: [registry],
      collect() {
        this.reset();
        for (const q of queues()) this.set({ model: q.model }, q.capacity);
      },
    });
    const limit = (deployment: string): number | undefined => this.limit(deployment);
    const initial = this.#initialLimit;
    new Gauge({
      name: 'holdfast_deployment_concurrency_limit',
      help: "A deployment's adaptive concurrency limit (Gradient2 with AIMD backoff).",
      labelNames: ['model', 'deployment'],
      registers: [registry],
      collect() {
        this.reset();
        for (const { model, deployment } of space().deployments())
          this.set({ model, deployment }, limit(deployment) ?? initial());
      },
    });
  }

  onEvent(ev: AdmissionEvent): void {
    const space = this.#labels.get();
    if (ev.type === 'limit') {
      if (space.groupOf.has(ev.deployment)) {
        this.#sync();
        this.#limits.set(ev.deployment, ev.limit);
      }
      return;
    }
    if (!space.models.has(ev.model)) return;
    switch (ev.type) {
      case 'admitted':
        this.wait.with(ev.model, ev.priority).observe(ev.waitedMs / 1000);
        return;
      case 'queued':
        this.queued.with(ev.model, ev.priority).inc();
        return;
      case 'dropped':
        this.dropped.with(ev.model, ev.priority, ev.reason).inc();
        return;
    }
  }

  /** A deployment's limit as last announced; undefined: still the initial limit. */
  limit(deployment: string): number | undefined {
    this.#sync();
    return this.#limits.get(deployment);
  }

  /**
   * After a config reload, deployments whose config changed got a fresh limit (the initial one) and
   * announce nothing until it moves; unchanged ones kept theirs (src/runtime/generation.ts).
   */
  #sync(): void {
    const config = this.#labels.get().config;
    if (config === this.#limitsOf) return;
    if (this.#limitsOf) {
      const carried = carriedDeployments(this.#limitsOf, config);
      for (const id of [...this.#limits.keys()]) if (!carried.has(id)) this.#limits.delete(id);
    }
    this.#limitsOf = config;
  }
}
