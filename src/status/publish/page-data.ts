import type { SpComponent, SpIncident, SpSummary } from '../statuspage.ts';
import type { ComponentHistory, LatencyPoint, StatusView } from '../view.ts';

/** Everything the page shows, read from the view in one go so one render is one consistent picture. */
export interface PageData {
  summary: SpSummary;
  components: SpComponent[];
  /** 50 most recent incidents, newest first. */
  incidents: SpIncident[];
  maintenances: SpIncident[];
  history: ComponentHistory[];
  latency: LatencyPoint[];
  /** When the data was read (ISO). */
  generatedAt: string;
}

export const HISTORY_DAYS = 90;
export const LATENCY_HOURS = 24;

export async function loadPageData(view: StatusView, now: Date = new Date()): Promise<PageData> {
  const [summary, components, incidents, maintenances, history, latency] = await Promise.all([
    view.summary(),
    view.components(),
    view.incidents(),
    view.maintenances(),
    view.history(HISTORY_DAYS),
    view.latency(LATENCY_HOURS),
  ]);
  return { summary, components, incidents, maintenances, history, latency, generatedAt: now.toISOString() };
}
