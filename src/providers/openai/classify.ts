import { parseRetryAfter, UpstreamError, type UpstreamErrorKind } from '../../core/upstream-error.ts';

type Headers = Record<string, string | string[] | undefined>;

interface ProviderError {
  message: string | undefined;
  type: string | undefined;
  /** OpenAI sends a string; vLLM's in-band errors send the HTTP status as a number. */
  code: string | number | undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * Reads the error out of the body shapes OpenAI-compatible servers use: OpenAI/Azure/newer vLLM
 * `{error:{message,type,code}}`, older vLLM `{object:'error',message,type,code}`, Ollama `{error:'text'}`.
 */
export function readProviderError(bodyText: string): ProviderError {
  let json: unknown;
  try {
    json = JSON.parse(bodyText);
  } catch {
    return { message: str(bodyText.trim().slice(0, 1000)), type: undefined, code: undefined };
  }
  if (typeof json !== 'object' || json === null)
    return { message: undefined, type: undefined, code: undefined };
  const outer = json as Record<string, unknown>;
  if (typeof outer.error === 'string') return { message: outer.error, type: undefined, code: undefined };
  const e = (typeof outer.error === 'object' && outer.error !== null ? outer.error : outer) as Record<
    string,
    unknown
  >;
  const code = typeof e.code === 'number' ? e.code : str(e.code);
  return { message: str(e.message), type: str(e.type), code };
}

const CONTEXT_MESSAGE =
  /maximum context length|context length|context_length_exceeded|context window|exceeds the available context size|prompt is too long/i;

/** OpenAI's `x-ratelimit-reset-*` durations: `1s`, `6m0s`, `12ms`, `1h2m3.5s`. */
export function parseResetDuration(raw: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
  let total = 0;
  let matched = '';
  for (const m of raw.matchAll(re)) {
    const n = Number(m[1]);
    const unit = m[2];
    total += unit === 'h' ? n * 3_600_000 : unit === 'm' ? n * 60_000 : unit === 's' ? n * 1000 : n;
    matched += m[0];
  }
  return matched !== '' && matched === raw.trim() ? total : undefined;
}

function header(headers: Headers, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * When a 429 carries no retry-after, the reset of whichever limit is exhausted tells us how long it lasts.
 */
function retryAfterMs(headers: Headers): number | undefined {
  const explicit = parseRetryAfter(headers);
  if (explicit !== undefined) return explicit;
  let wait: number | undefined;
  for (const kind of ['requests', 'tokens']) {
    if (header(headers, `x-ratelimit-remaining-${kind}`) !== '0') continue;
    const reset = header(headers, `x-ratelimit-reset-${kind}`);
    const ms = reset === undefined ? undefined : parseResetDuration(reset);
    if (ms !== undefined) wait = Math.max(wait ?? 0, ms);
  }
  return wait;
}

function kindFor(status: number | undefined, e: ProviderError): UpstreamErrorKind {
  const code = typeof e.code === 'string' ? e.code : undefined;
  const text = `${e.message ?? ''} ${e.type ?? ''} ${code ?? ''}`;
  if (code === 'insufficient_quota' || e.type === 'insufficient_quota') return 'quota_exhausted';
  if (status === 429) return 'rate_limited';
  if (
    code === 'context_length_exceeded' ||
    e.type === 'exceed_context_size_error' ||
    CONTEXT_MESSAGE.test(text)
  ) {
    if (status === undefined || status === 400 || status === 413 || status === 422) return 'context_too_long';
  }
  if (code === 'content_filter' || code === 'content_policy_violation') {
    if (status === undefined || status === 400) return 'content_filter';
  }
  if (status === undefined) {
    // In-band stream errors carry no HTTP status: classify by what the provider called it.
    if (code === 'rate_limit_exceeded' || e.type === 'rate_limit_error') return 'rate_limited';
    if (/overload/i.test(text)) return 'overloaded';
    if (e.type === 'invalid_request_error' || e.type === 'BadRequestError') return 'bad_request';
    return 'server';
  }
  if (status === 400 || status === 413 || status === 415 || status === 422) return 'bad_request';
  if (status === 401 || status === 403) return 'auth';
  if (status === 402) return 'quota_exhausted';
  if (status === 404) return 'not_found';
  if (status === 408) return 'timeout';
  if (status === 529) return 'overloaded';
  if (status === 503 && /overload/i.test(text)) return 'overloaded';
  if (status >= 500) return 'server';
  if (status >= 400) return 'bad_request';
  // A 1xx/3xx where a completion was expected: the upstream is not speaking the protocol.
  return 'protocol';
}

/** Classifies a non-2xx answer from an OpenAI-compatible upstream. Never throws. */
export function classifyOpenAIError(status: number, headers: Headers, bodyText: string): UpstreamError {
  const e = readProviderError(bodyText);
  const kind = kindFor(status, e);
  const wait =
    kind === 'rate_limited' || kind === 'overloaded' || kind === 'server' ? retryAfterMs(headers) : undefined;
  const providerCode = typeof e.code === 'string' ? e.code : e.type;
  return new UpstreamError({
    kind,
    status,
    message: e.message ?? `upstream answered HTTP ${status}`,
    ...(wait !== undefined ? { retryAfterMs: wait } : {}),
    ...(providerCode !== undefined ? { providerCode } : {}),
  });
}

/**
 * Classifies an `{"error":…}` object that arrived inside a 200 stream. vLLM puts the would-be HTTP status
 * in `code`; use it when present.
 */
export function classifyInBandError(json: unknown, midStream: boolean): UpstreamError {
  const text = JSON.stringify(json);
  const e = readProviderError(text);
  const status = typeof e.code === 'number' && e.code >= 400 && e.code < 600 ? e.code : undefined;
  const providerCode = typeof e.code === 'string' ? e.code : e.type;
  return new UpstreamError({
    kind: kindFor(status, e),
    ...(status !== undefined ? { status } : {}),
    message: e.message ?? 'upstream reported an error inside the stream',
    midStream,
    ...(providerCode !== undefined ? { providerCode } : {}),
  });
}
