import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  type ReadableSpan,
  TracerProvider as SdkTracerProvider,
  type SpanExporter,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import pkg from '../../package.json' with { type: 'json' };
import type { DeploymentRuntime } from '../providers/registry.ts';
import type { Logger } from './logger.ts';
import { ATTEMPT_CHANNEL, type AttemptRecord, OUTCOME_CHANNEL, type OutcomeRecord } from './outcome.ts';
import { type DeploymentInfo, RequestSpans } from './request-spans.ts';

/** `telemetry.tracing` in holdfast.yaml (src/config/schema.ts). */
export interface TracingSettings {
  enabled: boolean;
  otlp_endpoint?: string | undefined;
  headers: Readonly<Record<string, string>>;
  service_name: string;
  sample_ratio: number;
}

/** Where finished spans go instead of OTLP: tests pass an InMemorySpanExporter (or a whole processor). */
export interface TracingHooks {
  exporter?: SpanExporter;
  processor?: SpanProcessor;
}

export interface TracingOptions extends TracingHooks {
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  /**
   * The deployments serving now (a config reload replaces them): their upstream model and address go
   * on the spans.
   */
  deployments?: () => readonly DeploymentRuntime[];
  /** Longest a shutdown waits for the last export (default 5 s): a dead collector must not hold it. */
  shutdownTimeoutMs?: number;
}

export interface Tracing {
  /** The OTLP/HTTP traces URL spans are sent to, or `injected` when a test supplied the exporter. */
  readonly endpoint: string;
  readonly spans: RequestSpans;
  /** Sends every finished span now. */
  flush(): Promise<void>;
  /**
   * Stops listening, then flushes and closes the exporter. Never rejects: spans that cannot be sent in
   * time are dropped with a warning.
   */
  shutdown(): Promise<void>;
}

const DEFAULT_ENDPOINT = 'http://localhost:4318/v1/traces';
const TRACES_PATH = '/v1/traces';
/** One warning per this interval when the collector is unreachable, not one per batch. */
const WARN_EVERY_MS = 60_000;

/**
 * The traces URL: `otlp_endpoint` from the config, else the standard OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
 * (used as is) or OTEL_EXPORTER_OTLP_ENDPOINT (a base: `/v1/traces` is appended), else the collector's
 * default on localhost. A configured endpoint with no path is a base too, so `http://collector:4318`
 * and `http://collector:4318/v1/traces` mean the same.
 */
export function resolveTracesEndpoint(configured: string | undefined, env: NodeJS.ProcessEnv): string {
  if (configured)
    return new URL(configured).pathname.replace(/\/+$/, '') === '' ? base(configured) : configured;
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (env.OTEL_EXPORTER_OTLP_ENDPOINT) return base(env.OTEL_EXPORTER_OTLP_ENDPOINT);
  return DEFAULT_ENDPOINT;
}

function base(url: string): string {
  return `${url.replace(/\/+$/, '')}${TRACES_PATH}`;
}

/** gen_ai.provider.name for a deployment: Azure OpenAI is its own provider in the conventions. */
function providerName(rt: DeploymentRuntime): string {
  if (rt.config.provider === 'openai' && rt.config.azure_deployment) return 'azure.ai.openai';
  return rt.config.provider;
}

export function deploymentInfo(rt: DeploymentRuntime): DeploymentInfo {
  const info: DeploymentInfo = { model: rt.config.model, providerName: providerName(rt) };
  const url = rt.endpoint ? URL.parse(rt.endpoint) : null;
  if (url) {
    info.address = url.hostname.replace(/^\[(.*)\]$/, '$1');
    info.port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  }
  return info;
}

/** Deployment id → span facts, rebuilt only when the list of deployments is a new one (a reload). */
function deploymentLookup(
  current: () => readonly DeploymentRuntime[],
): (id: string) => DeploymentInfo | undefined {
  let seen: readonly DeploymentRuntime[] | undefined;
  let byId = new Map<string, DeploymentInfo>();
  return (id) => {
    const list = current();
    if (list !== seen) {
      seen = list;
      byId = new Map(list.map((rt) => [rt.config.id, deploymentInfo(rt)]));
    }
    return byId.get(id);
  };
}

/** Logs failed exports, at most once a minute, instead of OpenTelemetry's silent default. */
class LoggingExporter implements SpanExporter {
  readonly #inner: SpanExporter;
  readonly #logger: Logger | undefined;
  readonly #endpoint: string;
  #lastWarn = Number.NEGATIVE_INFINITY;
  #failed = 0;

