import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { ModelConfig } from '../config/schema.ts';
import { HoldfastError } from '../core/errors.ts';
import { AdaptiveLimit, type AdaptiveLimitStats } from '../overload/adaptive-limit.ts';
import { AdmissionQueue, type Priority, type Ticket } from '../overload/queue.ts';
import type { Clock } from '../resilience/types.ts';
import { type AdmissionDropReason, admissionChannel, publishAdmission } from '../telemetry/admission.ts';
import { ATTEMPT_CHANNEL, type AttemptRecord } from '../telemetry/outcome.ts';
import type { RequestContext, Stage } from './context.ts';
import { tokenEstimate } from './estimate.ts';
import type { ResilienceEngine } from './resilient.ts';

export const PRIORITY_HEADER = 'x-holdfast-priority';
const PRIORITIES: readonly Priority[] = ['critical', 'interactive', 'batch'];

/** Kinds that mean "you are sending me too much": the adaptive limit backs off on them. */
const OVERLOAD_KINDS = new Set(['rate_limited', 'overloaded', 'timeout']);

/** Event-loop utilization above which observed latency counts as our own (see #selfBusy). */
const SELF_BUSY_UTILIZATION = 0.75;

interface Waiter {
  ctx: RequestContext;
  resolve(): void;
  reject(err: HoldfastError): void;
}

/** Per model group: how much it may have in flight (the sum of its deployments' adaptive limits). */
interface GroupGate {
  name: string;
  inflight: number;
  queue: AdmissionQueue<Waiter>;
  /** Queued tickets by id (the queue reports positions by id). */
  waiting: Map<number, Ticket<Waiter>>;
  /** When the waiting room was last told its positions. */
  toldAt: number;
}

/**
 * How often, at most, a model's whole waiting room is told its positions. Each caller hears at most once
 * a second anyway; recomputing every position on every dispatch (a sort of the queue) made a long queue's
 * refusals cost more CPU than the requests it served.
 */
const POSITIONS_EVERY_MS = 250;

export interface QueueReport {
  model: string;
  inflight: number;
  capacity: number;
  queued: number;
  byClass: Record<Priority, number>;
  oldestWaitMs: number;
  estimatedWaitMs: number;
}

/**
 * Admission control: a request enters when its model group has room under the adaptive concurrency
 * limits of its deployments (Gradient2 on observed TTFT, cut on 429/529/timeouts), otherwise it waits in
 * a priority queue that is fair across tenants (virtual token counters) and sheds by CoDel, maximum wait
 * and unmeetable deadlines. A waiting streaming caller hears its position (the waiting room).
 */
export class Admission {
  readonly #gates = new Map<string, GroupGate>();
  readonly #limits = new Map<string, AdaptiveLimit>();
  readonly #engine: ResilienceEngine;
  readonly #clock: Clock;
  readonly #defaultOutput: number;
  #sweeper: NodeJS.Timeout | undefined;
  #elu = performance.eventLoopUtilization();
  #eluAt = 0;
  #busy = false;
  readonly #onAttempt = (m: unknown): void => this.#observe(m as AttemptRecord);

