import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** The operator session cookie: scoped to the operator pages, never readable by scripts. */
export const SESSION_COOKIE = 'hf_status_admin';
/** The sign-in form's own CSRF cookie (double submit: there is no session yet to hold a token). */
export const SIGNIN_COOKIE = 'hf_status_signin';
export const ADMIN_PATH = '/status/admin';

export interface Session {
  token: string;
  /** Every form of this session carries it in a hidden field; POSTs without it are refused. */
  csrf: string;
  expiresAt: number;
}

export interface SessionOptions {
  /** The configured admin key; without one nobody can sign in. */
  adminKey: string | undefined;
  ttlMs?: number;
  /** Failed sign-ins per client address per `failureWindowMs` before that address is refused. */
  maxFailures?: number;
  failureWindowMs?: number;
  now?: () => number;
}

const sha = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Compares secrets in constant time (equal-length digests, so lengths leak nothing either). */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(sha(a), sha(b));
}

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Operator sessions for the HTML pages, in memory: a random token in an HttpOnly, SameSite=Strict cookie
 * maps to an expiry and a CSRF token. A restart signs everyone out, which is fine for a handful of
 * operators. Sign-in compares the presented key with the admin key in constant time and slows down
 * guessing per client address.
 */
export class SessionStore {
  readonly #adminKey: string | undefined;
  readonly #ttlMs: number;
  readonly #maxFailures: number;
  readonly #failureWindowMs: number;
  readonly #now: () => number;
  readonly #sessions = new Map<string, Session>();
  readonly #failures = new Map<string, { start: number; n: number }>();

  constructor(o: SessionOptions) {
    this.#adminKey = o.adminKey;
    this.#ttlMs = o.ttlMs ?? 8 * 3_600_000;
    this.#maxFailures = o.maxFailures ?? 10;
    this.#failureWindowMs = o.failureWindowMs ?? 15 * 60_000;
    this.#now = o.now ?? Date.now;
  }

  get enabled(): boolean {
    return this.#adminKey !== undefined && this.#adminKey !== '';
  }

  get ttlMs(): number {
    return this.#ttlMs;
  }

  /** Too many failed sign-ins from this address lately. */
  locked(ip: string): boolean {
    const f = this.#failures.get(ip);
    if (!f) return false;
    if (this.#now() - f.start > this.#failureWindowMs) {
      this.#failures.delete(ip);
      return false;
    }
    return f.n >= this.#maxFailures;
  }

  /** A new session when `key` is the admin key; undefined otherwise (and the failure is counted). */
  signIn(key: string, ip: string): Session | undefined {
    if (!this.enabled || this.locked(ip)) return undefined;
    if (!sameSecret(key, this.#adminKey!)) {
      const now = this.#now();
      const f = this.#failures.get(ip);
      if (!f || now - f.start > this.#failureWindowMs) this.#failures.set(ip, { start: now, n: 1 });
      else f.n++;
      if (this.#failures.size > 10_000) this.#failures.delete(this.#failures.keys().next().value!);
      return undefined;
    }
    this.#sweep();
    const s: Session = { token: newToken(), csrf: newToken(), expiresAt: this.#now() + this.#ttlMs };
    this.#sessions.set(s.token, s);
    return s;
  }

  get(token: string | undefined): Session | undefined {
    if (!token) return undefined;
    const s = this.#sessions.get(token);
    if (!s) return undefined;
    if (s.expiresAt <= this.#now()) {
      this.#sessions.delete(token);
      return undefined;
    }
    return s;
  }

  signOut(token: string): void {
    this.#sessions.delete(token);
  }

  #sweep(): void {
    const now = this.#now();
    for (const [t, s] of this.#sessions) if (s.expiresAt <= now) this.#sessions.delete(t);
    // A bound on memory: the oldest sessions go first.
    while (this.#sessions.size >= 1_000) this.#sessions.delete(this.#sessions.keys().next().value!);
  }
}

/** Cookie header → name/value pairs (first one wins, as browsers send the most specific path first). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (out.has(name)) continue;
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    try {
      out.set(name, decodeURIComponent(value));
    } catch {
      out.set(name, value);
    }
  }
  return out;
}

export function cookie(
  name: string,
  value: string,
  o: { maxAgeS: number; secure: boolean; path?: string },
): string {
  return [
    `${name}=${encodeURIComponent(value)}`,
    `Path=${o.path ?? ADMIN_PATH}`,
    `Max-Age=${Math.max(0, Math.floor(o.maxAgeS))}`,
    'HttpOnly',
    'SameSite=Strict',
    ...(o.secure ? ['Secure'] : []),
  ].join('; ');
}
