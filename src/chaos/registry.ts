import { randomId } from '../core/ids.ts';
import { UpstreamError } from '../core/upstream-error.ts';
import { type ChaosFault, type FaultSpec, parseFaultSpec } from './faults.ts';

/** What one request suffers, decided up front so the adapter wrapper is plain mechanism. */
export interface RequestPlan {
  /** Delay before the upstream is called (the sum of every latency fault that struck). */
  latencyMs: number;
  /** Fail the whole request with this, without calling the upstream. */
  failWith?: UpstreamError;
  /** Accept the request and never answer (blackhole). */
  hang?: boolean;
  /** Drop the connection instead of delivering the token after this many. */
  cutAfterTokens?: number;
  /** Go silent instead of delivering the token after this many. */
  stallAfterTokens?: number;
  /** Ids of the faults that struck, for logs. */
  faults: string[];
}

export interface ChaosRegistryOptions {
  /** Epoch milliseconds (fault lifetimes are shown to operators as wall-clock times). */
  now?: () => number;
  /** Uniform in [0, 1); inject a seeded one for repeatable tests. */
  rng?: () => number;
  newId?: () => string;
  /** Bounds memory against a runaway script hammering the admin API. */
  maxPerDeployment?: number;
}

export class ChaosLimitError extends Error {
  constructor(deployment: string, max: number) {
    super(`Deployment '${deployment}' already has ${max} active faults; clear some first.`);
    this.name = 'ChaosLimitError';
  }
}

/**
 * The live faults of every deployment. Pure: time and randomness are injected, and there are no timers —
 * an expired fault is dropped the next time its deployment is looked at.
 */
export class ChaosRegistry {
  readonly #now: () => number;
  readonly #rng: () => number;
  readonly #newId: () => string;
  readonly #max: number;
  /** Only deployments with at least one (possibly expired) fault have an entry. */
  readonly #byDeployment = new Map<string, ChaosFault[]>();

  constructor(opts: ChaosRegistryOptions = {}) {
    this.#now = opts.now ?? Date.now;
    this.#rng = opts.rng ?? Math.random;
    this.#newId = opts.newId ?? (() => randomId('chaos_', 12));
    this.#max = opts.maxPerDeployment ?? 32;
  }

  /** The registry's clock, so API answers and fault lifetimes agree. */
  now(): number {
    return this.#now();
  }

