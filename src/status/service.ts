import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Config } from '../config/schema.ts';
import type { Db } from '../stores/database.ts';
import { isOutageError } from '../stores/outage/classify.ts';
import { type StoreGuard, StoreUnavailableError } from '../stores/outage/port.ts';
import { OUTCOME_CHANNEL, type OutcomeRecord } from '../telemetry/outcome.ts';
import { severity } from './burn.ts';
import { chartLatency } from './classify.ts';
import { API_KEY, CHAT_KEY, type ComponentSpec, componentSpecs, GROUP_MODELS } from './components.ts';
import { conflict, invalid, notFound } from './errors.ts';
import { randomStatusId, stableId } from './ids.ts';
import {
  type ComponentNow,
  type IncidentAction,
  IncidentPolicy,
  impactOf,
  worseImpact,
} from './incident-policy.ts';
import { LatencyBook, type SparseHistogram } from './latency.ts';
import type { EvaluatorLease } from './lease.ts';
import { Prober } from './probes.ts';
import {
  type ComponentRecord,
  type IncidentRecord,
  MAINTENANCE_ACTIVE,
  UNRESOLVED,
  type UpdateRecord,
} from './records.ts';
import {
  isActiveMaintenance,
  isUnresolved,
  type PageInfo,
  renderComponents,
  renderIncident,
  renderPage,
  renderStatus,
} from './render.ts';
import { hourOfWeek, type ReportReading, readReports } from './reports-policy.ts';
import { DayBook, type DayTotals, dayOf, dayRecords } from './rollup.ts';
import { type StatusSettings, statusSettings } from './settings.ts';
import type {
  ComponentStatus,
  Impact,
  IncidentStatus,
  MaintenanceStatus,
  SpAffectedComponent,
  SpComponent,
  SpIncident,
  SpSummary,
} from './statuspage.ts';
import { type ManualStatus, StatusStore } from './store.ts';
import {
  MemoryStatusTelemetry,
  type StatusTelemetry,
  type StatusTelemetryFactory,
  type TelemetryStatus,
} from './telemetry.ts';
import {
  type DeploymentHealth,
  type DeploymentView,
  type EvalContext,
  type Reading,
  StatusComputer,
  telemetryShape,
} from './tracker.ts';
import {
  type ComponentHistory,
  type LatencyPoint,
  publishStatusEvent,
  type StatusEvent,
  type StatusView,
} from './view.ts';

/** What the status core needs from the resilience engine (src/pipeline/resilient.ts). */
export interface EngineHooks {
  health(deploymentId: string): DeploymentHealth;
  drain(deploymentIds: readonly string[], on: boolean): void;
}

export interface StatusServiceOptions {
  db: Db;
  config: Config;
  engine: EngineHooks;
  /** Epoch ms; injected so tests can run hours of outcome streams in milliseconds. */
  now?: () => number;
  /** The gateway's own front door and an in-process credential, for probes. */
  gateway?: { url(): string; key: string };
  onError?: (err: unknown, what: string) => void;
  /** Run the evaluation loop and probes on timers (tests drive `tick()` themselves). */
  timers?: boolean;
  /** With replicas: where requests are counted, summed over them (docs/status.md#several-replicas). */
  telemetry?: StatusTelemetryFactory;
  /** With replicas: the evaluator role (one replica writes); without it this process is the evaluator. */
  lease?: EvaluatorLease;
  /** On PostgreSQL: telemetry writes go through the outage buffer (docs/postgres-outage.md). */
  outage?: StoreGuard;
}

/** What the chat banner hears about one model. */
export interface ModelStatus {
  model: string;
  status: ComponentStatus;
  message?: string;
}

export interface ReportsOverview {
  window_s: number;
  components: {
    component_id: string;
    name: string;
    count: number;
    baseline: number;
    spike: boolean;
    telemetry: ComponentStatus;
    /** The spike shows on the public page (telemetry agrees or an operator confirmed). */
    public: boolean;
    confirmed: ComponentStatus | null;
  }[];
  recent: {
    id: string;
    source: 'chat' | 'public';
    category: string;
    text: string;
    model: string | null;
    component_id: string | null;
    counted: boolean;
    created_at: string;
  }[];
}

const INCIDENT_STATUSES: readonly IncidentStatus[] = [
  'investigating',
  'identified',
  'monitoring',
  'resolved',
];
const MAINTENANCE_STATUSES: readonly MaintenanceStatus[] = [
  'scheduled',
  'in_progress',
  'verifying',
  'completed',
];
const IMPACTS: readonly Impact[] = ['none', 'minor', 'major', 'critical'];
const FLUSH_MS = 60_000;
const RECENT_INCIDENTS = 50;

/**
 * The status system's core: computes component statuses from the gateway's outcome records, runs
 * incidents and maintenance windows, weighs users' reports, keeps the daily rollups, and answers the
 * StatusView every publishing face renders from. All writes go through one queue, so the evaluation
 * loop and operators never interleave half-done changes.
 */
export class StatusService implements StatusView {
  readonly #opts: StatusServiceOptions;
  readonly #now: () => number;
  readonly settings: StatusSettings;
  readonly #store: StatusStore;
  readonly specs: readonly ComponentSpec[];
  readonly #specByKey: Map<string, ComponentSpec>;
  readonly #specById: Map<string, ComponentSpec>;
  readonly #page: PageInfo;
  #computer!: StatusComputer;
  readonly #policy: IncidentPolicy;
  readonly #days = new DayBook();
  #latency!: LatencyBook;
  #prober: Prober | undefined;
  #telemetry: StatusTelemetry | undefined;
  /** Whether this process writes statuses, incidents and rollups (always, without a lease). */
  #leader: boolean;
  #queue: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #started = false;
  #closed = false;
  #lastTick = 0;
  #lastFlush = 0;
  /** Component rows by key, kept in step with the table (this process is their only writer). */
  readonly #records = new Map<string, ComponentRecord>();
  /** Statuses as last persisted and published. */
  readonly #shown = new Map<string, ComponentStatus>();
  #readings = new Map<string, Reading>();
  /** Active maintenance windows: component keys under maintenance and the deployments they drain. */
  #maintenanceKeys = new Set<string>();
  #drained = new Set<string>();
  /** Operators' manual statuses by component key: shown until cleared or their incident resolves. */
  readonly #manual = new Map<string, ManualStatus>();
  /** Operator-confirmed report spikes: a floor under the computed status while the spike lasts. */
  readonly #confirmed = new Map<string, ComponentStatus>();
  #reports: ReportReading[] = [];
  readonly #announcedSpikes = new Set<string>();
  #baseline: { hourOfWeek: number; at: number; totals: Map<string, number> } | undefined;
  #reportSecret: Buffer | undefined;
  /** Persisted latency hours by component id (from before this process started). */
  #storedLatency = new Map<string, Map<number, SparseHistogram>>();
  #cache = new Map<string, Promise<unknown>>();
  readonly #onOutcome = (m: unknown): void => this.observe(m as OutcomeRecord);

