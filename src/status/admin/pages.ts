import { type Html, html, paragraphs } from '../publish/html.ts';
import { COMPONENT_LABEL, formatTime, IMPACT_LABEL, UPDATE_LABEL } from '../publish/labels.ts';
import { markdown } from '../publish/markdown.ts';
import type { ReportsOverview } from '../service.ts';
import type { ComponentStatus, Impact, SpIncident } from '../statuspage.ts';
import { ADMIN_PATH } from './session.ts';

/** Everything every operator page needs besides its own data. */
export interface AdminFrame {
  pageName: string;
  /** The session's CSRF token, put in every form. */
  csrf: string;
  /** Which nav entry is current. */
  current: 'incidents' | 'maintenance' | 'reports' | 'subscribers' | 'none';
  notice?: string | undefined;
  error?: string | undefined;
  timeZone?: string | undefined;
}

/** A component as operators see it: what is shown, what telemetry says, and any manual status. */
export interface AdminComponent {
  id: string;
  name: string;
  group: boolean;
  status: ComponentStatus;
  computed: ComponentStatus | null;
  manual: { status: ComponentStatus; incidentId: string } | null;
}

export interface AdminSubscriber {
  id: string;
  kind: string;
  target: string;
  components: string[] | null;
  componentUpdates: boolean;
  createdAt: Date;
  disabledAt: Date | null;
}

export const path = {
  home: ADMIN_PATH,
  signin: `${ADMIN_PATH}/signin`,
  signout: `${ADMIN_PATH}/signout`,
  css: `${ADMIN_PATH}/admin.css`,
  incidents: `${ADMIN_PATH}/incidents`,
  incident: (id: string) => `${ADMIN_PATH}/incidents/${encodeURIComponent(id)}`,
  maintenance: `${ADMIN_PATH}/maintenance`,
  maintenanceAction: (id: string, action: 'cancel' | 'complete') =>
    `${ADMIN_PATH}/maintenance/${encodeURIComponent(id)}/${action}`,
  reports: `${ADMIN_PATH}/reports`,
  confirm: (component: string) => `${ADMIN_PATH}/reports/${encodeURIComponent(component)}/confirm`,
  subscribers: `${ADMIN_PATH}/subscribers`,
  publicIncident: (id: string) => `/status/incidents/${encodeURIComponent(id)}`,
};

const STATUSES: readonly ComponentStatus[] = [
  'operational',
  'degraded_performance',
  'partial_outage',
  'major_outage',
  'under_maintenance',
];
const INCIDENT_STATUSES = ['investigating', 'identified', 'monitoring', 'resolved'] as const;
const IMPACTS: readonly Impact[] = ['none', 'minor', 'major', 'critical'];

const isOpen = (s: string): boolean => s === 'investigating' || s === 'identified' || s === 'monitoring';

function time(iso: string | null | undefined, tz: string | undefined): Html {
  if (!iso) return html``;
  return html`<time datetime="${iso}">${formatTime(iso, tz)}</time>`;
}

function csrfField(f: AdminFrame): Html {
  return html`<input type="hidden" name="_csrf" value="${f.csrf}">`;
}

function statusText(s: ComponentStatus): Html {
  return html`<span class="cstatus s-${s}"><span class="dot" aria-hidden="true"></span>${COMPONENT_LABEL[s]}</span>`;
}

function options<T extends string>(
  values: readonly T[],
  label: (v: T) => string,
  selected?: string | null,
): Html[] {
  return values.map(
    (v) => html`<option value="${v}"${v === selected ? html` selected` : ''}>${label(v)}</option>`,
  );
}

