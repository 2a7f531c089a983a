import { channel } from 'node:diagnostics_channel';
import type { FinishReason } from '../core/chat.ts';
import type { Dialect } from '../core/door.ts';
import type { ErrorCode } from '../core/errors.ts';
import type { UpstreamErrorKind } from '../core/upstream-error.ts';

/** Published exactly once per finished request (success, error or cancellation). */
export const OUTCOME_CHANNEL = 'holdfast:request:outcome';
/** Published once per upstream attempt, as it ends. */
export const ATTEMPT_CHANNEL = 'holdfast:upstream:attempt';

export const outcomeChannel = channel(OUTCOME_CHANNEL);
export const attemptChannel = channel(ATTEMPT_CHANNEL);

export type OutcomeClass = 'success' | 'client_error' | 'upstream_error' | 'gateway_error' | 'cancelled';

/**
 * Envoy-style response flag: what happened, in one word, for dashboards and the status page. A runtime
 * list, so docs and metrics can enumerate every flag (docs/troubleshooting.md has one section each).
 */
export const OUTCOME_FLAGS = [
  'OK',
  'FAILED_OVER',
  'HEDGED',
  'CLIENT_ERROR',
  'RATE_LIMITED',
  'SHED',
  'QUEUE_TIMEOUT',
  'CLIENT_CLOSED',
  'NO_HEALTHY_UPSTREAM',
  'UPSTREAM_ERROR',
  'RETRY_EXHAUSTED',
  'STREAM_INTERRUPTED',
  'SHUTTING_DOWN',
  'INTERNAL',
] as const;

export type OutcomeFlag = (typeof OUTCOME_FLAGS)[number];

export interface AttemptRecord {
  requestId: string;
  deployment: string;
  provider: string;
  region: string;
  ok: boolean;
  /** Engine clock (performance.now() in production) when the attempt was sent. */
  startedAt: number;
  /** Set when the attempt failed upstream. */
  errorKind?: UpstreamErrorKind;
  status?: number;
  /** Failure after output had been relayed. */
  midStream?: boolean;
  latencyMs: number;
  /** Time from sending the request to the first event from upstream. */
  ttftMs?: number;
  /**
   * Time to the first content (text or tool call). Upstreams send headers and an opening event at once
   * even when overloaded; the first token is what their queueing delays, so admission steers on it.
   */
  firstTokenMs?: number;
}

export interface OutcomeRecord {
  requestId: string;
  /** Epoch ms when the request arrived. */
  startedAt: number;
  dialect: Dialect;
  /** Public model name asked for (undefined if the body never parsed). */
  model?: string;
  keyId?: string;
  stream: boolean;
  /** HTTP status the caller got (for streams: the status sent with the headers). */
  status: number;
  ok: boolean;
  outcome: OutcomeClass;
  flag: OutcomeFlag;
  /** Moves to another deployment (retries, fallbacks, continuations, hedges). */
  failovers: number;
  /** A hedged second attempt was started (one of the `failovers`), whatever the outcome. */
  hedged?: boolean;
  errorCode?: ErrorCode;
  /** The deployment that produced (or last tried to produce) the answer. */
  deployment?: string;
  provider?: string;
  region?: string;
  attempts: number;
  latencyMs: number;
  /** Time to the first token relayed to the caller. */
  ttftMs?: number;
  inputTokens: number;
  outputTokens: number;
  finishReason?: FinishReason;
  /** The caller's W3C trace context headers, so the request's trace span can join the caller's trace. */
  traceparent?: string;
  tracestate?: string;
}

export function publishOutcome(rec: OutcomeRecord): void {
  if (outcomeChannel.hasSubscribers) outcomeChannel.publish(rec);
}

export function publishAttempt(rec: AttemptRecord): void {
  if (attemptChannel.hasSubscribers) attemptChannel.publish(rec);
}
