import {
  type Attributes,
  type Context,
  defaultTextMapGetter,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
} from '@opentelemetry/semantic-conventions';
import type { FinishReason } from '../core/chat.ts';
import { ExpiringMap } from './expiring-map.ts';
import type { AttemptRecord, OutcomeRecord } from './outcome.ts';
import { FIRST_TOKEN_EVENT, GEN_AI, HOLDFAST } from './trace-attributes.ts';

/** What a span needs to know about a deployment that its records do not carry. */
export interface DeploymentInfo {
  /** The model id asked for upstream. */
  model: string;
  /** gen_ai.provider.name: the conventions' well-known value where there is one. */
  providerName: string;
  /** Host and port of the upstream, when it has a URL. */
  address?: string;
  port?: number;
}

export interface RequestSpansOptions {
  tracer: Tracer;
  /** By deployment id; a function because a config reload changes the deployments. */
  deployment: (id: string) => DeploymentInfo | undefined;
  /** Epoch ms now; the outcome record is published as the request ends, so this is its end time. */
  nowEpochMs?: () => number;
  /** Engine clock (AttemptRecord.startedAt) to epoch ms. */
  engineToEpochMs?: (t: number) => number;
  /** Monotonic ms for the buffers' expiry. */
  monotonicMs?: () => number;
  /** Requests whose attempts are held until their outcome (oldest dropped beyond this). */
  maxPendingRequests?: number;
  /** How long attempts wait for their outcome: longer than any request may run. */
  pendingTtlMs?: number;
}

const MAX_ATTEMPTS_PER_REQUEST = 64;
/** Attempts that end after their request's outcome (a hedge loser, an abort) still join its trace. */
const LATE_TTL_MS = 60_000;
const LATE_MAX = 4_096;

/** OpenAI-style finish reasons, the conventions' examples; ours are Anthropic's words. */
const FINISH_REASON: Record<FinishReason, string> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  max_tokens: 'length',
  tool_use: 'tool_call',
  content_filter: 'content_filter',
};

/** Outcomes that are the gateway's or an upstream's failure; a client's 4xx leaves a server span unset. */
const FAILED = new Set(['upstream_error', 'gateway_error']);

interface Finished {
  ctx: Context;
  attempts: number;
}

/**
 * Turns the gateway's records into spans after the fact: attempts are held per request id until the
 * request's outcome arrives, then the request's SERVER span and one CLIENT child per attempt are
 * emitted with their real start and end times. Nothing here runs on the request path except the
 * diagnostics channel callbacks, which do no I/O.
 */
export class RequestSpans {
  readonly #tracer: Tracer;
  readonly #deployment: (id: string) => DeploymentInfo | undefined;
  readonly #now: () => number;
  readonly #engineToEpoch: (t: number) => number;
  readonly #pending: ExpiringMap<string, AttemptRecord[]>;
  readonly #finished: ExpiringMap<string, Finished>;
  readonly #propagator = new W3CTraceContextPropagator();

