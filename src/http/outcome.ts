import type { ErrorCode, HoldfastError } from '../core/errors.ts';
import { UpstreamError } from '../core/upstream-error.ts';
import type { RequestContext } from '../pipeline/context.ts';
import {
  type OutcomeClass,
  type OutcomeFlag,
  type OutcomeRecord,
  publishOutcome,
} from '../telemetry/outcome.ts';
import type { RelayResult } from './relay.ts';

const UPSTREAM_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'upstream_error',
  'upstream_timeout',
  'upstream_auth_failed',
  'stream_interrupted',
  'overloaded',
  'no_healthy_upstream',
  'quota_exhausted',
]);

export function classify(err: HoldfastError | undefined, cancelled: boolean): OutcomeClass {
  if (cancelled) return 'cancelled';
  if (!err) return 'success';
  if (UPSTREAM_CODES.has(err.code) || (err.cause instanceof UpstreamError && err.cause.deploymentFault))
    return 'upstream_error';
  return err.status >= 500 ? 'gateway_error' : 'client_error';
}

export function flagFor(
  outcome: OutcomeClass,
  err: HoldfastError | undefined,
  ctx: RequestContext,
  headersSent: boolean,
): OutcomeFlag {
  switch (outcome) {
    case 'success':
      return ctx.failovers === 0 ? 'OK' : ctx.hedged ? 'HEDGED' : 'FAILED_OVER';
    case 'cancelled':
      return 'CLIENT_CLOSED';
    case 'client_error':
      return err?.code === 'rate_limited' ? 'RATE_LIMITED' : 'CLIENT_ERROR';
    case 'gateway_error':
      if (err?.code === 'load_shed') return 'SHED';
      if (err?.code === 'queue_timeout') return 'QUEUE_TIMEOUT';
      return err?.code === 'shutting_down' ? 'SHUTTING_DOWN' : 'INTERNAL';
    case 'upstream_error':
      if (err?.code === 'no_healthy_upstream') return 'NO_HEALTHY_UPSTREAM';
      if (headersSent) return 'STREAM_INTERRUPTED';
      return ctx.attempts > 1 ? 'RETRY_EXHAUSTED' : 'UPSTREAM_ERROR';
  }
}

/** Builds and publishes the one outcome record of a request. */
export function finishOutcome(
  ctx: RequestContext,
  status: number,
  err: HoldfastError | undefined,
  cancelled: boolean,
  relay: RelayResult | undefined,
): OutcomeRecord {
  const outcome = classify(err, cancelled);
  const dep = ctx.deployment?.config;
  const c = relay?.collector;
  const req = ctx.request;
  // Filled field by field, optional ones only when present: conditional spreads cost microseconds here.
  const rec: OutcomeRecord = {
    requestId: ctx.requestId,
    startedAt: ctx.startedAt,
    dialect: ctx.door.dialect,
    stream: req?.stream ?? false,
    status,
    ok: outcome === 'success',
    outcome,
    flag: flagFor(outcome, err, ctx, relay?.headersSent ?? false),
    failovers: ctx.failovers,
    attempts: ctx.attempts,
    latencyMs: performance.now() - ctx.t0,
    inputTokens: c?.usage.inputTokens ?? 0,
    outputTokens: c?.usage.outputTokens ?? 0,
  };
  if (req) rec.model = req.model;
  if (ctx.caller?.kind === 'key') rec.keyId = ctx.caller.keyId;
  if (err) rec.errorCode = err.code;
  if (ctx.hedged) rec.hedged = true;
  if (dep) {
    rec.deployment = dep.id;
    rec.provider = dep.provider;
    rec.region = dep.region;
  }
  if (relay?.firstTokenAt !== undefined) rec.ttftMs = relay.firstTokenAt - ctx.t0;
  if (c?.finishReason) rec.finishReason = c.finishReason;
  const traceparent = ctx.headers.traceparent;
  if (typeof traceparent === 'string') {
    rec.traceparent = traceparent;
    if (typeof ctx.headers.tracestate === 'string') rec.tracestate = ctx.headers.tracestate;
  }
  publishOutcome(rec);
  return rec;
}
