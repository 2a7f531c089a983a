/**
 * The chat API's error registry: every error the chat app returns has a stable code from this table,
 * with its HTTP status fixed here. Rendered as `{"error": {"code", "message"}}` (docs/chat-api.md).
 */
export const CHAT_ERRORS = {
  unauthorized: { status: 401, message: 'Sign in first.' },
  csrf_failed: { status: 403, message: 'Missing or wrong x-csrf-token header.' },
  forbidden: { status: 403, message: 'You may not do that.' },
  not_found: { status: 404, message: 'Not found.' },
  invalid_request: { status: 400, message: 'The request is not valid.' },
  card_invalid: { status: 400, message: 'The character card could not be read.' },
  conflict: { status: 409, message: 'That conflicts with the current state.' },
  email_taken: { status: 409, message: 'An account with this email already exists.' },
  invalid_credentials: { status: 401, message: 'Wrong email or password.' },
  login_throttled: { status: 429, message: 'Too many failed sign-ins; try again later.' },
  report_throttled: { status: 429, message: 'Too many reports; try again later.' },
  payload_too_large: { status: 413, message: 'The upload is too large.' },
  oidc_unavailable: { status: 404, message: 'Single sign-on is not configured.' },
  oidc_failed: { status: 400, message: 'Single sign-on failed.' },
  storage_unavailable: {
    status: 503,
    message:
      'Messages cannot be saved right now: the database is unreachable and the server cannot hold more.',
  },
  internal: { status: 500, message: 'Something went wrong on our side.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ChatErrorCode = keyof typeof CHAT_ERRORS;

export class ChatError extends Error {
  readonly code: ChatErrorCode;
  readonly status: number;
  readonly retryAfterSec: number | undefined;

  constructor(code: ChatErrorCode, message?: string, opts: { retryAfterSec?: number; cause?: unknown } = {}) {
    super(message ?? CHAT_ERRORS[code].message, opts.cause === undefined ? {} : { cause: opts.cause });
    this.name = 'ChatError';
    this.code = code;
    this.status = CHAT_ERRORS[code].status;
    this.retryAfterSec = opts.retryAfterSec;
  }

  toJSON(): { error: { code: ChatErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}