function layout(f: AdminFrame, title: string, body: Html, signedIn = true): string {
  const nav = (key: AdminFrame['current'], href: string, label: string) =>
    html`<a href="${href}"${f.current === key ? html` aria-current="page"` : ''}>${label}</a>`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${title} · ${f.pageName} operators</title>
<meta name="color-scheme" content="light dark">
<link rel="icon" type="image/svg+xml" href="/status/assets/favicon.svg">
<link rel="stylesheet" href="/status/assets/status.css">
<link rel="stylesheet" href="${path.css}">
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top"><div class="wrap">
  <a class="brand" href="${path.home}">${f.pageName}<span class="tag">Operators</span></a>
  ${
    signedIn
      ? html`<nav class="admin-nav" aria-label="Operator pages">
    ${nav('incidents', path.home, 'Incidents')}
    ${nav('maintenance', path.maintenance, 'Maintenance')}
    ${nav('reports', path.reports, 'Reports')}
    ${nav('subscribers', path.subscribers, 'Subscribers')}
    <a href="/status">Public page</a>
    <form method="post" action="${path.signout}">${csrfField(f)}<button class="button" type="submit">Sign out</button></form>
  </nav>`
      : html`<a class="button" href="/status">Public page</a>`
  }
</div></header>
<main id="main" class="wrap">
${f.notice ? html`<p class="notice" role="status">${f.notice}</p>` : ''}
${f.error ? html`<p class="error" role="alert">${f.error}</p>` : ''}
${body}
</main>
<footer class="foot"><div class="wrap"><p>Times are in ${f.timeZone ?? 'UTC'}. Powered by Holdfast.</p></div></footer>
</body>
</html>
`.value;
}

export function renderSignIn(f: AdminFrame, o: { enabled: boolean; next: string }): string {
  const body = o.enabled
    ? html`<section class="panel signin" aria-labelledby="signin-h">
  <h1 id="signin-h">Sign in</h1>
  <p class="muted">Operators sign in with the gateway's admin key.</p>
  <form class="form" method="post" action="${path.signin}">
    ${csrfField(f)}
    <input type="hidden" name="next" value="${o.next}">
    <label class="field" for="admin-key"><span>Admin key</span>
      <input id="admin-key" name="key" type="password" required autocomplete="current-password" spellcheck="false"></label>
    <button class="button primary" type="submit">Sign in</button>
  </form>
</section>`
    : html`<section class="panel signin"><h1>Sign-in is off</h1><p>No admin key is configured (<code>auth.admin_key</code> or <code>HOLDFAST_ADMIN_KEY</code>), so there are no operators to sign in.</p></section>`;
  return layout({ ...f, current: 'none' }, 'Sign in', body, false);
}

export function renderMessage(f: AdminFrame, title: string, text: string): string {
  return layout(
    f,
    title,
    html`<section class="panel"><h1>${title}</h1><p>${text}</p><p><a href="${path.home}">Back to incidents</a></p></section>`,
  );
}

function componentChoices(
  components: readonly AdminComponent[],
  name: string,
  checked: readonly string[] = [],
) {
  return components
    .filter((c) => !c.group)
    .map(
      (c) =>
        html`<label><input type="checkbox" name="${name}" value="${c.id}"${checked.includes(c.id) ? html` checked` : ''}> ${c.name}</label>`,
    );
}

function incidentRow(i: SpIncident, f: AdminFrame): Html {
  return html`<tr>
  <td><a href="${path.incident(i.id)}">${i.name}</a></td>
  <td>${UPDATE_LABEL[i.status] ?? i.status}</td>
  <td>${IMPACT_LABEL[i.impact]}</td>
  <td>${i.components.map((c) => c.name).join(', ')}</td>
  <td>${time(i.started_at, f.timeZone)}</td>
</tr>`;
}

function incidentTable(list: readonly SpIncident[], f: AdminFrame, empty: string): Html {
  if (list.length === 0) return html`<p class="muted">${empty}</p>`;
  return html`<div class="scroll"><table class="admin-table">
<thead><tr><th>Incident</th><th>Status</th><th>Impact</th><th>Components</th><th>Started</th></tr></thead>
<tbody>${list.map((i) => incidentRow(i, f))}</tbody></table></div>`;
}

function componentTable(components: readonly AdminComponent[]): Html {
  return html`<div class="scroll"><table class="admin-table">
<thead><tr><th>Component</th><th>Shown</th><th>Measured</th><th>Manual</th></tr></thead>
<tbody>${components
    .filter((c) => !c.group)
    .map(
      (
        c,
      ) => html`<tr><td>${c.name}</td><td>${statusText(c.status)}</td><td>${c.computed ? COMPONENT_LABEL[c.computed] : '—'}</td>
<td>${c.manual ? html`${COMPONENT_LABEL[c.manual.status]} (<a href="${path.incident(c.manual.incidentId)}">incident</a>)` : '—'}</td></tr>`,
    )}</tbody></table></div>
<p class="muted small">Manual statuses are set from an open incident's page and last until cleared or the incident resolves.</p>`;
}

