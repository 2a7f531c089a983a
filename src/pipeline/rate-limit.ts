import type { Config, LimitConfig } from '../config/schema.ts';
import type { RateLimitState } from '../core/door.ts';
import { HoldfastError } from '../core/errors.ts';
import type { RateStore } from '../overload/rate-store.ts';
import type { RequestContext, Stage } from './context.ts';
import { tokenEstimate } from './estimate.ts';

const MINUTE = 60_000;

interface Scope {
  /** What the caller is told was limited. */
  label: string;
  key: string;
  cfg: LimitConfig;
}

function limited(cfg: LimitConfig): boolean {
  return cfg.rpm !== undefined || cfg.tpm !== undefined || cfg.concurrent !== undefined;
}

/** The scopes with a limit set, in order; nothing is built for those without one (the common case). */
function scopesOf(ctx: RequestContext, limits: Config['limits']): Scope[] {
  const out: Scope[] = [];
  if (ctx.caller?.kind === 'key') {
    // A key's own limits override the configured defaults, field by field.
    const cfg = ctx.caller.limits ? { ...limits.key, ...ctx.caller.limits } : limits.key;
    if (limited(cfg)) out.push({ label: 'API key', key: `key:${ctx.caller.keyId}`, cfg });
  }
  if (ctx.request?.user && limited(limits.user))
    out.push({ label: 'user', key: `user:${ctx.request.user}`, cfg: limits.user });
  if (limited(limits.ip)) out.push({ label: 'client IP', key: `ip:${ctx.ip}`, cfg: limits.ip });
  return out;
}

/** Keeps, per dimension, the figures of the scope closest to its limit: that is the one the caller hits. */
function tighter(
  cur: RateLimitState['requests'],
  next: { limit: number; remaining: number; resetMs: number },
): RateLimitState['requests'] {
  if (!cur) return next;
  return next.remaining / next.limit < cur.remaining / cur.limit ? next : cur;
}

/**
 * Requests per minute, tokens per minute (estimated at admission, refunded when real usage comes in
 * lower) and concurrency, per virtual key, per end user and per client IP. GCRA keeps one number per
 * key in the store, so a shared store (Redis) can run the same step atomically. Every answer carries
 * the tightest scope's figures in the caller's dialect; a rejection is a 429 with retry-after.
 */
export function createRateLimitStage(opts: {
  store: RateStore;
  limits: Config['limits'];
  now?: () => number;
}): Stage {
  const now = opts.now ?? Date.now;
  return {
    name: 'rate-limit',
    // Synchronous when nothing limits this caller: no promise per request for an unlimited gateway.
    run(ctx) {
      const scopes = scopesOf(ctx, opts.limits);
      return scopes.length === 0 ? undefined : check(ctx, scopes);
    },
  };

  async function check(ctx: RequestContext, scopes: Scope[]): Promise<void> {
    const t = now();
    const estimate = tokenEstimate(ctx, opts.limits.default_output_tokens);
    const state: RateLimitState = {};
    const charged: Array<() => Promise<void>> = [];
    // Registered only once every scope has admitted the request, so a rejection is not refunded twice.
    const endHooks: RequestContext['onEnd'] = [];
    const reject = async (message: string, retryAfterMs: number): Promise<never> => {
      // What earlier scopes already counted for this request is given back: it was not served.
      for (const undo of charged) await undo();
      Object.assign(ctx.responseHeaders, ctx.door.rateLimitHeaders(state));
      throw new HoldfastError('rate_limited', {
        message,
        retryAfterSec: Math.max(1, Math.ceil(retryAfterMs / 1000)),
      });
    };
    for (const s of scopes) {
      if (s.cfg.rpm !== undefined) {
        const r = await opts.store.gcra(`${s.key}:rpm`, t, MINUTE, s.cfg.rpm, 1);
        state.requests = tighter(state.requests, {
          limit: s.cfg.rpm,
          remaining: r.remaining,
          resetMs: r.resetMs,
        });
        if (!r.allowed)
          await reject(
            `Rate limit reached for requests per minute on this ${s.label} (limit ${s.cfg.rpm}).`,
            r.retryAfterMs,
          );
        const rpm = s.cfg.rpm;
        charged.push(() => opts.store.refund(`${s.key}:rpm`, now(), MINUTE, rpm, 1));
      }
      if (s.cfg.tpm !== undefined) {
        const tpm = s.cfg.tpm;
        if (estimate > tpm) {
          await reject(
            `This request may use ${estimate} tokens, more than this ${s.label}'s limit of ${tpm} per minute. Lower max_tokens.`,
            MINUTE,
          );
        }
        const r = await opts.store.gcra(`${s.key}:tpm`, t, MINUTE, tpm, estimate);
        state.tokens = tighter(state.tokens, { limit: tpm, remaining: r.remaining, resetMs: r.resetMs });
        if (!r.allowed)
          await reject(
            `Rate limit reached for tokens per minute on this ${s.label} (limit ${tpm}).`,
            r.retryAfterMs,
          );
        charged.push(() => opts.store.refund(`${s.key}:tpm`, now(), MINUTE, tpm, estimate));
        endHooks.push((usage) => {
          const used = usage.inputTokens + usage.outputTokens;
          if (used < estimate) void opts.store.refund(`${s.key}:tpm`, now(), MINUTE, tpm, estimate - used);
        });
      }
      if (s.cfg.concurrent !== undefined) {
        const key = `${s.key}:concurrent`;
        const r = await opts.store.acquire(key, s.cfg.concurrent);
        if (!r.allowed)
          await reject(`Too many concurrent requests on this ${s.label} (limit ${s.cfg.concurrent}).`, 1_000);
        charged.push(() => opts.store.release(key));
        endHooks.push(() => void opts.store.release(key));
      }
    }
    ctx.onEnd.push(...endHooks);
    Object.assign(ctx.responseHeaders, ctx.door.rateLimitHeaders(state));
  }
}
