import type { Clock } from '../resilience/types.ts';

export type Priority = 'critical' | 'interactive' | 'batch';

/** Highest first: the order in which classes are served. */
export const PRIORITIES: readonly Priority[] = ['critical', 'interactive', 'batch'];

export interface ClassSettings {
  /** CoDel target: the longest a request of this class should routinely wait. */
  targetWaitMs: number;
  /** Hard cap on waiting, whatever the queue's state. */
  maxWaitMs: number;
}

export const DEFAULT_CLASSES: Readonly<Record<Priority, ClassSettings>> = {
  critical: { targetWaitMs: 1_000, maxWaitMs: 30_000 },
  interactive: { targetWaitMs: 500, maxWaitMs: 10_000 },
  batch: { targetWaitMs: 5_000, maxWaitMs: 120_000 },
};

export interface AdmissionQueueOptions {
  maxLength?: number;
  /** Per class; missing classes or fields keep the defaults. */
  classes?: Partial<Record<Priority, Partial<ClassSettings>>>;
  /** How long a class's wait must stay above its target before CoDel drops [CoDel: 100 ms]. */
  codelIntervalMs?: number;
  /**
   * When the queue is full, make room instead of refusing the arrival: displace the newest request of the
   * lowest class below the arrival's, or failing that, the newest request of the tenant with the longest
   * backlog in the arrival's class, if it holds at least two more than the arriving tenant (longest-queue
   * drop, as fair queueing does, so one flooding tenant cannot fill the queue and lock the others out).
   * `expire()` reports displaced requests as 'displaced'. Off by default: a full queue refuses the arrival.
   */
  displace?: boolean;
  /** Weight of each new sample in the service-time and dispatch-interval averages. */
  ewmaWeight?: number;
}

export interface QueueItem<T> {
  value: T;
  /** Fairness is across tenants: a virtual key, a user, whatever the caller chooses. */
  tenant: string;
  priority: Priority;
  /** Expected input + output tokens; charged to the tenant when the request is dispatched. */
  estimatedTokens: number;
  /** Clock ms by which the answer must be complete. */
  deadline?: number;
}

export interface Ticket<T> {
  id: number;
  value: T;
  tenant: string;
  priority: Priority;
  estimatedTokens: number;
  enqueuedAt: number;
  deadline?: number;
}

export type DropReason = 'queue_timeout' | 'deadline' | 'displaced';

export interface Dropped<T> {
  ticket: Ticket<T>;
  reason: DropReason;
}

export interface QueueStats {
  length: number;
  byClass: Record<Priority, number>;
  /** Wait of the oldest queued request, any class; 0 when empty. */
  oldestWaitMs: number;
  /** Tenants whose service counter is remembered (bounded by pruning in `expire()`). */
  tenants: number;
}

interface Entry<T> {
  ticket: Ticket<T>;
  removed: boolean;
  cls: ClassQueue<T>;
  lane: Fifo<Entry<T>>;
}

interface ClassQueue<T> {
  priority: Priority;
  settings: ClassSettings;
  /** Every queued entry of the class in arrival order: CoDel and time-outs look at its head. */
  order: Fifo<Entry<T>>;
  /** One FIFO lane per backlogged tenant; a tenant is backlogged in the class exactly while it has a lane. */
  lanes: Map<string, Fifo<Entry<T>>>;
  /** When the head's wait last rose above target and has stayed there since; undefined while below. */
  aboveSince: number | undefined;
  serviceMs: number | undefined;
  withDeadline: number;
}

interface TenantState {
  /** VTC virtual counter: weighted tokens of service received (input ×1, output ×2). */
  counter: number;
  /** Estimates charged at dispatch and not yet replaced by a `charge` with the real usage. */
  pendingTokens: number;
  pendingCount: number;
  queued: number;
}

/**
 * A FIFO with O(1) removal anywhere: removed entries are flagged and skipped lazily, and the array is
 * compacted once the skipped prefix dominates, so cancellations and drops never shift the whole queue.
 */