export function renderIncidents(
  f: AdminFrame,
  d: { incidents: readonly SpIncident[]; components: readonly AdminComponent[] },
): string {
  const open = d.incidents.filter((i) => isOpen(i.status));
  const recent = d.incidents.filter((i) => !isOpen(i.status)).slice(0, 30);
  const body = html`<h1>Incidents</h1>
<section aria-labelledby="open-h"><h2 id="open-h">Open</h2>${incidentTable(open, f, 'No open incidents.')}</section>
<section class="panel" aria-labelledby="create-h">
  <h2 id="create-h">Open an incident</h2>
  <form class="form" method="post" action="${path.incidents}">
    ${csrfField(f)}
    <label class="field" for="new-name"><span>Title</span><input id="new-name" name="name" type="text" required maxlength="300"></label>
    <label class="field" for="new-body"><span>First update</span><textarea id="new-body" name="body" required maxlength="20000"></textarea></label>
    <div class="row2">
      <label class="field" for="new-status"><span>Status</span><select id="new-status" name="status">${options(INCIDENT_STATUSES, (s) => UPDATE_LABEL[s], 'investigating')}</select></label>
      <label class="field" for="new-impact"><span>Impact</span><select id="new-impact" name="impact"><option value="">From the components</option>${options(IMPACTS, (i) => IMPACT_LABEL[i])}</select></label>
    </div>
    <fieldset class="choices"><legend>Affected components</legend>${componentChoices(d.components, 'component_ids')}</fieldset>
    <label class="check"><input type="checkbox" name="deliver_notifications" value="true" checked> Notify subscribers</label>
    <button class="button primary" type="submit">Open incident</button>
  </form>
</section>
<section aria-labelledby="comp-h"><h2 id="comp-h">Components</h2>${componentTable(d.components)}</section>
<section aria-labelledby="recent-h"><h2 id="recent-h">Recent</h2>${incidentTable(recent, f, 'No past incidents.')}</section>`;
  return layout({ ...f, current: 'incidents' }, 'Incidents', body);
}

function timeline(i: SpIncident, tz: string | undefined): Html {
  const updates = [...i.incident_updates].sort((a, b) => b.display_at.localeCompare(a.display_at));
  if (updates.length === 0) return html`<p class="muted">No updates.</p>`;
  return html`<ol class="timeline">${updates.map(
    (u) =>
      html`<li class="update u-${u.status}"><div class="ustatus">${UPDATE_LABEL[u.status] ?? u.status}</div><div class="ubody">${paragraphs(u.body)}${
        u.affected_components && u.affected_components.length > 0
          ? html`<p class="when">${u.affected_components.map((a) => `${a.name}: ${COMPONENT_LABEL[a.old_status]} → ${COMPONENT_LABEL[a.new_status]}`).join('; ')}</p>`
          : ''
      }<p class="when">${time(u.display_at, tz)}</p></div></li>`,
  )}</ol>`;
}

