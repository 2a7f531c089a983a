import type { SpIncident, SpPage } from '../statuspage.ts';
import type { StatusView } from '../view.ts';

/**
 * The Statuspage v2 JSON bodies, rendered from the view. The live API and the static export both use
 * this, so a file on a static host is byte-for-byte what the gateway would have answered.
 */
export const V2_PATHS = [
  'api/v2/status.json',
  'api/v2/summary.json',
  'api/v2/components.json',
  'api/v2/incidents.json',
  'api/v2/incidents/unresolved.json',
  'api/v2/scheduled-maintenances.json',
  'api/v2/scheduled-maintenances/upcoming.json',
  'api/v2/scheduled-maintenances/active.json',
] as const;

export type V2Path = (typeof V2_PATHS)[number];

const ACTIVE = new Set(['in_progress', 'verifying']);

const incidentsBody = (page: SpPage, incidents: SpIncident[]) => ({ page, incidents });
const maintenancesBody = (page: SpPage, scheduled_maintenances: SpIncident[]) => ({
  page,
  scheduled_maintenances,
});

/** One document's body (an object, ready for JSON.stringify). */
export async function v2Document(view: StatusView, path: V2Path): Promise<object> {
  switch (path) {
    case 'api/v2/summary.json':
      return view.summary();
    case 'api/v2/status.json': {
      const { page, status } = await view.summary();
      return { page, status };
    }
    case 'api/v2/components.json': {
      const [{ page }, components] = await Promise.all([view.summary(), view.components()]);
      return { page, components };
    }
    case 'api/v2/incidents.json': {
      const [{ page }, incidents] = await Promise.all([view.summary(), view.incidents()]);
      return incidentsBody(page, incidents);
    }
    case 'api/v2/incidents/unresolved.json': {
      // The summary's list: every unresolved incident, not only those among the 50 most recent.
      const { page, incidents } = await view.summary();
      return incidentsBody(page, incidents);
    }
    case 'api/v2/scheduled-maintenances.json': {
      const [{ page }, list] = await Promise.all([view.summary(), view.maintenances()]);
      return maintenancesBody(page, list);
    }
    case 'api/v2/scheduled-maintenances/upcoming.json': {
      const [{ page }, list] = await Promise.all([view.summary(), view.maintenances()]);
      return maintenancesBody(
        page,
        list.filter((m) => m.status === 'scheduled'),
      );
    }
    case 'api/v2/scheduled-maintenances/active.json': {
      const [{ page }, list] = await Promise.all([view.summary(), view.maintenances()]);
      return maintenancesBody(
        page,
        list.filter((m) => ACTIVE.has(m.status)),
      );
    }
  }
}

/** Every v2 document, keyed by its path under the site root ('api/v2/summary.json'), as JSON text. */
export async function v2Documents(view: StatusView): Promise<Record<V2Path, string>> {
  // Read each source once, so all eight files describe the same moment.
  const [summary, components, incidents, maintenances] = await Promise.all([
    view.summary(),
    view.components(),
    view.incidents(),
    view.maintenances(),
  ]);
  const once: StatusView = {
    summary: async () => summary,
    components: async () => components,
    incidents: async () => incidents,
    maintenances: async () => maintenances,
    history: (days) => view.history(days),
    latency: (hours, id) => view.latency(hours, id),
  };
  const out = {} as Record<V2Path, string>;
  for (const path of V2_PATHS) out[path] = JSON.stringify(await v2Document(once, path));
  return out;
}
