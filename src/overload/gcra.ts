/**
 * Generic Cell Rate Algorithm [ATM Forum TM 4.0; the algorithm behind redis-cell and throttled].
 *
 * A limit of `limit` units per `periodMs` is a leaky bucket drained at one unit every T = periodMs / limit
 * milliseconds. Instead of a counter and a refill timestamp, GCRA keeps one number per key, the theoretical
 * arrival time (TAT): the instant at which the bucket would be empty again if nothing else arrived. A request
 * of `cost` units is allowed when, after adding cost × T to the TAT, the TAT is at most burst × T ahead of
 * now. One number per key is what makes it store-friendly: the Redis adapter does the same read-compute-
 * write in one Lua script, and a key whose TAT is in the past carries no information and can be dropped.
 *
 * Times are milliseconds on whatever clock the caller uses for every call on that key (wall clock across
 * replicas, a monotonic clock on one node). The state stays in milliseconds rather than in units of T so a
 * hot-reloaded limit reinterprets old state sensibly instead of corrupting it.
 */

export interface GcraResult {
  allowed: boolean;
  /** The TAT to store; unchanged (possibly undefined) when rejected. A TAT ≤ now means a full bucket. */
  state: number | undefined;
  /** Whole units that could be spent right now, after this request if it was allowed. */
  remaining: number;
  /** Until the bucket is full again (OpenAI's `x-ratelimit-reset-*`). */
  resetMs: number;
  /** 0 when allowed; otherwise the wait until this same cost would be allowed. Not rounded. */
  retryAfterMs: number;
}

/**
 * `retryAfterMs` for a cost larger than the burst, which no amount of waiting will admit. A finite value so
 * it survives JSON, header formatting and `setTimeout` (2³¹ − 1 ms, about 24.8 days); compare with `>=`.
 */
export const GCRA_NEVER_MS = 2_147_483_647;

/** Validated parameters, shared by step, refund and the multi-limit helpers. */
interface Params {
  /** Emission interval T: ms per unit. */
  interval: number;
  /** Delay variation tolerance: burst × T, how far ahead of now the TAT may run. */
  tolerance: number;
  burst: number;
}

function params(periodMs: number, limit: number, burst: number | undefined): Params {
  if (!(periodMs > 0) || !Number.isFinite(periodMs))
    throw new RangeError(`periodMs must be > 0, got ${periodMs}`);
  if (!(limit > 0) || !Number.isFinite(limit)) throw new RangeError(`limit must be > 0, got ${limit}`);
  const b = burst ?? limit;
  if (!(b > 0) || !Number.isFinite(b)) throw new RangeError(`burst must be > 0, got ${burst}`);
  const interval = periodMs / limit;
  return { interval, tolerance: b * interval, burst: b };
}

function checkCost(cost: number): void {
  if (!(cost >= 0) || !Number.isFinite(cost))
    throw new RangeError(`cost must be a finite number ≥ 0, got ${cost}`);
}

/**
 * Float slack for the comparisons. TATs are sums of fractional intervals (60 000 / 7 ms), so a request that
 * arrives exactly on the boundary can miss by a few ulps; without slack "exactly N per period" would sometimes
 * be N − 1. The slack is a millionth of an interval plus a few ulps of the magnitudes (about 6 µs at Date.now()
 * scale, where a double only resolves a quarter of a microsecond anyway), so it never admits a whole extra unit.
 */
function slack(p: Params, now: number, tat: number): number {
  return p.interval * 1e-6 + Math.max(Math.abs(now), Math.abs(tat)) * 2 ** -48;
}

function remainingUnits(p: Params, now: number, tat: number): number {
  const room = p.tolerance - Math.max(0, tat - now);
  const units = Math.floor((room + slack(p, now, tat)) / p.interval);
  return Math.max(0, Math.min(Math.floor(p.burst), units));
}

/**
 * One rate-limit decision. `cost` may exceed 1 (a tokens-per-minute limit charges the estimated tokens) and
 * may be 0 (a peek: current remaining and reset without charging). A cost above `burst` is never allowed and
 * answers `retryAfterMs = GCRA_NEVER_MS`. `burst` defaults to `limit`: an idle key may spend a whole period's
 * allowance at once, which is what OpenAI-style per-minute limits promise.
 */
export function gcraStep(
  state: number | undefined,
  now: number,
  periodMs: number,
  limit: number,
  cost: number,
  burst?: number,
): GcraResult {
  const p = params(periodMs, limit, burst);
  checkCost(cost);
  const tat = state === undefined ? now : Math.max(state, now);
  const newTat = tat + cost * p.interval;
  const ahead = newTat - now;
  if (ahead <= p.tolerance + slack(p, now, newTat)) {
    return {
      allowed: true,
      state: newTat,
      remaining: remainingUnits(p, now, newTat),
      resetMs: Math.max(0, ahead),
      retryAfterMs: 0,
    };
  }
  const retryAfterMs = cost > p.burst ? GCRA_NEVER_MS : ahead - p.tolerance;
  return {
    allowed: false,
    state,
    remaining: remainingUnits(p, now, tat),
    resetMs: Math.max(0, tat - now),
    retryAfterMs,
  };
}

/**
 * Gives `cost` units back, e.g. when the usage that arrived came in under the estimate charged at admission.
 * The TAT never moves below `now`: unused allowance from the past cannot be banked beyond a full bucket.
 * A key with no state stays without state.
 */
export function gcraRefund(
  state: number | undefined,
  now: number,
  periodMs: number,
  limit: number,
  cost: number,
): number | undefined {
  const p = params(periodMs, limit, undefined);
  checkCost(cost);
  if (state === undefined) return undefined;
  return Math.max(now, state - cost * p.interval);
}

/**
 * Charges an extra `cost` after the fact (usage came in over the estimate). Always applied, even past the
 * burst: the tokens were already spent, so the debt delays the key's next requests instead of vanishing.
 */
export function gcraCharge(
  state: number | undefined,
  now: number,
  periodMs: number,
  limit: number,
  cost: number,
): number {
  const p = params(periodMs, limit, undefined);
  checkCost(cost);
  const tat = state === undefined ? now : Math.max(state, now);
  return tat + cost * p.interval;
}
