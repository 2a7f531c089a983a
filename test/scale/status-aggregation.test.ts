import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/stores/database.ts';
import { createSqlKeyStore } from '../../src/stores/keys.ts';
import { deletePrefix, redisAvailable, SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.ts';
import { freePort, pgAvailable, pgSchema, type Replica, startReplica } from '../helpers/replica.ts';

/**
 * Three gateways as separate processes sharing one Postgres schema and one Redis prefix. Failing traffic
 * goes through ONE replica only (a chaos fault lives in one process's memory), and one that is not the
 * status evaluator: every replica must compute the same degraded status from the cluster's counts,
 * every replica's public API must show it, and exactly one incident must open for the cluster.
 */

const ADMIN = 'hf-admin-status-agg-0123456789';

const up = (await pgAvailable()) && (await redisAvailable());

interface AdminComponents {
  telemetry: { backend: string; scope: string; role: string; replica: string; evaluator: string | null };
  components: { key: string; status: string; computed: string | null }[];
}

async function admin(url: string, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
  });
}

async function adminComponents(url: string): Promise<AdminComponents> {
  return (await (await admin(url, '/admin/status/components')).json()) as AdminComponents;
}

async function publicStatus(url: string, name: string): Promise<string | undefined> {
  const body = (await (await fetch(`${url}/api/v2/components.json`)).json()) as {
    components: { name: string; status: string }[];
  };
  return body.components.find((c) => c.name === name)?.status;
}

async function chat(url: string, key: string): Promise<number> {
  const r = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'sim', max_tokens: 4, messages: [{ role: 'user', content: 'hi' }] }),
  });
  await r.arrayBuffer();
  return r.status;
}

async function until<T>(what: string, ms: number, read: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + ms;
  let v = await read();
  while (!ok(v)) {
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v)} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
    v = await read();
  }
  return v;
}