  constructor(opts: RequestSpansOptions) {
    this.#tracer = opts.tracer;
    this.#deployment = opts.deployment;
    this.#now = opts.nowEpochMs ?? (() => performance.timeOrigin + performance.now());
    this.#engineToEpoch = opts.engineToEpochMs ?? ((t) => performance.timeOrigin + t);
    const monotonic = opts.monotonicMs ?? (() => performance.now());
    this.#pending = new ExpiringMap({
      max: opts.maxPendingRequests ?? 20_000,
      ttlMs: opts.pendingTtlMs ?? 15 * 60_000,
      now: monotonic,
    });
    this.#finished = new ExpiringMap({ max: LATE_MAX, ttlMs: LATE_TTL_MS, now: monotonic });
  }

  /** Requests whose attempts wait for an outcome (for tests and diagnostics). */
  get pendingRequests(): number {
    return this.#pending.size;
  }

  onAttempt = (rec: AttemptRecord): void => {
    const done = this.#finished.get(rec.requestId);
    if (done) {
      done.attempts += 1;
      this.#attemptSpan(rec, done.attempts, done.ctx);
      return;
    }
    const list = this.#pending.get(rec.requestId);
    if (!list) this.#pending.set(rec.requestId, [rec]);
    else if (list.length < MAX_ATTEMPTS_PER_REQUEST) list.push(rec);
  };

  onOutcome = (rec: OutcomeRecord): void => {
    const end = this.#now();
    const start = end - rec.latencyMs;
    const span = this.#tracer.startSpan(
      rec.model ? `chat ${rec.model}` : 'chat',
      { kind: SpanKind.SERVER, startTime: start, attributes: this.#requestAttributes(rec) },
      this.#parentOf(rec),
    );
    if (rec.ttftMs !== undefined) span.addEvent(FIRST_TOKEN_EVENT, start + rec.ttftMs);
    if (!rec.ok && FAILED.has(rec.outcome)) {
      span.setStatus({ code: SpanStatusCode.ERROR, ...(rec.errorCode ? { message: rec.errorCode } : {}) });
    }
    // Only the span's ids, not the span: late attempts may keep this for a minute.
    const ctx = trace.setSpanContext(ROOT_CONTEXT, span.spanContext());
    const attempts = this.#pending.take(rec.requestId) ?? [];
    attempts.forEach((a, i) => {
      this.#attemptSpan(a, i + 1, ctx);
    });
    span.end(end);
    this.#finished.set(rec.requestId, { ctx, attempts: attempts.length });
  };

  #parentOf(rec: OutcomeRecord): Context {
    if (!rec.traceparent) return ROOT_CONTEXT;
    const carrier: Record<string, string> = { traceparent: rec.traceparent };
    if (rec.tracestate) carrier.tracestate = rec.tracestate;
    return this.#propagator.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter);
  }

  #requestAttributes(rec: OutcomeRecord): Attributes {
    const a: Attributes = {
      [GEN_AI.operationName]: 'chat',
      [GEN_AI.requestStream]: rec.stream,
      [GEN_AI.inputTokens]: rec.inputTokens,
      [GEN_AI.outputTokens]: rec.outputTokens,
      [ATTR_HTTP_RESPONSE_STATUS_CODE]: rec.status,
      [HOLDFAST.requestId]: rec.requestId,
      [HOLDFAST.flag]: rec.flag,
      [HOLDFAST.outcome]: rec.outcome,
      [HOLDFAST.dialect]: rec.dialect,
      [HOLDFAST.stream]: rec.stream,
      [HOLDFAST.failovers]: rec.failovers,
      [HOLDFAST.attempts]: rec.attempts,
    };
    if (rec.model) a[GEN_AI.requestModel] = rec.model;
    if (rec.deployment) {
      const dep = this.#deployment(rec.deployment);
      a[HOLDFAST.deployment] = rec.deployment;
      if (dep) {
        a[GEN_AI.responseModel] = dep.model;
        a[GEN_AI.providerName] = dep.providerName;
      }
    }
    if (rec.provider) a[HOLDFAST.provider] = rec.provider;
    if (rec.region) a[HOLDFAST.region] = rec.region;
    if (rec.finishReason) {
      a[GEN_AI.finishReasons] = [FINISH_REASON[rec.finishReason]];
      a[HOLDFAST.finishReason] = rec.finishReason;
    }
    if (rec.ttftMs !== undefined) {
      a[HOLDFAST.ttftMs] = rec.ttftMs;
      if (rec.stream) a[GEN_AI.timeToFirstChunk] = rec.ttftMs / 1000;
    }
    if (rec.keyId) a[HOLDFAST.keyId] = rec.keyId;
    if (!rec.ok) a[ATTR_ERROR_TYPE] = rec.errorCode ?? rec.outcome;
    return a;
  }

  #attemptSpan(rec: AttemptRecord, index: number, parent: Context): void {
    const dep = this.#deployment(rec.deployment);
    const start = this.#engineToEpoch(rec.startedAt);
    const attrs: Attributes = {
      [GEN_AI.operationName]: 'chat',
      [GEN_AI.providerName]: dep?.providerName ?? rec.provider,
      [GEN_AI.system]: dep?.providerName ?? rec.provider,
      [HOLDFAST.requestId]: rec.requestId,
      [HOLDFAST.deployment]: rec.deployment,
      [HOLDFAST.provider]: rec.provider,
      [HOLDFAST.region]: rec.region,
      [HOLDFAST.attemptIndex]: index,
      [HOLDFAST.attemptResult]: rec.ok ? 'ok' : rec.errorKind ? 'error' : 'cancelled',
    };
    if (dep) {
      attrs[GEN_AI.requestModel] = dep.model;
      if (dep.address) attrs[ATTR_SERVER_ADDRESS] = dep.address;
      if (dep.port !== undefined) attrs[ATTR_SERVER_PORT] = dep.port;
    }
    if (rec.status !== undefined) attrs[ATTR_HTTP_RESPONSE_STATUS_CODE] = rec.status;
    if (rec.ttftMs !== undefined) attrs[HOLDFAST.ttftMs] = rec.ttftMs;
    if (rec.firstTokenMs !== undefined) attrs[HOLDFAST.firstTokenMs] = rec.firstTokenMs;
    if (rec.errorKind) {
      attrs[ATTR_ERROR_TYPE] = rec.errorKind;
      attrs[HOLDFAST.errorKind] = rec.errorKind;
      attrs[HOLDFAST.midStream] = rec.midStream ?? false;
    }
    const span: Span = this.#tracer.startSpan(
      dep ? `chat ${dep.model}` : 'chat',
      { kind: SpanKind.CLIENT, startTime: start, attributes: attrs },
      parent,
    );
    if (rec.firstTokenMs !== undefined) span.addEvent(FIRST_TOKEN_EVENT, start + rec.firstTokenMs);
    if (rec.errorKind) span.setStatus({ code: SpanStatusCode.ERROR, message: rec.errorKind });
    span.end(start + rec.latencyMs);
  }
}
