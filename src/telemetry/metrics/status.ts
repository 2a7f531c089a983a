import { Gauge, type Registry } from 'prom-client';
import type { ComponentStatus } from '../../status/statuspage.ts';
import type { StatusEvent } from '../../status/view.ts';
import type { LabelSpaces } from './labels.ts';
import { FastCounter } from './series.ts';

const STATUSES: readonly ComponentStatus[] = [
  'operational',
  'degraded_performance',
  'partial_outage',
  'major_outage',
  'under_maintenance',
];

/** The slice of the status service read at scrape time. */
export interface StatusReadings {
  readings(): ReadonlyMap<string, { status: ComponentStatus }>;
}

/**
 * The status system: each component's status as the page shows it (read at scrape time), and its
 * changes and incident/maintenance events from `holdfast:status:event`. Components are labelled by their
 * stable key (`model:<group>`, `platform:api`, `platform:chat`, or a configured `custom:<key>`).
 */
export class StatusMetrics {
  readonly #labels: LabelSpaces;
  readonly changes: FastCounter;
  readonly incidents: FastCounter;

  constructor(registry: Registry, labels: LabelSpaces, status: () => StatusReadings | undefined) {
    this.#labels = labels;
    this.changes = new FastCounter(
      registry,
      'holdfast_status_component_changes_total',
      'Status page component changes, by the status changed to.',
      ['component', 'status'],
    );
    this.incidents = new FastCounter(
      registry,
      'holdfast_status_incident_events_total',
      'Incident and maintenance events: created/updated/resolved, scheduled/started/updated/completed.',
      ['type', 'change'],
    );
    new Gauge({
      name: 'holdfast_status_component_status',
      help: "Each status page component's status now: 1 for the current one, 0 for the others.",
      labelNames: ['component', 'status'],
      registers: [registry],
      collect() {
        this.reset();
        const s = status();
        if (!s) return;
        for (const [component, r] of s.readings())
          for (const st of STATUSES) this.set({ component, status: st }, r.status === st ? 1 : 0);
      },
    });
  }

  onEvent(ev: StatusEvent): void {
    if (ev.type === 'component') {
      // Ids of components this config does not have are another gateway's (tests run several).
      const key = this.#labels.get().componentKeyOf.get(ev.component.id);
      if (key !== undefined) this.changes.with(key, ev.newStatus).inc();
      return;
    }
    this.incidents.with(ev.type, ev.change).inc();
  }
}
