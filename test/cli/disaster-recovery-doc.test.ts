import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type StoreLocation } from '../../src/stores/database.ts';
import { createSqlKeyStore } from '../../src/stores/keys.ts';
import { createSchema, DATABASE_URL, postgresProblem } from './backup-fixture.ts';
import { holdfast, ROOT } from './cli-runner.ts';

/**
 * The runbook's commands, run as written: every ```sh block of docs/disaster-recovery.md tagged
 * `<!-- runbook: embedded -->` or `<!-- runbook: postgres -->` is executed in order by bash, with
 * `holdfast` being this checkout's CLI, in a scratch directory set up the way the page assumes.
 */
const DOC = readFileSync(join(ROOT, 'docs/disaster-recovery.md'), 'utf8');

interface Block {
  kind: 'embedded' | 'postgres' | undefined;
  lang: string;
  body: string;
}

function blocks(markdown: string): Block[] {
  const out: Block[] = [];
  const fence = /(?:<!-- runbook: (embedded|postgres) -->\n)?```(\w*)\n([\s\S]*?)\n```/g;
  for (const m of markdown.matchAll(fence))
    out.push({ kind: m[1] as Block['kind'], lang: m[2] ?? '', body: m[3] ?? '' });
  return out;
}

const ALL = blocks(DOC);
const runbook = (kind: 'embedded' | 'postgres') => ALL.filter((b) => b.kind === kind).map((b) => b.body);

const CONFIG =
  'store: { data_dir: ./data }\nmodels:\n  - name: m\n    deployments: [{ id: s, provider: simulator, model: s }]\n';

async function addKey(store: StoreLocation, name: string, schema?: string): Promise<void> {
  const db = await openDatabase(store, schema ? { schema } : {});
  try {
    await createSqlKeyStore(db.kysely).createKey({ name, models: ['*'] });
  } finally {
    await db.close();
  }
}

async function keyNames(store: StoreLocation, schema?: string): Promise<string[]> {
  const db = await openDatabase(store, schema ? { schema } : {});
  try {
    return (await createSqlKeyStore(db.kysely).listKeys()).map((k) => k.name);
  } finally {
    await db.close();
  }
}

/** A restore meant to replace the data in its target. */
const replaces = (body: string): boolean => /holdfast restore .*--force/.test(body);

const dirs: string[] = [];
const drops: Array<() => Promise<void>> = [];
function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-runbook-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'holdfast.yaml'), CONFIG);
  return dir;
}

afterAll(async () => {
  for (const drop of drops) await drop().catch(() => {});
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('docs/disaster-recovery.md', () => {
  it('tags every shell block that backs up or restores, so none of them goes untested', () => {
    const untested = ALL.filter(
      (b) => b.lang === 'sh' && /holdfast (backup|restore)/.test(b.body) && b.kind === undefined,
    );
    expect(untested.map((b) => b.body)).toEqual([]);
    expect(runbook('embedded').length).toBeGreaterThanOrEqual(4);
    expect(runbook('postgres').length).toBeGreaterThanOrEqual(3);
  });
});

describe('the runbook on embedded PGlite, as written', { timeout: 180_000 }, () => {
  let dir: string;
  beforeAll(async () => {
    dir = scratch();
    writeFileSync(join(dir, 'backup.pass'), 'correct horse battery staple\n');
    await addKey({ data_dir: join(dir, 'data') }, 'runbook-key');
  }, 60_000);

  it('backs up, encrypts, verifies, drills and restores', async () => {
    for (const body of runbook('embedded')) {
      const r = await holdfast([], {
        cwd: dir,
        shell: body,
        env: { BACKUP_PASSPHRASE_FILE: './backup.pass' },
      });
      expect(r.code, `${body}\n---\n${r.stderr}`).toBe(0);
    }
    const files = readdirSync(join(dir, 'backups'));
    expect(files.some((f) => /^holdfast-\d{8}T\d{6}Z\.jsonl\.gz$/.test(f))).toBe(true);
    expect(files).toContain('holdfast.jsonl.gz.enc');
    // The damaged directory was kept aside, and the configured one holds the restored data.
    expect(readdirSync(dir).some((f) => f.startsWith('data.broken-'))).toBe(true);
    expect(await keyNames({ data_dir: join(dir, 'data') })).toEqual(['runbook-key']);
  });
});

const problem = await postgresProblem();
describe.skipIf(problem !== undefined)(
  `the runbook on PostgreSQL, as written (${problem ? `skipped: ${DATABASE_URL} unreachable` : 'PostgreSQL'})`,
  { timeout: 180_000 },
  () => {
    it('backs up online, restores into a new database, over one with --force, and moves between engines', async () => {
      const dir = scratch();
      await addKey({ data_dir: join(dir, 'data') }, 'embedded-key');
      const source = await createSchema('hf_runbook_src');
      drops.push(source.drop);
      await addKey({ url: DATABASE_URL, data_dir: 'unused' }, 'runbook-key', source.schema);

      let last: Awaited<ReturnType<typeof createSchema>> | undefined;
      for (const body of runbook('postgres')) {
        // Each restore into NEW_DATABASE_URL gets an empty database, except the one meant to replace data.
        const target = await createSchema('hf_runbook_new');
        drops.push(target.drop);
        if (replaces(body))
          await addKey({ url: DATABASE_URL, data_dir: 'unused' }, 'stale-key', target.schema);
        const r = await holdfast([], {
          cwd: dir,
          shell: body,
          env: { DATABASE_URL: source.url, NEW_DATABASE_URL: target.url },
        });
        expect(r.code, `${body}\n---\n${r.stderr}`).toBe(0);
        if (replaces(body)) {
          expect(r.stderr).toContain('replacing the data that was there');
          expect(await keyNames({ url: DATABASE_URL, data_dir: 'unused' }, target.schema)).toEqual([
            'runbook-key',
          ]);
        }
        last = target;
      }
      // The engine move: the embedded store went to PostgreSQL and from there to a laptop copy.
      expect(await keyNames({ url: DATABASE_URL, data_dir: 'unused' }, last!.schema)).toEqual([
        'embedded-key',
      ]);
      expect(existsSync(join(dir, 'laptop-data'))).toBe(true);
      expect(await keyNames({ data_dir: join(dir, 'laptop-data') })).toEqual(['embedded-key']);
    });
  },
);
