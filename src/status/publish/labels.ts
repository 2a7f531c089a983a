import type { ComponentStatus, Impact, IncidentStatus, Indicator, MaintenanceStatus } from '../statuspage.ts';

export const COMPONENT_LABEL: Record<ComponentStatus, string> = {
  operational: 'Operational',
  degraded_performance: 'Degraded performance',
  partial_outage: 'Partial outage',
  major_outage: 'Major outage',
  under_maintenance: 'Under maintenance',
};

/** Worst first: the order a day's or a group's status is picked by. */
export const SEVERITY: Record<ComponentStatus, number> = {
  major_outage: 4,
  partial_outage: 3,
  degraded_performance: 2,
  under_maintenance: 1,
  operational: 0,
};

export const UPDATE_LABEL: Record<IncidentStatus | MaintenanceStatus, string> = {
  investigating: 'Investigating',
  identified: 'Identified',
  monitoring: 'Monitoring',
  resolved: 'Resolved',
  postmortem: 'Postmortem',
  scheduled: 'Scheduled',
  in_progress: 'In progress',
  verifying: 'Verifying',
  completed: 'Completed',
};

export const IMPACT_LABEL: Record<Impact, string> = {
  none: 'No impact',
  minor: 'Minor',
  major: 'Major',
  critical: 'Critical',
  maintenance: 'Maintenance',
};

/**
 * Colours for badges, chat messages and emails (the page has its own in CSS). Status colours are the
 * conventional ones, darkened enough for white text to pass WCAG AA on badges.
 */
export const COMPONENT_COLOUR: Record<ComponentStatus, string> = {
  operational: '#1a7f37',
  degraded_performance: '#9a6700',
  partial_outage: '#bc4c00',
  major_outage: '#cf222e',
  under_maintenance: '#0969da',
};

export const INDICATOR_COLOUR: Record<Indicator, string> = {
  none: '#1a7f37',
  minor: '#9a6700',
  major: '#bc4c00',
  critical: '#cf222e',
};

export const IMPACT_COLOUR: Record<Impact, string> = {
  none: '#57606a',
  minor: '#9a6700',
  major: '#bc4c00',
  critical: '#cf222e',
  maintenance: '#0969da',
};

export function isUnresolved(status: string): boolean {
  return status === 'investigating' || status === 'identified' || status === 'monitoring';
}

export function isActiveMaintenance(status: string): boolean {
  return status === 'in_progress' || status === 'verifying';
}

/** "14 May 2025, 09:30 UTC" (the page's script re-renders it in the reader's zone). */
export function formatTime(iso: string, timeZone = 'UTC'): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  try {
    return new Intl.DateTimeFormat('en-GB', {
      day: 'numeric',
      month: 'short',
      year: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      timeZone,
      timeZoneName: 'short',
    }).format(d);
  } catch {
    // An unknown zone name in the config must not break the page.
    return formatTime(iso, 'UTC');
  }
}

export function formatDay(day: string): string {
  const d = new Date(`${day}T00:00:00Z`);
  if (Number.isNaN(d.getTime())) return day;
  return new Intl.DateTimeFormat('en-GB', {
    day: 'numeric',
    month: 'short',
    year: 'numeric',
    timeZone: 'UTC',
  }).format(d);
}

export function formatPercent(share: number): string {
  const pct = share * 100;
  // 99.999% must not round up to a misleading 100%.
  if (pct < 100 && pct >= 99.995) return '99.99%';
  return `${pct.toFixed(2)}%`;
}
