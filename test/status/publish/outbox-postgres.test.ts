import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNotifier } from '../../../src/status/publish/notifier.ts';
import { claimDue, enqueueEvent, pruneOutbox } from '../../../src/status/publish/outbox.ts';
import { createSubscriber } from '../../../src/status/publish/subscribers.ts';
import { type Db, openDatabase } from '../../../src/stores/database.ts';
import { FakeView } from './fake-view.ts';
import { silent, startReceiver, statusConfig } from './harness.ts';

/** Two gateways on one PostgreSQL: every delivery is claimed by exactly one of them. */
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';
const down = await probe(DATABASE_URL);
if (down)
  console.warn(`[status outbox] PostgreSQL unreachable (${down}); skipping the multi-node outbox test.`);
const schema = `hf_outbox_${process.pid}_${randomBytes(4).toString('hex')}`;

describe.skipIf(down !== undefined)('status outbox on PostgreSQL, two nodes', () => {
  let a: Db;
  let b: Db;
  beforeAll(async () => {
    a = await openDatabase({ url: DATABASE_URL, data_dir: 'unused' }, { schema });
    b = await openDatabase({ url: DATABASE_URL, data_dir: 'unused' }, { schema });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    const c = new pg.Client({ connectionString: DATABASE_URL });
    await c.connect();
    await c.query(`drop schema if exists "${schema}" cascade`);
    await c.end();
  });

  it('claims with skip locked: concurrent claims never share a row', async () => {
    const view = new FakeView();
    const policy = { allowPrivate: true, emailEnabled: false };
    for (let i = 0; i < 30; i++) {
      await createSubscriber(a, { kind: 'webhook', target: `http://127.0.0.1:9/${i}` }, policy);
    }
    const page = { id: 'p', status_indicator: 'major' as const, status_description: 'Partial System Outage' };
    const now = new Date();
    expect(
      await enqueueEvent(
        a,
        { type: 'incident', change: 'created', incident: view.data.incidents[0]! },
        { batchWindowS: 0, page, now },
      ),
    ).toBe(30);
    const claims = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        claimDue(i % 2 ? a : b, { limit: 5, leaseMs: 60_000, now: new Date(now.getTime() + 1) }),
      ),
    );
    const ids = claims.flat().map((r) => r.id);
    expect(ids).toHaveLength(30);
    expect(new Set(ids).size).toBe(30);
    await a.kysely.deleteFrom('status_subscribers').execute();
  });

  it('two notifiers deliver each message once', async () => {
    const r = await startReceiver();
    try {
      const view = new FakeView();
      const config = statusConfig({ notifications: { allow_private_targets: true, batch_window_s: 0 } });
      const policy = { allowPrivate: true, emailEnabled: false };
      for (let i = 0; i < 12; i++)
        await createSubscriber(a, { kind: 'webhook', target: `${r.url}/${i}` }, policy);
      const na = createNotifier({ db: a, view, config, logger: silent, batchSize: 3 });
      const nb = createNotifier({ db: b, view, config, logger: silent, batchSize: 3 });
      await na.onEvent({ type: 'incident', change: 'created', incident: view.data.incidents[0]! });
      for (let i = 0; i < 6; i++) await Promise.all([na.tick(), nb.tick()]);
      expect(r.received).toHaveLength(12);
      expect(new Set(r.received.map((x) => x.url)).size).toBe(12);
      await na.close();
      await nb.close();
      expect(await pruneOutbox(a, new Date(Date.now() + 1000))).toBe(12);
    } finally {
      await r.close();
    }
  });
});

async function probe(url: string): Promise<string | undefined> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  try {
    await c.connect();
    await c.query('select 1');
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message || error.name : String(error);
  } finally {
    await c.end().catch(() => {});
  }
}
