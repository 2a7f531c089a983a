import { type ErrorCode, HoldfastError } from './errors.ts';

/**
 * What went wrong upstream, in terms the resilience layer can act on. Adapters classify; the core only
 * reads these fields, so it never needs to know which provider failed.
 */
export const UPSTREAM_ERROR_KINDS = [
  'connection', // refused, reset, DNS: nothing was sent or received
  'timeout', // connect, first byte, idle or total deadline
  'server', // 5xx that is not overload
  'overloaded', // 529, 503 overloaded
  'rate_limited', // 429 that will clear
  'quota_exhausted', // 429 insufficient_quota / spend cap: won't clear soon
  'bad_request', // 400/422: the request itself is wrong
  'context_too_long',
  'content_filter',
  'auth', // 401/403: our credentials are wrong
  'not_found', // 404 model/deployment missing upstream
  'protocol', // malformed response or stream
] as const;

export type UpstreamErrorKind = (typeof UPSTREAM_ERROR_KINDS)[number];

const RETRYABLE: ReadonlySet<UpstreamErrorKind> = new Set([
  'connection',
  'timeout',
  'server',
  'overloaded',
  'rate_limited',
  'protocol',
]);

/** Failures that say this deployment is unwell (vs. the request being wrong). */
export const DEPLOYMENT_FAULT_KINDS = [
  'connection',
  'timeout',
  'server',
  'overloaded',
  'rate_limited',
  'quota_exhausted',
  'auth',
  'not_found',
  'protocol',
] as const satisfies readonly UpstreamErrorKind[];

const DEPLOYMENT_FAULT: ReadonlySet<UpstreamErrorKind> = new Set(DEPLOYMENT_FAULT_KINDS);

const TO_CODE: Record<UpstreamErrorKind, ErrorCode> = {
  connection: 'upstream_error',
  timeout: 'upstream_timeout',
  server: 'upstream_error',
  overloaded: 'overloaded',
  rate_limited: 'rate_limited',
  quota_exhausted: 'quota_exhausted',
  bad_request: 'invalid_request',
  context_too_long: 'context_length_exceeded',
  content_filter: 'content_filtered',
  auth: 'upstream_auth_failed',
  not_found: 'upstream_error',
  protocol: 'stream_interrupted',
};

export interface UpstreamErrorInit {
  kind: UpstreamErrorKind;
  message: string;
  status?: number;
  retryAfterMs?: number;
  /** Provider's own error code/type, for logs. */
  providerCode?: string;
  /** True when some output was already received before the failure (mid-stream). */
  midStream?: boolean;
  cause?: unknown;
}

export class UpstreamError extends Error {
  readonly kind: UpstreamErrorKind;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  readonly providerCode: string | undefined;
  midStream: boolean;

  constructor(init: UpstreamErrorInit) {
    super(init.message, init.cause !== undefined ? { cause: init.cause } : undefined);
    this.name = 'UpstreamError';
    this.kind = init.kind;
    this.status = init.status;
    this.retryAfterMs = init.retryAfterMs;
    this.providerCode = init.providerCode;
    this.midStream = init.midStream ?? false;
  }

  /** Worth trying again (here or elsewhere). */
  get retryable(): boolean {
    return RETRYABLE.has(this.kind);
  }

  /** Counts against the deployment's health (a bad request does not). */
  get deploymentFault(): boolean {
    return DEPLOYMENT_FAULT.has(this.kind);
  }

  toHoldfastError(): HoldfastError {
    const code = TO_CODE[this.kind];
    // Client-side mistakes pass the provider's explanation through; server-side ones keep our own words so
    // provider internals do not leak.
    const passMessage =
      this.kind === 'bad_request' || this.kind === 'context_too_long' || this.kind === 'content_filter';
    return new HoldfastError(code, {
      ...(passMessage ? { message: this.message } : {}),
      ...(this.retryAfterMs !== undefined ? { retryAfterSec: Math.ceil(this.retryAfterMs / 1000) } : {}),
      cause: this,
    });
  }
}

/** Parses Retry-After (seconds or HTTP date) and the OpenAI/Anthropic millisecond variants. */
export function parseRetryAfter(
  headers: Headers | Record<string, string | string[] | undefined>,
  now = Date.now(),
): number | undefined {
  const get = (name: string): string | undefined => {
    if (headers instanceof Headers) return headers.get(name) ?? undefined;
    const v = headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const ms = get('retry-after-ms')?.trim();
  if (ms && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const raw = get('retry-after')?.trim();
  if (!raw) return undefined;
  const secs = Number(raw);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const date = Date.parse(raw);
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
}
