import { createHmac, randomBytes } from 'node:crypto';
import { type Kysely, type Selectable, sql } from 'kysely';
import { type Database, jsonb } from '../stores/database.ts';
import type { ReplayHandler } from '../stores/outage/buffer.ts';
import type { StoreGuard } from '../stores/outage/port.ts';
import type { ComponentSpec } from './components.ts';
import type { ComponentRecord, IncidentKind, IncidentRecord, UpdateRecord } from './records.ts';
import type { DayTotals } from './rollup.ts';
import type { ComponentStatus, Impact, SpAffectedComponent } from './statuspage.ts';

/** Table added by migration 0005_status_core. */
interface StatusTables extends Database {
  status_settings: { key: string; value: string };
}

type Row<T extends keyof Database> = Selectable<Database[T]>;

const toComponent = (r: Row<'status_components'>): ComponentRecord => ({
  id: r.id,
  key: r.key,
  name: r.name,
  description: r.description,
  groupId: r.group_id,
  isGroup: r.is_group,
  position: r.position,
  status: r.status as ComponentStatus,
  retired: r.retired,
  createdAt: new Date(r.created_at),
  updatedAt: new Date(r.updated_at),
});

const date = (d: Date | string | null): Date | null => (d === null ? null : new Date(d));

const toIncident = (r: Row<'status_incidents'>): IncidentRecord => ({
  id: r.id,
  kind: r.kind as IncidentKind,
  name: r.name,
  status: r.status as IncidentRecord['status'],
  impact: r.impact as Impact,
  impactOverride: (r.impact_override as Impact | null) ?? null,
  auto: r.auto,
  componentIds: Array.isArray(r.component_ids) ? (r.component_ids as string[]) : [],
  mergedInto: r.merged_into,
  startedAt: new Date(r.started_at),
  monitoringAt: date(r.monitoring_at),
  resolvedAt: date(r.resolved_at),
  scheduledFor: date(r.scheduled_for),
  scheduledUntil: date(r.scheduled_until),
  postmortemBody: r.postmortem_body,
  postmortemPublishedAt: date(r.postmortem_published_at),
  createdAt: new Date(r.created_at),
  updatedAt: new Date(r.updated_at),
});

const toUpdate = (r: Row<'status_incident_updates'>): UpdateRecord => ({
  id: r.id,
  incidentId: r.incident_id,
  status: r.status as UpdateRecord['status'],
  body: r.body,
  affected: Array.isArray(r.affected_components) ? (r.affected_components as SpAffectedComponent[]) : null,
  auto: r.auto,
  deliverNotifications: r.deliver_notifications,
  displayAt: new Date(r.display_at),
  createdAt: new Date(r.created_at),
  updatedAt: new Date(r.updated_at),
});

/** A component status an operator set by hand during an incident (kept in status_settings). */
export interface ManualStatus {
  /** Component key (stable across renames, like the id). */
  key: string;
  status: ComponentStatus;
  incidentId: string;
  /** ISO time it was set. */
  at: string;
}

const MANUAL_KEY = 'manual_component_status';
const STATUSES: readonly string[] = [
  'operational',
  'degraded_performance',
  'partial_outage',
  'major_outage',
  'under_maintenance',
];

function isManualStatus(v: unknown): v is ManualStatus {
  const m = v as Partial<Record<keyof ManualStatus, unknown>> | null;
  return (
    typeof m === 'object' &&
    m !== null &&
    typeof m.key === 'string' &&
    typeof m.status === 'string' &&
    STATUSES.includes(m.status) &&
    typeof m.incidentId === 'string' &&
    typeof m.at === 'string'
  );
}

export type IncidentPatch = Partial<
  Pick<
    IncidentRecord,
    | 'name'
    | 'status'
    | 'impact'
    | 'impactOverride'
    | 'componentIds'
    | 'mergedInto'
    | 'monitoringAt'
    | 'resolvedAt'
    | 'scheduledFor'
    | 'scheduledUntil'
    | 'postmortemBody'
    | 'postmortemPublishedAt'
  >
>;

interface DayData {
  componentId: string;
  day: string;
  totals: DayTotals;
  latency: unknown;
}

async function saveDay(db: Kysely<Database>, d: DayData): Promise<void> {
  const values = {
    worst_status: d.totals.worst,
    seconds: jsonb(d.totals.seconds),
    ...(d.latency !== undefined ? { latency: jsonb(d.latency) } : {}),
  };
  await db
    .insertInto('status_daily')
    .values({ component_id: d.componentId, day: d.day, ...values })
    .onConflict((oc) => oc.columns(['component_id', 'day']).doUpdateSet(values))
    .execute();
}

