import type { ComponentStatus, Impact, Indicator, SpSummary } from '../statuspage.ts';
import { isActiveMaintenance } from './labels.ts';

/** The small JSON apps poll to show a status strip (the chat app uses it). */
export interface StatusBanner {
  page: { name: string; url: string };
  indicator: Indicator;
  description: string;
  incidents: { id: string; name: string; status: string; impact: Impact; url: string; updated_at: string }[];
  /** Maintenance in progress now. */
  maintenances: {
    id: string;
    name: string;
    status: string;
    url: string;
    scheduled_for: string | null;
    scheduled_until: string | null;
  }[];
  /** Components not operational, groups left out. */
  affected_components: { id: string; name: string; status: ComponentStatus }[];
  updated_at: string;
}

export function renderBanner(
  summary: SpSummary,
  incidentUrl: (id: string) => string,
  now: Date = new Date(),
): StatusBanner {
  return {
    page: { name: summary.page.name, url: summary.page.url },
    indicator: summary.status.indicator,
    description: summary.status.description,
    incidents: summary.incidents.map((i) => ({
      id: i.id,
      name: i.name,
      status: i.status,
      impact: i.impact,
      url: incidentUrl(i.id),
      updated_at: i.updated_at,
    })),
    maintenances: summary.scheduled_maintenances
      .filter((m) => isActiveMaintenance(m.status))
      .map((m) => ({
        id: m.id,
        name: m.name,
        status: m.status,
        url: incidentUrl(m.id),
        scheduled_for: m.scheduled_for ?? null,
        scheduled_until: m.scheduled_until ?? null,
      })),
    affected_components: summary.components
      .filter((c) => !c.group && c.status !== 'operational')
      .map((c) => ({ id: c.id, name: c.name, status: c.status })),
    updated_at: now.toISOString(),
  };
}
