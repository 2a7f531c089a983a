/**
 * Atlassian Statuspage v2 public shapes, mirrored exactly (docs: REFERENCE.md "Atlassian Statuspage v2").
 * Everything the status system publishes (JSON API, HTML page, feeds, static export, webhooks) is
 * rendered from these objects, so every face tells the same story.
 */

export type ComponentStatus =
  | 'operational'
  | 'degraded_performance'
  | 'partial_outage'
  | 'major_outage'
  | 'under_maintenance';

export type Indicator = 'none' | 'minor' | 'major' | 'critical';

export type IncidentStatus = 'investigating' | 'identified' | 'monitoring' | 'resolved' | 'postmortem';
export type MaintenanceStatus = 'scheduled' | 'in_progress' | 'verifying' | 'completed';
export type Impact = 'none' | 'minor' | 'major' | 'critical' | 'maintenance';

export interface SpPage {
  id: string;
  name: string;
  url: string;
  time_zone: string;
  updated_at: string;
}

export interface SpStatus {
  indicator: Indicator;
  /** "All Systems Operational", "Minor Service Outage", "Partial System Outage", "Major Service Outage". */
  description: string;
}

export interface SpComponent {
  id: string;
  name: string;
  status: ComponentStatus;
  created_at: string;
  updated_at: string;
  position: number;
  description: string | null;
  showcase: boolean;
  start_date: string | null;
  group_id: string | null;
  page_id: string;
  group: boolean;
  only_show_if_degraded: boolean;
  /** Child component ids; present on groups only. */
  components?: string[];
}

export interface SpAffectedComponent {
  code: string;
  name: string;
  old_status: ComponentStatus;
  new_status: ComponentStatus;
}

export interface SpIncidentUpdate {
  id: string;
  status: IncidentStatus | MaintenanceStatus;
  body: string;
  incident_id: string;
  created_at: string;
  updated_at: string;
  display_at: string;
  affected_components: SpAffectedComponent[] | null;
  deliver_notifications: boolean;
}

export interface SpIncident {
  id: string;
  name: string;
  status: IncidentStatus | MaintenanceStatus;
  impact: Impact;
  created_at: string;
  updated_at: string;
  monitoring_at: string | null;
  resolved_at: string | null;
  started_at: string;
  shortlink: string;
  page_id: string;
  incident_updates: SpIncidentUpdate[];
  components: SpComponent[];
  /** Maintenances only. */
  scheduled_for?: string | null;
  scheduled_until?: string | null;
  /** Holdfast extension (Statuspage has a separate postmortem endpoint): the published postmortem. */
  postmortem_body?: string | null;
  postmortem_published_at?: string | null;
}

export interface SpSummary {
  page: SpPage;
  status: SpStatus;
  components: SpComponent[];
  /** Unresolved incidents. */
  incidents: SpIncident[];
  /** Upcoming and active maintenances. */
  scheduled_maintenances: SpIncident[];
}

/** Webhook bodies: no type field; receivers tell them apart by the top-level key. */
export interface SpWebhookMeta {
  unsubscribe: string;
  documentation: string;
  generated_at: string;
}

export interface SpWebhookPage {
  id: string;
  status_indicator: Indicator;
  status_description: string;
}

export type SpWebhookPayload =
  | { meta: SpWebhookMeta; page: SpWebhookPage; incident: SpIncident }
  | {
      meta: SpWebhookMeta;
      page: SpWebhookPage;
      component: SpComponent;
      component_update: {
        id: string;
        component_id: string;
        old_status: ComponentStatus;
        new_status: ComponentStatus;
        created_at: string;
      };
    };