async function setComponentStatus(
  db: Kysely<Database>,
  d: { id: string; status: ComponentStatus; at: number },
): Promise<void> {
  await db
    .updateTable('status_components')
    .set({ status: d.status, updated_at: new Date(d.at) })
    .where('id', '=', d.id)
    .execute();
}

const STATUS_DAY = 'status.day';
const STATUS_COMPONENT = 'status.component';

/**
 * The status system's telemetry writes as outage-buffer records (docs/postgres-outage.md): a day's
 * totals (an upsert of the whole day) and a component's status. Both set values, so a replay repeats
 * harmlessly, and in order the last one wins as it did live.
 */
export const statusReplayHandlers: Readonly<Record<string, ReplayHandler>> = {
  [STATUS_DAY]: (db, d) => saveDay(db, d as DayData),
  [STATUS_COMPONENT]: (db, d) =>
    setComponentStatus(db, d as { id: string; status: ComponentStatus; at: number }),
};

/** Every read and write of the status system's tables. No policy here. */
export class StatusStore {
  readonly #db: Kysely<StatusTables>;
  readonly #plain: Kysely<Database>;
  readonly #guard: StoreGuard | undefined;

  /** `guard`: on PostgreSQL, telemetry writes go through its outage buffer and reads fail fast. */
  constructor(db: Kysely<Database>, guard?: StoreGuard) {
    this.#plain = db;
    this.#db = db.withTables<{ status_settings: { key: string; value: string } }>();
    this.#guard = guard;
  }

  /** Whether the database is known to be unreachable now (the status tick then runs from memory). */
  get offline(): boolean {
    return this.#guard?.down === true;
  }

