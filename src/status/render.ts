import { worst } from './burn.ts';
import {
  type ComponentRecord,
  effectiveImpact,
  type IncidentRecord,
  MAINTENANCE_ACTIVE,
  UNRESOLVED,
  type UpdateRecord,
} from './records.ts';
import type {
  ComponentStatus,
  IncidentStatus,
  Indicator,
  MaintenanceStatus,
  SpComponent,
  SpIncident,
  SpPage,
  SpStatus,
} from './statuspage.ts';

export interface PageInfo {
  id: string;
  name: string;
  url: string;
  timeZone: string;
}

const iso = (d: Date): string => d.toISOString();

/** Visible components in page order; a group shows its worst child, so a glance at groups is honest. */
export function renderComponents(rows: readonly ComponentRecord[], pageId: string): SpComponent[] {
  const live = rows.filter((r) => !r.retired).sort((a, b) => a.position - b.position);
  const children = new Map<string, ComponentRecord[]>();
  for (const r of live) if (r.groupId) children.set(r.groupId, [...(children.get(r.groupId) ?? []), r]);
  return live
    .filter((r) => !r.isGroup || (children.get(r.id)?.length ?? 0) > 0)
    .map((r) => {
      const kids = children.get(r.id) ?? [];
      const status: ComponentStatus = r.isGroup
        ? kids.reduce<ComponentStatus>(
            (s, k) =>
              k.status === 'under_maintenance' && s === 'operational' ? k.status : worst(s, k.status),
            'operational',
          )
        : r.status;
      const updatedAt = r.isGroup
        ? new Date(Math.max(r.updatedAt.getTime(), ...kids.map((k) => k.updatedAt.getTime())))
        : r.updatedAt;
      const c: SpComponent = {
        id: r.id,
        name: r.name,
        status,
        created_at: iso(r.createdAt),
        updated_at: iso(updatedAt),
        position: r.position,
        description: r.description,
        showcase: !r.isGroup,
        start_date: r.isGroup ? null : iso(r.createdAt).slice(0, 10),
        group_id: r.groupId,
        page_id: pageId,
        group: r.isGroup,
        only_show_if_degraded: false,
      };
      if (r.isGroup) c.components = kids.map((k) => k.id);
      return c;
    });
}

const INDICATOR_OF: Record<ComponentStatus, Indicator> = {
  operational: 'none',
  under_maintenance: 'none',
  degraded_performance: 'minor',
  partial_outage: 'major',
  major_outage: 'critical',
};
const INDICATOR_RANK: Record<Indicator, number> = { none: 0, minor: 1, major: 2, critical: 3 };
const DESCRIPTION: Record<Indicator, string> = {
  none: 'All Systems Operational',
  minor: 'Minor Service Outage',
  major: 'Partial System Outage',
  critical: 'Major Service Outage',
};

/** The page's one-line verdict: the worse of the components and the unresolved incidents' impact. */
export function renderStatus(
  components: readonly SpComponent[],
  unresolved: readonly SpIncident[],
): SpStatus {
  let indicator: Indicator = 'none';
  const raise = (i: Indicator): void => {
    if (INDICATOR_RANK[i] > INDICATOR_RANK[indicator]) indicator = i;
  };
  for (const c of components) if (!c.group) raise(INDICATOR_OF[c.status]);
  for (const i of unresolved) if (i.impact !== 'maintenance') raise(i.impact);
  const maintenance = components.some((c) => c.status === 'under_maintenance');
  const description =
    indicator === 'none' && maintenance ? 'Service Under Maintenance' : DESCRIPTION[indicator];
  return { indicator, description };
}

export function renderPage(page: PageInfo, updatedAt: Date): SpPage {
  return {
    id: page.id,
    name: page.name,
    url: page.url,
    time_zone: page.timeZone,
    updated_at: iso(updatedAt),
  };
}

/**
 * One incident or maintenance as Statuspage shows it: updates newest first (those of incidents merged
 * into it included), the affected components with their current status.
 */
export function renderIncident(
  inc: IncidentRecord,
  updates: readonly UpdateRecord[],
  components: readonly SpComponent[],
  page: PageInfo,
): SpIncident {
  const byId = new Map(components.map((c) => [c.id, c]));
  const out: SpIncident = {
    id: inc.id,
    name: inc.name,
    status: inc.status,
    impact: inc.kind === 'maintenance' ? 'maintenance' : effectiveImpact(inc),
    created_at: iso(inc.createdAt),
    updated_at: iso(inc.updatedAt),
    monitoring_at: inc.monitoringAt ? iso(inc.monitoringAt) : null,
    resolved_at: inc.resolvedAt ? iso(inc.resolvedAt) : null,
    started_at: iso(inc.startedAt),
    shortlink: `${page.url.replace(/\/$/, '')}/incidents/${inc.id}`,
    page_id: page.id,
    incident_updates: [...updates]
      .sort(
        (a, b) =>
          b.displayAt.getTime() - a.displayAt.getTime() || b.createdAt.getTime() - a.createdAt.getTime(),
      )
      .map((u) => ({
        id: u.id,
        status: u.status,
        body: u.body,
        incident_id: inc.id,
        created_at: iso(u.createdAt),
        updated_at: iso(u.updatedAt),
        display_at: iso(u.displayAt),
        affected_components: u.affected,
        deliver_notifications: u.deliverNotifications,
      })),
    components: inc.componentIds.flatMap((id) => {
      const c = byId.get(id);
      return c ? [c] : [];
    }),
  };
  if (inc.kind === 'maintenance') {
    out.scheduled_for = inc.scheduledFor ? iso(inc.scheduledFor) : null;
    out.scheduled_until = inc.scheduledUntil ? iso(inc.scheduledUntil) : null;
  }
  if (inc.postmortemPublishedAt) {
    out.postmortem_body = inc.postmortemBody;
    out.postmortem_published_at = iso(inc.postmortemPublishedAt);
  }
  return out;
}

export const isUnresolved = (s: IncidentStatus | MaintenanceStatus): boolean =>
  (UNRESOLVED as readonly string[]).includes(s);
export const isActiveMaintenance = (s: IncidentStatus | MaintenanceStatus): boolean =>
  (MAINTENANCE_ACTIVE as readonly string[]).includes(s);