  constructor(opts: {
    models: readonly ModelConfig[];
    engine: ResilienceEngine;
    clock: Clock;
    defaultOutputTokens: number;
    limits?: { initial: number; min: number; max: number };
    classes?: Record<Priority, { targetWaitMs: number; maxWaitMs: number }>;
    /**
     * The admission a config reload replaces: the adaptive limits of deployments whose config did not
     * change (`carry`) are taken over, so a reload does not send a burst at a provider whose real
     * capacity was already found.
     */
    previous?: { admission: Admission; carry: ReadonlySet<string> };
  }) {
    this.#engine = opts.engine;
    this.#clock = opts.clock;
    this.#defaultOutput = opts.defaultOutputTokens;
    for (const m of opts.models) {
      this.#gates.set(m.name, {
        name: m.name,
        inflight: 0,
        // A full queue makes room for higher classes and for tenants with shorter backlogs.
        queue: new AdmissionQueue<Waiter>(
          { displace: true, ...(opts.classes ? { classes: opts.classes } : {}) },
          opts.clock,
        ),
        waiting: new Map(),
        toldAt: Number.NEGATIVE_INFINITY,
      });
      for (const d of m.deployments) {
        const kept = opts.previous?.carry.has(d.id) ? opts.previous.admission.#limits.get(d.id) : undefined;
        this.#limits.set(d.id, kept ?? new AdaptiveLimit({ ...opts.limits }, opts.clock));
      }
    }
    subscribe(ATTEMPT_CHANNEL, this.#onAttempt);
    this.#engine.setRoom((id, outstanding) => {
      const limit = this.#limits.get(id);
      return limit === undefined || outstanding < limit.limit();
    });
  }

  /**
   * Whether this process's own event loop was nearly saturated recently. Then the latency admission sees
   * is largely our own queueing (CPU), not the upstream's, and cutting the upstream's limit for it would
   * only shed work the upstream could do. Queueing delay grows as u / (1 - u) of the loop's work per
   * event, so already at three quarters busy every attempt waits about three event-handling times on each
   * pass through the loop: enough to double or triple a fast upstream's latency (measured at 16 callers
   * against a sub-millisecond upstream: 0.4 ms → 3.5 ms at 0.8 busy, and the limit was cut to 12 and
   * then queued most requests once 64 callers came).
   */
  #selfBusy(): boolean {
    const now = performance.now();
    if (now - this.#eluAt >= 100) {
      const cur = performance.eventLoopUtilization();
      this.#busy = performance.eventLoopUtilization(cur, this.#elu).utilization > SELF_BUSY_UTILIZATION;
      this.#elu = cur;
      this.#eluAt = now;
    }
    return this.#busy;
  }

  #observe(a: AttemptRecord): void {
    const limit = this.#limits.get(a.deployment);
    if (!limit) return;
    const overloaded = !a.ok && a.errorKind !== undefined && OVERLOAD_KINDS.has(a.errorKind);
    const dep = this.#engine.deployments.get(a.deployment);
    const previous = limit.limit();
    limit.onSample({
      rttMs: a.firstTokenMs ?? a.ttftMs ?? a.latencyMs,
      inflight: (dep?.outstanding ?? 0) + 1,
      overloaded,
      selfBusy: this.#selfBusy(),
    });
    const now = limit.limit();
    if (now !== previous) publishAdmission({ type: 'limit', deployment: a.deployment, limit: now, previous });
  }

  /**
   * What the group may have in flight: the adaptive limits of every available deployment it can reach,
   * its fallback groups' included (a group whose own deployments are all down still serves through them).
   * With none available, ejected deployments count (the engine routes to them in panic) but blocked ones
   * never do: when every deployment asked for a pause (429/529 retry-after), capacity is 0 and requests
   * wait in the queue for the earliest one to reopen instead of failing at once.
   */
  capacity(group: string): number {
    let available = 0;
    let panic = 0;
    for (const g of this.#engine.chain(group)) {
      for (const d of g.deployments) {
        const limit = this.#limits.get(d.id)!.limit();
        // Another replica's ejection takes a deployment's room away here too, as it takes its traffic.
        if (this.#engine.available(d.id)) available += limit;
        else if (this.#engine.outlier.state(d.id) !== 'blocked') panic += limit;
      }
    }
    return available > 0 ? available : panic;
  }

  /** A deployment's adaptive limit and the latencies steering it (read-only, for the admin console). */
  limitStats(deploymentId: string): AdaptiveLimitStats | undefined {
    return this.#limits.get(deploymentId)?.stats();
  }

  /** The wait a request arriving now in each class should expect (read-only, for the admin console). */
  waitByClass(model: string): Record<Priority, number> | undefined {
    const q = this.#gates.get(model)?.queue;
    if (!q) return undefined;
    const wait = (p: Priority): number => Math.round(q.estimatedWaitMsFor(p));
    return { critical: wait('critical'), interactive: wait('interactive'), batch: wait('batch') };
  }

  #priorityOf(ctx: RequestContext): Priority {
    // A key has a highest class (its default); a header may ask for that class or a lower one. Without a
    // key's say-so only the operator (admin key, open mode on a laptop) may ask for critical.
    const ceiling: Priority =
      ctx.caller?.kind === 'key'
        ? (ctx.caller.priority ?? 'interactive')
        : ctx.caller?.kind === 'admin' || ctx.caller?.kind === 'open'
          ? 'critical'
          : 'interactive';
    const raw = ctx.headers[PRIORITY_HEADER];
    const asked =
      typeof raw === 'string' && (PRIORITIES as readonly string[]).includes(raw)
        ? (raw as Priority)
        : undefined;
    const fallback: Priority = ctx.caller?.kind === 'key' ? ceiling : 'interactive';
    const wanted = asked ?? fallback;
    return PRIORITIES.indexOf(wanted) < PRIORITIES.indexOf(ceiling) ? ceiling : wanted;
  }

  #tenantOf(ctx: RequestContext): string {
    if (ctx.caller?.kind === 'key') return `key:${ctx.caller.keyId}`;
    return ctx.request?.user ? `user:${ctx.request.user}` : `ip:${ctx.ip}`;
  }

  readonly stage: Stage = {
    name: 'admission',
    run: (ctx) => this.#admit(ctx),
  };

  /** Synchronous when the group has room (no promise per request); a promise only for a wait in line. */
  #admit(ctx: RequestContext): Promise<void> | undefined {
    const gate = this.#gates.get(ctx.route!.name);
    if (!gate) return;
    const tenant = this.#tenantOf(ctx);
    const priority = this.#priorityOf(ctx);
    const started = this.#clock.now();
    if (gate.queue.size() === 0 && gate.inflight < this.capacity(gate.name)) {
      gate.inflight += 1;
      this.#track(gate, ctx, tenant, priority, started);
      return;
    }
    return this.#wait(gate, ctx, tenant, priority, started);
  }

  async #wait(
    gate: GroupGate,
    ctx: RequestContext,
    tenant: string,
    priority: Priority,
    started: number,
  ): Promise<void> {
    const waiter = { tenant, priority, started };
    const waited = new Promise<void>((resolve, reject) => {
      const t = gate.queue.enqueue({
        value: { ctx, resolve, reject },
        tenant,
        priority,
        estimatedTokens: tokenEstimate(ctx, this.#defaultOutput),
      });
      if ('rejected' in t) {
        this.#dropped(gate, waiter, 'queue_full');
        reject(
          new HoldfastError('load_shed', { message: 'The queue for this model is full.', retryAfterSec: 1 }),
        );
        return;
      }
      const ticket: Ticket<Waiter> = t;
      gate.waiting.set(ticket.id, ticket);
      if (admissionChannel.hasSubscribers)
        publishAdmission({
          type: 'queued',
          model: gate.name,
          priority,
          tenant,
          queued: gate.queue.size(),
          position: gate.queue.position(ticket),
        });
      const onAbort = (): void => {
        gate.queue.cancel(ticket);
        gate.waiting.delete(ticket.id);
      };
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      this.#tellPosition(gate, ticket);
      this.#ensureSweeper();
    });
    // #drain counted this request in flight when it let it through.
    await waited;
    this.#track(gate, ctx, tenant, priority, started);
  }

  #track(gate: GroupGate, ctx: RequestContext, tenant: string, priority: Priority, started: number): void {
    const waitedMs = this.#clock.now() - started;
    if (waitedMs > 0) ctx.responseHeaders['x-holdfast-queue-ms'] = String(Math.round(waitedMs));
    if (admissionChannel.hasSubscribers)
      publishAdmission({
        type: 'admitted',
        model: gate.name,
        priority,
        tenant,
        queued: gate.queue.size(),
        waitedMs,
        inflight: gate.inflight,
        capacity: this.capacity(gate.name),
      });
    const entered = this.#clock.now();
    ctx.onEnd.push((usage) => {
      gate.inflight -= 1;
      gate.queue.charge(tenant, usage.inputTokens, usage.outputTokens);
      gate.queue.recordService(priority, this.#clock.now() - entered);
      this.#drain(gate);
    });
  }

  #drain(gate: GroupGate): void {
    // Nothing waiting (the common case): nothing to let in and nobody to tell.
    if (gate.queue.size() === 0 && gate.waiting.size === 0) return;
    while (gate.inflight < this.capacity(gate.name)) {
      const next = gate.queue.next();
      if (!next) break;
      gate.waiting.delete(next.id);
      if (next.value.ctx.signal.aborted) {
        // next() charged its estimate to the tenant; a request that never ran used nothing.
        gate.queue.charge(next.tenant, 0, 0);
        continue;
      }
      // Counted now, not in the waiter's continuation, so this loop cannot over-admit.
      gate.inflight += 1;
      next.value.resolve();
    }
    if (gate.waiting.size === 0) return;
    const now = this.#clock.now();
    if (now - gate.toldAt < POSITIONS_EVERY_MS) return;
    gate.toldAt = now;
    const interval = gate.queue.dispatchIntervalMs() ?? 0;
    for (const [id, position] of gate.queue.positions()) {
      gate.waiting.get(id)?.value.ctx.onQueued?.(position, Math.round(position * interval));
    }
  }

  #dropped(
    gate: GroupGate,
    w: { tenant: string; priority: Priority; started: number },
    reason: AdmissionDropReason,
  ): void {
    if (!admissionChannel.hasSubscribers) return;
    publishAdmission({
      type: 'dropped',
      model: gate.name,
      priority: w.priority,
      tenant: w.tenant,
      queued: gate.queue.size(),
      reason,
      waitedMs: this.#clock.now() - w.started,
    });
  }

  #tellPosition(gate: GroupGate, t: Ticket<Waiter>): void {
    // Only a streaming caller can be told anything while it waits; working out a place in line costs a
    // walk of the queue, so nobody else pays for it.
    const ctx = t.value.ctx;
    if (!ctx.onQueued || ctx.request?.stream !== true) return;
    ctx.onQueued(gate.queue.position(t), Math.round(gate.queue.estimatedWaitMs(t)));
  }

  #ensureSweeper(): void {
    if (this.#sweeper) return;
    this.#sweeper = setInterval(() => {
      let any = false;
      for (const gate of this.#gates.values()) {
        for (const { ticket, reason } of gate.queue.expire()) {
          gate.waiting.delete(ticket.id);
          this.#dropped(
            gate,
            { tenant: ticket.tenant, priority: ticket.priority, started: ticket.enqueuedAt },
            reason,
          );
          ticket.value.reject(
            reason === 'deadline'
              ? new HoldfastError('load_shed', {
                  message: 'The request could not be served before its deadline.',
                  retryAfterSec: 1,
                })
              : reason === 'displaced'
                ? new HoldfastError('load_shed', {
                    message: 'A higher-priority request took this place in the queue.',
                    retryAfterSec: 1,
                  })
                : new HoldfastError('queue_timeout', {
                    message: 'The request waited too long for capacity.',
                    retryAfterSec: 2,
                  }),
          );
        }
        this.#drain(gate);
        if (gate.queue.size() > 0) any = true;
      }
      if (!any) {
        clearInterval(this.#sweeper);
        this.#sweeper = undefined;
      }
    }, 50);
    this.#sweeper.unref();
  }

  /**
   * Another replica was refused by this deployment for overload (429/529; shared state,
   * src/stores/redis/overload.ts): cut here too, as if this replica had been refused. `rttMs` is that
   * attempt's duration, so a burst of such news makes one cut per round trip, as local refusals do.
   */
  remoteOverload(id: string, rttMs: number): void {
    const limit = this.#limits.get(id);
    if (!limit) return;
    const previous = limit.limit();
    limit.onSample({ rttMs, inflight: 0, overloaded: true });
    const now = limit.limit();
    if (now !== previous) publishAdmission({ type: 'limit', deployment: id, limit: now, previous });
  }

  report(): QueueReport[] {
    return [...this.#gates.values()].map((g) => {
      const st = g.queue.stats();
      return {
        model: g.name,
        inflight: g.inflight,
        capacity: this.capacity(g.name),
        queued: st.length,
        byClass: st.byClass,
        oldestWaitMs: Math.round(st.oldestWaitMs),
        estimatedWaitMs: Math.round(g.queue.estimatedWaitMsFor('interactive')),
      };
    });
  }

  /**
   * Stops learning from attempts. A reloaded config's new admission takes over the shared limits and
   * learns from every attempt (the channel is process-wide); this one only lets its queue finish.
   */
  retire(): void {
    unsubscribe(ATTEMPT_CHANNEL, this.#onAttempt);
  }

  close(): void {
    this.retire();
    clearInterval(this.#sweeper);
  }
}