class Fifo<E extends { removed: boolean }> {
  #items: E[] = [];
  #head = 0;
  /** Entries not yet removed; the owner decrements it when it flags one. */
  live = 0;

  push(e: E): void {
    this.#items.push(e);
    this.live++;
  }

  peek(): E | undefined {
    while (this.#head < this.#items.length && this.#items[this.#head]!.removed) this.#head++;
    if (this.#head > 64 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return this.#items[this.#head];
  }

  peekLast(): E | undefined {
    while (this.#items.length > this.#head && this.#items.at(-1)!.removed) this.#items.pop();
    return this.#items.length > this.#head ? this.#items.at(-1) : undefined;
  }

  *[Symbol.iterator](): Generator<E> {
    for (let i = this.#head; i < this.#items.length; i++) {
      const e = this.#items[i]!;
      if (!e.removed) yield e;
    }
  }
}

/**
 * The admission queue in front of the deployments: strict priority across classes, VTC fairness across
 * tenants within a class, CoDel-style queue time-outs, and deadline-aware drops. Pure policy: it holds
 * tickets and decides, the mechanism dispatches, answers and times. Nothing here runs on a timer; call
 * `expire()` periodically and report what it returns.
 *
 * Fairness is the Virtual Token Counter of Sheng et al., "Fairness in Serving Large Language Models" (OSDI
 * 2024): each tenant has a counter of weighted tokens served; within a class the backlogged tenant with the
 * lowest counter is served next (its oldest request), and a tenant that becomes backlogged is lifted to the
 * lowest counter among those already waiting, so idleness earns no credit to burst with later. A tenant
 * offering ten times its share therefore gets the same token service as the others while all are
 * backlogged, and only the spare capacity beyond that.
 */
export class AdmissionQueue<T> {
  readonly #clock: Clock;
  readonly #maxLength: number;
  readonly #interval: number;
  readonly #displace: boolean;
  readonly #alpha: number;
  readonly #classes: ClassQueue<T>[];
  readonly #byPriority: Record<Priority, ClassQueue<T>>;
  readonly #entries = new Map<number, Entry<T>>();
  readonly #tenants = new Map<string, TenantState>();
  #dropped: Dropped<T>[] = [];
  #size = 0;
  #seq = 0;
  #lastLeft: string | undefined;
  #lastDispatchAt: number | undefined;
  /** The queue has stayed non-empty since the last dispatch, so the next gap measures service, not idleness. */
  #busySinceDispatch = false;
  #intervalMs: number | undefined;
  #pruneAt = 1_024;
  /** Recent weighted cost of a finished request (input + 2 × output), what dispatch charges up front. */
  #typicalCost: number | undefined;

  constructor(opts: AdmissionQueueOptions, clock: Clock) {
    this.#clock = clock;
    this.#maxLength = Math.max(1, Math.floor(opts.maxLength ?? 1_000));
    this.#interval = Math.max(0, opts.codelIntervalMs ?? 100);
    this.#displace = opts.displace ?? false;
    this.#alpha = Math.min(1, Math.max(0.001, opts.ewmaWeight ?? 0.1));
    this.#classes = PRIORITIES.map((priority) => ({
      priority,
      settings: { ...DEFAULT_CLASSES[priority], ...opts.classes?.[priority] },
      order: new Fifo<Entry<T>>(),
      lanes: new Map<string, Fifo<Entry<T>>>(),
      aboveSince: undefined,
      serviceMs: undefined,
      withDeadline: 0,
    }));
    this.#byPriority = {
      critical: this.#classes[0]!,
      interactive: this.#classes[1]!,
      batch: this.#classes[2]!,
    };
  }

  enqueue(item: QueueItem<T>): Ticket<T> | { rejected: 'queue_full' } {
    const now = this.#clock.now();
    const cls = this.#byPriority[item.priority];
    if (this.#size >= this.#maxLength) {
      const victim = this.#displace ? this.#displaceable(cls, item.tenant) : undefined;
      if (!victim) return { rejected: 'queue_full' };
      this.#remove(victim, now);
      this.#dropped.push({ ticket: victim.ticket, reason: 'displaced' });
    }
    const tenant = this.#tenant(item.tenant);
    let lane = cls.lanes.get(item.tenant);
    if (!lane) {
      const base = this.#liftBase(cls);
      if (base !== undefined) tenant.counter = Math.max(tenant.counter, base);
      lane = new Fifo<Entry<T>>();
      cls.lanes.set(item.tenant, lane);
    }
    const tokens = Number.isFinite(item.estimatedTokens) ? Math.max(0, item.estimatedTokens) : 0;
    const ticket: Ticket<T> = {
      id: ++this.#seq,
      value: item.value,
      tenant: item.tenant,
      priority: item.priority,
      estimatedTokens: tokens,
      enqueuedAt: now,
    };
    if (item.deadline !== undefined) {
      ticket.deadline = item.deadline;
      cls.withDeadline++;
    }
    const entry: Entry<T> = { ticket, removed: false, cls, lane };
    cls.order.push(entry);
    lane.push(entry);
    this.#entries.set(ticket.id, entry);
    tenant.queued++;
    this.#size++;
    return ticket;
  }

  /**
   * Removes and returns the request to dispatch now, or undefined when nothing is queued. Requests that
   * `expire()` would drop are dropped first (and reported by the next `expire()`), so a slot is never spent
   * on one that can no longer make its deadline.
   *
   * The ticket's estimated tokens are charged to its tenant at once, as VTC charges input at dispatch;
   * otherwise the same tenant would stay the least served and win every dispatch until its first answer
   * completed. The first `charge` for that tenant afterwards replaces this estimate with the real usage.
   */
  next(): Ticket<T> | undefined {
    const now = this.#clock.now();
    this.#drop(now);
    for (const cls of this.#classes) {
      if (cls.order.live === 0) continue;
      const lane = this.#leastServed(cls);
      // Adaptive LIFO [Facebook, "Fail at Scale"]: while the class has a standing queue its oldest requests
      // are the ones CoDel is about to drop, so serving them first only makes every answer late. Serving
      // the newest keeps admitted requests fast; the old ones time out, as they would have anyway.
      const entry = cls.aboveSince === undefined ? lane?.peek() : lane?.peekLast();
      if (!entry) continue;
      const busy = this.#busySinceDispatch;
      this.#remove(entry, now);
      const tenant = this.#tenant(entry.ticket.tenant);
      // Charge what a request typically costs, not its worst case: max_tokens is usually far above what
      // is generated, and a tenant whose estimates are inflated by its in-flight requests would look
      // richer than it is until they finish, then poorer, and one lifted to such a counter would starve.
      const cost =
        this.#typicalCost === undefined
          ? entry.ticket.estimatedTokens
          : Math.min(entry.ticket.estimatedTokens, this.#typicalCost);
      tenant.counter += cost;
      tenant.pendingTokens += cost;
      tenant.pendingCount++;
      if (this.#lastDispatchAt !== undefined && busy) {
        const gap = now - this.#lastDispatchAt;
        this.#intervalMs =
          this.#intervalMs === undefined ? gap : this.#intervalMs + this.#alpha * (gap - this.#intervalMs);
      }
      this.#lastDispatchAt = now;
      this.#busySinceDispatch = this.#size > 0;
      return entry.ticket;
    }
    return undefined;
  }

  /**
   * Adds real usage to a tenant's service (input ×1, output ×2). If the tenant has dispatched requests whose
   * estimate has not been replaced yet, one such estimate is taken back first, so calling this once per
   * request with its actual usage (or once at dispatch and again for the output) counts each token once.
   * Call it for every dispatched request, with zeros for one that failed without usage, or its estimate
   * stays charged.
   */
  charge(tenant: string, inputTokens: number, outputTokens: number): void {
    const state = this.#tenant(tenant);
    const actual = finite(inputTokens) + 2 * finite(outputTokens);
    if (state.pendingCount > 0) {
      const estimate = state.pendingTokens / state.pendingCount;
      state.counter -= estimate;
      state.pendingTokens -= estimate;
      state.pendingCount--;
      // Requests that failed without usage (zeros) say nothing about what an answer costs.
      if (actual > 0)
        this.#typicalCost =
          this.#typicalCost === undefined
            ? actual
            : this.#typicalCost + this.#alpha * (actual - this.#typicalCost);
    }
    state.counter += actual;
  }

  /** Feeds the per-class service-time estimate that deadline drops compare against. */
  recordService(priority: Priority, ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    const cls = this.#byPriority[priority];
    cls.serviceMs = cls.serviceMs === undefined ? ms : cls.serviceMs + this.#alpha * (ms - cls.serviceMs);
  }

  /**
   * Drops what should no longer wait, per class: requests whose deadline leaves less than the class's
   * estimated service time ('deadline'); requests older than the class's maxWaitMs ('queue_timeout'); and,
   * CoDel-style, once the class's oldest request has been waiting longer than targetWaitMs for a whole
   * interval, every request older than the target from the head ('queue_timeout'). A standing queue is
   * thereby cut back to the target, while a short burst that drains within the interval loses nothing.
   */
  expire(): Dropped<T>[] {
    this.#drop(this.#clock.now());
    this.#prune();
    const out = this.#dropped;
    this.#dropped = [];
    return out;
  }

  cancel(ticket: Ticket<T>): boolean {
    const entry = this.#entries.get(ticket.id);
    if (!entry) return false;
    this.#remove(entry, this.#clock.now());
    return true;
  }

  /**
   * 1-based place in the service order: everything queued in higher classes, plus, within the class, the
   * requests VTC would serve first if every request cost its estimate and nothing else arrived. 0 when the
   * ticket is not queued. O(queued up to its class); `positions()` does every ticket at once.
   */
  position(ticket: Ticket<T>): number {
    const entry = this.#entries.get(ticket.id);
    if (!entry) return 0;
    const cls = entry.cls;
    const start = this.#startCounters(cls);
    let ahead = this.#queuedAbove(cls);
    let mine = start(ticket.tenant);
    for (const e of entry.lane) {
      if (e === entry) break;
      mine += e.ticket.estimatedTokens;
      ahead++;
    }
    for (const [name, lane] of cls.lanes) {
      if (name === ticket.tenant) continue;
      let c = start(name);
      for (const e of lane) {
        // The same tie-break as next(): lower counter first, then the older request.
        if (c > mine || (c === mine && e.ticket.id > ticket.id)) break;
        ahead++;
        c += e.ticket.estimatedTokens;
      }
    }
    return ahead + 1;
  }

  /** Every queued ticket's position (same model as `position`), for refreshing a whole waiting room. */
  positions(): Map<number, number> {
    const out = new Map<number, number>();
    const carried = new Map<string, number>();
    let above = 0;
    for (const cls of this.#classes) {
      const keyed: Array<{ start: number; id: number }> = [];
      for (const [name, lane] of cls.lanes) {
        let c = this.#tenant(name).counter + (carried.get(name) ?? 0);
        for (const e of lane) {
          keyed.push({ start: c, id: e.ticket.id });
          c += e.ticket.estimatedTokens;
        }
      }
      keyed.sort((a, b) => a.start - b.start || a.id - b.id);
      keyed.forEach((k, i) => {
        out.set(k.id, above + i + 1);
      });
      for (const e of cls.order)
        carried.set(e.ticket.tenant, (carried.get(e.ticket.tenant) ?? 0) + e.ticket.estimatedTokens);
      above += cls.order.live;
    }
    return out;
  }

  /** position × the recent interval between dispatches; 0 until two dispatches from a busy queue are seen. */
  estimatedWaitMs(ticket: Ticket<T>): number {
    return this.position(ticket) * (this.#intervalMs ?? 0);
  }

  /** The wait a request arriving now in `priority` should expect, for status pages and UIs. */
  estimatedWaitMsFor(priority: Priority): number {
    const cls = this.#byPriority[priority];
    return (this.#queuedAbove(cls) + cls.order.live + 1) * (this.#intervalMs ?? 0);
  }

  /** The recent interval between dispatches while requests were waiting (undefined before one is seen). */
  dispatchIntervalMs(): number | undefined {
    return this.#intervalMs;
  }

  size(priority?: Priority): number {
    return priority === undefined ? this.#size : this.#byPriority[priority].order.live;
  }

  stats(): QueueStats {
    const now = this.#clock.now();
    let oldestWaitMs = 0;
    for (const cls of this.#classes) {
      const head = cls.order.peek();
      if (head) oldestWaitMs = Math.max(oldestWaitMs, now - head.ticket.enqueuedAt);
    }
    return {
      length: this.#size,
      byClass: {
        critical: this.#byPriority.critical.order.live,
        interactive: this.#byPriority.interactive.order.live,
        batch: this.#byPriority.batch.order.live,
      },
      oldestWaitMs,
      tenants: this.#tenants.size,
    };
  }

  /** A tenant's virtual counter (weighted tokens of service), for tests and metrics. */
  serviceOf(tenant: string): number {
    return this.#tenants.get(tenant)?.counter ?? 0;
  }

  #tenant(name: string): TenantState {
    let t = this.#tenants.get(name);
    if (!t) {
      t = { counter: 0, pendingTokens: 0, pendingCount: 0, queued: 0 };
      this.#tenants.set(name, t);
    }
    return t;
  }

  /** VTC's lift: the least counter among the class's backlogged tenants, or the last tenant to leave a lane. */
  #liftBase(cls: ClassQueue<T>): number | undefined {
    let base: number | undefined;
    for (const name of cls.lanes.keys()) {
      const c = this.#tenant(name).counter;
      if (base === undefined || c < base) base = c;
    }
    if (base !== undefined) return base;
    if (this.#lastLeft === undefined) return undefined;
    return this.#tenants.get(this.#lastLeft)?.counter;
  }

  #leastServed(cls: ClassQueue<T>): Fifo<Entry<T>> | undefined {
    let best: Fifo<Entry<T>> | undefined;
    let bestCounter = 0;
    let bestId = 0;
    for (const [name, lane] of cls.lanes) {
      const head = lane.peek();
      if (!head) continue;
      const c = this.#tenant(name).counter;
      // Ties go to the older request, so equal tenants alternate and arrival order breaks the tie.
      if (best === undefined || c < bestCounter || (c === bestCounter && head.ticket.id < bestId)) {
        best = lane;
        bestCounter = c;
        bestId = head.ticket.id;
      }
    }
    return best;
  }

  /**
   * Each tenant's counter as it will stand when `cls` is reached: counters are per tenant, not per class, so
   * the requests a tenant has waiting in higher classes will have been charged by then.
   */
  #startCounters(cls: ClassQueue<T>): (tenant: string) => number {
    const carried = new Map<string, number>();
    for (const c of this.#classes) {
      if (c === cls) break;
      for (const e of c.order)
        carried.set(e.ticket.tenant, (carried.get(e.ticket.tenant) ?? 0) + e.ticket.estimatedTokens);
    }
    return (tenant) => this.#tenant(tenant).counter + (carried.get(tenant) ?? 0);
  }

  #queuedAbove(cls: ClassQueue<T>): number {
    let n = 0;
    for (const c of this.#classes) {
      if (c === cls) break;
      n += c.order.live;
    }
    return n;
  }

  #displaceable(arriving: ClassQueue<T>, tenant: string): Entry<T> | undefined {
    for (let i = this.#classes.length - 1; i >= 0; i--) {
      const cls = this.#classes[i]!;
      if (cls === arriving) break;
      // The newest has waited least, so taking its place wastes the least queueing already done.
      const victim = cls.order.peekLast();
      if (victim) return victim;
    }
    const own = arriving.lanes.get(tenant)?.live ?? 0;
    let fattest: Fifo<Entry<T>> | undefined;
    for (const [name, lane] of arriving.lanes) {
      if (name !== tenant && lane.live > (fattest?.live ?? own + 1)) fattest = lane;
    }
    return fattest?.peekLast();
  }

  #remove(entry: Entry<T>, now: number): void {
    entry.removed = true;
    const { cls, lane, ticket } = entry;
    cls.order.live--;
    lane.live--;
    if (ticket.deadline !== undefined) cls.withDeadline--;
    this.#entries.delete(ticket.id);
    this.#size--;
    if (this.#size === 0) this.#busySinceDispatch = false;
    const tenant = this.#tenant(ticket.tenant);
    tenant.queued--;
    if (lane.live === 0) {
      cls.lanes.delete(ticket.tenant);
      this.#lastLeft = ticket.tenant;
    }
    this.#observe(cls, now);
  }

  /**
   * Keeps `aboveSince` exact. The head's wait only falls when something is removed, and this runs on every
   * removal, so between calls the head is fixed and its wait crossed the target at enqueuedAt + target.
   */
  #observe(cls: ClassQueue<T>, now: number): void {
    const head = cls.order.peek();
    if (!head || now - head.ticket.enqueuedAt <= cls.settings.targetWaitMs) {
      cls.aboveSince = undefined;
      return;
    }
    cls.aboveSince ??= head.ticket.enqueuedAt + cls.settings.targetWaitMs;
  }

  #drop(now: number): void {
    for (const cls of this.#classes) {
      if (cls.order.live === 0) continue;
      if (cls.withDeadline > 0) {
        const needMs = cls.serviceMs ?? 0;
        const doomed: Entry<T>[] = [];
        for (const e of cls.order) {
          const d = e.ticket.deadline;
          if (d !== undefined && d - now < needMs) doomed.push(e);
        }
        for (const e of doomed) this.#dropEntry(e, 'deadline', now);
      }
      for (let head = cls.order.peek(); head; head = cls.order.peek()) {
        if (now - head.ticket.enqueuedAt <= cls.settings.maxWaitMs) break;
        this.#dropEntry(head, 'queue_timeout', now);
      }
      this.#observe(cls, now);
      if (cls.aboveSince === undefined || now - cls.aboveSince < this.#interval) continue;
      // The standing queue is cut back from the tenants that make it: those holding at least an equal
      // share of it (as fair queueing drops from the longest flow). A light tenant's request that aged
      // while dispatches came in a burst is next in line under VTC; it waits, bounded by maxWaitMs.
      const share = cls.order.live / Math.max(1, cls.lanes.size);
      const victims: Entry<T>[] = [];
      for (const e of cls.order) {
        if (now - e.ticket.enqueuedAt <= cls.settings.targetWaitMs) break;
        if (e.lane.live >= share) victims.push(e);
      }
      for (const e of victims) this.#dropEntry(e, 'queue_timeout', now);
    }
  }

  #dropEntry(entry: Entry<T>, reason: DropReason, now: number): void {
    this.#remove(entry, now);
    this.#dropped.push({ ticket: entry.ticket, reason });
  }

  /**
   * Forgets idle tenants whose counter would be lifted anyway when they return (at or below every lift base
   * in force), so the tenant map tracks active tenants rather than every tenant ever seen.
   */
  #prune(): void {
    if (this.#tenants.size <= this.#pruneAt) return;
    let floor = Number.POSITIVE_INFINITY;
    for (const cls of this.#classes) {
      const base = this.#liftBase(cls);
      if (base === undefined) return;
      floor = Math.min(floor, base);
    }
    for (const [name, t] of this.#tenants) {
      if (t.queued === 0 && t.pendingCount === 0 && name !== this.#lastLeft && t.counter <= floor) {
        this.#tenants.delete(name);
      }
    }
    this.#pruneAt = Math.max(1_024, this.#tenants.size * 2);
  }
}

function finite(x: number): number {
  return Number.isFinite(x) ? Math.max(0, x) : 0;
}
