import type { Config } from '../../config/schema.ts';
import type { SpIncident } from '../statuspage.ts';
import type { StatusView } from '../view.ts';
import { ASSETS } from './assets.ts';
import { renderBadge } from './badge.ts';
import { renderBanner } from './banner.ts';
import { feedItems, renderAtom, renderRss } from './feeds.ts';
import { exportLinks, publicUrls } from './links.ts';
import { renderIncidentPage, renderStatusPage } from './page.ts';
import { loadPageData } from './page-data.ts';
import { v2Documents } from './v2-json.ts';

export interface SiteFile {
  body: string;
  type: string;
}

export const TYPES = {
  html: 'text/html; charset=utf-8',
  json: 'application/json; charset=utf-8',
  atom: 'application/atom+xml; charset=utf-8',
  rss: 'application/rss+xml; charset=utf-8',
  svg: 'image/svg+xml',
} as const;

/**
 * The whole public face as files, keyed by path under the export root: the page, a page per incident
 * and maintenance, the Statuspage v2 JSON, feeds, badges and the banner JSON. Everything is read from
 * the view once, so the files agree with each other.
 */
export async function renderSite(
  view: StatusView,
  status: Config['status'],
  now = new Date(),
): Promise<Map<string, SiteFile>> {
  const data = await loadPageData(view, now);
  const urls = publicUrls(status.page.url);
  const liveOrigin = new URL(status.page.url).origin;
  const emailEnabled = status.notifications.smtp !== undefined;
  const tz = status.page.time_zone;
  const out = new Map<string, SiteFile>();
  const pageOpts = (prefix: string) => ({
    links: exportLinks(prefix, liveOrigin),
    emailEnabled,
    timeZone: tz,
  });

  out.set('index.html', { body: renderStatusPage(data, pageOpts('')), type: TYPES.html });
  const seen = new Set<string>();
  const all: SpIncident[] = [...data.incidents, ...data.maintenances, ...data.summary.incidents];
  for (const i of all) {
    if (seen.has(i.id)) continue;
    seen.add(i.id);
    const name = encodeURIComponent(i.id);
    out.set(`incidents/${name}.html`, {
      body: renderIncidentPage(i, data.summary.page.name, data.generatedAt, pageOpts('../')),
      type: TYPES.html,
    });
    // Also as a folder index, so the extension-less URL in feeds and webhooks works on plain static hosts.
    out.set(`incidents/${name}/index.html`, {
      body: renderIncidentPage(i, data.summary.page.name, data.generatedAt, pageOpts('../../')),
      type: TYPES.html,
    });
  }
  for (const [name, a] of ASSETS) out.set(`assets/${name}`, a);
  const items = feedItems(data.incidents, data.maintenances);
  out.set('history.atom', { body: renderAtom(data.summary.page, items, urls), type: TYPES.atom });
  out.set('history.rss', { body: renderRss(data.summary.page, items, urls), type: TYPES.rss });
  for (const [path, body] of Object.entries(await v2Documents(view)))
    out.set(path, { body, type: TYPES.json });
  for (const c of data.components) {
    out.set(`badge/${encodeURIComponent(c.id)}.svg`, {
      body: renderBadge(c.name, c.status),
      type: TYPES.svg,
    });
  }
  out.set('banner.json', {
    body: JSON.stringify(renderBanner(data.summary, urls.incident, now)),
    type: TYPES.json,
  });
  return out;
}
