import { parseRetryAfter, UpstreamError, type UpstreamErrorKind } from '../../core/upstream-error.ts';
import type { WireErrorObject } from './wire.ts';

type HeaderMap = Record<string, string | string[] | undefined>;

// Anthropic's messages are prose that may change; these patterns only pick out the few 400s/429s that
// need a different remedy than "fix the request" / "wait".
const PROMPT_TOO_LONG =
  /prompt is too long|too many (input )?tokens|context (window|length|limit)|exceeds? the (maximum )?context/i;
const OUT_OF_CREDIT = /credit balance|billing|spend(ing)? limit|usage limit|quota|payment/i;
const SPEND_CODES = /spend_limit|billing|credit|quota/i;

/** Provider message cap: an HTML error page from a proxy should not fill the logs. */
const MAX_MESSAGE = 500;

/** Reads `{type:'error', error:{type, message}}`; anything else (HTML, empty, truncated) yields undefined. */
export function parseErrorBody(bodyText: string): WireErrorObject | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bodyText);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const error = (parsed as { error?: unknown }).error;
  if (typeof error !== 'object' || error === null) return undefined;
  const { type, message, details } = error as { type?: unknown; message?: unknown; details?: unknown };
  const code =
    typeof details === 'object' && details !== null
      ? (details as { error_code?: unknown }).error_code
      : undefined;
  return {
    type: typeof type === 'string' ? type : '',
    message: typeof message === 'string' ? message : '',
    ...(typeof code === 'string' ? { details: { error_code: code } } : {}),
  };
}

/** Classifies a non-2xx answer from POST /v1/messages. */
export function classifyAnthropicError(status: number, headers: HeaderMap, bodyText: string): UpstreamError {
  const error = parseErrorBody(bodyText);
  const fallback = bodyText.trim().slice(0, MAX_MESSAGE) || `HTTP ${status}`;
  const message = error?.message ? error.message : fallback;
  const retryAfterMs = parseRetryAfter(headers);
  return new UpstreamError({
    kind: kindFor(status, error, message),
    message,
    status,
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    ...(error?.type ? { providerCode: error.details?.error_code ?? error.type } : {}),
  });
}

/**
 * Classifies an `event: error` that arrives inside a 200 stream (Anthropic sends overloads this way once
 * the stream has begun). There is no status to go on, only the error type.
 */
export function classifyAnthropicStreamError(
  error: WireErrorObject | undefined,
  midStream: boolean,
): UpstreamError {
  const message = error?.message || 'error event in stream';
  return new UpstreamError({
    kind: kindFor(undefined, error, message),
    message,
    midStream,
    ...(error?.type ? { providerCode: error.details?.error_code ?? error.type } : {}),
  });
}

function kindFor(
  status: number | undefined,
  error: WireErrorObject | undefined,
  message: string,
): UpstreamErrorKind {
  const type = error?.type ?? '';
  const spendCode = SPEND_CODES.test(error?.details?.error_code ?? '');
  if (status === 529 || type === 'overloaded_error') return 'overloaded';
  if (status === 402 || type === 'billing_error') return 'quota_exhausted';
  if (status === 429 || type === 'rate_limit_error') {
    // A spend cap also answers 429 but will not clear by waiting, so it must not be retried.
    return spendCode || OUT_OF_CREDIT.test(message) ? 'quota_exhausted' : 'rate_limited';
  }
  if (status === 401 || status === 403 || type === 'authentication_error' || type === 'permission_error')
    return 'auth';
  if (status === 404 || type === 'not_found_error') return 'not_found';
  if (status === 408 || status === 504 || type === 'timeout_error') return 'timeout';
  if (status === 413 || type === 'request_too_large') return 'bad_request';
  if (status === 400 || status === 422 || type === 'invalid_request_error') {
    if (PROMPT_TOO_LONG.test(message)) return 'context_too_long';
    if (spendCode || OUT_OF_CREDIT.test(message)) return 'quota_exhausted';
    return 'bad_request';
  }
  if (type === 'api_error') return 'server';
  if (status === undefined) return 'server';
  if (status >= 500) return 'server';
  if (status >= 400) return 'bad_request';
  // A 1xx/3xx here means something between us and Anthropic answered in a way no client should see.
  return 'protocol';
}
