import { setTimeout as sleep } from 'node:timers/promises';
import type { ModelConfig, ResilienceConfig } from '../config/schema.ts';
import type { ChatRequest, StreamEvent } from '../core/chat.ts';
import { HoldfastError } from '../core/errors.ts';
import { batchesOf, type EventBatch } from '../core/provider.ts';
import { UpstreamError } from '../core/upstream-error.ts';
import { ClientThrottle } from '../overload/client-throttle.ts';
import type { DeploymentRuntime } from '../providers/registry.ts';
import {
  Balancer,
  type Clock,
  Deadline,
  firstByteTimeout,
  fullJitter,
  HedgeBudget,
  loadScore,
  OutlierDetector,
  type OutlierOptions,
  type OutlierSnapshot,
  type OutlierState,
  PeakEwma,
  RetryBudget,
  type Rng,
  SlidingQuantile,
} from '../resilience/index.ts';
import { publishAttempt } from '../telemetry/outcome.ts';
import type { RequestContext } from './context.ts';
import { Continuity, continuationRequest } from './continuity.ts';
import type { Dispatch } from './dispatch.ts';

/**
 * One outlier detector per model group. "Never eject a whole group" protects a group that is all the
 * caller has; a group with a fallback may be ejected entirely, because its traffic then goes somewhere
 * safe instead of into a dead provider (that is what keeps a full-provider outage from multiplying load).
 */
export class GroupOutliers {
  readonly #byGroup = new Map<string, OutlierDetector>();
  readonly #ofDeployment = new Map<string, OutlierDetector>();

  add(group: string, ids: readonly string[], opts: OutlierOptions, clock: Clock): void {
    const d = new OutlierDetector(opts, clock);
    for (const id of ids) {
      d.register(id, group);
      this.#ofDeployment.set(id, d);
    }
    this.#byGroup.set(group, d);
  }

  /**
   * Takes over a group's detector from the engine a config reload replaced, ejections and all, so a
   * reload does not hand traffic back to a deployment that is down.
   */
  adopt(group: string, ids: readonly string[], detector: OutlierDetector): void {
    for (const id of ids) this.#ofDeployment.set(id, detector);
    this.#byGroup.set(group, detector);
  }

  detector(group: string): OutlierDetector | undefined {
    return this.#byGroup.get(group);
  }