  /**
   * Brings the stored components in line with the config: new keys get their stable id, known keys keep
   * theirs (names and places may change), keys gone from the config are retired, never deleted.
   */
  async syncComponents(specs: readonly ComponentSpec[], now: Date): Promise<ComponentRecord[]> {
    const byKey = new Map(specs.map((s) => [s.key, s]));
    const idOf = (key: string | null): string | null => (key ? (byKey.get(key)?.id ?? null) : null);
    await this.#db.transaction().execute(async (tx) => {
      const existing = await tx.selectFrom('status_components').select(['id', 'key', 'retired']).execute();
      const known = new Map(existing.map((e) => [e.key, e]));
      for (const s of specs) {
        const values = {
          name: s.name,
          description: s.description,
          group_id: idOf(s.groupKey),
          is_group: s.role === 'group',
          position: s.position,
          retired: false,
        };
        const had = known.get(s.key);
        // Replicas starting together on an empty database all insert the same components: the id is
        // stable per key, so whoever comes second updates instead of failing its start.
        if (!had)
          await tx
            .insertInto('status_components')
            .values({ id: s.id, key: s.key, ...values, created_at: now, updated_at: now })
            .onConflict((oc) => oc.column('id').doUpdateSet(values))
            .execute();
        else await tx.updateTable('status_components').set(values).where('key', '=', s.key).execute();
      }
      const gone = existing.filter((e) => !byKey.has(e.key) && !e.retired).map((e) => e.key);
      if (gone.length > 0)
        await tx
          .updateTable('status_components')
          .set({ retired: true, updated_at: now })
          .where('key', 'in', gone)
          .execute();
    });
    return this.components();
  }

  async components(): Promise<ComponentRecord[]> {
    const rows = await this.#db.selectFrom('status_components').selectAll().orderBy('position').execute();
    return rows.map((r) => toComponent(r as Row<'status_components'>));
  }

  async setComponentStatus(id: string, status: ComponentStatus, now: Date): Promise<void> {
    const data = { id, status, at: now.getTime() };
    if (!this.#guard) return setComponentStatus(this.#plain, data);
    await this.#guard.write({
      kind: STATUS_COMPONENT,
      key: `component:${id}`,
      data,
      admission: 'continuing',
    });
  }

  async insertIncident(rec: IncidentRecord): Promise<void> {
    await this.#db
      .insertInto('status_incidents')
      .values({
        id: rec.id,
        kind: rec.kind,
        name: rec.name,
        status: rec.status,
        impact: rec.impact,
        impact_override: rec.impactOverride,
        auto: rec.auto,
        component_ids: jsonb(rec.componentIds),
        merged_into: rec.mergedInto,
        started_at: rec.startedAt,
        monitoring_at: rec.monitoringAt,
        resolved_at: rec.resolvedAt,
        scheduled_for: rec.scheduledFor,
        scheduled_until: rec.scheduledUntil,
        postmortem_body: rec.postmortemBody,
        postmortem_published_at: rec.postmortemPublishedAt,
        created_at: rec.createdAt,
        updated_at: rec.updatedAt,
      })
      .execute();
  }

  async patchIncident(id: string, patch: IncidentPatch, now: Date): Promise<void> {
    const set: Record<string, unknown> = { updated_at: now };
    const cols: Record<keyof IncidentPatch, string> = {
      name: 'name',
      status: 'status',
      impact: 'impact',
      impactOverride: 'impact_override',
      componentIds: 'component_ids',
      mergedInto: 'merged_into',
      monitoringAt: 'monitoring_at',
      resolvedAt: 'resolved_at',
      scheduledFor: 'scheduled_for',
      scheduledUntil: 'scheduled_until',
      postmortemBody: 'postmortem_body',
      postmortemPublishedAt: 'postmortem_published_at',
    };
    for (const [k, v] of Object.entries(patch) as [keyof IncidentPatch, unknown][]) {
      if (v === undefined) continue;
      set[cols[k]] = k === 'componentIds' ? jsonb(v) : v;
    }
    await this.#db
      .updateTable('status_incidents')
      .set(set as never)
      .where('id', '=', id)
      .execute();
  }

  async insertUpdate(u: UpdateRecord): Promise<void> {
    await this.#db
      .insertInto('status_incident_updates')
      .values({
        id: u.id,
        incident_id: u.incidentId,
        status: u.status,
        body: u.body,
        affected_components: u.affected ? jsonb(u.affected) : null,
        auto: u.auto,
        deliver_notifications: u.deliverNotifications,
        display_at: u.displayAt,
        created_at: u.createdAt,
        updated_at: u.updatedAt,
      })
      .execute();
  }

  async incident(id: string): Promise<IncidentRecord | undefined> {
    const r = await this.#db
      .selectFrom('status_incidents')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return r ? toIncident(r as Row<'status_incidents'>) : undefined;
  }

  /** Newest first. `openOnly`: incidents not resolved / maintenances not completed. */
  async incidents(
    kind: IncidentKind,
    opts: { limit?: number; includeMerged?: boolean } = {},
  ): Promise<IncidentRecord[]> {
    let q = this.#db.selectFrom('status_incidents').selectAll().where('kind', '=', kind);
    if (!opts.includeMerged) q = q.where('merged_into', 'is', null);
    const order = kind === 'maintenance' ? 'scheduled_for' : 'created_at';
    const rows = await q
      .orderBy(order, 'desc')
      .orderBy('created_at', 'desc')
      .limit(opts.limit ?? 1_000)
      .execute();
    return rows.map((r) => toIncident(r as Row<'status_incidents'>));
  }

  async openIncidents(kind: IncidentKind, statuses: readonly string[]): Promise<IncidentRecord[]> {
    const rows = await this.#db
      .selectFrom('status_incidents')
      .selectAll()
      .where('kind', '=', kind)
      .where('merged_into', 'is', null)
      .where('status', 'in', [...statuses])
      .orderBy('created_at')
      .execute();
    return rows.map((r) => toIncident(r as Row<'status_incidents'>));
  }

  /** Updates of these incidents and of every incident merged into them, by owning incident. */
  async updatesFor(ids: readonly string[]): Promise<Map<string, UpdateRecord[]>> {
    const out = new Map<string, UpdateRecord[]>(ids.map((id) => [id, []]));
    if (ids.length === 0) return out;
    const merged = await this.#db
      .selectFrom('status_incidents')
      .select(['id', 'merged_into'])
      .where('merged_into', 'in', [...ids])
      .execute();
    const owner = new Map<string, string>(ids.map((id) => [id, id]));
    for (const m of merged) if (m.merged_into) owner.set(m.id, m.merged_into);
    const rows = await this.#db
      .selectFrom('status_incident_updates')
      .selectAll()
      .where('incident_id', 'in', [...owner.keys()])
      .execute();
    for (const r of rows) {
      const u = toUpdate(r as Row<'status_incident_updates'>);
      out.get(owner.get(u.incidentId)!)?.push(u);
    }
    return out;
  }

  async loadDays(
    since: string,
  ): Promise<{ componentId: string; day: string; totals: DayTotals; latency: unknown }[]> {
    const rows = await this.#db.selectFrom('status_daily').selectAll().where('day', '>=', since).execute();
    return rows.map((r) => ({
      componentId: r.component_id,
      day: r.day,
      totals: {
        worst: r.worst_status as ComponentStatus,
        seconds: (r.seconds ?? {}) as DayTotals['seconds'],
      },
      latency: r.latency,
    }));
  }

  async saveDay(componentId: string, day: string, totals: DayTotals, latency: unknown): Promise<void> {
    const data: DayData = { componentId, day, totals, latency };
    if (!this.#guard) return saveDay(this.#plain, data);
    await this.#guard.write({
      kind: STATUS_DAY,
      key: `day:${componentId}:${day}`,
      data,
      admission: 'continuing',
    });
  }

  /** The keyed-hash secret for reporters' IP addresses: made once, kept, never shown. */
  async reportSecret(): Promise<Buffer> {
    const fresh = randomBytes(32).toString('base64');
    await this.#db
      .insertInto('status_settings')
      .values({ key: 'report_ip_secret', value: fresh })
      .onConflict((oc) => oc.column('key').doNothing())
      .execute();
    const row = await this.#db
      .selectFrom('status_settings')
      .select('value')
      .where('key', '=', 'report_ip_secret')
      .executeTakeFirstOrThrow();
    return Buffer.from(row.value, 'base64');
  }

  /** Operators' manual component statuses (component key → status and the incident it belongs to). */
  async manualStatuses(): Promise<ManualStatus[]> {
    const row = await this.#db
      .selectFrom('status_settings')
      .select('value')
      .where('key', '=', MANUAL_KEY)
      .executeTakeFirst();
    if (!row) return [];
    try {
      const list: unknown = JSON.parse(row.value);
      return Array.isArray(list) ? list.filter(isManualStatus) : [];
    } catch {
      return [];
    }
  }

  async saveManualStatuses(list: readonly ManualStatus[]): Promise<void> {
    const value = JSON.stringify(list);
    await this.#db
      .insertInto('status_settings')
      .values({ key: MANUAL_KEY, value })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
      .execute();
  }

  static ipHash(secret: Buffer, ip: string): string {
    return createHmac('sha256', secret).update(ip).digest('base64url');
  }

  /** A public (signed-out) report; counted unless this IP hash already counted one in the window. */
  async addPublicReport(r: {
    id: string;
    ipHash: string;
    componentId: string;
    category: string;
    text: string;
    now: Date;
    windowMs: number;
  }): Promise<{ counted: boolean; stored: number }> {
    const since = new Date(r.now.getTime() - r.windowMs);
    const recent = await this.#db
      .selectFrom('reports')
      .select(['counted'])
      .where('ip_hash', '=', r.ipHash)
      .where('created_at', '>', since)
      .execute();
    const counted = !recent.some((x) => x.counted);
    await this.#db
      .insertInto('reports')
      .values({
        id: r.id,
        user_id: null,
        category: r.category,
        text: r.text,
        model: null,
        conversation_id: null,
        counted,
        ip_hash: r.ipHash,
        component_id: r.componentId,
        created_at: r.now,
      })
      .execute();
    return { counted, stored: recent.length + 1 };
  }

  /** Counted reports since `since`, by component id or (chat reports) model name. */
  async countedSince(
    since: Date,
  ): Promise<{ componentId: string | null; model: string | null; n: number }[]> {
    const rows = await this.#db
      .selectFrom('reports')
      .select(['component_id', 'model', (eb) => eb.fn.countAll<string>().as('n')])
      .where('counted', '=', true)
      .where('created_at', '>', since)
      .groupBy(['component_id', 'model'])
      .execute();
    return rows.map((r) => ({ componentId: r.component_id, model: r.model, n: Number(r.n) }));
  }

  /** Counted reports at one hour of the week (UTC, Monday 0) between `from` and `to`. */
  async countedAtHourOfWeek(
    hourOfWeek: number,
    from: Date,
    to: Date,
  ): Promise<{ componentId: string | null; model: string | null; n: number }[]> {
    const how = sql<number>`((cast(extract(isodow from created_at at time zone 'UTC') as int) - 1) * 24 + cast(extract(hour from created_at at time zone 'UTC') as int))`;
    const rows = await this.#db
      .selectFrom('reports')
      .select(['component_id', 'model', (eb) => eb.fn.countAll<string>().as('n')])
      .where('counted', '=', true)
      .where('created_at', '>=', from)
      .where('created_at', '<', to)
      .where(how, '=', hourOfWeek)
      .groupBy(['component_id', 'model'])
      .execute();
    return rows.map((r) => ({ componentId: r.component_id, model: r.model, n: Number(r.n) }));
  }

  async recentReports(limit: number): Promise<
    {
      id: string;
      category: string;
      text: string;
      model: string | null;
      componentId: string | null;
      counted: boolean;
      createdAt: Date;
      source: 'chat' | 'public';
    }[]
  > {
    const rows = await this.#db
      .selectFrom('reports')
      .select(['id', 'category', 'text', 'model', 'component_id', 'counted', 'created_at', 'ip_hash'])
      .orderBy('created_at', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      id: r.id,
      category: r.category,
      text: r.text,
      model: r.model,
      componentId: r.component_id,
      counted: r.counted,
      createdAt: new Date(r.created_at),
      source: r.ip_hash ? 'public' : 'chat',
    }));
  }
}
