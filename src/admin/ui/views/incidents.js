import { html } from 'htm/preact';
import { get } from '../api.js';
import { dateTime, ErrorNote } from '../format.js';
import { usePoll } from '../hooks.js';

const STATUS_TEXT = {
  operational: 'Operational',
  degraded_performance: 'Degraded',
  partial_outage: 'Partial outage',
  major_outage: 'Major outage',
  under_maintenance: 'Maintenance',
};

/**
 * Incidents and maintenance are run from the status system's own operator pages (/status/admin); this
 * page shows what is open and links there. Signing in to the console signed you in there too.
 */
export function IncidentsView() {
  const { data, error } = usePoll(() => get('/admin/api/incidents'), 10_000);
  if (error) return html`<h1>Incidents and maintenance</h1><${ErrorNote} error=${error} />`;
  if (!data) return html`<h1>Incidents and maintenance</h1><p class="muted">Loading…</p>`;
  if (!data.enabled)
    return html`<h1>Incidents and maintenance</h1>
      <p class="notice">The status system is off (<code>status.enabled: false</code>), so there are no incidents or maintenance windows to manage.</p>`;
  const l = data.links;
  return html`<h1>Incidents and maintenance</h1>
    <p class="muted intro">Incidents, maintenance windows, user reports and subscribers are managed on the
      status system's operator pages. Your console sign-in works there too.</p>
    <p class="actions">
      <a class="button primary" href=${l.incidents}>Open the incident pages</a>
      <a class="button" href=${l.maintenance}>Schedule maintenance</a>
      <a class="button" href=${l.reports}>User reports</a>
      <a class="button" href=${l.subscribers}>Subscribers</a>
      <a class="button quiet" href=${l.publicPage}>Public status page</a>
    </p>
    <section class="panel">
      <h2>Now: ${data.status.description}</h2>
      <ul class="chips">
        ${data.components.map((c) => html`<li class=${`chip ${c.status}`}>${c.name}: ${STATUS_TEXT[c.status] ?? c.status}</li>`)}
      </ul>
    </section>
    <section class="panel">
      <h2>Open incidents</h2>
      ${
        data.incidents.length === 0
          ? html`<p class="muted">None.</p>`
          : html`<ul class="list">${data.incidents.map(
              (i) =>
                html`<li><a href=${i.url}>${i.name}</a> <span class="muted">${i.status} · impact ${i.impact} · updated ${dateTime(i.updatedAt)}</span></li>`,
            )}</ul>`
      }
    </section>
    <section class="panel">
      <h2>Maintenance</h2>
      ${
        data.maintenances.length === 0
          ? html`<p class="muted">Nothing scheduled.</p>`
          : html`<ul class="list">${data.maintenances.map(
              (m) =>
                html`<li><a href=${m.url}>${m.name}</a> <span class="muted">${m.status} · ${dateTime(m.scheduledFor)} – ${dateTime(m.scheduledUntil)}</span></li>`,
            )}</ul>`
      }
    </section>`;
}
