import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConfig } from '../../../src/config/load.ts';
import { registerStatusPublishing, type StatusPublishing } from '../../../src/status/publish/index.ts';
import { verify } from '../../../src/status/publish/signature.ts';
import { StatusService } from '../../../src/status/service.ts';
import { type Db, openDatabase } from '../../../src/stores/database.ts';
import { silent, startReceiver } from './harness.ts';

/**
 * The publishing face on the real status core: an operator's incident reaches a webhook, the page, the
 * feed and the static copy; resolving it does too.
 */
describe('publishing from the StatusService', () => {
  let db: Db;
  let service: StatusService;
  let publishing: StatusPublishing;
  let app: FastifyInstance;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let out: string;

  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), 'holdfast-status-svc-'));
    const config = buildConfig(
      {
        store: { data_dir: 'memory://' },
        status: {
          page: { name: 'Acme Status', url: 'https://status.acme.test/status' },
          probes: { enabled: false },
          notifications: { allow_private_targets: true, batch_window_s: 0 },
          export: { dir: out },
        },
        models: [{ name: 'm', deployments: [{ id: 'a', provider: 'simulator', model: 'x' }] }],
      },
      {},
      'test',
    );
    db = await openDatabase(config.store);
    service = new StatusService({
      db,
      config,
      engine: { health: () => 'healthy', drain: () => {} },
      timers: false,
    });
    await service.start();
    receiver = await startReceiver();
    app = Fastify();
    app.register(async (child) => {
      publishing = registerStatusPublishing(child, {
        view: service,
        config,
        db,
        logger: silent,
        cacheMs: 0,
        exportDebounceMs: 20,
        notifier: { tickMs: 50 },
      });
    });
    await app.ready();
    publishing.start();
  });
  afterAll(async () => {
    await publishing?.close();
    await app?.close();
    await service?.close();
    await receiver?.close();
    await db?.close();
    await rm(out, { recursive: true, force: true });
  });

  it('an incident and its resolution reach a signed webhook, the page, the feed and the static copy', async () => {
    const sub = await app.inject({
      method: 'POST',
      url: '/api/v2/subscribers',
      payload: { kind: 'webhook', target: receiver.url },
    });
    expect(sub.statusCode).toBe(201);
    const secret = sub.json().secret as string;

    const inc = await service.createIncident({
      name: 'Chat answers <slow>',
      body: 'We are looking into it.',
    });
    await expect.poll(() => receiver.received.length, { timeout: 5_000 }).toBe(1);
    const first = receiver.received[0]!;
    expect(verify(secret, first.body, String(first.headers['x-holdfast-signature']))).toBe(true);
    expect(JSON.parse(first.body).incident).toMatchObject({
      id: inc.id,
      name: 'Chat answers <slow>',
      status: 'investigating',
    });

    const page = (await app.inject({ method: 'GET', url: '/status' })).body;
    expect(page).toContain('Chat answers &lt;slow&gt;');
    expect((await app.inject({ method: 'GET', url: '/history.atom' })).body).toContain(
      `https://status.acme.test/status/incidents/${inc.id}`,
    );
    await expect
      .poll(() => readFile(join(out, 'index.html'), 'utf8').catch(() => ''), { timeout: 5_000 })
      .toContain('Chat answers &lt;slow&gt;');

    await service.postUpdate(inc.id, { status: 'resolved', body: 'Back to normal.' });
    await expect.poll(() => receiver.received.length, { timeout: 5_000 }).toBe(2);
    expect(JSON.parse(receiver.received[1]!.body).incident.status).toBe('resolved');
    await expect
      .poll(
        async () =>
          JSON.parse(await readFile(join(out, 'api/v2/incidents/unresolved.json'), 'utf8')).incidents.length,
        { timeout: 5_000 },
      )
      .toBe(0);
  });
});