  #d(id: string): OutlierDetector {
    const d = this.#ofDeployment.get(id);
    if (!d) throw new Error(`unknown deployment ${id}`);
    return d;
  }

  state(id: string): OutlierState {
    return this.#d(id).state(id);
  }
  isAvailable(id: string): boolean {
    return this.#d(id).isAvailable(id);
  }
  acquireProbe(id: string): boolean {
    return this.#d(id).acquireProbe(id);
  }
  releaseProbe(id: string): void {
    this.#d(id).releaseProbe(id);
  }
  recordSuccess(id: string): void {
    this.#d(id).recordSuccess(id);
  }
  recordFailure(id: string): void {
    this.#d(id).recordFailure(id);
  }
  blockUntil(id: string, untilMs: number): void {
    this.#d(id).blockUntil(id, untilMs);
  }
  snapshot(): OutlierSnapshot[] {
    return [...this.#byGroup.values()].flatMap((d) => d.snapshot());
  }
  /** Every group's state changes; an ejection comes with its end (engine clock). */
  onChange(listener: OutlierChangeListener): () => void {
    const offs = [...new Set(this.#byGroup.values())].map((d) =>
      d.onChange((id, _from, to) =>
        listener(id, to, to === 'ejected' ? d.snapshot().find((s) => s.id === id)?.ejectedUntil : undefined),
      ),
    );
    return () => {
      for (const off of offs) off();
    };
  }
}

export type OutlierChangeListener = (id: string, to: OutlierState, ejectedUntil: number | undefined) => void;

/** Live state of one deployment: what the balancer and the timeouts learn from traffic. */
export interface DeploymentState {
  readonly runtime: DeploymentRuntime;
  readonly id: string;
  /** Reassigned when a config reload carries this state over into a new engine. */
  group: GroupState;
  outstanding: number;
  /** Engine clock of the last success / deployment-fault failure (for `health`). */
  lastOkAt: number;
  lastFailAt: number;
  readonly ttftEwma: PeakEwma;
  /** Google SRE client-side throttling: refuse locally, cheaply, what this upstream keeps rejecting. */
  readonly throttle: ClientThrottle;
  /** Time to first event of streamed attempts. */
  readonly ttft: SlidingQuantile;
  /** Whole-answer time of unary attempts (their first event is the whole answer). */
  readonly unary: SlidingQuantile;
}

interface Picked {
  dep: DeploymentState;
  /** Holds the deployment's single trial slot (released when the attempt ends). */
  probe: boolean;
}

/** One model group (public model name) with its deployments, budgets and fallback chain. */
export interface GroupState {
  readonly name: string;
  readonly config: ModelConfig;
  readonly deployments: DeploymentState[];
  readonly ttft: SlidingQuantile;
  readonly unary: SlidingQuantile;
  readonly retryBudget: RetryBudget;
  readonly hedgeBudget: HedgeBudget;
}

export interface EngineOptions {
  models: readonly ModelConfig[];
  runtimes: ReadonlyMap<string, DeploymentRuntime>;
  resilience: ResilienceConfig;
  clock: Clock;
  rng: Rng;
  /**
   * The engine a config reload replaces. What it learnt about deployments whose config did not change
   * (`carry`) is shared, not relearnt: latency, throttling, in-flight counts and, for groups whose
   * membership and outlier settings are the same, ejections. Sharing the objects (rather than copying)
   * keeps them right while the old engine's in-flight requests finish.
   */
  previous?: { engine: ResilienceEngine; carry: ReadonlySet<string> };
}

/** Rejections that mean "you are sending me too much" (feed client-side throttling). */
const THROTTLE_KINDS = new Set(['rate_limited', 'overloaded']);

/** The latency a failure counts as in the balancer's load score. */
const FAILURE_PENALTY_MS = 1_000;

/** Caller-chosen deadline, never longer than the group's. */
export const DEADLINE_HEADER = 'x-holdfast-deadline-ms';

/**
 * The resilience mechanism. Policy (which deployment, whether to retry, when to hedge, when a deployment
 * is sick) lives in src/resilience as pure code; this class only applies it to real attempts. Order of
 * one request: pick (balancer over available deployments, tier spill-over, fallback groups) → attempt
 * (first-byte and idle watchdogs) → on failure: classify, feed the outlier detector, and try elsewhere
 * within the attempt limit, the retry budget and the deadline; after output reached the caller, continue
 * the answer on another deployment. A hedge races a second attempt when the first is slow to start.
 */
export class ResilienceEngine {
  readonly outlier = new GroupOutliers();
  readonly groups = new Map<string, GroupState>();
  readonly deployments = new Map<string, DeploymentState>();
  readonly #balancer: Balancer;
  /** For groups with somewhere else to go: no panic routing into ejected deployments. */
  readonly #strictBalancer: Balancer;
  readonly #clock: Clock;
  readonly #rng: Rng;
  readonly #res: ResilienceConfig;
  readonly #chains = new Map<string, readonly GroupState[]>();
  /** Whether a deployment can take one more attempt now (set by admission control); unset: always. */
  #room: ((id: string, outstanding: number) => boolean) | undefined;
  /** Deployments in a maintenance window: no new attempts; attempts already running finish. */
  readonly #drained = new Set<string>();
  /** Ejections made by other replicas (shared state): deployment → end, engine clock. */
  readonly #remote = new Map<string, number>();

  constructor(opts: EngineOptions) {
    this.#clock = opts.clock;
    this.#rng = opts.rng;
    this.#res = opts.resilience;
    const o = opts.resilience.outlier;
    const prev = opts.previous;
    for (const m of opts.models) {
      const ids = m.deployments.map((d) => d.id);
      const outlierOpts = {
        consecutiveFailures: o.consecutive_failures,
        baseEjectionMs: o.base_ejection_ms,
        maxEjectionMs: o.max_ejection_ms,
        maxEjectionPercent: m.fallbacks.length > 0 ? 100 : o.max_ejection_percent,
        probeSuccesses: o.probe_successes,
      };
      const before = prev?.engine.groups.get(m.name);
      const same =
        prev !== undefined &&
        before !== undefined &&
        before.deployments.length === ids.length &&
        before.deployments.every((d, i) => d.id === ids[i] && prev.carry.has(d.id)) &&
        sameOutlier(prev.engine.#res.outlier, o) &&
        before.config.fallbacks.length > 0 === m.fallbacks.length > 0;
      const detector = same ? prev.engine.outlier.detector(m.name) : undefined;
      if (detector) this.outlier.adopt(m.name, ids, detector);
      else this.outlier.add(m.name, ids, outlierOpts, opts.clock);
    }
    this.#balancer = new Balancer({}, opts.rng);
    this.#strictBalancer = new Balancer({ panicThreshold: 0 }, opts.rng);
    for (const m of opts.models) {
      const group: GroupState = {
        name: m.name,
        config: m,
        deployments: [],
        ttft: new SlidingQuantile({ staleMs: 250 }, opts.clock),
        unary: new SlidingQuantile({ staleMs: 250 }, opts.clock),
        retryBudget: new RetryBudget(
          {
            ratio: m.retry.budget_ratio,
            minConcurrent: m.retry.min_concurrent,
            minRetriesPerSec: m.retry.min_retries_per_sec,
          },
          opts.clock,
        ),
        hedgeBudget: new HedgeBudget({ ratio: m.hedge.budget_ratio }, opts.clock),
      };
      for (const d of m.deployments) {
        const runtime = opts.runtimes.get(d.id);
        if (!runtime) throw new Error(`deployment ${d.id} was not started`);
        const kept = prev?.carry.has(d.id) ? prev.engine.deployments.get(d.id) : undefined;
        if (kept && kept.runtime === runtime) {
          kept.group = group;
          group.deployments.push(kept);
          this.deployments.set(d.id, kept);
          continue;
        }
        const state: DeploymentState = {
          runtime,
          id: d.id,
          group,
          outstanding: 0,
          lastOkAt: Number.NEGATIVE_INFINITY,
          lastFailAt: Number.NEGATIVE_INFINITY,
          ttftEwma: new PeakEwma({}, opts.clock),
          throttle: new ClientThrottle({}, opts.clock, opts.rng),
          ttft: new SlidingQuantile({ staleMs: 250 }, opts.clock),
          unary: new SlidingQuantile({ staleMs: 250 }, opts.clock),
        };
        group.deployments.push(state);
        this.deployments.set(d.id, state);
      }
      this.groups.set(m.name, group);
    }
    // Maintenance windows drain by deployment id, whatever else about the deployment changed.
    for (const id of this.deployments.keys()) if (prev?.engine.isDrained(id)) this.#drained.add(id);
  }

  /**
   * A deployment's health as an operator should see it. The balancer stops choosing a deployment after
   * one failure (it counts as a slow answer), long before the outlier detector has seen enough
   * consecutive failures to eject it; such a deployment is `suspect` (last deployment fault more recent
   * than its last success), not healthy.
   */
  health(id: string): OutlierState | 'suspect' {
    const state = this.outlier.state(id);
    if (state !== 'healthy') return state;
    if (this.#remoteOut(id)) return 'ejected';
    const d = this.deployments.get(id);
    return d && d.lastFailAt > d.lastOkAt ? 'suspect' : 'healthy';
  }

  /** Admission control's per-deployment concurrency limits, consulted when picking (see #pick). */
  setRoom(room: (id: string, outstanding: number) => boolean): void {
    this.#room = room;
  }

  /** Starts (`on`) or ends a drain of these deployments (status maintenance windows, src/status). */
  drain(ids: readonly string[], on: boolean): void {
    for (const id of ids)
      if (on) this.#drained.add(id);
      else this.#drained.delete(id);
  }

  isDrained(id: string): boolean {
    return this.#drained.has(id);
  }

  /** This replica's own ejections and recoveries, for sharing with the others (src/stores/redis/ejections.ts). */
  onOutlierChange(listener: OutlierChangeListener): () => void {
    return this.outlier.onChange(listener);
  }

  /**
   * Another replica ejected this deployment until `untilMs` (engine clock); `undefined`: none does any more.
   * Until then it counts as unhealthy here too (so panic routing still applies, as for a local ejection),
   * without touching this replica's own outlier history.
   */
  applyRemote(id: string, untilMs: number | undefined): void {
    if (untilMs === undefined || !this.deployments.has(id)) this.#remote.delete(id);
    else this.#remote.set(id, untilMs);
  }

  /** In service by this replica's own outlier detection and by every other replica's ejections. */
  available(id: string): boolean {
    return this.outlier.isAvailable(id) && !this.#remoteOut(id);
  }

  #remoteOut(id: string): boolean {
    if (this.#remote.size === 0) return false;
    const until = this.#remote.get(id);
    if (until === undefined) return false;
    if (this.#clock.now() < until) return true;
    this.#remote.delete(id);
    return false;
  }

  /** The group and its fallbacks, depth first, each once. Fixed by the config, so built once per group. */
  chain(name: string): readonly GroupState[] {
    let chain = this.#chains.get(name);
    if (!chain) {
      chain = this.#buildChain(name);
      this.#chains.set(name, chain);
    }
    return chain;
  }

  #buildChain(name: string): GroupState[] {
    const out: GroupState[] = [];
    const seen = new Set<string>();
    const visit = (n: string): void => {
      const g = this.groups.get(n);
      if (!g || seen.has(n)) return;
      seen.add(n);
      out.push(g);
      for (const f of g.config.fallbacks) visit(f);
    };
    visit(name);
    return out;
  }

  #pick(group: GroupState, tried: ReadonlySet<string>, lastResort = true): Picked | undefined {
    if (group.deployments.length === 1) return this.#pickOnly(group.deployments[0]!, tried, lastResort);
    const candidates = group.deployments.map((d) => ({
      id: d.id,
      weight: d.runtime.config.weight,
      tier: d.runtime.config.tier,
      healthy: this.available(d.id),
    }));
    const load = (x: string): number => {
      const d = this.deployments.get(x)!;
      return loadScore(d.ttftEwma.value(), d.outstanding);
    };
    const exclude = new Set(tried);
    for (const d of group.deployments) {
      const state = this.outlier.state(d.id);
      // A retry-after is obeyed even in panic routing: that deployment asked for no traffic until then.
      if (state === 'blocked' || this.#drained.has(d.id)) exclude.add(d.id);
      // A deployment whose ejection ended gets the next request as its trial (one at a time), whatever
      // the balancer thinks of its old latency: that is how it earns its way back.
      else if (state === 'probing' && !exclude.has(d.id) && this.outlier.acquireProbe(d.id))
        return { dep: d, probe: true };
    }
    // Deployments at their concurrency limit (admission's adaptive limits) are passed over while another
    // has room: the group-wide gate alone would let the balancer pile a burst onto one of them and
    // push it past what it takes. With none having room, the balancer's choice stands.
    const room = this.#room;
    if (room) {
      let open = 0;
      const full: string[] = [];
      for (const d of group.deployments) {
        if (exclude.has(d.id)) continue;
        if (room(d.id, d.outstanding)) open++;
        else full.push(d.id);
      }
      if (open > 0) for (const id of full) exclude.add(id);
    }
    // A deployment on trial takes one request at a time through its probe slot; if the slot is taken,
    // pick again without it.
    for (let i = 0; i <= group.deployments.length; i++) {
      const id = (lastResort ? this.#balancer : this.#strictBalancer).pick(candidates, load, exclude);
      if (id === undefined) return undefined;
      const dep = this.deployments.get(id)!;
      // An upstream that keeps answering 429/529 is spared most of our traffic for a while.
      if (dep.throttle.shouldReject()) {
        exclude.add(id);
        continue;
      }
      if (this.outlier.state(id) !== 'probing') return { dep, probe: false };
      if (this.outlier.acquireProbe(id)) return { dep, probe: true };
      exclude.add(id);
    }
    return undefined;
  }

  /**
   * #pick for a group of one, without building the balancer's candidate list: the same decisions in the
   * same order (the same calls on the outlier detector, the throttle and the RNG), so it chooses exactly
   * what the balancer would have.
   */
  #pickOnly(d: DeploymentState, tried: ReadonlySet<string>, lastResort: boolean): Picked | undefined {
    const healthy = this.available(d.id);
    const state = this.outlier.state(d.id);
    if (tried.has(d.id) || state === 'blocked' || this.#drained.has(d.id)) return undefined;
    if (state === 'probing' && this.outlier.acquireProbe(d.id)) return { dep: d, probe: true };
    const weight = d.runtime.config.weight;
    if (!(weight > 0) || !Number.isFinite(weight)) return undefined;
    // The balancer draws its tier even when there is one.
    this.#rng();
    // Unhealthy and alone: only panic routing (the last-resort balancer) still sends it traffic.
    if (!healthy && !lastResort) return undefined;
    if (d.throttle.shouldReject()) return undefined;
    if (this.outlier.state(d.id) !== 'probing') return { dep: d, probe: false };
    return this.outlier.acquireProbe(d.id) ? { dep: d, probe: true } : undefined;
  }

  #firstByteMs(d: DeploymentState, deadline: Deadline, stream: boolean): number {
    // A unary attempt's first event is the whole answer, so it is judged against unary latencies.
    const p95 = stream
      ? (d.ttft.quantile(0.95) ?? d.group.ttft.quantile(0.95))
      : (d.unary.quantile(0.95) ?? d.group.unary.quantile(0.95));
    const ms = firstByteTimeout(p95, {
      floorMs: this.#res.first_byte.floor_ms,
      multiplier: this.#res.first_byte.multiplier,
      ceilingMs: d.runtime.config.timeouts.first_byte_ms,
    });
    return Math.max(1, Math.min(ms, deadline.remaining()));
  }

  #hedgeDelay(group: GroupState, stream: boolean): number | undefined {
    // A hedge goes to another deployment of the same group: with only one there is nothing to race.
    if (!group.config.hedge.enabled || group.deployments.length < 2) return undefined;
    const p95 = (stream ? group.ttft : group.unary).quantile(0.95);
    return p95 === undefined ? undefined : Math.max(group.config.hedge.min_delay_ms, p95);
  }

  readonly dispatch: Dispatch = (ctx) => this.#serve(ctx);

  async *#serve(ctx: RequestContext): AsyncGenerator<EventBatch> {
    const chain = this.chain(ctx.route!.name);
    const primary = chain[0]!;
    const maxAttempts = primary.config.retry.max_attempts;
    const deadline = Deadline.after(requestDeadlineMs(ctx, primary.config.deadline_ms), this.#clock);
    primary.retryBudget.recordRequest();
    primary.hedgeBudget.recordRequest();
    const tried = new Set<string>();
    const out = new Continuity();
    let groupIndex = 0;
    let groupAttempts = 0;
    let lastErr: UpstreamError | undefined;
    let retriesHeld = 0;
    let lastGroup: GroupState | undefined;

    try {
      for (let n = 1; ; n++) {
        // Choose where this attempt goes: the current group while it has untried, available deployments
        // (keeping one attempt in reserve for a fallback group) and, for a retry, room in the retry
        // budget; else the next group, if the last failure is one that may fall back.
        let picked: Picked | undefined;
        while (groupIndex < chain.length) {
          const g = chain[groupIndex]!;
          const last = groupIndex === chain.length - 1;
          const reserve = last ? 0 : 1;
          // The retry budget guards a struggling group against multiplied load; moving on to a fallback
          // group adds nothing to that group's load, so only same-group retries are charged.
          const budgetOk = n === 1 || g !== lastGroup || primary.retryBudget.tryAcquire();
          if (budgetOk && n > 1 && g === lastGroup) retriesHeld += 1;
          if (budgetOk && groupAttempts < Math.max(1, maxAttempts - reserve))
            picked = this.#pick(g, tried, last);
          if (picked) break;
          if (budgetOk && n > 1 && g === lastGroup) {
            primary.retryBudget.release();
            retriesHeld -= 1;
          }
          if (lastErr && !g.config.fallback_on.includes(lastErr.kind)) break;
          groupIndex += 1;
          groupAttempts = 0;
        }
        if (!picked)
          throw lastErr ? exhausted(lastErr, this.outlier, chain) : noHealthyUpstream(this.outlier, chain);
        const dep = picked.dep;
        if (n > 1) {
          if (n > maxAttempts) {
            if (picked.probe) this.outlier.releaseProbe(dep.id);
            throw exhausted(lastErr!, this.outlier, chain);
          }
          ctx.failovers += 1;
          const wait = Math.min(
            fullJitter(
              n - 1,
              { baseMs: primary.config.retry.backoff_base_ms, capMs: primary.config.retry.backoff_cap_ms },
              this.#rng,
            ),
            Math.max(0, deadline.remaining() - 1),
          );
          if (wait > 0) await sleep(wait, undefined, { signal: ctx.signal });
        }
        if (deadline.expired()) {
          if (picked.probe) this.outlier.releaseProbe(dep.id);
          throw new HoldfastError('upstream_timeout', {
            message: 'The request deadline passed before an answer arrived.',
          });
        }
        tried.add(dep.id);
        groupAttempts += 1;
        lastGroup = dep.group;
        const continuing = out.emitted;
        const req: ChatRequest = continuing ? continuationRequest(ctx.request!, out.text) : ctx.request!;
        out.beginAttempt(continuing);
        try {
          const hedgeDelay = !continuing && n === 1 ? this.#hedgeDelay(primary, req.stream) : undefined;
          const { winner, first } = await this.#begin(picked, req, ctx, deadline, hedgeDelay, tried);
          // Streamed here rather than in a nested generator, a batch at a time: every event crossing one
          // fewer async layer is measurable on long streams.
          let batch = first;
          try {
            while (!batch.done) {
              const events = out.acceptAll(batch.value);
              if (events.length > 0) yield events;
              batch = await winner.next();
            }
            winner.succeed();
          } finally {
            // The consumer stopped early (caller gone): end the attempt without blaming the deployment.
            winner.abandon();
          }
          return;
        } catch (err) {
          out.failAttempt();
          if (!(err instanceof UpstreamError)) throw err;
          lastErr = err;
          const g = chain[groupIndex]!;
          if (!err.retryable) {
            // Not worth repeating here, but a fallback group may be allowed to take it (e.g. a longer context).
            if (!g.config.fallback_on.includes(err.kind) || groupIndex >= chain.length - 1) throw err;
            groupIndex += 1;
            groupAttempts = 0;
          }
          if (out.emitted && (g.config.mid_stream === 'fail' || out.completedTool)) throw err;
        }
      }
    } finally {
      for (let i = 0; i < retriesHeld; i++) primary.retryBudget.release();
    }
  }

  /**
   * Starts one attempt, or two when a hedge fires, and resolves with the one that produced its first
   * event first (the other is cancelled).
   */
  async #begin(
    picked: Picked,
    req: ChatRequest,
    ctx: RequestContext,
    deadline: Deadline,
    hedgeDelay: number | undefined,
    tried: Set<string>,
  ): Promise<{ winner: Started; first: IteratorResult<EventBatch> }> {
    const dep = picked.dep;
    const a = this.#start(picked, req, ctx, deadline);
    let winner = a;
    let first: IteratorResult<EventBatch>;
    if (hedgeDelay === undefined) {
      first = await a.next();
    } else {
      const HEDGE = Symbol('hedge');
      let timer: NodeJS.Timeout | undefined;
      const fire = new Promise<typeof HEDGE>((resolve) => {
        timer = setTimeout(() => resolve(HEDGE), hedgeDelay);
      });
      const aFirst = a.next();
      aFirst.catch(() => {});
      const r = await Promise.race([aFirst, fire]).finally(() => clearTimeout(timer));
      const other = r === HEDGE ? this.#hedgeTarget(dep, tried) : undefined;
      if (r !== HEDGE) {
        first = r;
      } else if (!other) {
        first = await aFirst;
      } else {
        tried.add(other.dep.id);
        ctx.hedged = true;
        ctx.failovers += 1;
        const b = this.#start(other, req, ctx, deadline);
        const bFirst = b.next();
        bFirst.catch(() => {});
        const tagged = (p: Promise<IteratorResult<EventBatch>>, s: Started) =>
          p.then(
            (value) => ({ s, value }),
            (error: unknown) => ({ s, error }),
          );
        const pending = new Map([
          [a, tagged(aFirst, a)],
          [b, tagged(bFirst, b)],
        ]);
        let settled: { s: Started; value?: IteratorResult<EventBatch>; error?: unknown } | undefined;
        while (pending.size > 0) {
          settled = await Promise.race(pending.values());
          pending.delete(settled.s);
          if (!('error' in settled) || settled.error === undefined) break;
          if (pending.size > 0) settled.s.fail(settled.error);
        }
        winner = settled!.s;
        const loser = winner === a ? b : a;
        if ('error' in settled! && settled!.error !== undefined) throw winner.fail(settled!.error);
        // The loser never started answering: slower than the group's p95 and beaten, it counts as a failure
        // for outlier detection (that is how a black-holed deployment gets ejected quickly).
        loser.cancel(loser === a);
        first = settled!.value!;
      }
    }
    return { winner, first };
  }

  #hedgeTarget(primary: DeploymentState, tried: ReadonlySet<string>): Picked | undefined {
    if (!primary.group.hedgeBudget.tryAcquire()) return undefined;
    // A hedge only goes to a healthy deployment: never into panic routing.
    return this.#pick(primary.group, new Set([...tried, primary.id]), false);
  }

  #start(picked: Picked, req: ChatRequest, ctx: RequestContext, deadline: Deadline): Started {
    const d = picked.dep;
    return new Started(
      this,
      picked,
      req,
      ctx,
      this.#firstByteMs(d, deadline, req.stream),
      d.runtime.config.timeouts.idle_ms,
      deadline,
    );
  }

  /** @internal bookkeeping shared with Started. */
  record(dep: DeploymentState, ok: boolean, err?: UpstreamError, probe = false): void {
    dep.throttle.record(!(err && THROTTLE_KINDS.has(err.kind)));
    if (ok) {
      this.outlier.recordSuccess(dep.id);
      dep.lastOkAt = this.#clock.now();
    } else if (err?.deploymentFault) {
      // "Too busy" (429/529) is not "sick": ejecting a deployment for being at capacity removes capacity
      // exactly when it is short. The retry-after block, the client throttle and admission's limit cut
      // handle busy; ejection is for errors, timeouts and broken connections.
      if (!THROTTLE_KINDS.has(err.kind)) this.outlier.recordFailure(dep.id);
      dep.lastFailAt = this.#clock.now();
    }
    // A deployment that fails fast would otherwise look like the fastest one to the balancer: charge a
    // failure as a slow answer, which peak-EWMA takes at once and forgets as it decays.
    if (!ok && (err === undefined || err.deploymentFault))
      dep.ttftEwma.observe(Math.max(FAILURE_PENALTY_MS, dep.ttftEwma.value() * 5));
    if (err?.retryAfterMs !== undefined)
      this.outlier.blockUntil(dep.id, this.#clock.now() + err.retryAfterMs);
    if (!ok && err === undefined) this.outlier.recordFailure(dep.id);
    if (probe) this.outlier.releaseProbe(dep.id);
  }

  /** @internal */
  observeTtft(dep: DeploymentState, ms: number, stream: boolean): void {
    const [own, group] = stream ? [dep.ttft, dep.group.ttft] : [dep.unary, dep.group.unary];
    own.observe(ms);
    group.observe(ms);
    dep.ttftEwma.observe(ms);
  }

  get clock(): Clock {
    return this.#clock;
  }
}

