import type { SpIncident, SpPage } from '../statuspage.ts';
import { escapeHtml, paragraphs } from './html.ts';
import { formatTime, IMPACT_LABEL, UPDATE_LABEL } from './labels.ts';
import type { PublicUrls } from './links.ts';

const MAX_ENTRIES = 50;

/** Incidents and maintenances, most recently changed first, as the feeds list them. */
export function feedItems(
  incidents: readonly SpIncident[],
  maintenances: readonly SpIncident[],
): SpIncident[] {
  return [...incidents, ...maintenances]
    .sort((a, b) => b.updated_at.localeCompare(a.updated_at))
    .slice(0, MAX_ENTRIES);
}

/** The entry body: every update, newest first, as HTML (escaped once more by the feed's XML). */
function entryHtml(i: SpIncident): string {
  const updates = [...i.incident_updates].sort((a, b) => b.display_at.localeCompare(a.display_at));
  const parts = updates.map(
    (u) =>
      `<p><small>${escapeHtml(formatTime(u.display_at))}</small><br><strong>${escapeHtml(UPDATE_LABEL[u.status] ?? u.status)}</strong></p>${paragraphs(u.body).value}`,
  );
  const head: string[] = [];
  if (i.scheduled_for) {
    head.push(
      `<p><strong>Scheduled</strong> ${escapeHtml(formatTime(i.scheduled_for))}${i.scheduled_until ? ` – ${escapeHtml(formatTime(i.scheduled_until))}` : ''}</p>`,
    );
  }
  if (i.components.length > 0) {
    head.push(`<p>Affected: ${escapeHtml(i.components.map((c) => c.name).join(', '))}</p>`);
  }
  if (i.impact !== 'maintenance') head.push(`<p>Impact: ${escapeHtml(IMPACT_LABEL[i.impact])}</p>`);
  return [...head, ...parts].join('\n');
}

function latest(items: readonly SpIncident[], page: SpPage): string {
  return items[0]?.updated_at ?? page.updated_at;
}

/** Atom 1.0 (RFC 4287). */
export function renderAtom(page: SpPage, items: readonly SpIncident[], urls: PublicUrls): string {
  const x = escapeHtml;
  const entries = items.map(
    (i) => `  <entry>
    <id>${x(urls.incident(i.id))}</id>
    <title>${x(i.name)}</title>
    <published>${x(i.created_at)}</published>
    <updated>${x(i.updated_at)}</updated>
    <link rel="alternate" type="text/html" href="${x(urls.incident(i.id))}"/>
    <category term="${x(i.impact === 'maintenance' ? 'maintenance' : 'incident')}"/>
    <content type="html">${x(entryHtml(i))}</content>
  </entry>`,
  );
  return `<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
  <id>${x(urls.page)}</id>
  <title>${x(page.name)} - Incident History</title>
  <updated>${x(latest(items, page))}</updated>
  <link rel="alternate" type="text/html" href="${x(urls.page)}"/>
  <link rel="self" type="application/atom+xml" href="${x(urls.atom)}"/>
  <author><name>${x(page.name)}</name></author>
  <generator>Holdfast</generator>
${entries.join('\n')}
</feed>
`;
}

/** RSS 2.0. */
export function renderRss(page: SpPage, items: readonly SpIncident[], urls: PublicUrls): string {
  const x = escapeHtml;
  const rfc822 = (iso: string) => new Date(iso).toUTCString();
  const entries = items.map(
    (i) => `    <item>
      <title>${x(i.name)}</title>
      <link>${x(urls.incident(i.id))}</link>
      <guid isPermaLink="true">${x(urls.incident(i.id))}</guid>
      <pubDate>${x(rfc822(i.created_at))}</pubDate>
      <category>${x(i.impact === 'maintenance' ? 'maintenance' : 'incident')}</category>
      <description>${x(entryHtml(i))}</description>
    </item>`,
  );
  return `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">
  <channel>
    <title>${x(page.name)} - Incident History</title>
    <link>${x(urls.page)}</link>
    <description>Statuspage-style incident and maintenance history for ${x(page.name)}</description>
    <language>en</language>
    <lastBuildDate>${x(rfc822(latest(items, page)))}</lastBuildDate>
    <atom:link href="${x(urls.rss)}" rel="self" type="application/rss+xml"/>
${entries.join('\n')}
  </channel>
</rss>
`;
}