  constructor(opts: StatusServiceOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.settings = statusSettings(opts.config.status);
    this.#store = new StatusStore(opts.db.kysely, opts.outage);
    this.specs = componentSpecs(opts.config);
    this.#specByKey = new Map(this.specs.map((s) => [s.key, s]));
    this.#specById = new Map(this.specs.map((s) => [s.id, s]));
    const page = opts.config.status.page;
    this.#page = {
      id: stableId(`page:${page.url}`),
      name: page.name,
      url: page.url,
      timeZone: page.time_zone,
    };
    this.#policy = new IncidentPolicy(this.settings.incidents);
    this.#leader = opts.lease === undefined;
  }

  get page(): PageInfo {
    return this.#page;
  }

  async start(): Promise<void> {
    const now = this.#now();
    const rows = await this.#store.syncComponents(this.specs, new Date(now));
    const initial = new Map<string, ComponentStatus>();
    for (const r of rows) this.#records.set(r.key, r);
    for (const r of rows)
      if (!r.retired && !r.isGroup) {
        initial.set(r.key, r.status);
        this.#shown.set(r.key, r.status);
      }
    const shape = telemetryShape(this.specs, this.settings.rules);
    this.#telemetry = this.#opts.telemetry?.(shape) ?? new MemoryStatusTelemetry(shape);
    await this.#telemetry.start();
    this.#computer = new StatusComputer(
      this.specs,
      {
        rules: this.settings.rules,
        holdMs: this.settings.holdMs,
        latencyMs: this.settings.latencyMs,
        probeFailures: this.settings.probes.failures,
        probeStaleMs: 3 * this.settings.probes.intervalMs,
        telemetry: this.#telemetry,
      },
      initial,
    );
    this.#latency = new LatencyBook(now);
    const since = dayOf(now - 90 * 86_400_000);
    for (const d of await this.#store.loadDays(since)) {
      if (d.day === dayOf(now)) this.#days.load(d.componentId, d.day, d.totals);
      this.#absorbLatency(d.componentId, d.latency);
    }
    this.#reportSecret = await this.#store.reportSecret();
    for (const m of await this.#store.manualStatuses())
      if (this.#specByKey.has(m.key)) this.#manual.set(m.key, m);
    const active = await this.#store.openIncidents('maintenance', MAINTENANCE_ACTIVE);
    this.#applyMaintenance(active);
    this.#lastTick = now;
    this.#lastFlush = now;
    subscribe(OUTCOME_CHANNEL, this.#onOutcome);
    this.#started = true;
    if (this.#opts.timers !== false) {
      this.#timer = setInterval(() => {
        this.tick().catch((e) => this.#opts.onError?.(e, 'status tick'));
      }, this.settings.tickMs);
      this.#timer.unref();
      const gw = this.#opts.gateway;
      if (gw && this.settings.probes.enabled) {
        this.#prober = new Prober({
          target: gw,
          intervalMs: this.settings.probes.intervalMs,
          idleModels: () =>
            this.#computer
              .idleModels(this.#now(), this.settings.probes.intervalMs)
              .filter((m) => !this.#modelKeys(m).some((k) => this.#maintenanceKeys.has(k))),
          onError: (e) => this.#opts.onError?.(e, 'status probe'),
        });
        this.#prober.start();
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#prober?.close();
    if (!this.#started) return;
    unsubscribe(OUTCOME_CHANNEL, this.#onOutcome);
    await this.#serial(async () => {
      this.#accrue(this.#now());
      if (this.#leader) await this.#flush(this.#now());
    }).catch((e) => this.#opts.onError?.(e, 'status flush'));
    await this.#telemetry?.close();
    // Handed over at once: another replica evaluates from its next tick, not after the lease runs out.
    await this.#opts.lease?.release();
  }

  /**
   * Where this replica's statuses come from and who writes them, for operators
   * (`GET /admin/status/components`): `scope: cluster` when every replica's requests are counted,
   * `local` on one node or while Redis is away; `role: evaluator` for the replica that writes.
   */
  telemetry(): TelemetryStatus & {
    role: 'evaluator' | 'follower';
    replica: string | null;
    evaluator: string | null;
  } {
    const lease = this.#opts.lease;
    const own = this.#telemetry?.status() ?? {
      backend: 'memory' as const,
      scope: 'local' as const,
      since: 0,
    };
    return {
      ...own,
      role: this.#leader ? 'evaluator' : 'follower',
      replica: lease?.replicaId ?? null,
      evaluator: lease ? (lease.holder() ?? null) : null,
    };
  }

  /** Feeds one outcome record (the channel subscription calls this; tests may too). */
  observe(rec: OutcomeRecord): void {
    if (!this.#computer?.knows(rec)) return;
    const now = this.#now();
    this.#computer.observe(rec, now, this.#maintenanceKeys);
    const ms = chartLatency(rec);
    if (ms !== undefined && rec.model !== undefined)
      this.#latency.observe(this.#latencyKeys(rec.model), ms, now);
  }

  /** The latency charts a model's answers go to; fixed by the config, so built once per model. */
  readonly #latencyKeysOf = new Map<string, readonly string[]>();
  #latencyKeys(model: string): readonly string[] {
    let keys = this.#latencyKeysOf.get(model);
    if (!keys) {
      keys = [...this.#modelKeys(model), API_KEY, 'latency:models'];
      this.#latencyKeysOf.set(model, keys);
    }
    return keys;
  }

  #modelKeys(model: string): string[] {
    return this.specs.filter((s) => s.models.includes(model)).map((s) => s.key);
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  #changed(): void {
    this.#cache.clear();
  }

  #publish(ev: StatusEvent): void {
    this.#changed();
    publishStatusEvent(ev);
  }

  // ---- evaluation ----------------------------------------------------------------------------------

  #deploymentsOf = (models: readonly string[]): DeploymentView[] =>
    this.#opts.config.models
      .filter((m) => models.includes(m.name))
      .flatMap((m) => m.deployments)
      .filter((d) => !this.#drained.has(d.id))
      .map((d) => ({ id: d.id, health: this.#opts.engine.health(d.id) }));

  #failover = (models: readonly string[]): boolean =>
    this.#opts.config.models.some((m) => models.includes(m.name) && m.fallbacks.length > 0);

  #ctx(): EvalContext {
    return {
      deployments: this.#deploymentsOf,
      maintenance: this.#maintenanceKeys,
      floors: this.#floors(),
      failover: this.#failover,
      manual: new Map([...this.#manual].map(([k, m]) => [k, m.status])),
    };
  }

  #floors(): Map<string, ComponentStatus> {
    const out = new Map<string, ComponentStatus>();
    for (const [key, status] of this.#confirmed)
      if (this.#reports.some((r) => r.key === key && r.spike)) out.set(key, status);
    return out;
  }

  /** Evaluates now (cheap, in memory): the freshest statuses, ahead of the next tick's persistence. */
  readings(): Map<string, Reading> {
    if (!this.#started) return this.#readings;
    this.#readings = new Map(this.#computer.evaluate(this.#now(), this.#ctx()).map((r) => [r.key, r]));
    return this.#readings;
  }

  /** The chat banner's view: each model's component status now, with a sentence when it is not fine. */
  modelStatuses(): ModelStatus[] {
    const readings = this.readings();
    const now = this.#now();
    return this.#opts.config.models.map((m) => {
      const key = `model:${m.name}`;
      const r = readings.get(key);
      const status = r?.status ?? 'operational';
      if (status === 'operational') return { model: m.name, status };
      const message =
        status === 'under_maintenance'
          ? 'This model is in a scheduled maintenance window.'
          : this.#computer.describe(key, now, this.#ctx());
      return { model: m.name, status, message };
    });
  }

  /** One evaluation step: maintenance windows, statuses, rollups, reports, incidents. */
  tick(): Promise<void> {
    return this.#serial(() => this.#tickNow());
  }

  /** The tick's body, for callers already in the write queue. */
  async #tickNow(): Promise<void> {
    if (!this.#started || this.#closed) return;
    const now = this.#now();
    if (!(await this.#evaluator())) return this.#follow(now);
    // While PostgreSQL is unreachable the steps that read it wait for a later tick; statuses and the
    // day's totals go on from memory, their writes buffered (docs/postgres-outage.md).
    const online = await this.#reachable(async () => {
      await this.#pruneManual();
      await this.#runMaintenance(now);
    });
    this.#accrue(now);
    const readings = this.readings();
    for (const r of readings.values()) {
      const old = this.#shown.get(r.key) ?? 'operational';
      if (old === r.status) continue;
      const rec = this.#records.get(r.key);
      if (!rec) continue;
      await this.#store.setComponentStatus(rec.id, r.status, new Date(now));
      rec.status = r.status;
      rec.updatedAt = new Date(now);
      this.#shown.set(r.key, r.status);
      this.#changed();
      const [component] = renderComponents([rec], this.#page.id);
      if (component)
        this.#publish({
          type: 'component',
          component,
          oldStatus: old,
          newStatus: r.status,
          at: new Date(now).toISOString(),
        });
    }
    if (online)
      await this.#reachable(async () => {
        await this.#refreshReports(now);
        await this.#runIncidents(now, readings);
      });
    if (now - this.#lastFlush >= FLUSH_MS) await this.#flush(now);
  }

  /** Runs a step that needs the database; false (and nothing thrown) when it is unreachable. */
  async #reachable(step: () => Promise<void>): Promise<boolean> {
    if (this.#store.offline) return false;
    try {
      await step();
      return true;
    } catch (err) {
      if (err instanceof StoreUnavailableError || isOutageError(err)) return false;
      throw err;
    }
  }

  // ---- several replicas (docs/status.md#several-replicas) ------------------------------------------

  /**
   * Whether this replica writes at this tick. With a lease, the role is renewed (or taken) first; a
   * replica that has just taken it adopts what the previous evaluator wrote, and every tick reads the
   * operators' manual statuses again, since an operator may have set one through any replica.
   */
  async #evaluator(): Promise<boolean> {
    const lease = this.#opts.lease;
    if (!lease) return true;
    const was = this.#leader;
    this.#leader = await lease.hold();
    if (!this.#leader) return false;
    try {
      if (!was) await this.#adopt();
      await this.#reloadManual();
    } catch {
      // Unreachable database: go on from memory, as a single node does (its writes are buffered or fail).
    }
    return true;
  }

  /**
   * A replica that is not the evaluator writes nothing: it takes the statuses, manual statuses and
   * maintenance drains from the database and drops its cached documents at every tick, so its pages and
   * API answer what the evaluator wrote within a tick. Its own readings (the same cluster-wide numbers)
   * still serve the chat banner and operators. A failed read here is the database's news; the evaluator
   * reports it.
   */
  async #follow(now: number): Promise<void> {
    try {
      await this.#reloadManual();
      await this.#runMaintenance(now, false);
      await this.#adopt();
      await this.#refreshReports(now);
    } catch {
      // Served from memory until the database answers again.
    }
    this.#accrue(now);
    this.readings();
    this.#changed();
  }

  /** The component rows as stored: their statuses become this replica's shown statuses. */
  async #adopt(): Promise<void> {
    for (const r of await this.#store.components()) {
      this.#records.set(r.key, r);
      if (!r.retired && !r.isGroup) this.#shown.set(r.key, r.status);
    }
  }

  async #reloadManual(): Promise<void> {
    const stored = await this.#store.manualStatuses();
    this.#manual.clear();
    for (const m of stored) if (this.#specByKey.has(m.key)) this.#manual.set(m.key, m);
  }

  // ---- manual component statuses --------------------------------------------------------------------

  async #saveManual(): Promise<void> {
    await this.#store.saveManualStatuses([...this.#manual.values()]);
  }

  /** Manual statuses end with their incident (resolved, or merged into another). */
  async #pruneManual(): Promise<void> {
    if (this.#manual.size === 0) return;
    const open = new Set((await this.#store.openIncidents('incident', UNRESOLVED)).map((i) => i.id));
    let changed = false;
    for (const [key, m] of this.#manual)
      if (!open.has(m.incidentId)) {
        this.#manual.delete(key);
        changed = true;
      }
    if (changed) await this.#saveManual();
  }

  /** Operators' manual statuses now, by component id. */
  manualStatuses(): { componentId: string; status: ComponentStatus; incidentId: string; at: string }[] {
    return [...this.#manual.values()].map((m) => ({
      componentId: this.#specByKey.get(m.key)?.id ?? m.key,
      status: m.status,
      incidentId: m.incidentId,
      at: m.at,
    }));
  }

  /**
   * During an open incident, an operator sets a component's status by hand (`null` clears it): it is
   * shown instead of the computed one until cleared or the incident resolves. The component joins the
   * incident, and the incident's timeline records the change.
   */
  setComponentStatus(
    incidentId: string,
    component: string,
    status: ComponentStatus | null,
    body?: string,
  ): Promise<SpIncident> {
    return this.#serial(async () => {
      const inc = await this.#existing(incidentId, 'incident');
      if (inc.mergedInto || !(UNRESOLVED as readonly string[]).includes(inc.status))
        throw conflict('Component statuses can be set only during an open incident.');
      const spec = this.#findSpec(component);
      if (!spec || spec.role === 'group') throw notFound(`No component '${component}'.`);
      const had = this.#manual.get(spec.key);
      if (had && had.incidentId !== incidentId && status !== null)
        throw conflict(`${spec.name} has a manual status from another incident; clear it there first.`);
      if (status === null && (!had || had.incidentId !== incidentId))
        throw notFound(`${spec.name} has no manual status in this incident.`);
      const now = this.#now();
      const at = new Date(now);
      const old = this.#shown.get(spec.key) ?? 'operational';
      if (status === null) this.#manual.delete(spec.key);
      else this.#manual.set(spec.key, { key: spec.key, status, incidentId, at: at.toISOString() });
      await this.#saveManual();
      if (!inc.componentIds.includes(spec.id))
        await this.#store.patchIncident(inc.id, { componentIds: [...inc.componentIds, spec.id] }, at);
      // Shown (and published) now, not at the next tick; an automatic incident's policy records it.
      await this.#tickNow();
      const cur = this.#shown.get(spec.key) ?? 'operational';
      // An automatic incident's policy has just written the change into its timeline (with the affected
      // component); an operator's incident gets it here. A note from the operator is kept either way.
      const note = body?.trim() ?? '';
      if (inc.auto && note === '') return this.incident(inc.id);
      const text =
        note ||
        (status === null
          ? `${spec.name} is back to its measured status: ${cur.replaceAll('_', ' ')}.`
          : `Our team has set the status of ${spec.name} to ${status.replaceAll('_', ' ')}.`);
      const affected = inc.auto || old === cur ? null : this.#affected([{ key: spec.key, old, new: cur }]);
      const latest = (await this.#store.incident(inc.id)) ?? inc;
      await this.#addUpdate(inc.id, latest.status as IncidentStatus, text, affected, false, at, note !== '');
      await this.#store.patchIncident(inc.id, {}, at);
      return this.#emitIncident(inc.id, 'updated');
    });
  }

  #accrue(now: number): void {
    const from = this.#lastTick;
    this.#lastTick = now;
    if (now <= from) return;
    for (const s of this.specs) {
      if (s.role === 'group') continue;
      this.#days.accrue(s.id, this.#shown.get(s.key) ?? 'operational', from, now);
    }
  }

  async #flush(now: number): Promise<void> {
    this.#lastFlush = now;
    const today = dayOf(now);
    const dayStart = Date.parse(`${today}T00:00:00Z`);
    const rows = this.#days.takeDirty();
    const latencyIds = new Map<string, string>([
      ['latency:models', this.#specByKey.get(GROUP_MODELS)?.id ?? ''],
    ]);
    for (const s of this.specs) if (s.role !== 'group') latencyIds.set(s.key, s.id);
    const latencyOf = (id: string, day: string): unknown => {
      if (day !== today) return undefined;
      const key = [...latencyIds].find(([, v]) => v === id)?.[0];
      if (!key) return undefined;
      const hours: Record<string, SparseHistogram> = {};
      for (const [h, hist] of this.#storedLatency.get(id) ?? []) if (h >= dayStart) hours[String(h)] = hist;
      for (const [h, hist] of this.#latency.hourly(key, dayStart, dayStart + 86_400_000))
        hours[String(h)] = hist;
      return { hours };
    };
    const written = new Set<string>();
    for (const r of rows) {
      await this.#store.saveDay(r.componentId, r.day, r.totals, latencyOf(r.componentId, r.day));
      written.add(`${r.componentId}/${r.day}`);
    }
    const groupId = latencyIds.get('latency:models');
    if (groupId && !written.has(`${groupId}/${today}`))
      await this.#store.saveDay(
        groupId,
        today,
        { worst: 'operational', seconds: {} },
        latencyOf(groupId, today),
      );
  }

  #absorbLatency(componentId: string, latency: unknown): void {
    const hours = (latency as { hours?: Record<string, SparseHistogram> } | null)?.hours;
    if (!hours || typeof hours !== 'object') return;
    const m = this.#storedLatency.get(componentId) ?? new Map<number, SparseHistogram>();
    for (const [h, hist] of Object.entries(hours)) m.set(Number(h), hist);
    this.#storedLatency.set(componentId, m);
  }

  // ---- incidents ------------------------------------------------------------------------------------

  async #runIncidents(now: number, readings: Map<string, Reading>): Promise<void> {
    const open = await this.#store.openIncidents('incident', UNRESOLVED);
    const components = new Map<string, ComponentNow>();
    for (const r of readings.values())
      components.set(r.key, {
        name: this.#specByKey.get(r.key)?.name ?? r.key,
        status: r.status,
        badSince: r.badSince,
      });
    const keyOf = (id: string): string | undefined => this.#specById.get(id)?.key;
    const urgent = new Set<string>();
    for (const rep of this.#reports)
      if (rep.spike && this.#reportIsPublic(rep, readings)) urgent.add(rep.key);
    const ctx = this.#ctx();
    const actions = this.#policy.decide(
      now,
      components,
      open.map((i) => ({
        id: i.id,
        auto: i.auto,
        status: i.status as IncidentStatus,
        impact: i.impact,
        impactOverridden: i.impactOverride !== null,
        componentKeys: i.componentIds.flatMap((id) => keyOf(id) ?? []),
      })),
      (key) => this.#computer.describe(key, now, ctx),
      urgent,
    );
    for (const a of actions) await this.#apply(a, now);
    await this.#announceReports(now, urgent);
  }

  #affected(
    list: readonly { key: string; old: ComponentStatus; new: ComponentStatus }[],
  ): SpAffectedComponent[] | null {
    if (list.length === 0) return null;
    return list.map((a) => {
      const spec = this.#specByKey.get(a.key);
      return { code: spec?.id ?? a.key, name: spec?.name ?? a.key, old_status: a.old, new_status: a.new };
    });
  }

  async #apply(a: IncidentAction, now: number): Promise<void> {
    const at = new Date(now);
    const idOf = (k: string): string => this.#specByKey.get(k)?.id ?? k;
    if (a.kind === 'open') {
      const rec: IncidentRecord = {
        id: randomStatusId(),
        kind: 'incident',
        name: a.name,
        status: 'investigating',
        impact: a.impact,
        impactOverride: null,
        auto: true,
        componentIds: a.keys.map(idOf),
        mergedInto: null,
        startedAt: at,
        monitoringAt: null,
        resolvedAt: null,
        scheduledFor: null,
        scheduledUntil: null,
        postmortemBody: null,
        postmortemPublishedAt: null,
        createdAt: at,
        updatedAt: at,
      };
      await this.#store.insertIncident(rec);
      await this.#addUpdate(rec.id, 'investigating', a.body, this.#affected(a.affected), true, at);
      await this.#emitIncident(rec.id, 'created');
      return;
    }
    const inc = await this.#store.incident(a.id);
    if (!inc) return;
    if (a.kind === 'resolve') {
      await this.#store.patchIncident(inc.id, { status: 'resolved', resolvedAt: at }, at);
      await this.#addUpdate(inc.id, 'resolved', a.body, this.#affected(a.affected), true, at);
      await this.#emitIncident(inc.id, 'resolved');
      return;
    }
    const ids = [...new Set([...inc.componentIds, ...a.addKeys.map(idOf)])];
    await this.#store.patchIncident(
      inc.id,
      {
        status: a.status,
        componentIds: ids,
        ...(a.impact ? { impact: a.impact } : {}),
        ...(a.status === 'monitoring' && !inc.monitoringAt ? { monitoringAt: at } : {}),
      },
      at,
    );
    await this.#addUpdate(inc.id, a.status, a.body, this.#affected(a.affected), true, at);
    await this.#emitIncident(inc.id, 'updated');
  }

  async #addUpdate(
    incidentId: string,
    status: UpdateRecord['status'],
    body: string,
    affected: SpAffectedComponent[] | null,
    auto: boolean,
    at: Date,
    deliverNotifications = true,
  ): Promise<void> {
    await this.#store.insertUpdate({
      id: randomStatusId(),
      incidentId,
      status,
      body,
      affected,
      auto,
      deliverNotifications,
      displayAt: at,
      createdAt: at,
      updatedAt: at,
    });
  }

  async #emitIncident(id: string, change: 'created' | 'updated' | 'resolved'): Promise<SpIncident> {
    this.#changed();
    const incident = await this.incident(id);
    this.#publish({ type: 'incident', change, incident });
    return incident;
  }

  async #emitMaintenance(
    id: string,
    change: 'scheduled' | 'started' | 'updated' | 'completed',
  ): Promise<SpIncident> {
    this.#changed();
    const incident = await this.incident(id);
    this.#publish({ type: 'maintenance', change, incident });
    return incident;
  }

  // ---- maintenance ----------------------------------------------------------------------------------

  #applyMaintenance(active: readonly IncidentRecord[]): void {
    const keys = new Set<string>();
    for (const m of active)
      for (const id of m.componentIds) {
        const k = this.#specById.get(id)?.key;
        if (k) keys.add(k);
      }
    const drained = new Set<string>();
    for (const k of keys)
      for (const d of this.#opts.config.models.filter((m) => this.#specByKey.get(k)?.models.includes(m.name)))
        for (const dep of d.deployments) drained.add(dep.id);
    const stop = [...this.#drained].filter((id) => !drained.has(id));
    const begin = [...drained].filter((id) => !this.#drained.has(id));
    if (stop.length > 0) this.#opts.engine.drain(stop, false);
    if (begin.length > 0) this.#opts.engine.drain(begin, true);
    this.#maintenanceKeys = keys;
    this.#drained = drained;
  }

  /** `write` false (a follower): drain what is due now, and leave the windows' changes to the evaluator. */
  async #runMaintenance(now: number, write = true): Promise<void> {
    const open = await this.#store.openIncidents('maintenance', ['scheduled', ...MAINTENANCE_ACTIVE]);
    if (!write) {
      const due = (m: IncidentRecord): boolean =>
        (isActiveMaintenance(m.status) || (m.scheduledFor?.getTime() ?? now) <= now) &&
        now < (m.scheduledUntil?.getTime() ?? Number.POSITIVE_INFINITY);
      this.#applyMaintenance(open.filter(due));
      return;
    }
    const at = new Date(now);
    for (const m of open) {
      const until = m.scheduledUntil?.getTime() ?? Number.POSITIVE_INFINITY;
      const from = m.scheduledFor?.getTime() ?? now;
      if (m.status === 'scheduled' && from <= now && now < until) {
        await this.#store.patchIncident(m.id, { status: 'in_progress' }, at);
        await this.#addUpdate(m.id, 'in_progress', 'Scheduled maintenance is in progress.', null, true, at);
        m.status = 'in_progress';
        this.#applyMaintenance(open.filter((x) => isActiveMaintenance(x.status)));
        await this.#emitMaintenance(m.id, 'started');
      } else if (now >= until) {
        await this.#store.patchIncident(m.id, { status: 'completed', resolvedAt: at }, at);
        await this.#addUpdate(
          m.id,
          'completed',
          'The scheduled maintenance has been completed.',
          null,
          true,
          at,
        );
        m.status = 'completed';
        this.#applyMaintenance(open.filter((x) => isActiveMaintenance(x.status)));
        await this.#emitMaintenance(m.id, 'completed');
      }
    }
    this.#applyMaintenance(open.filter((x) => isActiveMaintenance(x.status)));
  }

  // ---- reports --------------------------------------------------------------------------------------

  #reportIsPublic(rep: ReportReading, readings: Map<string, Reading>): boolean {
    if (this.#confirmed.has(rep.key)) return true;
    const r = readings.get(rep.key);
    return !!r && r.computed !== 'operational' && severity(r.computed) > 0;
  }

  #keyForReport(componentId: string | null, model: string | null): string[] {
    if (componentId) {
      const k = this.#specById.get(componentId)?.key;
      return k ? [k] : [];
    }
    if (model) return this.#modelKeys(model);
    return this.#specByKey.has(CHAT_KEY) ? [CHAT_KEY] : [];
  }

  async #refreshReports(now: number): Promise<void> {
    const rules = this.settings.reports;
    const counts = new Map<string, number>();
    for (const row of await this.#store.countedSince(new Date(now - rules.windowMs)))
      for (const k of this.#keyForReport(row.componentId, row.model))
        counts.set(k, (counts.get(k) ?? 0) + row.n);
    const how = hourOfWeek(now);
    if (!this.#baseline || this.#baseline.hourOfWeek !== how || now - this.#baseline.at > 600_000) {
      const totals = new Map<string, number>();
      const from = new Date(now - rules.baselineWeeks * 7 * 86_400_000);
      // The current window is what is being judged; it must not raise its own baseline.
      for (const row of await this.#store.countedAtHourOfWeek(how, from, new Date(now - rules.windowMs)))
        for (const k of this.#keyForReport(row.componentId, row.model))
          totals.set(k, (totals.get(k) ?? 0) + row.n);
      this.#baseline = { hourOfWeek: how, at: now, totals };
    }
    this.#reports = readReports(counts, this.#baseline.totals, rules);
    for (const key of this.#confirmed.keys())
      if (!this.#reports.some((r) => r.key === key && r.spike)) this.#confirmed.delete(key);
    for (const key of this.#announcedSpikes)
      if (!this.#reports.some((r) => r.key === key && r.spike)) this.#announcedSpikes.delete(key);
  }

  /** Once per spike that shows publicly: a line in the incident covering the component. */
  async #announceReports(now: number, publicSpikes: ReadonlySet<string>): Promise<void> {
    const fresh = [...publicSpikes].filter((k) => !this.#announcedSpikes.has(k));
    if (fresh.length === 0) return;
    const open = await this.#store.openIncidents('incident', UNRESOLVED);
    for (const key of fresh) {
      const spec = this.#specByKey.get(key);
      const inc = open.find((i) => spec && i.componentIds.includes(spec.id));
      if (!spec || !inc) continue;
      const rep = this.#reports.find((r) => r.key === key)!;
      const usual = rep.baseline < 0.05 ? 'usually none' : `usually about ${rep.baseline.toFixed(1)}`;
      await this.#addUpdate(
        inc.id,
        inc.status,
        `Users are reporting problems with ${spec.name} too: ${rep.count} reports in the last ${Math.round(this.settings.reports.windowMs / 60_000)} minutes (${usual}).`,
        null,
        true,
        new Date(now),
      );
      await this.#store.patchIncident(inc.id, {}, new Date(now));
      this.#announcedSpikes.add(key);
      await this.#emitIncident(inc.id, 'updated');
    }
  }

  /** POST /api/v2/reports: one counted per IP per window; the address is kept only as a keyed hash. */
  submitReport(input: {
    component: string;
    ip: string;
    category: string;
    text: string;
  }): Promise<{ counted: boolean }> {
    return this.#serial(async () => {
      const spec = this.#findSpec(input.component);
      if (!spec || spec.role === 'group') throw notFound(`No component '${input.component}'.`);
      const ipHash = StatusStore.ipHash(this.#reportSecret!, input.ip);
      const r = await this.#store.addPublicReport({
        id: `rep_${randomStatusId()}`,
        ipHash,
        componentId: spec.id,
        category: input.category,
        text: input.text,
        now: new Date(this.#now()),
        windowMs: this.settings.reports.windowMs,
      });
      if (r.stored > 10) throw new TooMany();
      return { counted: r.counted };
    });
  }

  async reportsOverview(): Promise<ReportsOverview> {
    await this.tick();
    const readings = this.#readings;
    const recent = await this.#store.recentReports(50);
    return {
      window_s: this.settings.reports.windowMs / 1000,
      components: this.#reports.map((r) => {
        const spec = this.#specByKey.get(r.key)!;
        return {
          component_id: spec.id,
          name: spec.name,
          count: r.count,
          baseline: r.baseline,
          spike: r.spike,
          telemetry: readings.get(r.key)?.computed ?? 'operational',
          public: r.spike && this.#reportIsPublic(r, readings),
          confirmed: this.#confirmed.get(r.key) ?? null,
        };
      }),
      recent: recent.map((x) => ({
        id: x.id,
        source: x.source,
        category: x.category,
        text: x.text,
        model: x.model,
        component_id: x.componentId,
        counted: x.counted,
        created_at: x.createdAt.toISOString(),
      })),
    };
  }

  /** An operator vouches for a report spike: the component shows at least `status` while it lasts. */
  async confirmReports(component: string, status: ComponentStatus | null): Promise<void> {
    const spec = this.#findSpec(component);
    if (!spec || spec.role === 'group') throw notFound(`No component '${component}'.`);
    await this.tick();
    if (status === null) this.#confirmed.delete(spec.key);
    else {
      if (!this.#reports.some((r) => r.key === spec.key && r.spike))
        throw conflict(`There is no report spike on ${spec.name} to confirm.`);
      this.#confirmed.set(spec.key, status);
    }
    await this.tick();
  }

  // ---- operators ------------------------------------------------------------------------------------

  #findSpec(ref: string): ComponentSpec | undefined {
    return (
      this.#specById.get(ref) ??
      this.#specByKey.get(ref) ??
      this.specs.find((s) => s.key === `custom:${ref}` || s.key === `model:${ref}` || s.name === ref)
    );
  }

  #componentIds(refs: readonly string[] | undefined): string[] {
    return (refs ?? []).map((ref) => {
      const spec = this.#findSpec(ref);
      if (!spec) throw invalid(`No component '${ref}'.`);
      return spec.id;
    });
  }

  async #existing(id: string, kind: 'incident' | 'maintenance'): Promise<IncidentRecord> {
    const inc = await this.#store.incident(id);
    if (!inc || inc.kind !== kind) throw notFound(`No ${kind} '${id}'.`);
    return inc;
  }

  createIncident(input: {
    name: string;
    body: string;
    status?: IncidentStatus;
    impact?: Impact;
    components?: string[];
    deliverNotifications?: boolean;
  }): Promise<SpIncident> {
    return this.#serial(async () => {
      const status = input.status ?? 'investigating';
      if (!INCIDENT_STATUSES.includes(status))
        throw invalid(`status must be one of ${INCIDENT_STATUSES.join(', ')}.`);
      const componentIds = this.#componentIds(input.components);
      const at = new Date(this.#now());
      const computed = componentIds
        .map((id) => impactOf(this.#shown.get(this.#specById.get(id)!.key) ?? 'operational'))
        .reduce(worseImpact, 'none' as Impact);
      const rec: IncidentRecord = {
        id: randomStatusId(),
        kind: 'incident',
        name: input.name,
        status,
        impact: input.impact ?? (computed === 'none' ? 'minor' : computed),
        impactOverride: null,
        auto: false,
        componentIds,
        mergedInto: null,
        startedAt: at,
        monitoringAt: status === 'monitoring' ? at : null,
        resolvedAt: status === 'resolved' ? at : null,
        scheduledFor: null,
        scheduledUntil: null,
        postmortemBody: null,
        postmortemPublishedAt: null,
        createdAt: at,
        updatedAt: at,
      };
      await this.#store.insertIncident(rec);
      await this.#addUpdate(rec.id, status, input.body, null, false, at, input.deliverNotifications ?? true);
      return this.#emitIncident(rec.id, status === 'resolved' ? 'resolved' : 'created');
    });
  }

  /** Title and impact (an impact set here overrides the computed one for good). */
  editIncident(id: string, input: { name?: string; impact?: Impact | null }): Promise<SpIncident> {
    return this.#serial(async () => {
      const inc = await this.#store.incident(id);
      if (!inc) throw notFound(`No incident '${id}'.`);
      if (input.impact && !IMPACTS.includes(input.impact))
        throw invalid(`impact must be one of ${IMPACTS.join(', ')}.`);
      const at = new Date(this.#now());
      await this.#store.patchIncident(
        id,
        {
          ...(input.name ? { name: input.name } : {}),
          ...(input.impact !== undefined ? { impactOverride: input.impact } : {}),
        },
        at,
      );
      return inc.kind === 'maintenance'
        ? this.#emitMaintenance(id, 'updated')
        : this.#emitIncident(id, 'updated');
    });
  }

  /** An operator's update: the incident (or maintenance) takes its status; nothing is ever deleted. */
  postUpdate(
    id: string,
    input: { status: IncidentStatus | MaintenanceStatus; body: string; deliverNotifications?: boolean },
  ): Promise<SpIncident> {
    return this.#serial(async () => {
      const inc = await this.#store.incident(id);
      if (!inc || inc.mergedInto) throw notFound(`No incident '${id}'.`);
      const allowed: readonly string[] =
        inc.kind === 'maintenance' ? MAINTENANCE_STATUSES : INCIDENT_STATUSES;
      if (!allowed.includes(input.status)) throw invalid(`status must be one of ${allowed.join(', ')}.`);
      const at = new Date(this.#now());
      const done = input.status === 'resolved' || input.status === 'completed';
      await this.#store.patchIncident(
        id,
        {
          status: input.status,
          resolvedAt: done ? (inc.resolvedAt ?? at) : null,
          ...(input.status === 'monitoring' && !inc.monitoringAt ? { monitoringAt: at } : {}),
        },
        at,
      );
      await this.#addUpdate(
        id,
        input.status,
        input.body,
        null,
        false,
        at,
        input.deliverNotifications ?? true,
      );
      if (inc.kind === 'maintenance') {
        this.#applyMaintenance(await this.#store.openIncidents('maintenance', MAINTENANCE_ACTIVE));
        const change =
          input.status === 'completed'
            ? 'completed'
            : input.status === 'in_progress' && inc.status === 'scheduled'
              ? 'started'
              : 'updated';
        return this.#emitMaintenance(id, change);
      }
      if (done && [...this.#manual.values()].some((m) => m.incidentId === id)) await this.#tickNow();
      return this.#emitIncident(id, done ? 'resolved' : 'updated');
    });
  }

  /** Folds `id` into `into`: its updates show in the target's timeline; it leaves the public lists. */
  merge(id: string, into: string): Promise<SpIncident> {
    return this.#serial(async () => {
      if (id === into) throw invalid('An incident cannot be merged into itself.');
      const src = await this.#existing(id, 'incident');
      const dst = await this.#existing(into, 'incident');
      if (src.mergedInto || dst.mergedInto) throw conflict('One of these incidents was already merged.');
      const at = new Date(this.#now());
      await this.#store.patchIncident(
        src.id,
        { mergedInto: dst.id, status: 'resolved', resolvedAt: src.resolvedAt ?? at },
        at,
      );
      await this.#store.patchIncident(
        dst.id,
        {
          componentIds: [...new Set([...dst.componentIds, ...src.componentIds])],
          impact: worseImpact(dst.impact, src.impactOverride ?? src.impact),
        },
        at,
      );
      // Manual statuses follow the merged incident's components into the target.
      let moved = false;
      for (const m of this.#manual.values())
        if (m.incidentId === src.id) {
          m.incidentId = dst.id;
          moved = true;
        }
      if (moved) await this.#saveManual();
      await this.#addUpdate(
        dst.id,
        dst.status,
        `Merged "${src.name}" into this incident.`,
        null,
        false,
        at,
        false,
      );
      this.#changed();
      const merged = await this.incident(src.id);
      this.#publish({ type: 'incident', change: 'resolved', incident: merged });
      return this.#emitIncident(dst.id, 'updated');
    });
  }

  postmortem(id: string, body: string): Promise<SpIncident> {
    return this.#serial(async () => {
      const inc = await this.#existing(id, 'incident');
      if (inc.status !== 'resolved' && inc.status !== 'postmortem')
        throw conflict('Resolve the incident before publishing its postmortem.');
      const at = new Date(this.#now());
      await this.#store.patchIncident(
        id,
        { status: 'postmortem', postmortemBody: body, postmortemPublishedAt: at },
        at,
      );
      await this.#addUpdate(
        id,
        'postmortem',
        'The postmortem for this incident has been published.',
        null,
        false,
        at,
      );
      return this.#emitIncident(id, 'updated');
    });
  }

  scheduleMaintenance(input: {
    name: string;
    body: string;
    scheduledFor: Date;
    scheduledUntil: Date;
    components: string[];
  }): Promise<SpIncident> {
    return this.#serial(async () => {
      if (!(input.scheduledUntil.getTime() > input.scheduledFor.getTime()))
        throw invalid('scheduled_until must be after scheduled_for.');
      const componentIds = this.#componentIds(input.components);
      if (componentIds.length === 0) throw invalid('A maintenance needs at least one component.');
      const at = new Date(this.#now());
      const rec: IncidentRecord = {
        id: randomStatusId(),
        kind: 'maintenance',
        name: input.name,
        status: 'scheduled',
        impact: 'maintenance',
        impactOverride: null,
        auto: false,
        componentIds,
        mergedInto: null,
        startedAt: input.scheduledFor,
        monitoringAt: null,
        resolvedAt: null,
        scheduledFor: input.scheduledFor,
        scheduledUntil: input.scheduledUntil,
        postmortemBody: null,
        postmortemPublishedAt: null,
        createdAt: at,
        updatedAt: at,
      };
      await this.#store.insertIncident(rec);
      await this.#addUpdate(rec.id, 'scheduled', input.body, null, false, at);
      return this.#emitMaintenance(rec.id, 'scheduled');
    });
  }

  /** What the public shape leaves out, for operators: who opened it, an impact override, a merge. */
  async incidentMeta(id: string): Promise<{
    kind: 'incident' | 'maintenance';
    auto: boolean;
    impactOverridden: boolean;
    mergedInto: string | null;
  }> {
    const inc = await this.#store.incident(id);
    if (!inc) throw notFound(`No incident '${id}'.`);
    return {
      kind: inc.kind,
      auto: inc.auto,
      impactOverridden: inc.impactOverride !== null,
      mergedInto: inc.mergedInto,
    };
  }

  /** Every incident, merged ones too (the operators' list). */
  async allIncidents(): Promise<SpIncident[]> {
    return this.#renderMany(await this.#store.incidents('incident', { includeMerged: true, limit: 500 }));
  }

  // ---- StatusView -----------------------------------------------------------------------------------

  #cached<T>(key: string, fn: () => Promise<T>): Promise<T> {
    let p = this.#cache.get(key) as Promise<T> | undefined;
    if (!p) {
      p = fn();
      this.#cache.set(key, p);
      p.catch(() => this.#cache.delete(key));
    }
    return p;
  }

  async #componentList(): Promise<SpComponent[]> {
    return renderComponents(await this.#store.components(), this.#page.id);
  }

  async #renderMany(list: readonly IncidentRecord[]): Promise<SpIncident[]> {
    const [components, updates] = await Promise.all([
      this.#componentList(),
      this.#store.updatesFor(list.map((i) => i.id)),
    ]);
    return list.map((i) => renderIncident(i, updates.get(i.id) ?? [], components, this.#page));
  }

  async incident(id: string): Promise<SpIncident> {
    const inc = await this.#store.incident(id);
    if (!inc) throw notFound(`No incident '${id}'.`);
    const [out] = await this.#renderMany([inc]);
    return out!;
  }

  components(): Promise<SpComponent[]> {
    return this.#cached('components', () => this.#componentList());
  }

  incidents(): Promise<SpIncident[]> {
    return this.#cached('incidents', async () =>
      this.#renderMany(await this.#store.incidents('incident', { limit: RECENT_INCIDENTS })),
    );
  }

  maintenances(): Promise<SpIncident[]> {
    return this.#cached('maintenances', async () =>
      this.#renderMany(await this.#store.incidents('maintenance')),
    );
  }

  summary(): Promise<SpSummary> {
    return this.#cached('summary', async () => {
      const [components, incidents, maintenances] = await Promise.all([
        this.components(),
        this.#renderMany(await this.#store.openIncidents('incident', UNRESOLVED)),
        this.#renderMany(
          await this.#store.openIncidents('maintenance', ['scheduled', ...MAINTENANCE_ACTIVE]),
        ),
      ]);
      const unresolved = incidents.filter((i) => isUnresolved(i.status)).reverse();
      const times = [
        ...components.map((c) => Date.parse(c.updated_at)),
        ...unresolved.map((i) => Date.parse(i.updated_at)),
        ...maintenances.map((i) => Date.parse(i.updated_at)),
      ];
      const updated = new Date(times.length > 0 ? Math.max(...times) : this.#now());
      const upcomingFirst = [...maintenances].sort(
        (a, b) => Date.parse(a.scheduled_for ?? a.created_at) - Date.parse(b.scheduled_for ?? b.created_at),
      );
      return {
        page: renderPage(this.#page, updated),
        status: renderStatus(components, unresolved),
        components,
        incidents: unresolved,
        scheduled_maintenances: upcomingFirst,
      };
    });
  }

  async history(days: number): Promise<ComponentHistory[]> {
    const now = this.#now();
    // Read on every page render: the running day comes from memory, so a busy page never writes.
    if (this.#started) this.#accrue(now);
    const rows = await this.#store.loadDays(dayOf(now - days * 86_400_000));
    const byComponent = new Map<string, Map<string, DayTotals>>();
    for (const r of rows) {
      const m = byComponent.get(r.componentId) ?? new Map<string, DayTotals>();
      m.set(r.day, r.totals);
      byComponent.set(r.componentId, m);
    }
    for (const s of this.specs)
      for (const day of [dayOf(now - 86_400_000), dayOf(now)]) {
        const live = this.#days.peek(s.id, day);
        if (!live) continue;
        const m = byComponent.get(s.id) ?? new Map<string, DayTotals>();
        m.set(day, live);
        byComponent.set(s.id, m);
      }
    const visible = (await this.components()).filter((c) => !c.group);
    return visible.map((c) => ({
      componentId: c.id,
      days: dayRecords(days, now, byComponent.get(c.id) ?? new Map()),
    }));
  }

  async latency(hours: number, componentId?: string): Promise<LatencyPoint[]> {
    const spec = componentId ? this.#specById.get(componentId) : undefined;
    if (componentId && (!spec || spec.role === 'group')) throw notFound(`No component '${componentId}'.`);
    const key = spec?.key ?? 'latency:models';
    const storedId = spec?.id ?? this.#specByKey.get(GROUP_MODELS)?.id ?? '';
    return this.#latency.points(key, hours, this.#now(), this.#storedLatency.get(storedId) ?? new Map());
  }

  /** Component id by config key (`model:<name>`, `platform:api`, `platform:chat`, `custom:<key>`). */
  componentId(key: string): string | undefined {
    return this.#specByKey.get(key)?.id;
  }

  /** Public components as stored: operators' view includes the record's key. */
  async componentRecords(): Promise<ComponentRecord[]> {
    return this.#store.components();
  }
}

export class TooMany extends Error {
  constructor() {
    super('Too many reports from this address; try again later.');
  }
}
