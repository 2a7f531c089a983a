import type {
  ComponentStatus,
  Impact,
  IncidentStatus,
  MaintenanceStatus,
  SpAffectedComponent,
} from './statuspage.ts';

/** A component as stored: the page's view of it, plus what the page does not show. */
export interface ComponentRecord {
  id: string;
  key: string;
  name: string;
  description: string | null;
  groupId: string | null;
  isGroup: boolean;
  position: number;
  status: ComponentStatus;
  retired: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export type IncidentKind = 'incident' | 'maintenance';

export interface IncidentRecord {
  id: string;
  kind: IncidentKind;
  name: string;
  status: IncidentStatus | MaintenanceStatus;
  /** The computed impact; `impactOverride` wins when set. */
  impact: Impact;
  impactOverride: Impact | null;
  auto: boolean;
  componentIds: string[];
  mergedInto: string | null;
  startedAt: Date;
  monitoringAt: Date | null;
  resolvedAt: Date | null;
  scheduledFor: Date | null;
  scheduledUntil: Date | null;
  postmortemBody: string | null;
  postmortemPublishedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface UpdateRecord {
  id: string;
  incidentId: string;
  status: IncidentStatus | MaintenanceStatus;
  body: string;
  affected: SpAffectedComponent[] | null;
  auto: boolean;
  deliverNotifications: boolean;
  displayAt: Date;
  createdAt: Date;
  updatedAt: Date;
}

export const UNRESOLVED: readonly IncidentStatus[] = ['investigating', 'identified', 'monitoring'];
export const MAINTENANCE_ACTIVE: readonly MaintenanceStatus[] = ['in_progress', 'verifying'];

export const effectiveImpact = (i: IncidentRecord): Impact => i.impactOverride ?? i.impact;