/**
 * One running upstream attempt with its watchdog: a single timer that enforces the first-byte timeout,
 * then the idle gap between events, then the deadline, by aborting the attempt (a stall is a failure).
 */
class Started {
  readonly #engine: ResilienceEngine;
  readonly #dep: DeploymentState;
  readonly #probe: boolean;
  readonly #stream: boolean;
  readonly #ctx: RequestContext;
  readonly #ac = new AbortController();
  readonly #it: AsyncIterator<EventBatch>;
  readonly #t0: number;
  readonly #firstByteMs: number;
  readonly #idleMs: number;
  readonly #deadline: Deadline;
  #firstAt: number | undefined;
  /** First text or tool-call event: what a loaded upstream delays, while its headers still come at once. */
  #firstTokenAt: number | undefined;
  #lastAt: number;
  #timer: NodeJS.Timeout | undefined;
  #timedOut: UpstreamError | HoldfastError | undefined;
  #done = false;
  readonly #onCallerAbort = (): void => this.#ac.abort(this.#ctx.signal.reason);

  constructor(
    engine: ResilienceEngine,
    picked: Picked,
    req: ChatRequest,
    ctx: RequestContext,
    firstByteMs: number,
    idleMs: number,
    deadline: Deadline,
  ) {
    this.#engine = engine;
    const dep = picked.dep;
    this.#dep = dep;
    this.#probe = picked.probe;
    this.#stream = req.stream;
    this.#ctx = ctx;
    this.#firstByteMs = firstByteMs;
    this.#idleMs = idleMs;
    this.#deadline = deadline;
    this.#t0 = engine.clock.now();
    this.#lastAt = this.#t0;
    ctx.attempts += 1;
    ctx.deployment = dep.runtime;
    dep.outstanding += 1;
    if (ctx.signal.aborted) this.#ac.abort(ctx.signal.reason);
    else ctx.signal.addEventListener('abort', this.#onCallerAbort, { once: true });
    this.#arm(firstByteMs);
    this.#it = batchesOf(
      dep.runtime.adapter.call(req, { signal: this.#ac.signal, requestId: ctx.requestId }),
    );
  }

  #arm(ms: number): void {
    // Whole milliseconds: Node keeps a timer list per distinct duration, and computed fractional ones
    // would each make a new list. Rounded up, so the check never runs before it is due.
    this.#timer = setTimeout(() => this.#check(), Math.max(1, Math.ceil(ms)));
    this.#timer.unref();
  }

  #check(): void {
    if (this.#done) return;
    const now = this.#engine.clock.now();
    const first = this.#firstAt === undefined;
    const limit = first ? this.#t0 + this.#firstByteMs : this.#lastAt + this.#idleMs;
    const due = Math.min(limit, now + this.#deadline.remaining());
    if (now < due - 1) {
      this.#arm(due - now);
      return;
    }
    // The request's deadline ran out first (often a caller's short x-holdfast-deadline-ms): the deployment
    // did not get its usual time, so this is no failure of its own and must not count toward ejecting it.
    this.#timedOut =
      this.#deadline.at <= limit
        ? new HoldfastError('upstream_timeout', {
            message: 'The request deadline passed before an answer arrived.',
          })
        : new UpstreamError({
            kind: 'timeout',
            message: first
              ? `no first byte from ${this.#dep.id} within ${Math.round(this.#firstByteMs)} ms`
              : `stream from ${this.#dep.id} stalled for ${this.#idleMs} ms`,
            midStream: !first,
          });
    this.#ac.abort(this.#timedOut);
  }

  async next(): Promise<IteratorResult<EventBatch>> {
    try {
      const r = await this.#it.next();
      const now = this.#engine.clock.now();
      if (this.#firstAt === undefined && !r.done) {
        this.#firstAt = now;
        this.#engine.observeTtft(this.#dep, now - this.#t0, this.#stream);
      }
      if (this.#firstTokenAt === undefined && !r.done && r.value.some(isContent)) this.#firstTokenAt = now;
      this.#lastAt = now;
      if (this.#timedOut) throw this.#timedOut;
      return r;
    } catch (err) {
      throw this.fail(err);
    }
  }

  /** Ends the attempt as failed; returns the error to throw (caller aborts pass through unchanged). */
  fail(err: unknown): unknown {
    if (this.#done) return this.#timedOut ?? err;
    const e = this.#timedOut ?? err;
    this.#finish();
    if (e instanceof UpstreamError) {
      if (this.#firstAt !== undefined) e.midStream = true;
      this.#engine.record(this.#dep, false, e, this.#probe);
      this.#publish(false, e);
    } else {
      if (this.#probe) this.#engine.outlier.releaseProbe(this.#dep.id);
      if (!this.#ctx.signal.aborted) this.#publish(false);
    }
    return e;
  }

  succeed(): void {
    if (this.#done) return;
    this.#finish();
    this.#engine.record(this.#dep, true, undefined, this.#probe);
    this.#publish(true);
  }

  /** Lost a hedge race. `countAsFailure`: it had produced nothing by then. */
  cancel(countAsFailure: boolean): void {
    if (this.#done) return;
    this.#finish();
    this.#ac.abort(new Error('lost hedge race'));
    this.#it.return?.().catch(() => {});
    if (countAsFailure && this.#firstAt === undefined)
      this.#engine.record(this.#dep, false, undefined, this.#probe);
    else if (this.#probe) this.#engine.outlier.releaseProbe(this.#dep.id);
    this.#publish(false);
  }

  /** Stops the attempt if it is still running, without judging the deployment. */
  abandon(): void {
    if (this.#done) return;
    this.#finish();
    if (this.#probe) this.#engine.outlier.releaseProbe(this.#dep.id);
    this.#ac.abort(new Error('abandoned'));
    this.#it.return?.().catch(() => {});
  }

  #finish(): void {
    this.#done = true;
    clearTimeout(this.#timer);
    this.#ctx.signal.removeEventListener('abort', this.#onCallerAbort);
    this.#dep.outstanding -= 1;
  }

  #publish(ok: boolean, err?: UpstreamError): void {
    const cfg = this.#dep.runtime.config;
    const now = this.#engine.clock.now();
    publishAttempt({
      requestId: this.#ctx.requestId,
      deployment: cfg.id,
      provider: cfg.provider,
      region: cfg.region,
      ok,
      startedAt: this.#t0,
      latencyMs: now - this.#t0,
      ...(this.#firstAt !== undefined ? { ttftMs: this.#firstAt - this.#t0 } : {}),
      ...(this.#firstTokenAt !== undefined ? { firstTokenMs: this.#firstTokenAt - this.#t0 } : {}),
      ...(err
        ? { errorKind: err.kind, midStream: err.midStream, ...(err.status ? { status: err.status } : {}) }
        : {}),
    });
  }
}

function requestDeadlineMs(ctx: RequestContext, groupMs: number): number {
  const raw = ctx.headers[DEADLINE_HEADER];
  const asked = typeof raw === 'string' ? Number(raw) : Number.NaN;
  return Number.isFinite(asked) && asked > 0 ? Math.min(asked, groupMs) : groupMs;
}

/** Kinds that say "this deployment is down" (as opposed to "slow down" or "you asked wrong"). */
const DOWN_KINDS = new Set([
  'connection',
  'timeout',
  'server',
  'overloaded',
  'protocol',
  'not_found',
  'auth',
]);

/**
 * The error for a request that ran out of places to go. When every deployment it could use is down, the
 * caller hears exactly that (no_healthy_upstream); a rate limit or quota error keeps its own meaning and
 * retry-after.
 */
function exhausted(last: UpstreamError, outlier: GroupOutliers, chain: readonly GroupState[]): unknown {
  if (last.midStream || !DOWN_KINDS.has(last.kind)) return last;
  const err = noHealthyUpstream(outlier, chain);
  return new HoldfastError('no_healthy_upstream', {
    message: `${err.message} Last failure: ${last.message}`,
    retryAfterSec: 1,
    cause: last,
  });
}

function noHealthyUpstream(outlier: GroupOutliers, chain: readonly GroupState[]): HoldfastError {
  const ejected = chain.flatMap((g) => g.deployments).filter((d) => outlier.state(d.id) !== 'healthy').length;
  return new HoldfastError('no_healthy_upstream', {
    message: `No deployment can take this request right now (${ejected} of ${chain.reduce((n, g) => n + g.deployments.length, 0)} are ejected or blocked).`,
    retryAfterSec: 1,
  });
}

function isContent(e: StreamEvent): boolean {
  return e.type === 'text' || e.type === 'tool_call_start' || e.type === 'tool_call_delta';
}

function sameOutlier(a: ResilienceConfig['outlier'], b: ResilienceConfig['outlier']): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