describe.skipIf(!up)('status across three replicas (skipped without Postgres and Redis on 127.0.0.1)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-status-agg-'));
  const schema = `hf_status_agg_${randomBytes(5).toString('hex')}`;
  const prefix = uniquePrefix('status-agg');
  let storeUrl = '';
  let dropSchema = async (): Promise<void> => {};
  const cfg = join(dir, 'holdfast.yaml');
  let replicas: Replica[] = [];
  let key = '';

  // Every process started, so teardown stops them even when the set up failed half-way.
  const started: Replica[] = [];
  const start = async (name: string): Promise<Replica> => {
    const r = await startReplica({ name, config: cfg, port: await freePort() });
    started.push(r);
    return r;
  };

  beforeAll(async () => {
    ({ url: storeUrl, drop: dropSchema } = await pgSchema(schema));
    // Deployment health must not say it on its own: no ejections (they are shared too), no probes.
    writeFileSync(
      cfg,
      `server: { port: 0, drain_delay_ms: 0, shutdown_grace_ms: 1000 }
auth: { admin_key: ${ADMIN} }
store: { url: "${storeUrl}", data_dir: "${join(dir, 'data')}" }
shared_state:
  redis_url: ${SHARED_REDIS_URL}
  key_prefix: "${prefix}"
  replica_id: \${HOLDFAST_REPLICA}
resilience: { outlier: { max_ejection_percent: 0 } }
chat: { enabled: false }
status:
  rules: { tick_ms: 250 }
  incidents: { open_after_s: 1 }
  probes: { enabled: false }
log: { level: warn }
models:
  - name: sim
    deployments:
      - { id: sim-a, provider: simulator, model: a, simulator: { ttft_ms: 0, tokens_per_sec: 0, answer_tokens: 4 } }
`,
    );
    // The first one creates the tables; the other two start on a migrated schema.
    const a = await start('A');
    replicas = [a, ...(await Promise.all([start('B'), start('C')]))];
    const db = await openDatabase({ url: storeUrl, data_dir: dir });
    try {
      key = (await createSqlKeyStore(db.kysely).createKey({ name: 'agg', models: ['*'] })).secret;
    } finally {
      await db.close();
    }
  }, 30_000);

  afterAll(async () => {
    await Promise.all(
      started.map(async (r) => {
        const late = setTimeout(() => r.child.kill('SIGKILL'), 3_000);
        await r.stop('SIGTERM');
        clearTimeout(late);
      }),
    );
    await dropSchema();
    await deletePrefix(SHARED_REDIS_URL, prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  it('failing traffic through one replica: all three compute and show the same status, and one incident opens', async () => {
    // One evaluator for the cluster, every replica counting cluster-wide.
    const views = await until(
      'one evaluator',
      10_000,
      () => Promise.all(replicas.map((r) => adminComponents(r.url))),
      // the others learn who holds the lease on their next tick, so wait for them to agree too
      (v) => {
        const holders = v.filter((x) => x.telemetry.role === 'evaluator');
        return (
          holders.length === 1 && v.every((x) => x.telemetry.evaluator === holders[0]!.telemetry.replica)
        );
      },
    );
    for (const v of views) expect(v.telemetry).toMatchObject({ backend: 'redis', scope: 'cluster' });
    const evaluator = views.find((v) => v.telemetry.role === 'evaluator')!.telemetry.replica;
    for (const v of views) expect(v.telemetry.evaluator).toBe(evaluator);
    // The failing traffic goes through a replica that does not write: only the shared counts can tell.
    const sender = replicas.find((r) => r.name !== evaluator)!;
    for (const r of replicas) expect(await publicStatus(r.url, 'sim')).toBe('operational');

    // A healthy baseline through the sender, then a 500 on every call there (and only there).
    for (let i = 0; i < 5; i++) expect(await chat(sender.url, key)).toBe(200);
    const inject = await admin(sender.url, '/admin/chaos/sim-a', {
      method: 'POST',
      body: JSON.stringify({ kind: 'error', status: 500, duration_s: 60 }),
    });
    expect(inject.status).toBe(201);
    const t0 = Date.now();
    for (let i = 0; i < 20; i++) expect(await chat(sender.url, key)).toBeGreaterThanOrEqual(500);
    // Every replica computes the outage from the cluster's counts…
    const computed = await until(
      'each replica computes the outage',
      8_000,
      () =>
        Promise.all(
          replicas.map(async (r) =>
            (await adminComponents(r.url)).components.find((c) => c.key === 'model:sim'),
          ),
        ),
      (cs) => cs.every((c) => c?.computed === 'major_outage'),
    );
    const computedMs = Date.now() - t0;
    expect(computed.map((c) => c?.computed)).toEqual(['major_outage', 'major_outage', 'major_outage']);
    // …and every replica's public API shows the same status.
    await until(
      'each replica shows the outage',
      8_000,
      () => Promise.all(replicas.map((r) => publicStatus(r.url, 'sim'))),
      (s) => s.every((x) => x === 'major_outage'),
    );
    const shownMs = Date.now() - t0;

    // One incident for the cluster, the same on every replica, and it stays one.
    const incidents = async (url: string) =>
      (
        (await (await fetch(`${url}/api/v2/incidents/unresolved.json`)).json()) as {
          incidents: { id: string }[];
        }
      ).incidents;
    await until(
      'an incident opens',
      8_000,
      () => incidents(sender.url),
      (l) => l.length > 0,
    );
    await new Promise((r) => setTimeout(r, 2_000));
    const seen = await Promise.all(replicas.map((r) => incidents(r.url)));
    const ids = seen.map((l) => l.map((i) => i.id));
    expect(ids[0]).toHaveLength(1);
    expect(ids).toEqual([ids[0], ids[0], ids[0]]);
    const c = new pg.Client({ connectionString: storeUrl });
    await c.connect();
    try {
      const rows = await c.query(`select count(*)::int as n from status_incidents where kind = 'incident'`);
      expect(rows.rows[0].n).toBe(1);
    } finally {
      await c.end();
    }
    console.log(
      `status aggregation: all 3 replicas computed major_outage ${computedMs} ms and showed it ${shownMs} ms after the fault (traffic through ${sender.name}, evaluator ${evaluator})`,
    );
  }, 40_000);

  it('when the evaluator stops, another replica takes the role over and carries on with the same incident', async () => {
    const before = await Promise.all(replicas.map((r) => adminComponents(r.url)));
    const gone = replicas.find((r) => r.name === before[0]!.telemetry.evaluator)!;
    const exited = new Promise((r) => gone.child.once('exit', r));
    gone.child.kill('SIGTERM');
    await exited;
    const rest = replicas.filter((r) => r !== gone);
    const t0 = Date.now();
    // It gave the role up on its way out: the next tick of another replica takes it, no lease to wait out.
    const views = await until(
      'a new evaluator',
      4_000,
      () => Promise.all(rest.map((r) => adminComponents(r.url))),
      (v) => v.filter((x) => x.telemetry.role === 'evaluator').length === 1,
    );
    const handoverMs = Date.now() - t0;
    const next = views.find((v) => v.telemetry.role === 'evaluator')!.telemetry.replica;
    expect(next).not.toBe(gone.name);
    await new Promise((r) => setTimeout(r, 1_000));
    for (const r of rest) expect(await publicStatus(r.url, 'sim')).toBe('major_outage');
    const c = new pg.Client({ connectionString: storeUrl });
    await c.connect();
    try {
      const rows = await c.query(
        `select count(*)::int as n from status_incidents where kind = 'incident' and status <> 'resolved'`,
      );
      expect(rows.rows[0].n).toBe(1);
    } finally {
      await c.end();
    }
    console.log(`status aggregation: evaluator ${gone.name} stopped, ${next} took over in ${handoverMs} ms`);
  }, 20_000);
});