  /** Validates (throws a 400 HoldfastError on a bad spec) and starts a fault now. */
  inject(deploymentId: string, spec: unknown): ChaosFault {
    const parsed: FaultSpec = parseFaultSpec(spec);
    const live = this.#live(deploymentId) ?? [];
    if (live.length >= this.#max) throw new ChaosLimitError(deploymentId, this.#max);
    const created = this.#now();
    const fault: ChaosFault = {
      ...parsed,
      id: this.#newId(),
      deployment: deploymentId,
      created,
      ends: created + Math.round(parsed.duration_s * 1000),
      hits: 0,
    };
    live.push(fault);
    this.#byDeployment.set(deploymentId, live);
    return { ...fault };
  }

  /** Live faults of one deployment, or of all, oldest first. Snapshots: mutating them changes nothing. */
  list(deploymentId?: string): ChaosFault[] {
    const ids = deploymentId === undefined ? [...this.#byDeployment.keys()] : [deploymentId];
    return ids
      .flatMap((id) => this.#live(id) ?? [])
      .sort((a, b) => a.created - b.created)
      .map((f) => ({ ...f }));
  }

  active(deploymentId: string): ChaosFault[] {
    return (this.#live(deploymentId) ?? []).map((f) => ({ ...f }));
  }

  /**
   * Called on every request of every deployment, so the common case (no chaos anywhere) is one size check
   * and the next is one map miss.
   */
  hasAny(deploymentId: string): boolean {
    if (this.#byDeployment.size === 0) return false;
    return this.#live(deploymentId) !== undefined;
  }

  /**
   * Ends faults early: one (`faultId`), all of one deployment, or everything. Returns how many live faults
   * were removed.
   */
  clear(deploymentId?: string, faultId?: string): number {
    const ids = deploymentId === undefined ? [...this.#byDeployment.keys()] : [deploymentId];
    let removed = 0;
    for (const id of ids) {
      const live = this.#live(id);
      if (!live) continue;
      const keep = faultId === undefined ? [] : live.filter((f) => f.id !== faultId);
      removed += live.length - keep.length;
      if (keep.length === 0) this.#byDeployment.delete(id);
      else this.#byDeployment.set(id, keep);
    }
    return removed;
  }

  /**
   * Draws what this request suffers. Each live fault strikes independently with its `rate` (one draw per
   * fault whose rate is strictly between 0 and 1, in injection order, so a seeded rng replays exactly).
   * Latencies add up; of the whole-request failures the oldest that struck wins; of cuts and stalls the
   * smallest token count wins.
   */
  decide(deploymentId: string): RequestPlan {
    const plan: RequestPlan = { latencyMs: 0, faults: [] };
    const live = this.#live(deploymentId);
    if (!live) return plan;
    let decided = false;
    for (const f of live) {
      if (!(f.rate >= 1 || (f.rate > 0 && this.#rng() < f.rate))) continue;
      f.hits += 1;
      plan.faults.push(f.id);
      switch (f.kind) {
        case 'latency':
          plan.latencyMs += f.ms;
          break;
        case 'cut':
          plan.cutAfterTokens = Math.min(plan.cutAfterTokens ?? f.after_tokens, f.after_tokens);
          break;
        case 'stall':
          plan.stallAfterTokens = Math.min(plan.stallAfterTokens ?? f.after_tokens, f.after_tokens);
          break;
        case 'blackhole':
          if (!decided) plan.hang = true;
          decided = true;
          break;
        default:
          if (!decided) plan.failWith = failureFor(f);
          decided = true;
      }
    }
    return plan;
  }

  /** The unexpired faults of a deployment, pruning the rest (and the entry once none are left). */
  #live(deploymentId: string): ChaosFault[] | undefined {
    const list = this.#byDeployment.get(deploymentId);
    if (!list) return undefined;
    const now = this.#now();
    if (list.every((f) => f.ends > now)) return list;
    const live = list.filter((f) => f.ends > now);
    if (live.length === 0) {
      this.#byDeployment.delete(deploymentId);
      return undefined;
    }
    this.#byDeployment.set(deploymentId, live);
    return live;
  }
}

/**
 * The error a real upstream failing this way would be classified as, so retries, breakers and failover
 * react exactly as they would in an outage. A new instance per request: the core marks errors mid-stream.
 */
function failureFor(
  f: Extract<ChaosFault, { kind: 'refuse' | 'error' | 'rate_limit' | 'overloaded' }>,
): UpstreamError {
  const providerCode = `chaos_${f.kind}`;
  switch (f.kind) {
    case 'refuse':
      return new UpstreamError({
        kind: 'connection',
        message: 'upstream connection failure: ECONNREFUSED (chaos fault)',
        providerCode,
      });
    case 'error':
      return new UpstreamError({
        kind: 'server',
        status: f.status,
        message: `upstream answered HTTP ${f.status} (chaos fault)`,
        providerCode,
      });
    case 'rate_limit':
      return new UpstreamError({
        kind: 'rate_limited',
        status: 429,
        retryAfterMs: f.retry_after_s * 1000,
        message: 'upstream answered HTTP 429 (chaos fault)',
        providerCode,
      });
    case 'overloaded':
      return new UpstreamError({
        kind: 'overloaded',
        status: 529,
        ...(f.retry_after_s !== undefined ? { retryAfterMs: f.retry_after_s * 1000 } : {}),
        message: 'upstream answered HTTP 529 overloaded (chaos fault)',
        providerCode,
      });
  }
}
