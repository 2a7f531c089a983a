import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import pkg from '../../package.json' with { type: 'json' };
import type { Config } from '../config/schema.ts';
import type { QueueReport } from '../pipeline/admission.ts';
import { STATUS_EVENT_CHANNEL, type StatusEvent } from '../status/view.ts';
import type { Db } from '../stores/database.ts';
import { ADMISSION_CHANNEL, type AdmissionEvent } from './admission.ts';
import { AdmissionMetrics } from './metrics/admission.ts';
import { type EngineView, registerDeploymentMetrics } from './metrics/deployments.ts';
import { LabelSpaces } from './metrics/labels.ts';
import { StatusMetrics, type StatusReadings } from './metrics/status.ts';
import {
  type OutageBufferView,
  registerOutageBufferMetrics,
  registerRedisMetrics,
  registerStoreMetrics,
  type SharedStateView,
} from './metrics/store.ts';
import { TrafficMetrics } from './metrics/traffic.ts';
import { ATTEMPT_CHANNEL, type AttemptRecord, OUTCOME_CHANNEL, type OutcomeRecord } from './outcome.ts';

/**
 * Where the metrics read live state. Functions, not values: a config reload replaces the engine, the
 * admission control and the config, and the next scrape must see the new ones.
 */
export interface MetricsSources {
  config(): Config;
  /** The resilience engine (health, ejections, in-flight attempts). */
  engine(): EngineView;
  /** Admission control's queue report (Admission.report()). */
  queues(): readonly QueueReport[];
  /** The SQL store, pinged at scrape time. */
  db: Pick<Db, 'kysely' | 'engine'>;
  /** The status service, when status is enabled. */
  status?(): StatusReadings | undefined;
  /** The Redis shared state, when one is configured. */
  redis?(): SharedStateView | undefined;
  /** The PostgreSQL outage buffer, on PostgreSQL with store.outage_buffer enabled. */
  outageBuffer?(): OutageBufferView | undefined;
}

export interface GatewayMetrics {
  /** This gateway's own registry (never prom-client's global one). */
  readonly registry: Registry;
  readonly contentType: string;
  /** The Prometheus text exposition: this gateway's metrics, then the process metrics. */
  render(): Promise<string>;
  /** Names of every metric family exposed (the gateway's and the process's). */
  names(): string[];
  /** Unsubscribes from the diagnostics channels. */
  close(): void;
}

let processRegistry: Registry | undefined;

/**
 * Process metrics (CPU, memory, event loop lag, GC, handles) in one registry per process: they describe
 * the process, not a gateway, and prom-client's collectors start observers that are never stopped, so
 * each gateway in a test process must not start its own.
 */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

function clamp(n: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, n));
}

/**
 * The gateway's Prometheus metrics (docs/metrics.md). Request, attempt, admission and status counters
 * come from the diagnostics channels; health, limits, queues and the store are read at scrape time.
 *
 * Diagnostics channels are process-wide, so every gateway in one process hears every record. Records
 * about a deployment, model group or status component this gateway's config does not have are
 * ignored; records that name none of these (a request for an unknown model, a body that never parsed)
 * and records from gateways with the same model names cannot be told apart and are counted by each.
 * In production there is one gateway per process; tests that run several give them distinct names.
 */
export function createMetrics(sources: MetricsSources): GatewayMetrics {
  const registry = new Registry();
  const labels = new LabelSpaces(sources.config);
  const initial = sources.config().status.slo.latency_ms;
  const traffic = new TrafficMetrics(registry, labels, { sloLatencySeconds: initial / 1000 });
  const admission = new AdmissionMetrics(registry, labels, {
    queues: sources.queues,
    initialLimit: () => {
      const a = sources.config().admission;
      return clamp(a.initial_limit, a.min_limit, a.max_limit);
    },
  });
  registerDeploymentMetrics(registry, labels, sources.engine);
  registerStoreMetrics(registry, sources.db);
  registerRedisMetrics(registry, () => sources.redis?.());
  registerOutageBufferMetrics(registry, () => sources.outageBuffer?.());
  const status = new StatusMetrics(registry, labels, () => sources.status?.());
  new Gauge({
    name: 'holdfast_build_info',
    help: 'Always 1; the labels say which Holdfast and Node.js versions run.',
    labelNames: ['version', 'node_version'],
    registers: [registry],
  }).set({ version: pkg.version, node_version: process.versions.node }, 1);

  const onOutcome = (m: unknown): void => traffic.onOutcome(m as OutcomeRecord);
  const onAttempt = (m: unknown): void => traffic.onAttempt(m as AttemptRecord);
  const onAdmission = (m: unknown): void => admission.onEvent(m as AdmissionEvent);
  const onStatus = (m: unknown): void => status.onEvent(m as StatusEvent);
  subscribe(OUTCOME_CHANNEL, onOutcome);
  subscribe(ATTEMPT_CHANNEL, onAttempt);
  subscribe(ADMISSION_CHANNEL, onAdmission);
  subscribe(STATUS_EVENT_CHANNEL, onStatus);

  const proc = processMetrics();
  let closed = false;
  return {
    registry,
    contentType: registry.contentType,
    async render() {
      const [own, shared] = await Promise.all([registry.metrics(), proc.metrics()]);
      return `${own}\n${shared}`;
    },
    names() {
      return [...registry.getMetricsAsArray(), ...proc.getMetricsAsArray()].map((m) => m.name);
    },
    close() {
      if (closed) return;
      closed = true;
      unsubscribe(OUTCOME_CHANNEL, onOutcome);
      unsubscribe(ATTEMPT_CHANNEL, onAttempt);
      unsubscribe(ADMISSION_CHANNEL, onAdmission);
      unsubscribe(STATUS_EVENT_CHANNEL, onStatus);
    },
  };
}
