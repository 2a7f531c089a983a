import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const parser = new XMLParser({
  htmlEntities: true,
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  isArray: (n) => n === 'entry' || n === 'item' || n === 'link',
});

async function fetchXml(url: string) {
  const res = await h.app.inject({ method: 'GET', url });
  expect(res.statusCode).toBe(200);
  expect(XMLValidator.validate(res.body)).toBe(true);
  return { res, doc: parser.parse(res.body) };
}

const isDate = (s: unknown) => typeof s === 'string' && !Number.isNaN(Date.parse(s));

describe('feeds', () => {
  it('Atom 1.0: feed id, title, updated, author, self link; each entry id, title, updated, link, content', async () => {
    for (const path of ['/status/history.atom', '/history.atom']) {
      const { res, doc } = await fetchXml(path);
      expect(res.headers['content-type']).toContain('application/atom+xml');
      const feed = doc.feed;
      expect(feed['@xmlns']).toBe('http://www.w3.org/2005/Atom');
      expect(feed.id).toBe('http://127.0.0.1:8080/status');
      expect(feed.title).toBe('Holdfast Status - Incident History');
      expect(isDate(feed.updated)).toBe(true);
      expect(feed.author.name).toBe('Holdfast Status');
      expect(feed.link.find((l: Record<string, string>) => l['@rel'] === 'self')['@href']).toBe(
        'http://127.0.0.1:8080/status/history.atom',
      );
      // 3 incidents + 2 maintenances
      expect(feed.entry).toHaveLength(5);
      const ids = new Set<string>();
      for (const e of feed.entry) {
        expect(typeof e.id).toBe('string');
        ids.add(e.id);
        expect(typeof e.title).toBe('string');
        expect(isDate(e.updated)).toBe(true);
        expect(e.link[0]['@rel']).toBe('alternate');
        expect(e.content['@type']).toBe('html');
      }
      expect(ids.size).toBe(5);
      const active = feed.entry.find((e: { id: string }) => e.id.endsWith('/incidents/inc_active'));
      expect(active.title).toBe('Elevated error rate on gpt-4o <eu-west>');
      // the HTML content, once unescaped by the XML parser, still has the operator's markup escaped
      expect(active.content['#text']).toContain('&lt;script&gt;');
      expect(active.content['#text']).toContain('<strong>Identified</strong>');
      // newest change first
      const updated = feed.entry.map((e: { updated: string }) => e.updated);
      expect([...updated].sort().reverse()).toEqual(updated);
    }
  });

  it('RSS 2.0: channel title, link, description; items with title, link, guid, pubDate', async () => {
    for (const path of ['/status/history.rss', '/history.rss']) {
      const { res, doc } = await fetchXml(path);
      expect(res.headers['content-type']).toContain('application/rss+xml');
      expect(doc.rss['@version']).toBe('2.0');
      const ch = doc.rss.channel;
      expect(ch.title).toBe('Holdfast Status - Incident History');
      expect(ch.link).toEqual(['http://127.0.0.1:8080/status']);
      expect(typeof ch.description).toBe('string');
      expect(ch.item).toHaveLength(5);
      for (const item of ch.item) {
        expect(typeof item.title).toBe('string');
        expect(item.link[0]).toMatch(/^http:\/\/127\.0\.0\.1:8080\/status\/incidents\//);
        expect(item.guid['#text']).toBe(item.link[0]);
        // RFC 822 date
        expect(item.pubDate).toMatch(/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
        expect(typeof item.description).toBe('string');
      }
    }
  });

  it('stays well-formed with hostile text in names and bodies', async () => {
    const inc = h.view.data.incidents[0]!;
    const saved = { name: inc.name, body: inc.incident_updates[0]!.body };
    inc.name = ']]></title><x>&amp; "quotes" \'single\'';
    inc.incident_updates[0]!.body = '<![CDATA[ boom ]]> & </content>';
    try {
      for (const path of ['/history.atom', '/history.rss']) {
        const { doc } = await fetchXml(path);
        const titles = path.endsWith('atom')
          ? doc.feed.entry.map((e: { title: string }) => e.title)
          : doc.rss.channel.item.map((i: { title: string }) => i.title);
        expect(titles).toContain(']]></title><x>&amp; "quotes" \'single\'');
      }
    } finally {
      inc.name = saved.name;
      inc.incident_updates[0]!.body = saved.body;
    }
  });

  it('the page advertises both feeds', async () => {
    const page = (await h.app.inject({ method: 'GET', url: '/status' })).body;
    expect(page).toMatch(
      /<link rel="alternate" type="application\/atom\+xml" title="[^"]+" href="\/status\/history\.atom">/,
    );
    expect(page).toMatch(
      /<link rel="alternate" type="application\/rss\+xml" title="[^"]+" href="\/status\/history\.rss">/,
    );
  });
});