  constructor(inner: SpanExporter, logger: Logger | undefined, endpoint: string) {
    this.#inner = inner;
    this.#logger = logger;
    this.#endpoint = endpoint;
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.#inner.export(spans, (result) => {
      if (result.code !== ExportResultCode.SUCCESS) {
        this.#failed += spans.length;
        const now = performance.now();
        if (now - this.#lastWarn >= WARN_EVERY_MS) {
          this.#lastWarn = now;
          this.#logger?.warn(
            { err: result.error, endpoint: this.#endpoint, droppedSpans: this.#failed },
            'trace export failed; spans dropped',
          );
          this.#failed = 0;
        }
      }
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush?.() ?? Promise.resolve();
  }
}

/**
 * Starts request tracing when `settings.enabled` (and OTEL_SDK_DISABLED is not `true`); otherwise does
 * nothing at all, not even subscribe to the record channels, and returns undefined. Spans are built from
 * the gateway's attempt and outcome records after each request ends (see RequestSpans), so enabling it
 * adds no work inside the request pipeline itself.
 */
export function startTracing(settings: TracingSettings, opts: TracingOptions = {}): Tracing | undefined {
  const env = opts.env ?? process.env;
  if (!settings.enabled) return undefined;
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') {
    opts.logger?.info('tracing is enabled in the config but OTEL_SDK_DISABLED=true; not tracing');
    return undefined;
  }
  const injected = opts.processor !== undefined || opts.exporter !== undefined;
  const endpoint = injected ? 'injected' : resolveTracesEndpoint(settings.otlp_endpoint, env);
  const processor =
    opts.processor ??
    new BatchSpanProcessor({
      exporter: new LoggingExporter(
        opts.exporter ?? new OTLPTraceExporter({ url: endpoint, headers: { ...settings.headers } }),
        opts.logger,
        endpoint,
      ),
    });
  const resource = detectResources({ detectors: [envDetector] }).merge(
    resourceFromAttributes({
      [ATTR_SERVICE_NAME]: settings.service_name,
      [ATTR_SERVICE_VERSION]: pkg.version,
    }),
  );
  const provider = new SdkTracerProvider({
    resource,
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(settings.sample_ratio) }),
    spanProcessors: [processor],
  });
  const spans = new RequestSpans({
    tracer: provider.getTracer('holdfast', pkg.version),
    deployment: deploymentLookup(opts.deployments ?? (() => [])),
  });

  // A throwing subscriber would surface as an uncaught exception on the next tick: tracing must never
  // take the gateway down, so a failure is logged (once a minute) and the record skipped.
  let lastError = Number.NEGATIVE_INFINITY;
  const guard =
    <T>(fn: (rec: T) => void) =>
    (message: unknown): void => {
      try {
        fn(message as T);
      } catch (err) {
        const now = performance.now();
        if (now - lastError >= WARN_EVERY_MS) {
          lastError = now;
          opts.logger?.error({ err }, 'tracing: building a span failed');
        }
      }
    };
  const onAttempt = guard<AttemptRecord>(spans.onAttempt);
  const onOutcome = guard<OutcomeRecord>(spans.onOutcome);
  subscribe(ATTEMPT_CHANNEL, onAttempt);
  subscribe(OUTCOME_CHANNEL, onOutcome);
  opts.logger?.info(
    { endpoint, serviceName: settings.service_name, sampleRatio: settings.sample_ratio },
    'tracing on: request spans exported over OTLP/HTTP',
  );

  let closing: Promise<void> | undefined;
  return {
    endpoint,
    spans,
    flush: () => provider.forceFlush(),
    shutdown() {
      closing ??= (async () => {
        unsubscribe(ATTEMPT_CHANNEL, onAttempt);
        unsubscribe(OUTCOME_CHANNEL, onOutcome);
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error('timed out sending the last spans')),
            opts.shutdownTimeoutMs ?? 5_000,
          );
          timer.unref();
        });
        try {
          await Promise.race([provider.shutdown(), timeout]);
        } catch (err) {
          opts.logger?.warn({ err, endpoint }, 'trace export at shutdown failed; spans dropped');
        } finally {
          clearTimeout(timer);
        }
      })();
      return closing;
    },
  };
}
