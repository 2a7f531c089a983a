/**
 * The one error registry. Every error Holdfast returns to a caller has a stable `code` from this table;
 * the HTTP status and the type each dialect shows are fixed here, not at the throw site.
 * `docs/errors.md` mirrors this table and a test keeps the two in sync.
 */

type OpenAIErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'insufficient_quota'
  | 'server_error'
  | 'timeout_error';

type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'timeout_error'
  | 'overloaded_error';

export interface ErrorSpec {
  status: number;
  openai: OpenAIErrorType;
  anthropic: AnthropicErrorType;
  /** Default message; throw sites may give a more specific one. */
  message: string;
  /** What a caller should do about it (rendered in docs/errors.md). */
  remedy: string;
}

export const ERRORS = {
  invalid_json: {
    status: 400,
    openai: 'invalid_request_error',
    anthropic: 'invalid_request_error',
    message: 'The request body is not valid JSON.',
    remedy: 'Send a JSON object with Content-Type: application/json.',
  },
  invalid_request: {
    status: 400,
    openai: 'invalid_request_error',
    anthropic: 'invalid_request_error',
    message: 'The request body does not match the API schema.',
    remedy: 'Fix the field named in `param` (OpenAI) or in the message (Anthropic).',
  },
  missing_field: {
    status: 400,
    openai: 'invalid_request_error',
    anthropic: 'invalid_request_error',
    message: 'A required field is missing.',
    remedy: 'Add the field named in the message.',
  },
  unsupported_parameter: {
    status: 400,
    openai: 'invalid_request_error',
    anthropic: 'invalid_request_error',
    message: 'A parameter value is not supported.',
    remedy: 'Remove the parameter or use a supported value.',
  },
  unsupported_media_type: {
    status: 415,
    openai: 'invalid_request_error',
    anthropic: 'invalid_request_error',
    message: 'Request bodies must be application/json.',
    remedy: 'Send Content-Type: application/json.',
  },
  body_too_large: {
    status: 413,
    openai: 'invalid_request_error',
    anthropic: 'request_too_large',
    message: 'The request body is larger than this server accepts.',
    remedy: 'Send a smaller body, or raise server.body_limit_bytes.',
  },
  uri_too_long: {
    status: 414,
    openai: 'invalid_request_error',
    anthropic: 'invalid_request_error',
    message: 'A path segment of the URL is too long.',
    remedy: 'Check the id in the path; ids are short.',
  },
  model_not_found: {
    status: 404,
    openai: 'invalid_request_error',
    anthropic: 'not_found_error',
    message: 'The model does not exist on this gateway.',
    remedy: 'Use a model listed by GET /v1/models.',
  },
  not_found: {
    status: 404,
    openai: 'invalid_request_error',
    anthropic: 'not_found_error',
    message: 'No such route.',
    remedy: 'Check the method and path.',
  },
  context_length_exceeded: {
    status: 400,
    openai: 'invalid_request_error',
    anthropic: 'invalid_request_error',
    message: 'The conversation is longer than the model accepts.',
    remedy: 'Shorten the messages or lower max_tokens.',
  },
  content_filtered: {
    status: 400,
    openai: 'invalid_request_error',
    anthropic: 'invalid_request_error',
    message: 'The provider refused the request under its content policy.',
    remedy: 'Change the request; retrying it unchanged will fail again.',
  },
  invalid_api_key: {
    status: 401,
    openai: 'authentication_error',
    anthropic: 'authentication_error',
    message: 'Missing or invalid API key.',
    remedy: 'Send a key from `holdfast keys create` as Authorization: Bearer or x-api-key.',
  },
  model_not_allowed: {
    status: 403,
    openai: 'permission_error',
    anthropic: 'permission_error',
    message: 'This API key may not use this model.',
    remedy: 'Use a key scoped to the model, or create one with --models.',
  },
  admin_required: {
    status: 403,
    openai: 'permission_error',
    anthropic: 'permission_error',
    message: 'This endpoint needs the admin key.',
    remedy: 'Send HOLDFAST_ADMIN_KEY as Authorization: Bearer.',
  },
  csrf_failed: {
    status: 403,
    openai: 'permission_error',
    anthropic: 'permission_error',
    message: 'Missing or wrong x-csrf-token header.',
    remedy: 'Send the csrfToken from GET /admin/api/session with every change made through a session cookie.',
  },
  conflict: {
    status: 409,
    openai: 'invalid_request_error',
    anthropic: 'invalid_request_error',
    message: 'That conflicts with the current state.',
    remedy: 'Read the current state (the message says what) and try again once it allows the change.',
  },
  rate_limited: {
    status: 429,
    openai: 'rate_limit_error',
    anthropic: 'rate_limit_error',
    message: 'Too many requests.',
    remedy: 'Wait for the retry-after header and try again.',
  },
  quota_exhausted: {
    status: 429,
    openai: 'insufficient_quota',
    anthropic: 'rate_limit_error',
    message: 'The spend or quota limit has been reached.',
    remedy: 'Raise the quota; retrying soon will not help.',
  },
  overloaded: {
    status: 529,
    openai: 'server_error',
    anthropic: 'overloaded_error',
    message: 'The service is overloaded.',
    remedy: 'Retry after the retry-after header with backoff.',
  },
  load_shed: {
    status: 503,
    openai: 'server_error',
    anthropic: 'overloaded_error',
    message: 'The gateway is shedding load and did not take this request.',
    remedy: 'Retry after the retry-after header; lower-priority traffic is shed first.',
  },
  queue_timeout: {
    status: 503,
    openai: 'server_error',
    anthropic: 'overloaded_error',
    message: 'The request waited too long for capacity.',
    remedy: 'Retry after the retry-after header, or send it as a higher priority class.',
  },
  no_healthy_upstream: {
    status: 503,
    openai: 'server_error',
    anthropic: 'overloaded_error',
    message: 'No deployment for this model can take the request right now.',
    remedy: 'Retry after the retry-after header; see the status page.',
  },
  upstream_error: {
    status: 502,
    openai: 'server_error',
    anthropic: 'api_error',
    message: 'The model provider returned an error.',
    remedy: 'Retry; if it persists, see the status page.',
  },
  upstream_auth_failed: {
    status: 502,
    openai: 'server_error',
    anthropic: 'api_error',
    message: 'The gateway could not authenticate with the model provider.',
    remedy: 'Operator: check the deployment api_key.',
  },
  upstream_timeout: {
    status: 504,
    openai: 'timeout_error',
    anthropic: 'timeout_error',
    message: 'The model provider did not answer in time.',
    remedy: 'Retry; if it persists, see the status page.',
  },
  stream_interrupted: {
    status: 502,
    openai: 'server_error',
    anthropic: 'api_error',
    message: 'The answer stream was interrupted.',
    remedy: 'Retry the request.',
  },
  shutting_down: {
    status: 503,
    openai: 'server_error',
    anthropic: 'overloaded_error',
    message: 'This server is shutting down.',
    remedy: 'Retry; another instance or a restart will take it.',
  },
  store_unavailable: {
    status: 503,
    openai: 'server_error',
    anthropic: 'api_error',
    message: 'The API key cannot be checked: the database is unreachable and this key was not seen recently.',
    remedy:
      'Retry after the Retry-After delay; keys used in the last minutes keep working during a database outage (docs/postgres-outage.md).',
  },
  internal_error: {
    status: 500,
    openai: 'server_error',
    anthropic: 'api_error',
    message: 'Internal error.',
    remedy: 'Report it with the x-request-id.',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export interface HoldfastErrorOptions {
  message?: string;
  /** The offending request field, dotted (`messages.2.content`). */
  param?: string;
  retryAfterSec?: number;
  cause?: unknown;
}

export class HoldfastError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly param: string | undefined;
  readonly retryAfterSec: number | undefined;

  constructor(code: ErrorCode, opts: HoldfastErrorOptions = {}) {
    super(opts.message ?? ERRORS[code].message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = 'HoldfastError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.param = opts.param;
    this.retryAfterSec = opts.retryAfterSec;
  }

  get spec(): ErrorSpec {
    return ERRORS[this.code];
  }
}

/** Anything thrown becomes a registry error; unknown throwables never leak their message or stack. */
export function toHoldfastError(err: unknown): HoldfastError {
  if (err instanceof HoldfastError) return err;
  if (isUpstreamLike(err)) return err.toHoldfastError();
  return new HoldfastError('internal_error', { cause: err });
}

interface UpstreamLike {
  toHoldfastError(): HoldfastError;
}

function isUpstreamLike(err: unknown): err is UpstreamLike {
  return (
    typeof err === 'object' && err !== null && typeof (err as UpstreamLike).toHoldfastError === 'function'
  );
}
