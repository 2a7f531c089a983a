/**
 * Is this error the database being unreachable (as opposed to a query it refused)? Only such errors
 * send writes to the outage buffer and reads to their fallbacks: a constraint violation or a bad query
 * must still fail loudly, now, for the caller that made it.
 */

/** Node socket errors on connect, read or write. */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ERR_SOCKET_CLOSED',
]);

/**
 * SQLSTATEs that mean "no usable connection": class 08 (connection exception), the server shutting
 * down or starting up (57P01-57P03), and no connection slots left (53300).
 */
const SQLSTATE = /^(08...|57P0[123]|53300)$/;

/** node-postgres reports a dropped or timed-out connection with a message, not a code. */
const PG_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
  'Client was closed and is not queryable',
  'Query read timeout',
  'Connection closed',
];

/** The database did not answer within the outage layer's own timeout. */
export class StoreTimeoutError extends Error {
  readonly code = 'HF_STORE_TIMEOUT';
  constructor(ms: number) {
    super(`the database did not answer within ${ms} ms`);
    this.name = 'StoreTimeoutError';
  }
}

export function isOutageError(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 4; depth++) {
    if (e instanceof StoreTimeoutError) return true;
    if (typeof e !== 'object') return false;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (SOCKET_CODES.has(code) || SQLSTATE.test(code))) return true;
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && PG_MESSAGES.some((m) => message.includes(m))) return true;
    // AggregateError (connect to several addresses) and wrapped causes.
    const inner = (e as { errors?: unknown }).errors;
    if (Array.isArray(inner) && inner.some(isOutageError)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** Runs `fn`, failing with StoreTimeoutError after `ms` (the query itself is not cancelled). */
export async function withTimeout<T>(fn: () => Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StoreTimeoutError(ms)), ms);
  });
  try {
    return await Promise.race([fn(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
