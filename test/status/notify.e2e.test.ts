import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verify } from '../../src/status/publish/signature.ts';
import type { Json } from '../helpers/chat-client.ts';
import { ADMIN_KEY, type TestGateway } from '../helpers/gateway.ts';
import { call, drive, FAST_STATUS, startStatusGateway, until } from './gateway.ts';

/** A webhook receiver on loopback that keeps every delivery with its signature header. */
let receiver: Server;
let receiverUrl = '';
const deliveries: Array<{ body: string; signature: string | undefined }> = [];
let t: TestGateway;
const exportDir = mkdtempSync(join(tmpdir(), 'holdfast-status-export-'));

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => {
      body += d;
    });
    req.on('end', () => {
      const sig = req.headers['x-holdfast-signature'];
      deliveries.push({ body, signature: typeof sig === 'string' ? sig : undefined });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  t = await startStatusGateway({
    status: {
      ...FAST_STATUS,
      // The receiver is on loopback, which the SSRF guard refuses unless told otherwise.
      notifications: { allow_private_targets: true, batch_window_s: 0 },
      export: { dir: exportDir },
    },
  });
});
afterAll(async () => {
  await t?.close();
  await new Promise((r) => receiver.close(r));
  rmSync(exportDir, { recursive: true, force: true });
});

describe('status end to end: chaos fault → incident → signed webhook, feed, static copy → resolved', () => {
  it('tells a webhook subscriber (signed), the Atom feed and the static export, then resolves', {
    timeout: 120_000,
  }, async () => {
    const sub = await call(t.url, 'POST', '/api/v2/subscribers', { kind: 'webhook', target: receiverUrl });
    expect(sub.status).toBe(201);
    const secret: string = sub.body.secret;
    expect(secret.length).toBeGreaterThanOrEqual(16);

    const traffic = drive(t.url, 'sim-openai');
    const injected = Date.now();
    try {
      await call(t.url, 'POST', '/admin/chaos/sim-oa', { kind: 'error', status: 503, duration_s: 60 });
      const delivered = await until(
        'a signed incident webhook',
        async () => deliveries.find((d) => (JSON.parse(d.body) as Json).incident),
        180_000,
      );
      const tookMs = Date.now() - injected;
      console.log(`status: signed incident webhook ${tookMs} ms after the fault`);
      expect(tookMs).toBeLessThan(180_000);
      expect(verify(secret, delivered.body, delivered.signature)).toBe(true);
      expect(verify(secret, `${delivered.body} `, delivered.signature)).toBe(false);
      const payload = JSON.parse(delivered.body) as Json;
      expect(payload.meta).toMatchObject({
        unsubscribe: expect.any(String),
        generated_at: expect.any(String),
      });
      expect(payload.page.status_indicator).toMatch(/^(minor|major|critical)$/);
      expect(payload.incident.status).toBe('investigating');
      expect(payload.incident.components.map((c: Json) => c.name)).toContain('sim-openai');

      const atom = await fetch(`${t.url}/history.atom`).then((r) => r.text());
      expect(atom).toContain('<feed');
      expect(atom).toContain(payload.incident.name);
      // The static copy follows every change (debounced).
      await until('the static export to show the incident', async () => {
        try {
          const summary = JSON.parse(readFileSync(join(exportDir, 'api/v2/summary.json'), 'utf8')) as Json;
          return summary.incidents.some((i: Json) => i.id === payload.incident.id) || undefined;
        } catch {
          return undefined;
        }
      });
    } finally {
      await fetch(`${t.url}/admin/chaos`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      });
    }
    const resolved = await until(
      'a resolved incident webhook',
      async () => deliveries.find((d) => (JSON.parse(d.body) as Json).incident?.status === 'resolved'),
      60_000,
    );
    expect(verify(secret, resolved.body, resolved.signature)).toBe(true);
    await traffic.stop();
  });
});
