import { type DestinationStream, type Logger, pino } from 'pino';

export type { DestinationStream, Logger };

/**
 * Secrets must never reach logs, whichever way they ride in. Two layers:
 *
 * 1. By field name: credentials in headers and config-shaped objects (`req.headers.cookie`,
 *    `{ deployment: { api_key } }`, an error's `config.headers.Authorization`), at any depth to six.
 * 2. A last look at every serialised line (`hooks.streamWrite`): the known secret values of this process
 *    (from the config and the environment) and the shapes of credentials (bearer/basic tokens, `hf-…` and
 *    `sk-…` keys, session cookies, passwords in URLs) are replaced wherever they appear, e.g. inside an
 *    error message that quotes a header or a connection string.
 */
export interface LoggerOptions {
  /** Secret values to scrub from every line (see secretsIn); shorter than 8 characters are ignored. */
  secrets?: readonly string[];
  /** Where lines go; stdout by default. Tests pass a stream to read them back. */
  destination?: DestinationStream;
}

export const CENSOR = '[redacted]';

/** Field names (lower case) whose values are credentials, in headers and in config. */
const SECRET_FIELDS = new Set([
  'authorization',
  'proxy-authorization',
  'x-api-key',
  'api-key',
  'cookie',
  'set-cookie',
  'x-csrf-token',
  'api_key',
  'apikey',
  'admin_key',
  'adminkey',
  'password',
  'pass',
  'client_secret',
  'clientsecret',
  'access_key_id',
  'accesskeyid',
  'secret_access_key',
  'secretaccesskey',
  'sessiontoken',
  'csrftoken',
  'secret',
]);

/** Walked: plain objects (incl. Node's header objects), arrays and errors; never buffers, maps or streams. */
function walkable(v: object): boolean {
  if (Array.isArray(v) || v instanceof Error) return true;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * Field-name redaction at any depth (to 6), copy on write: the caller's objects are never touched, and an
 * object with nothing to hide is passed through as is. (pino's own `redact` with wildcard paths costs
 * ~100 µs a line; this costs well under one for a request line.)
 */
export function redactFields(v: unknown, depth = 0): unknown {
  if (v === null || typeof v !== 'object' || depth > 6 || !walkable(v)) return v;
  if (Array.isArray(v)) {
    let copy: unknown[] | undefined;
    const n = Math.min(v.length, 100);
    for (let i = 0; i < n; i++) {
      const r = redactFields(v[i], depth + 1);
      if (r === v[i]) continue;
      copy ??= v.slice();
      copy[i] = r;
    }
    return copy ?? v;
  }
  const src = v as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  for (const k of Object.keys(src)) {
    const x = src[k];
    const r = x !== undefined && SECRET_FIELDS.has(k.toLowerCase()) ? CENSOR : redactFields(x, depth + 1);
    if (r === x) continue;
    if (!copy) {
      // An error becomes a plain object with the fields pino's error serializer would have written.
      copy =
        v instanceof Error
          ? { type: v.name, message: v.message, stack: v.stack, ...src }
          : Object.assign(Object.create(Object.getPrototypeOf(v) === null ? null : Object.prototype), src);
    }
    copy![k] = r;
  }
  return copy ?? v;
}

/** A config or environment key that names a credential (its string value is a secret). */
const SECRET_NAME = /api[_-]?key|admin[_-]?key|secret|passw(or)?d|^pass$|token|credential|access[_-]?key/i;
/** scheme://user:password@host: the password part. */
const URL_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^/?#:@\s]*:([^/?#@\s]+)@/i;

/**
 * The secret values in a config or environment object: strings under credential-like names, every
 * value of a `headers` map (custom upstream auth), and passwords inside connection URLs.
 */
export function secretsIn(value: unknown): string[] {
  const out = new Set<string>();
  const walk = (v: unknown, name: string, inHeaders: boolean, depth: number): void => {
    if (depth > 12 || v === null || v === undefined) return;
    if (typeof v === 'string') {
      if (inHeaders || SECRET_NAME.test(name)) out.add(v);
      const pw = URL_PASSWORD.exec(v)?.[1];
      if (pw) {
        out.add(pw);
        try {
          out.add(decodeURIComponent(pw));
        } catch {
          // not percent-encoded: the raw form is enough
        }
      }
      return;
    }
    if (Array.isArray(v)) {
      for (const x of v) walk(x, name, inHeaders, depth + 1);
      return;
    }
    if (typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) walk(x, k, inHeaders || /headers$/i.test(k), depth + 1);
    }
  };
  walk(value, '', false, 0);
  return [...out].filter((s) => s.length >= 8);
}

/** Credential shapes, whoever they belong to (caller keys are not known in advance). */
const SHAPES: ReadonlyArray<readonly [RegExp, string]> = [
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{6,}/gi, `$1 ${CENSOR}`],
  [/\b(hf|sk)-[A-Za-z0-9_-]{12,}/g, CENSOR],
  [/\b(hf_session|hf_status_admin|hf_status_signin|hf_oidc[\w-]*)=[^;,"\s\\]+/g, `$1=${CENSOR}`],
  [/(:\/\/[^/?#:@\s"]*:)[^/?#@\s"]+@/g, `$1${CENSOR}@`],
];

/** Replaces known secrets and credential shapes in one serialised line. */
export function scrubber(secrets: readonly string[]): (line: string) => string {
  // Longest first, so a secret that contains another is replaced whole; JSON-escaped forms too.
  const known = [...new Set(secrets.flatMap((s) => [s, JSON.stringify(s).slice(1, -1)]))]
    .filter((s) => s.length >= 8)
    .sort((a, b) => b.length - a.length);
  return (line) => {
    let out = line;
    for (const s of known) if (out.includes(s)) out = out.replaceAll(s, CENSOR);
    for (const [re, to] of SHAPES) out = out.replace(re, to);
    return out;
  };
}

export function createLogger(level: string, opts: LoggerOptions = {}): Logger {
  const scrub = scrubber(opts.secrets ?? []);
  const options = {
    level,
    base: { service: 'holdfast' },
    formatters: { log: (obj: Record<string, unknown>) => redactFields(obj) as Record<string, unknown> },
    hooks: { streamWrite: scrub },
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}
