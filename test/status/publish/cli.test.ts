import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonb, openDatabase } from '../../../src/stores/database.ts';

const run = promisify(execFile);
const BIN = new URL('../../../bin/holdfast.js', import.meta.url).pathname;

describe('holdfast status export', () => {
  let dir: string;
  let cfg: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'holdfast-status-cli-'));
    cfg = join(dir, 'holdfast.yaml');
    await writeFile(
      cfg,
      `store: { data_dir: ${join(dir, 'data')} }\nstatus:\n  page: { name: Acme Status, url: 'https://status.acme.test/status' }\nmodels:\n  - name: m\n    deployments:\n      - { id: a, provider: simulator, model: x }\n`,
    );
    // An incident as the status core stores it, written while no gateway runs.
    const db = await openDatabase({ data_dir: join(dir, 'data') });
    const now = new Date();
    await db.kysely
      .insertInto('status_incidents')
      .values({
        id: 'cliinc000001',
        kind: 'incident',
        name: 'Login <failures>',
        status: 'investigating',
        impact: 'major',
        component_ids: jsonb([]),
        started_at: now,
        created_at: now,
        updated_at: now,
      })
      .execute();
    await db.kysely
      .insertInto('status_incident_updates')
      .values({
        id: 'cliupd000001',
        incident_id: 'cliinc000001',
        status: 'investigating',
        body: 'Sign-ins fail for some users.',
        display_at: now,
        created_at: now,
        updated_at: now,
      })
      .execute();
    await db.close();
  }, 60_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('renders the page, JSON and feeds from the database without starting the gateway', async () => {
    const out = join(dir, 'site');
    const { stdout } = await run(process.execPath, [BIN, 'status', 'export', '--out', out, '--config', cfg], {
      cwd: dir,
    });
    expect(stdout).toMatch(/^wrote \d+ files to /);
    const index = await readFile(join(out, 'index.html'), 'utf8');
    expect(index).toContain('Acme Status');
    expect(index).toContain('Login &lt;failures&gt;');
    expect(index).toContain('Sign-ins fail for some users.');
    const unresolved = JSON.parse(await readFile(join(out, 'api/v2/incidents/unresolved.json'), 'utf8')) as {
      incidents: { id: string }[];
    };
    expect(unresolved.incidents.map((i) => i.id)).toEqual(['cliinc000001']);
    expect(await readFile(join(out, 'history.atom'), 'utf8')).toContain(
      'https://status.acme.test/status/incidents/cliinc000001',
    );
    expect(await readFile(join(out, 'incidents/cliinc000001.html'), 'utf8')).toContain(
      '<h1>Login &lt;failures&gt;</h1>',
    );
  }, 60_000);

  it('explains its usage', async () => {
    const err = await run(process.execPath, [BIN, 'status', 'export'], { cwd: dir }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect((err as { code: number }).code).toBe(2);
    expect((err as { stderr: string }).stderr).toContain('usage: holdfast status export --out DIR');
  });
});
