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

  async function resolve(secret: string): Promise<Caller | undefined> {
    const h = sha(secret);
    if (adminHash && timingSafeEqual(h, adminHash)) return { kind: 'admin' };
    if (appHash && timingSafeEqual(h, appHash)) return { kind: 'app' };
    const cacheKey = h.toString('base64');
    const now = performance.now();
    const hit = cache.get(cacheKey);
    if (hit && hit.until > now) return hit.caller;
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
  };
}

export function authStage(auth: Authenticator): Stage {
  return {
    name: 'authenticate',
    async run(ctx: RequestContext) {
      ctx.caller = await auth.authenticate(ctx.headers);
    },
  };
}

export function callerMayUse(caller: Caller | undefined, model: string): boolean {
  if (caller?.kind !== 'key') return true;
  return keyAllowsModel({ models: [...caller.models] }, model);
}