export function renderIncident(
  f: AdminFrame,
  d: {
    incident: SpIncident;
    components: readonly AdminComponent[];
    others: readonly SpIncident[];
    impactOverridden: boolean;
    auto: boolean;
    mergedInto: SpIncident | null;
  },
): string {
  const i = d.incident;
  const tz = f.timeZone;
  const open = isOpen(i.status);
  const resolved = i.status === 'resolved' || i.status === 'postmortem';
  const action = (what: string) => `${path.incident(i.id)}/${what}`;
  const own = new Set(i.components.map((c) => c.id));
  const rows = d.components.filter((c) => !c.group);
  const componentForms = html`<section class="panel" aria-labelledby="cs-h">
  <h2 id="cs-h">Component status</h2>
  <p class="muted small">A status set here is shown on the public page and in the API instead of the measured one, until you clear it or the incident resolves. Components set here join the incident.</p>
  <div class="scroll"><table class="admin-table"><thead><tr><th>Component</th><th>Shown</th><th>Set to</th></tr></thead><tbody>
  ${rows.map((c) => {
    const mine = c.manual?.incidentId === i.id;
    return html`<tr><td>${c.name}${own.has(c.id) ? '' : html` <span class="muted small">(not in this incident)</span>`}</td>
    <td>${statusText(c.status)}${mine ? html` <span class="muted small">manual</span>` : c.manual ? html` <span class="muted small">manual, <a href="${path.incident(c.manual.incidentId)}">another incident</a></span>` : ''}</td>
    <td><form class="inline" method="post" action="${action('components')}">${csrfField(f)}<input type="hidden" name="component_id" value="${c.id}">
      <select id="cs-${c.id}" name="status" aria-label="Status of ${c.name}">${mine ? html`<option value="">Measured (clear manual status)</option>` : ''}${options(STATUSES, (s) => COMPONENT_LABEL[s], mine ? c.manual?.status : null)}</select>
      <button class="button" type="submit">Set</button></form></td></tr>`;
  })}
  </tbody></table></div>
</section>`;
  const others = d.others.filter((o) => o.id !== i.id && isOpen(o.status));
  const body = html`<p class="back"><a href="${path.home}">← Incidents</a> · <a href="${path.publicIncident(i.id)}">Public page of this incident</a></p>
<article class="detail impact-${i.impact}">
  <h1>${i.name}</h1>
  <p class="meta"><span class="pill">${UPDATE_LABEL[i.status] ?? i.status}</span> <span class="pill impact">${IMPACT_LABEL[i.impact]} impact${d.impactOverridden ? ' (set by hand)' : ''}</span>${i.components.length > 0 ? html` <span class="affected">Affects ${i.components.map((c) => c.name).join(', ')}</span>` : ''}</p>
  <p class="window">${d.auto ? 'Opened automatically' : 'Opened by an operator'}, ${time(i.started_at, tz)}${i.resolved_at ? html`; resolved ${time(i.resolved_at, tz)}` : ''}</p>
  ${d.mergedInto ? html`<p>Merged into <a href="${path.incident(d.mergedInto.id)}">${d.mergedInto.name}</a>.</p>` : ''}
</article>
${
  !d.mergedInto && i.status !== 'postmortem'
    ? html`<section class="panel" aria-labelledby="up-h">
  <h2 id="up-h">Post an update</h2>
  <form class="form" method="post" action="${action('updates')}">
    ${csrfField(f)}
    <label class="field" for="up-status"><span>Status</span><select id="up-status" name="status">${options(INCIDENT_STATUSES, (s) => UPDATE_LABEL[s], open ? i.status : 'resolved')}</select></label>
    <label class="field" for="up-body"><span>Message</span><textarea id="up-body" name="body" required maxlength="20000"></textarea></label>
    <label class="check"><input type="checkbox" name="deliver_notifications" value="true" checked> Notify subscribers</label>
    <button class="button primary" type="submit">Post update</button>
  </form>
</section>`
    : ''
}
${open && !d.mergedInto ? componentForms : ''}
<section class="panel" aria-labelledby="edit-h">
  <h2 id="edit-h">Title and impact</h2>
  <form class="form" method="post" action="${action('edit')}">
    ${csrfField(f)}
    <label class="field" for="ed-name"><span>Title</span><input id="ed-name" name="name" type="text" required maxlength="300" value="${i.name}"></label>
    <label class="field" for="ed-impact"><span>Impact</span><select id="ed-impact" name="impact"><option value="">From the components (no override)</option>${options(IMPACTS, (x) => IMPACT_LABEL[x], d.impactOverridden ? i.impact : null)}</select></label>
    <button class="button" type="submit">Save</button>
  </form>
</section>
${
  open && others.length > 0
    ? html`<section class="panel" aria-labelledby="merge-h">
  <h2 id="merge-h">Merge into another incident</h2>
  <p class="muted small">This incident's components and updates move into the one you pick; this one leaves the public lists.</p>
  <form class="inline" method="post" action="${action('merge')}">${csrfField(f)}
    <select name="into" aria-label="Incident to merge into">${others.map((o) => html`<option value="${o.id}">${o.name}</option>`)}</select>
    <button class="button" type="submit">Merge</button></form>
</section>`
    : ''
}
${
  resolved && !d.mergedInto
    ? html`<section class="panel" aria-labelledby="pm-h">
  <h2 id="pm-h">Postmortem</h2>
  ${i.postmortem_body && i.postmortem_published_at ? html`<div class="prose">${markdown(i.postmortem_body)}</div><p class="when">Published ${time(i.postmortem_published_at, tz)}</p>` : html`<p class="muted small">Markdown (headings, lists, emphasis, code, links). Publishing posts a final update.</p>`}
  <form class="form" method="post" action="${action('postmortem')}">${csrfField(f)}
    <label class="field" for="pm-body"><span>${i.postmortem_body ? 'Revise' : 'Write'}</span><textarea id="pm-body" name="body" required maxlength="100000">${i.postmortem_body ?? ''}</textarea></label>
    <button class="button primary" type="submit">Publish postmortem</button></form>
</section>`
    : ''
}
<section class="panel" aria-labelledby="tl-h"><h2 id="tl-h">Timeline</h2>${timeline(i, tz)}</section>`;
  return layout({ ...f, current: 'incidents' }, i.name, body);
}

