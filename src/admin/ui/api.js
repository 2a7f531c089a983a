// The console's JSON API client (docs/admin-console.md). Same-origin session cookie; every change carries
// the session's CSRF token, as the server requires for cookie sessions.

let csrfToken = null;
const signedOutListeners = new Set();

export function setCsrfToken(token) {
  csrfToken = token ?? null;
}

/** Called whenever the server says the session is gone (401). */
export function onSignedOut(fn) {
  signedOutListeners.add(fn);
  return () => signedOutListeners.delete(fn);
}

export class ApiError extends Error {
  constructor(status, code, message, param) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.param = param;
  }
}

export async function api(method, path, body, { quiet401 = false } = {}) {
  const headers = { accept: 'application/json' };
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch {
    throw new ApiError(0, 'network', 'Could not reach the gateway. Is it running?');
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    // The gateway's error shape: {"error": {"message", "type", "param", "code"}}.
    const e = data?.error ?? {};
    if (res.status === 401 && !quiet401) for (const fn of signedOutListeners) fn();
    throw new ApiError(
      res.status,
      e.code ?? `http_${res.status}`,
      e.message ?? `HTTP ${res.status}`,
      e.param,
    );
  }
  return data;
}

export const get = (path, opts) => api('GET', path, undefined, opts);
export const post = (path, body, opts) => api('POST', path, body ?? {}, opts);
export const del = (path) => api('DELETE', path);
