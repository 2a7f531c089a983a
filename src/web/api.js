// The JSON API client (docs/chat-api.md). Same-origin, cookie session; state-changing requests carry the
// CSRF token returned by sign-up, sign-in and /api/auth/me.

let csrfToken = null;
const unauthorizedListeners = new Set();

export function setCsrfToken(token) {
  csrfToken = token ?? null;
}

/** Called with no arguments whenever the server says the session is gone (401). */
export function onUnauthorized(fn) {
  unauthorizedListeners.add(fn);
  return () => unauthorizedListeners.delete(fn);
}

export class ApiError extends Error {
  constructor(status, code, message, retryAfterSec) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfterSec = retryAfterSec;
  }
  /** A network failure or a server error: worth retrying with the same idempotency key. */
  get retryable() {
    return this.status === 0 || this.status >= 500 || this.status === 429;
  }
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * `api('POST', '/api/x', body)`. `body` is sent as JSON unless it is a Blob/File (sent raw with its type,
 * or `options.contentType`). Resolves to the parsed JSON answer (or null for 204); rejects with ApiError.
 */
export async function api(method, path, body, options = {}) {
  const headers = { accept: 'application/json' };
  if (!SAFE.has(method) && csrfToken) headers['x-csrf-token'] = csrfToken;
  let payload;
  if (body instanceof Blob) {
    payload = body;
    headers['content-type'] = options.contentType || body.type || 'application/octet-stream';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['content-type'] = 'application/json';
  }
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: payload,
      credentials: 'same-origin',
      signal: options.signal,
    });
  } catch (err) {
    if (err?.name === 'AbortError') throw err;
    throw new ApiError(0, 'network', 'Could not reach the server. Check your connection and try again.');
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const retryAfter = Number(res.headers.get('retry-after'));
    const err = new ApiError(
      res.status,
      data?.error?.code ?? `http_${res.status}`,
      data?.error?.message ?? `The server answered ${res.status}.`,
      Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
    );
    if (res.status === 401 && !options.allowUnauthorized) for (const fn of unauthorizedListeners) fn();
    throw err;
  }
  return data;
}

export const get = (path, options) => api('GET', path, undefined, options);
export const post = (path, body, options) => api('POST', path, body, options);
export const put = (path, body) => api('PUT', path, body);
export const patch = (path, body) => api('PATCH', path, body);
export const del = (path) => api('DELETE', path);

/** A fresh idempotency key. */
export function newKey() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
