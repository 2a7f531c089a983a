import { channel } from 'node:diagnostics_channel';
import type { ComponentStatus, SpComponent, SpIncident, SpSummary } from './statuspage.ts';

/** One UTC day of one component, for the 90-day uptime bars. */
export interface DayRecord {
  /** YYYY-MM-DD (UTC). */
  day: string;
  worst: ComponentStatus;
  /** Share of the observed time the component was operational (or under maintenance), 0..1; null: no data. */
  uptime: number | null;
}

export interface ComponentHistory {
  componentId: string;
  days: DayRecord[];
}

/** Response times for the page's chart: one point per bucket. */
export interface LatencyPoint {
  /** ISO timestamp of the bucket start. */
  at: string;
  p50Ms: number | null;
  p95Ms: number | null;
  count: number;
}

/**
 * What the status core offers every face that publishes it: the JSON API, the HTML page, feeds, the
 * static export and notifications all render from this, so they cannot disagree.
 */
export interface StatusView {
  summary(): Promise<SpSummary>;
  components(): Promise<SpComponent[]>;
  /** The 50 most recent incidents (not maintenances), newest first. */
  incidents(): Promise<SpIncident[]>;
  /** Every maintenance (scheduled, in progress, verifying, completed), newest scheduled first. */
  maintenances(): Promise<SpIncident[]>;
  /** Per component, the last `days` UTC days, oldest first. */
  history(days: number): Promise<ComponentHistory[]>;
  /** Response-time points for the last `hours` hours, for all model traffic or one component. */
  latency(hours: number, componentId?: string): Promise<LatencyPoint[]>;
}

/**
 * What changed, as it happens: notifications, the static export and caches subscribe. Incident and
 * maintenance events carry the whole Statuspage object as it is after the change.
 */
export type StatusEvent =
  | { type: 'incident'; change: 'created' | 'updated' | 'resolved'; incident: SpIncident }
  | { type: 'maintenance'; change: 'scheduled' | 'started' | 'updated' | 'completed'; incident: SpIncident }
  | {
      type: 'component';
      component: SpComponent;
      oldStatus: ComponentStatus;
      newStatus: ComponentStatus;
      at: string;
    };

export const STATUS_EVENT_CHANNEL = 'holdfast:status:event';
export const statusEventChannel = channel(STATUS_EVENT_CHANNEL);

export function publishStatusEvent(ev: StatusEvent): void {
  if (statusEventChannel.hasSubscribers) statusEventChannel.publish(ev);
}
