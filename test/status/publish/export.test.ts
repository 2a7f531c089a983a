import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExporter, uploadSite, writeSiteDir } from '../../../src/status/publish/exporter.ts';
import { renderSite } from '../../../src/status/publish/site.ts';
import { V2_PATHS, v2Document, v2Documents } from '../../../src/status/publish/v2-json.ts';
import { publishStatusEvent } from '../../../src/status/view.ts';
import { FakeView } from './fake-view.ts';
import { silent, startHarness, statusConfig } from './harness.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.json': 'application/json',
  '.css': 'text/css',
  '.js': 'text/javascript',
  '.svg': 'image/svg+xml',
  '.atom': 'application/atom+xml',
  '.rss': 'application/rss+xml',
};

/** Any static host: files from a folder, index.html for folders, nothing else. No Holdfast involved. */
async function staticServer(root: string): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    let file = join(root, path);
    if (!file.startsWith(root)) return void res.writeHead(403).end();
    try {
      if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
      await stat(file);
    } catch {
      return void res.writeHead(404).end('not found');
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'holdfast-export-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('static export', () => {
  it('writes the page, incident pages, v2 JSON, feeds, badges and banner', async () => {
    const view = new FakeView();
    const files = await renderSite(view, statusConfig());
    await writeSiteDir(dir, files);
    const all = await readdir(dir, { recursive: true });
    for (const p of [
      'index.html',
      'incidents/inc_active.html',
      'incidents/inc_active/index.html',
      'incidents/mnt_next.html',
      'assets/status.css',
      'assets/status.js',
      'history.atom',
      'history.rss',
      'banner.json',
      'badge/cmp_gpt.svg',
      ...V2_PATHS,
    ]) {
      expect(all, p).toContain(p);
    }
    // atomic writes leave no temp files behind
    expect(all.filter((p) => p.endsWith('.tmp'))).toEqual([]);
  });

  it('v2 JSON files are exactly what v2Document renders for the live API', async () => {
    const view = new FakeView();
    const docs = await v2Documents(view);
    for (const p of V2_PATHS) expect(docs[p]).toBe(JSON.stringify(await v2Document(view, p)));
    expect(
      JSON.parse(docs['api/v2/incidents/unresolved.json']).incidents.map((i: { id: string }) => i.id),
    ).toEqual(['inc_active']);
    expect(
      JSON.parse(docs['api/v2/scheduled-maintenances/upcoming.json']).scheduled_maintenances.map(
        (i: { id: string }) => i.id,
      ),
    ).toEqual(['mnt_next']);
    expect(JSON.parse(docs['api/v2/scheduled-maintenances/active.json']).scheduled_maintenances).toEqual([]);
    expect(Object.keys(JSON.parse(docs['api/v2/status.json']))).toEqual(['page', 'status']);
    const onDisk = await readFile(join(dir, 'api/v2/summary.json'), 'utf8');
    expect(JSON.parse(onDisk).status.indicator).toBe('major');
  });

  it('a plain static server shows the incident while no Holdfast is running', async () => {
    const host = await staticServer(dir);
    try {
      const page = await fetch(`${host.url}/`);
      expect(page.status).toBe(200);
      const html = await page.text();
      expect(html).toContain('Partial System Outage');
      expect(html).toContain('Elevated error rate on gpt-4o &lt;eu-west&gt;');
      // relative links resolve on the static host
      expect(html).toContain('href="assets/status.css"');
      expect(html).toContain('href="incidents/inc_active.html"');
      expect((await fetch(`${host.url}/assets/status.css`)).status).toBe(200);
      const detail = await (await fetch(`${host.url}/incidents/inc_active.html`)).text();
      expect(detail).toContain('<h1>Elevated error rate on gpt-4o &lt;eu-west&gt;</h1>');
      expect(detail).toContain('href="../assets/status.css"');
      // the extension-less link that feeds and webhooks carry works too
      const folder = await fetch(`${host.url}/incidents/inc_active/`);
      expect(await folder.text()).toContain('href="../../assets/status.css"');
      const unresolved = (await (await fetch(`${host.url}/api/v2/incidents/unresolved.json`)).json()) as {
        incidents: { name: string }[];
      };
      expect(unresolved.incidents[0]?.name).toBe('Elevated error rate on gpt-4o <eu-west>');
      expect(await (await fetch(`${host.url}/history.atom`)).text()).toContain(
        '<title>Elevated error rate on gpt-4o &lt;eu-west&gt;</title>',
      );
      expect(await (await fetch(`${host.url}/badge/cmp_gpt.svg`)).text()).toContain('partial outage');
    } finally {
      await host.close();
    }
  });

  it('re-exports on status events (debounced) from the running publishing face', async () => {
    const out = await mkdtemp(join(tmpdir(), 'holdfast-export-live-'));
    const h = await startHarness({ config: { export: { dir: out } }, deps: { exportDebounceMs: 20 } });
    try {
      h.publishing.start();
      await expect
        .poll(() => readFile(join(out, 'index.html'), 'utf8').catch(() => ''), { timeout: 5_000 })
        .toContain('Partial System Outage');
      // the incident resolves and the component recovers: the copy on disk follows
      h.view.data.incidents[0] = { ...h.view.data.incidents[0]!, status: 'resolved' };
      for (const c of h.view.data.components) c.status = 'operational';
      for (let i = 0; i < 5; i++)
        publishStatusEvent({ type: 'incident', change: 'resolved', incident: h.view.data.incidents[0]! });
      await expect
        .poll(() => readFile(join(out, 'index.html'), 'utf8'), { timeout: 5_000 })
        .toContain('All Systems Operational');
      // files are rewritten one by one, so the page can be new before the API copy is
      await expect
        .poll(
          async () =>
            JSON.parse(await readFile(join(out, 'api/v2/incidents/unresolved.json'), 'utf8')).incidents,
          { timeout: 5_000 },
        )
        .toEqual([]);
    } finally {
      await h.close();
      await rm(out, { recursive: true, force: true });
    }
  });

  it('uploads to an S3-compatible bucket with the AWS SDK, and skips unchanged files next time', async () => {
    // No maintained S3-compatible server installs from npm; a recorder of the SDK's PutObject requests
    // stands in for one (path-style, as MinIO or Ceph would be addressed).
    const puts: {
      path: string;
      type: string | undefined;
      cache: string | undefined;
      body: string;
      auth: string | undefined;
    }[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.method === 'PUT') {
          puts.push({
            path: decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname),
            type: req.headers['content-type'],
            cache: req.headers['cache-control'],
            body: Buffer.concat(chunks).toString('utf8'),
            auth: req.headers.authorization,
          });
          res.writeHead(200, { etag: '"x"' }).end();
        } else res.writeHead(405).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const s3 = {
      bucket: 'status-site',
      prefix: 'public',
      region: 'us-east-1',
      endpoint,
      access_key_id: 'AKIDTEST',
      secret_access_key: 'secret',
      force_path_style: true,
    };
    const config = statusConfig({ export: { s3 } });
    const view = new FakeView();
    try {
      const exporter = createExporter({ view, config, logger: silent });
      const first = await exporter.run();
      expect(first.uploaded).toBe(first.files);
      const index = puts.find((p) => p.path === '/status-site/public/index.html')!;
      expect(index.type).toBe('text/html; charset=utf-8');
      expect(index.cache).toBe('public, max-age=30');
      expect(index.body).toContain('Partial System Outage');
      expect(index.auth).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDTEST\//);
      expect(
        puts.some(
          (p) =>
            p.path === '/status-site/public/api/v2/summary.json' &&
            p.type === 'application/json; charset=utf-8',
        ),
      ).toBe(true);
      const second = await exporter.run();
      // only what changed since (the timestamps in page, banner and JSON), never the stylesheet again
      expect(second.uploaded).toBeLessThan(first.files);
      expect(puts.filter((p) => p.path.endsWith('/assets/status.css'))).toHaveLength(1);
      await exporter.close();
      // the same function the exporter uses, with a caller's own client
      const client = new S3Client({
        region: 'us-east-1',
        endpoint,
        forcePathStyle: true,
        credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      });
      const n = await uploadSite(
        client,
        { ...s3, prefix: '' },
        new Map([['x.json', { body: '{}', type: 'application/json' }]]),
      );
      expect(n).toBe(1);
      expect(puts.at(-1)!.path).toBe('/status-site/x.json');
      client.destroy();
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
