import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway } from '../helpers/gateway.ts';
import { completeWithKey } from './backup-fixture.ts';
import { holdfast } from './cli-runner.ts';

let dir: string;
let secret: string;

function configFor(dataDir: string): string {
  return `store: { data_dir: ${dataDir} }\nmodels:\n  - name: sim-openai\n    deployments: [{ id: s, provider: simulator, model: s }]\n`;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'holdfast-backup-cli-'));
  writeFileSync(join(dir, 'holdfast.yaml'), configFor('./data'));
  writeFileSync(join(dir, 'restored.yaml'), configFor('./restored'));
  const created = await holdfast(['keys', 'create', '--name', 'cli-key', '--json'], { cwd: dir });
  expect(created.code, created.stderr).toBe(0);
  secret = JSON.parse(created.stdout).secret;
}, 60_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// Each test spawns a few holdfast processes (about a second each on an idle machine); the limit is for a
// busy one.
describe('holdfast backup / restore (CLI)', { timeout: 90_000 }, () => {
  it('backs up the configured store with plain progress lines and a summary when stderr is not a terminal', async () => {
    const r = await holdfast(['backup', 'nightly.jsonl.gz'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^backup: starting, 1 rows \(pglite \.\/data\)$/);
    expect(lines[1]).toMatch(/^backup: done, 1 rows in [\d.]+ m?s/);
    expect(lines[2]).toMatch(
      /^backup: .*nightly\.jsonl\.gz: 16 tables, 1 rows, [\d.]+ KB \([\d.]+ KB uncompressed\) in /,
    );
    expect(lines[3]).toMatch(/^backup: schema 0005_status_core, pglite [\d.]+, sha256 [0-9a-f]{16}…$/);
    // No terminal control: a log file or CI output gets whole lines only.
    expect([r.stderr.includes('\r'), r.stderr.includes('\x1b')]).toEqual([false, false]);
    expect(readdirSync(dir).filter((f) => f.includes('.partial-'))).toEqual([]);

    const again = await holdfast(['backup', 'nightly.jsonl.gz'], { cwd: dir });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('exists; pass --force');
    expect((await holdfast(['backup', 'nightly.jsonl.gz', '--force', '--quiet'], { cwd: dir })).stderr).toBe(
      '',
    );
  });

  it('verifies a backup without a database, and fails on a damaged one', async () => {
    const ok = await holdfast(['backup', 'verify', 'nightly.jsonl.gz'], { cwd: dir });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toBe('ok nightly.jsonl.gz\n');
    expect(ok.stderr).toMatch(/verify: 16 tables, 1 rows: api_keys 1/);
    writeFileSync(join(dir, 'garbage.jsonl.gz'), 'not a backup');
    const bad = await holdfast(['backup', 'verify', 'garbage.jsonl.gz'], { cwd: dir });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/verify: failed: the backup is damaged \(gzip: /);
  });

  it('restores into an empty store, refuses to restore over data, and a gateway on it knows the key', async () => {
    const r = await holdfast(['restore', 'nightly.jsonl.gz', '--data-dir', './restored'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^restore: starting, 1 rows \(pglite \.\/restored\)$/m);
    expect(r.stderr).toMatch(/^restore: 16 tables, 1 rows into pglite/m);
    expect(r.stderr).toMatch(/counts and checksums verified; schema now 0005_status_core$/m);

    const listed = await holdfast(['keys', 'list', '--json', '--config', 'restored.yaml'], { cwd: dir });
    expect(JSON.parse(listed.stdout).map((k: { name: string }) => k.name)).toEqual(['cli-key']);

    const refused = await holdfast(['restore', 'nightly.jsonl.gz', '--data-dir', './restored'], { cwd: dir });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('restore: refused: the target database is not empty (rows in api_keys)');
    const forced = await holdfast(['restore', 'nightly.jsonl.gz', '--data-dir', './restored', '--force'], {
      cwd: dir,
    });
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stderr).toContain('replacing the data that was there');

    const t = await startTestGateway({ store: { data_dir: join(dir, 'restored') } });
    try {
      expect(await completeWithKey(t.url, secret)).toBe(200);
    } finally {
      await t.close();
    }
  });

  it('pipes a backup through stdout into a restore from stdin', async () => {
    const r = await holdfast([], {
      cwd: dir,
      shell:
        'holdfast backup - --quiet | holdfast restore - --data-dir ./piped\nholdfast backup --to-stdout | gzip -t',
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/restore: 16 tables, 1 rows into pglite/);
    expect(existsSync(join(dir, 'piped'))).toBe(true);
  });

  it('says what to do when the embedded store is held by a running gateway', async () => {
    const t = await startTestGateway({ store: { data_dir: join(dir, 'data') } });
    try {
      const r = await holdfast(['backup', 'while-running.jsonl.gz'], { cwd: dir });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/is in use by process \d+/);
      expect(r.stderr).toContain('stop the gateway, run backup, start it again');
      expect(existsSync(join(dir, 'while-running.jsonl.gz'))).toBe(false);
    } finally {
      await t.close();
    }
  });

  it('answers usage errors with 2, and a store with nothing to back up with 1 (creating nothing)', async () => {
    expect((await holdfast(['restore'], { cwd: dir })).code).toBe(2);
    const both = await holdfast(['backup', 'x.gz', '--data-dir', 'd', '--database-url', 'postgres://x'], {
      cwd: dir,
    });
    expect(both.code).toBe(2);
    const missing = await holdfast(['backup', 'x.gz', '--data-dir', './nowhere'], { cwd: dir });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no PGlite data directory');
    expect(existsSync(join(dir, 'nowhere'))).toBe(false);
    const empty = await holdfast(['backup', 'x.gz', '--data-dir', 'memory://'], { cwd: dir });
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain('holdfast backup: no Holdfast tables in pglite memory://');
    expect(readdirSync(dir).filter((f) => f.startsWith('x.gz'))).toEqual([]);
  });
});
