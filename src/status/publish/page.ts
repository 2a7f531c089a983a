import type { SpComponent, SpIncident } from '../statuspage.ts';
import type { ComponentHistory } from '../view.ts';
import { badDays, latencyChart, uptimeBars, uptimeShare } from './charts.ts';
import { type Html, html, paragraphs } from './html.ts';
import {
  COMPONENT_LABEL,
  formatDay,
  formatPercent,
  formatTime,
  IMPACT_LABEL,
  isActiveMaintenance,
  isUnresolved,
  SEVERITY,
  UPDATE_LABEL,
} from './labels.ts';
import type { Links } from './links.ts';
import { markdown } from './markdown.ts';
import { HISTORY_DAYS, LATENCY_HOURS, type PageData } from './page-data.ts';

export interface PageOptions {
  links: Links;
  /** Offer email in the subscribe form (SMTP is configured). */
  emailEnabled: boolean;
  timeZone?: string;
}

const MAX_HISTORY = 50;

function time(iso: string | null | undefined, tz: string | undefined): Html {
  if (!iso) return html``;
  return html`<time datetime="${iso}">${formatTime(iso, tz)}</time>`;
}

function layout(o: {
  title: string;
  description: string;
  links: Links;
  body: Html;
  pageName: string;
  generatedAt: string;
}): Html {
  const { links } = o;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${o.title}</title>
<meta name="description" content="${o.description}">
<meta name="color-scheme" content="light dark">
<link rel="icon" type="image/svg+xml" href="${links.asset('favicon.svg')}">
<link rel="stylesheet" href="${links.asset('status.css')}">
<link rel="alternate" type="application/atom+xml" title="${o.pageName} history (Atom)" href="${links.atom}">
<link rel="alternate" type="application/rss+xml" title="${o.pageName} history (RSS)" href="${links.rss}">
<script src="${links.asset('status.js')}" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top"><div class="wrap">
  <a class="brand" href="${links.home}">${o.pageName}</a>
  <a class="button" href="${links.home}#subscribe">Subscribe<span class="wide"> to updates</span></a>
</div></header>
<main id="main" class="wrap">
${o.body}
</main>
<footer class="foot"><div class="wrap">
  <p>Updated ${time(o.generatedAt, 'UTC')}. <span class="tz-note">Times are in UTC.</span></p>
  <p><a href="${links.atom}">Atom</a> · <a href="${links.rss}">RSS</a> · <a href="${links.api('summary.json')}">JSON API</a> · <a href="${links.banner}">Banner JSON</a> · Powered by Holdfast</p>
</div></footer>
</body>
</html>
`;
}

function affectedNames(incident: SpIncident): string {
  return incident.components.map((c) => c.name).join(', ');
}

function timeline(incident: SpIncident, tz: string | undefined): Html {
  const updates = [...incident.incident_updates].sort((a, b) => b.display_at.localeCompare(a.display_at));
  if (updates.length === 0) return html``;
  return html`<ol class="timeline">${updates.map(
    (u) =>
      html`<li class="update u-${u.status}"><div class="ustatus">${UPDATE_LABEL[u.status] ?? u.status}</div><div class="ubody">${paragraphs(u.body)}<p class="when">${time(u.display_at, tz)}</p></div></li>`,
  )}</ol>`;
}

function incidentCard(incident: SpIncident, o: PageOptions, kind: 'incident' | 'maintenance'): Html {
  const tz = o.timeZone;
  const affected = affectedNames(incident);
  const window =
    kind === 'maintenance' && incident.scheduled_for
      ? html`<p class="window">Scheduled ${time(incident.scheduled_for, tz)}${incident.scheduled_until ? html` – ${time(incident.scheduled_until, tz)}` : ''}</p>`
      : '';
  return html`<article class="card impact-${incident.impact}" aria-labelledby="i-${incident.id}">
  <h3 id="i-${incident.id}"><a class="ctitle" href="${o.links.incident(incident.id)}">${incident.name}</a></h3>
  <p class="meta"><span class="pill">${UPDATE_LABEL[incident.status] ?? incident.status}</span>${kind === 'incident' ? html` <span class="pill impact">${IMPACT_LABEL[incident.impact]} impact</span>` : ''}${affected ? html` <span class="affected">Affects ${affected}</span>` : ''}</p>
  ${window}
  ${timeline(incident, tz)}
</article>`;
}

interface Group {
  group: SpComponent | null;
  children: SpComponent[];
}

/** Top-level entries in position order: groups with their visible children, and lone components. */
export function groupComponents(components: readonly SpComponent[]): Group[] {
  const visible = (c: SpComponent) => !c.only_show_if_degraded || c.status !== 'operational';
  const byPos = (a: SpComponent, b: SpComponent) => a.position - b.position || a.name.localeCompare(b.name);
  const byId = new Map(components.map((c) => [c.id, c]));
  const out: Group[] = [];
  let loose: Group | null = null;
  for (const c of [...components].sort(byPos)) {
    if (c.group) {
      const children = components
        .filter((x) => !x.group && (x.group_id === c.id || c.components?.includes(x.id)))
        .filter(visible)
        .sort(byPos);
      if (children.length > 0) out.push({ group: c, children });
      loose = null;
    } else if (c.group_id === null || !byId.has(c.group_id)) {
      if (!visible(c)) continue;
      // Consecutive ungrouped components share one list, as Statuspage shows them.
      if (loose === null) {
        loose = { group: null, children: [] };
        out.push(loose);
      }
      loose.children.push(c);
    }
  }
  return out;
}

function worstOf(components: readonly SpComponent[]): SpComponent['status'] {
  let worst: SpComponent['status'] = 'operational';
  for (const c of components) if (SEVERITY[c.status] > SEVERITY[worst]) worst = c.status;
  return worst;
}

function componentRow(c: SpComponent, history: Map<string, ComponentHistory>): Html {
  const days = history.get(c.id)?.days ?? [];
  const share = uptimeShare(days);
  const last30 = days.slice(-30);
  const share30 = uptimeShare(last30);
  const pct = share === null ? 'No data' : `${formatPercent(share)} uptime`;
  const pct30 = share30 === null ? 'No data' : `${formatPercent(share30)} uptime`;
  const bad = badDays(days);
  return html`<li class="component">
  <div class="crow">
    <div class="cname"><span class="name">${c.name}</span>${c.description ? html`<span class="desc">${c.description}</span>` : ''}</div>
    <span class="cstatus s-${c.status}"><span class="dot" aria-hidden="true"></span>${COMPONENT_LABEL[c.status]}</span>
  </div>
  ${
    days.length > 0
      ? html`<div class="span90">${uptimeBars(days, `${c.name}: ${pct} over the past ${days.length} days`)}
  <div class="barlegend" aria-hidden="true"><span>${days.length} days ago</span><span class="rule"></span><span>${pct}</span><span class="rule"></span><span>Today</span></div></div>
  <div class="span30">${uptimeBars(last30, `${c.name}: ${pct30} over the past ${last30.length} days`)}
  <div class="barlegend" aria-hidden="true"><span>${last30.length} days ago</span><span class="rule"></span><span>${pct30}</span><span class="rule"></span><span>Today</span></div></div>
  ${
    bad.length > 0
      ? html`<details class="baddays"><summary>${bad.length} ${bad.length === 1 ? 'day' : 'days'} with problems</summary><ul>${bad.map(
          (d) =>
            html`<li>${formatDay(d.day)}: ${COMPONENT_LABEL[d.worst]}, ${d.uptime === null ? 'no data' : `${formatPercent(d.uptime)} uptime`}</li>`,
        )}</ul></details>`
      : ''
  }`
      : ''
  }
</li>`;
}

function componentsSection(data: PageData): Html {
  const groups = groupComponents(data.components);
  const history = new Map(data.history.map((h) => [h.componentId, h]));
  if (groups.length === 0) return html``;
  return html`<section class="components" aria-labelledby="components-h">
  <h2 id="components-h">Components</h2>
  <p class="muted small">Uptime over the past ${HISTORY_DAYS} days. Each bar is one day, coloured by its worst status.</p>
  ${groups.map((g) => {
    const list = html`<ul class="clist">${g.children.map((c) => componentRow(c, history))}</ul>`;
    if (g.group === null) return html`<div class="group loose">${list}</div>`;
    const worst = worstOf(g.children);
    return html`<div class="group">
    <h3 class="ghead"><span>${g.group.name}</span><span class="cstatus s-${worst}"><span class="dot" aria-hidden="true"></span>${COMPONENT_LABEL[worst]}</span></h3>
    ${list}
  </div>`;
  })}
</section>`;
}

function historySection(data: PageData, o: PageOptions): Html {
  const since = Date.parse(data.generatedAt) - HISTORY_DAYS * 86_400_000;
  const past = [...data.incidents, ...data.maintenances.filter((m) => m.status === 'completed')]
    .filter((i) => !isUnresolved(i.status))
    .filter((i) => Date.parse(i.started_at ?? i.created_at) >= since)
    .sort((a, b) => (b.started_at ?? b.created_at).localeCompare(a.started_at ?? a.created_at))
    .slice(0, MAX_HISTORY);
  const byDay = new Map<string, SpIncident[]>();
  for (const i of past) {
    const day = (i.started_at ?? i.created_at).slice(0, 10);
    byDay.set(day, [...(byDay.get(day) ?? []), i]);
  }
  return html`<section class="history" aria-labelledby="history-h">
  <h2 id="history-h">Past incidents</h2>
  ${
    past.length === 0
      ? html`<p class="muted">No incidents reported in the past ${HISTORY_DAYS} days.</p>`
      : [...byDay].map(
          ([day, list]) =>
            html`<div class="hday"><h3>${formatDay(day)}</h3><ul>${list.map((i) => {
              const last = [...i.incident_updates].sort((a, b) =>
                b.display_at.localeCompare(a.display_at),
              )[0];
              return html`<li class="hitem impact-${i.impact}"><a href="${o.links.incident(i.id)}">${i.name}</a>
              ${last ? html`<div class="hlast">${paragraphs(last.body)}</div>` : ''}
              <p class="when">${UPDATE_LABEL[i.status] ?? i.status} · ${time(i.resolved_at ?? i.updated_at, o.timeZone)}</p></li>`;
            })}</ul></div>`,
        )
  }
</section>`;
}

function subscribeSection(o: PageOptions): Html {
  const { links } = o;
  const form =
    links.subscribe === null
      ? ''
      : html`<form class="subscribe" method="post" action="${links.subscribe}">
    <fieldset class="kinds"><legend>Notify me by</legend>
      ${o.emailEnabled ? html`<label><input type="radio" name="kind" value="email" checked> Email</label>` : ''}
      <label><input type="radio" name="kind" value="webhook"${o.emailEnabled ? '' : ' checked'}> Webhook</label>
      <label><input type="radio" name="kind" value="slack"> Slack</label>
      <label><input type="radio" name="kind" value="discord"> Discord</label>
    </fieldset>
    <label class="field" for="sub-target"><span>${o.emailEnabled ? 'Email address or URL' : 'Webhook URL'}</span>
      <input id="sub-target" name="target" type="text" required maxlength="2048" autocomplete="off" spellcheck="false" placeholder="${o.emailEnabled ? 'you@example.com' : 'https://example.com/hooks/status'}"></label>
    <label class="check"><input type="checkbox" name="component_updates" value="true"> Also send every component status change (webhooks)</label>
    <button type="submit" class="button primary">Subscribe</button>
    <p class="muted small">Webhooks get a signing secret and every subscriber an unsubscribe link, shown once after subscribing.</p>
  </form>`;
  return html`<section class="subscribe-box" id="subscribe" aria-labelledby="subscribe-h">
  <h2 id="subscribe-h">Subscribe to updates</h2>
  <p>Get incident and maintenance updates as they are posted.</p>
  <p class="feeds"><a class="button" href="${links.atom}">Atom feed</a> <a class="button" href="${links.rss}">RSS feed</a></p>
  ${form}
</section>`;
}

export function renderStatusPage(data: PageData, o: PageOptions): string {
  const { summary } = data;
  const tz = o.timeZone;
  const active = data.incidents.filter((i) => isUnresolved(i.status));
  // summary.incidents is the core's own list of unresolved incidents; prefer it when it has more.
  const unresolved = summary.incidents.length >= active.length ? summary.incidents : active;
  const maint = (
    summary.scheduled_maintenances.length > 0
      ? summary.scheduled_maintenances
      : data.maintenances.filter((m) => m.status === 'scheduled' || isActiveMaintenance(m.status))
  )
    .slice()
    .sort((a, b) => (a.scheduled_for ?? '').localeCompare(b.scheduled_for ?? ''));
  const ind = summary.status.indicator;
  const body = html`<section class="banner ind-${ind}" aria-labelledby="banner-h">
  <span class="icon" aria-hidden="true">${ind === 'none' ? '✓' : '!'}</span>
  <div><h1 id="banner-h">${summary.status.description}</h1>
  <p>${unresolved.length === 0 ? 'No ongoing incidents.' : `${unresolved.length} ongoing ${unresolved.length === 1 ? 'incident' : 'incidents'}.`} Updated ${time(data.generatedAt, tz)}</p></div>
</section>
${
  unresolved.length > 0
    ? html`<section class="active" aria-labelledby="active-h"><h2 id="active-h">Ongoing incidents</h2>${unresolved.map((i) => incidentCard(i, o, 'incident'))}</section>`
    : ''
}
${
  maint.length > 0
    ? html`<section class="maintenance" aria-labelledby="maint-h"><h2 id="maint-h">Scheduled maintenance</h2>${maint.map((m) => incidentCard(m, o, 'maintenance'))}</section>`
    : ''
}
${componentsSection(data)}
<section class="metrics" aria-labelledby="metrics-h">
  <h2 id="metrics-h">Response time</h2>
  ${latencyChart(data.latency, LATENCY_HOURS)}
</section>
${historySection(data, o)}
${subscribeSection(o)}`;
  return layout({
    title: `${summary.page.name}: ${summary.status.description}`,
    description: `${summary.page.name}: current status, incidents and maintenance.`,
    links: o.links,
    body,
    pageName: summary.page.name,
    generatedAt: data.generatedAt,
  }).value;
}

export function renderIncidentPage(
  incident: SpIncident,
  pageName: string,
  generatedAt: string,
  o: PageOptions,
): string {
  const tz = o.timeZone;
  const maintenance = incident.impact === 'maintenance' || incident.scheduled_for != null;
  const body = html`<p class="back"><a href="${o.links.home}">← Current status</a></p>
<article class="detail impact-${incident.impact}">
  <h1>${incident.name}</h1>
  <p class="meta"><span class="pill">${UPDATE_LABEL[incident.status] ?? incident.status}</span>${maintenance ? ' ' : html` <span class="pill impact">${IMPACT_LABEL[incident.impact]} impact</span> `}${incident.components.length > 0 ? html`<span class="affected">Affects ${affectedNames(incident)}</span>` : ''}</p>
  ${
    maintenance && incident.scheduled_for
      ? html`<p class="window">Scheduled ${time(incident.scheduled_for, tz)}${incident.scheduled_until ? html` – ${time(incident.scheduled_until, tz)}` : ''}</p>`
      : html`<p class="window">Started ${time(incident.started_at, tz)}${incident.resolved_at ? html`, resolved ${time(incident.resolved_at, tz)}` : ''}</p>`
  }
  ${
    incident.postmortem_body && incident.postmortem_published_at
      ? html`<section class="postmortem" aria-labelledby="pm-h"><h2 id="pm-h">Postmortem</h2><div class="prose">${markdown(incident.postmortem_body)}</div><p class="when">Published ${time(incident.postmortem_published_at, tz)}</p></section>`
      : ''
  }
  <h2>Updates</h2>
  ${timeline(incident, tz)}
</article>`;
  return layout({
    title: `${incident.name} · ${pageName}`,
    description: `${pageName}: ${incident.name}`,
    links: o.links,
    body,
    pageName,
    generatedAt,
  }).value;
}

/** A small page for the results of form posts (subscribed, unsubscribed, errors). */
export function renderMessagePage(
  pageName: string,
  title: string,
  body: Html,
  links: Links,
  generatedAt = new Date().toISOString(),
): string {
  return layout({
    title: `${title} · ${pageName}`,
    description: title,
    links,
    body: html`<p class="back"><a href="${links.home}">← Current status</a></p><article class="detail message"><h1>${title}</h1>${body}</article>`,
    pageName,
    generatedAt,
  }).value;
}