export function renderMaintenance(
  f: AdminFrame,
  d: { maintenances: readonly SpIncident[]; components: readonly AdminComponent[] },
): string {
  const tz = f.timeZone;
  const live = d.maintenances.filter((m) => m.status !== 'completed');
  const done = d.maintenances.filter((m) => m.status === 'completed').slice(0, 30);
  const card = (m: SpIncident) => html`<article class="card impact-maintenance">
  <h3><a class="ctitle" href="${path.publicIncident(m.id)}">${m.name}</a></h3>
  <p class="meta"><span class="pill">${UPDATE_LABEL[m.status] ?? m.status}</span> <span class="affected">${m.components.map((c) => c.name).join(', ')}</span></p>
  <p class="window">${time(m.scheduled_for, tz)} – ${time(m.scheduled_until, tz)}</p>
  ${
    m.status === 'scheduled'
      ? html`<form class="inline" method="post" action="${path.maintenanceAction(m.id, 'cancel')}">${csrfField(f)}
      <input name="body" type="text" maxlength="2000" placeholder="Reason (optional)" aria-label="Reason for cancelling ${m.name}">
      <button class="button" type="submit">Cancel maintenance</button></form>`
      : html`<form class="inline" method="post" action="${path.maintenanceAction(m.id, 'complete')}">${csrfField(f)}
      <input name="body" type="text" maxlength="2000" placeholder="Note (optional)" aria-label="Note on completing ${m.name}">
      <button class="button primary" type="submit">Complete now</button></form>`
  }
</article>`;
  const body = html`<h1>Maintenance</h1>
<section aria-labelledby="live-h"><h2 id="live-h">Scheduled and in progress</h2>${live.length === 0 ? html`<p class="muted">Nothing scheduled.</p>` : live.map(card)}</section>
<section class="panel" aria-labelledby="sched-h">
  <h2 id="sched-h">Schedule maintenance</h2>
  <p class="muted small">At the start, the components' deployments are drained (no new traffic, requests in flight finish) and they show as under maintenance; at the end traffic returns. Times are UTC.</p>
  <form class="form" method="post" action="${path.maintenance}">
    ${csrfField(f)}
    <label class="field" for="mt-name"><span>Title</span><input id="mt-name" name="name" type="text" required maxlength="300"></label>
    <label class="field" for="mt-body"><span>Announcement</span><textarea id="mt-body" name="body" required maxlength="20000"></textarea></label>
    <div class="row2">
      <label class="field" for="mt-from"><span>Start (UTC)</span><input id="mt-from" name="scheduled_for" type="datetime-local" required></label>
      <label class="field" for="mt-until"><span>End (UTC)</span><input id="mt-until" name="scheduled_until" type="datetime-local" required></label>
    </div>
    <fieldset class="choices"><legend>Components</legend>${componentChoices(d.components, 'component_ids')}</fieldset>
    <button class="button primary" type="submit">Schedule</button>
  </form>
</section>
<section aria-labelledby="done-h"><h2 id="done-h">Completed</h2>${incidentTable(done, f, 'None yet.')}</section>`;
  return layout({ ...f, current: 'maintenance' }, 'Maintenance', body);
}

