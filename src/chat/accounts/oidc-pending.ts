import { createHash, randomBytes } from 'node:crypto';

/** What a sign-in started at /oidc/start needs back at /oidc/callback. */
export interface PendingLogin {
  nonce: string;
  codeVerifier: string;
}

export interface StartedLogin extends PendingLogin {
  state: string;
  codeChallenge: string;
}

/** How long a browser has between /oidc/start and coming back from the provider. */
export const PENDING_TTL_MS = 10 * 60 * 1000;
const MAX_PENDING = 10_000;

/**
 * Server-side store of started OIDC sign-ins, keyed by `state`, each usable once and only for a few
 * minutes. In memory: a sign-in must come back to the process that started it (sticky sessions when
 * several instances sit behind one address).
 */
export class PendingLogins {
  readonly #now: () => number;
  readonly #byState = new Map<string, PendingLogin & { expiresAt: number }>();

  constructor(now: () => number) {
    this.#now = now;
  }

  start(): StartedLogin {
    const state = token();
    const nonce = token();
    const codeVerifier = token();
    const codeChallenge = createHash('sha256').update(codeVerifier).digest('base64url');
    this.#sweep();
    this.#byState.set(state, { nonce, codeVerifier, expiresAt: this.#now() + PENDING_TTL_MS });
    return { state, nonce, codeVerifier, codeChallenge };
  }

  /** The sign-in started with `state`, removed so it cannot be replayed; undefined if unknown or stale. */
  take(state: string): PendingLogin | undefined {
    const entry = this.#byState.get(state);
    if (!entry) return undefined;
    this.#byState.delete(state);
    if (entry.expiresAt <= this.#now()) return undefined;
    return { nonce: entry.nonce, codeVerifier: entry.codeVerifier };
  }

  get size(): number {
    return this.#byState.size;
  }

  #sweep(): void {
    const now = this.#now();
    // Entries are in start order, so expired ones are at the front.
    for (const [state, entry] of this.#byState) {
      if (entry.expiresAt > now && this.#byState.size < MAX_PENDING) break;
      this.#byState.delete(state);
    }
  }
}

function token(): string {
  return randomBytes(32).toString('base64url');
}
