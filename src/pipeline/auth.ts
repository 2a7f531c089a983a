import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { HoldfastError } from '../core/errors.ts';
import { keyAllowsModel } from '../stores/keys.ts';
import type { Caller, RequestContext, Stage } from './context.ts';

export interface KeyLookup {
  /** Returns the key's id and allowed models, or undefined for unknown/revoked keys. */
  verify(secret: string): Promise<
    | {
        id: string;
        models: readonly string[];
        limits?: { rpm?: number; tpm?: number; concurrent?: number };
        priority?: 'critical' | 'interactive' | 'batch' | null;
      }
    | undefined
  >;
}

/** Both dialects' ways of presenting a key: OpenAI's bearer token and Anthropic's x-api-key. */
export function presentedKey(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string' && /^bearer\s+/i.test(auth))
    return auth.replace(/^bearer\s+/i, '').trim() || undefined;
  const x = headers['x-api-key'];
  return typeof x === 'string' && x.trim() ? x.trim() : undefined;
}

const sha = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * Verified keys are remembered briefly so the hot path does not hit the database per request; a
 * revocation therefore takes effect within `cacheMs` on every node.
 */
export interface Authenticator {
  /** The caller behind these headers; throws the dialect-neutral 401 when there is none. */
  authenticate(headers: IncomingHttpHeaders): Promise<Caller>;
  /**
   * The same answer when it needs no lookup (open mode without a key, the admin or app key, a cached
   * key), else undefined: the chat pipeline then skips a promise per request. Throws what `authenticate`
   * would reject with when that is certain without a lookup.
   */
  known?(headers: IncomingHttpHeaders): Caller | undefined;
  /** Drops every cached key verification, so a key revoked in this process is refused at once. */
  forgetKeys?(): void;
}

export function createAuthenticator(opts: {
  adminKey?: string;
  openMode: boolean;
  keys: KeyLookup;
  cacheMs?: number;
  /** The chat app's in-process credential (random per process, never stored). */
  appKey?: string;
}): Authenticator {
  const adminHash = opts.adminKey ? sha(opts.adminKey) : undefined;
  const appHash = opts.appKey ? sha(opts.appKey) : undefined;
  const cacheMs = opts.cacheMs ?? 5_000;
  const cache = new Map<string, { caller: Caller | undefined; until: number }>();

  /** Marks a secret the key store must be asked about. */
  const MISS = Symbol('miss');
  function cached(h: Buffer, cacheKey: string): Caller | undefined | typeof MISS {
    if (adminHash && timingSafeEqual(h, adminHash)) return { kind: 'admin' };
    if (appHash && timingSafeEqual(h, appHash)) return { kind: 'app' };
    const hit = cache.get(cacheKey);
    return hit && hit.until > performance.now() ? hit.caller : MISS;
  }

  async function resolve(secret: string): Promise<Caller | undefined> {
    const h = sha(secret);
    const cacheKey = h.toString('base64');
    const known = cached(h, cacheKey);
    if (known !== MISS) return known;
    const now = performance.now();
    const rec = await opts.keys.verify(secret);
    const caller: Caller | undefined = rec
      ? {
          kind: 'key',
          keyId: rec.id,
          models: rec.models,
          ...(rec.limits ? { limits: rec.limits } : {}),
          ...(rec.priority ? { priority: rec.priority } : {}),
        }
      : undefined;
    if (cache.size > 10_000) cache.clear();
    cache.set(cacheKey, { caller, until: now + cacheMs });
    return caller;
  }

  return {
    async authenticate(headers) {
      const secret = presentedKey(headers);
      if (opts.openMode) {
        // Open mode serves anyone; a valid key still identifies its owner in outcome records.
        return (secret && (await resolve(secret))) || { kind: 'open' };
      }
      if (!secret) throw new HoldfastError('invalid_api_key', { message: 'No API key provided.' });
      const caller = await resolve(secret);
      if (!caller) throw new HoldfastError('invalid_api_key');
      return caller;
    },
    known(headers) {
      const secret = presentedKey(headers);
      if (!secret) {
        if (opts.openMode) return { kind: 'open' };
        throw new HoldfastError('invalid_api_key', { message: 'No API key provided.' });
      }
      const h = sha(secret);
      const caller = cached(h, h.toString('base64'));
      if (caller === MISS) return undefined;
      if (caller) return caller;
      if (opts.openMode) return { kind: 'open' };
      throw new HoldfastError('invalid_api_key');
    },
    forgetKeys() {
      cache.clear();
    },
  };
}

export function authStage(auth: Authenticator): Stage {
  return {
    name: 'authenticate',
    run(ctx: RequestContext) {
      // Most requests need no lookup (open mode, a cached key): no promise for them.
      const known = auth.known?.(ctx.headers);
      if (known) {
        ctx.caller = known;
        return;
      }
      return auth.authenticate(ctx.headers).then((caller) => {
        ctx.caller = caller;
      });
    },
  };
}

export function callerMayUse(caller: Caller | undefined, model: string): boolean {
  if (caller?.kind !== 'key') return true;
  return keyAllowsModel({ models: [...caller.models] }, model);
}