export function renderReports(f: AdminFrame, r: ReportsOverview): string {
  const confirmable: readonly ComponentStatus[] = ['degraded_performance', 'partial_outage', 'major_outage'];
  const body = html`<h1>Users' reports</h1>
<p class="muted">Counted reports per component over the last ${Math.round(r.window_s / 60)} minutes against the usual for this hour of the week. A spike is shown here at once; it reaches the public page only when telemetry agrees or you confirm it.</p>
<section class="panel"><div class="scroll"><table class="admin-table">
<thead><tr><th>Component</th><th>Reports</th><th>Usual</th><th>Telemetry</th><th>Public</th><th>Action</th></tr></thead>
<tbody>${r.components.map(
    (c) => html`<tr>
  <td>${c.name}${c.spike ? html` <span class="spike">Spike</span>` : ''}</td>
  <td>${c.count}</td><td>${c.baseline.toFixed(1)}</td><td>${statusText(c.telemetry)}</td>
  <td>${c.public ? 'Yes' : 'No'}${c.confirmed ? html` (confirmed: ${COMPONENT_LABEL[c.confirmed]})` : ''}</td>
  <td>${
    c.confirmed
      ? html`<form class="inline" method="post" action="${path.confirm(c.component_id)}">${csrfField(f)}<input type="hidden" name="status" value="withdraw"><button class="button" type="submit">Withdraw</button></form>`
      : c.spike
        ? html`<form class="inline" method="post" action="${path.confirm(c.component_id)}">${csrfField(f)}
      <select name="status" aria-label="Status to confirm for ${c.name}">${options(confirmable, (s) => COMPONENT_LABEL[s], 'degraded_performance')}</select>
      <button class="button primary" type="submit">Confirm</button></form>`
        : ''
  }</td></tr>`,
  )}</tbody></table></div>
${r.components.length === 0 ? html`<p class="muted">No reports in this window.</p>` : ''}</section>
<section aria-labelledby="recent-h"><h2 id="recent-h">Recent reports</h2>
${
  r.recent.length === 0
    ? html`<p class="muted">None.</p>`
    : html`<div class="scroll"><table class="admin-table"><thead><tr><th>When</th><th>From</th><th>About</th><th>Category</th><th>Text</th><th>Counted</th></tr></thead><tbody>${r.recent.map(
        (x) =>
          html`<tr><td>${time(x.created_at, f.timeZone)}</td><td>${x.source}</td><td>${x.model ?? x.component_id ?? '—'}</td><td>${x.category}</td><td>${x.text}</td><td>${x.counted ? 'Yes' : 'No'}</td></tr>`,
      )}</tbody></table></div>`
}</section>`;
  return layout({ ...f, current: 'reports' }, 'Reports', body);
}

export function renderSubscribers(
  f: AdminFrame,
  list: readonly AdminSubscriber[],
  names: ReadonlyMap<string, string>,
): string {
  const body = html`<h1>Subscribers</h1>
<p class="muted">${list.length} ${list.length === 1 ? 'subscriber' : 'subscribers'}. Signing secrets are never shown again after subscribing.</p>
${
  list.length === 0
    ? html`<p class="muted">No subscribers yet.</p>`
    : html`<div class="scroll"><table class="admin-table"><thead><tr><th>Kind</th><th>Target</th><th>Components</th><th>State</th><th>Since</th></tr></thead><tbody>${list.map(
        (s) =>
          html`<tr><td>${s.kind}${s.componentUpdates ? ' (+ component updates)' : ''}</td><td>${s.target}</td>
<td>${s.components === null ? 'All' : s.components.map((id) => names.get(id) ?? id).join(', ')}</td>
<td>${s.disabledAt ? (s.kind === 'email' ? 'Unconfirmed or gone' : 'Disabled') : 'Active'}</td>
<td>${time(s.createdAt.toISOString(), f.timeZone)}</td></tr>`,
      )}</tbody></table></div>`
}`;
  return layout({ ...f, current: 'subscribers' }, 'Subscribers', body);
}
