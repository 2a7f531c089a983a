import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { sql } from 'kysely';
import { Migrator } from 'kysely/migration';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BackupSummary, writeBackup } from '../../src/stores/backup/dump.ts';
import { BackupFormatError } from '../../src/stores/backup/format.ts';
import { appliedMigrations } from '../../src/stores/backup/introspect.ts';
import { RestoreRefusedError, restoreBackup, verifyBackup } from '../../src/stores/backup/restore.ts';
import { type Db, openDatabase } from '../../src/stores/database.ts';
import { MIGRATIONS } from '../../src/stores/migrations.ts';
import { startStatusGateway } from '../status/gateway.ts';
import {
  addAwkwardRows,
  completeWithKey,
  conversationsOf,
  type Fixture,
  populateThroughGateway,
  tableContents,
} from './backup-fixture.ts';

/** Every table the migrations create: the round trip must carry rows in each. */
const ALL_TABLES = [
  'api_keys',
  'characters',
  'conversations',
  'message_chunks',
  'messages',
  'personas',
  'reports',
  'sessions',
  'status_components',
  'status_daily',
  'status_incident_updates',
  'status_incidents',
  'status_outbox',
  'status_settings',
  'status_subscribers',
  'users',
];

let dir: string;
let source: string;
let backupFile: string;
let fixture: Fixture;
let original: Record<string, string[]>;
let summary: BackupSummary;

async function withDb<T>(dataDir: string, fn: (db: Db) => Promise<T>, migrate = true): Promise<T> {
  const db = await openDatabase({ data_dir: dataDir }, { migrate });
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

async function backupToBuffer(db: Db): Promise<Buffer> {
  const sink = new PassThrough();
  const chunks: Buffer[] = [];
  sink.on('data', (c: Buffer) => chunks.push(c));
  await writeBackup(db.kysely, sink, { engine: db.engine, holdfastVersion: 'test' });
  return Buffer.concat(chunks);
}

/** The backup with its decompressed text changed by `edit`, compressed again. */
function edited(edit: (text: string) => string): Buffer {
  return gzipSync(edit(gunzipSync(readFileSync(backupFile)).toString('utf8')));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'holdfast-backup-'));
  source = join(dir, 'source');
  const t = await startStatusGateway({ dataDir: source });
  try {
    fixture = await populateThroughGateway(t);
  } finally {
    await t.close();
  }
  original = await withDb(source, async (db) => {
    await addAwkwardRows(db.kysely);
    return tableContents(db.kysely);
  });
  backupFile = join(dir, 'backup.jsonl.gz');
  summary = await withDb(source, (db) =>
    writeBackup(db.kysely, createWriteStream(backupFile), { engine: 'pglite', holdfastVersion: 'test' }),
  );
}, 60_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('backup and restore, PGlite to PGlite', () => {
  it('backs up every table, with rows in each, as one consistent file', () => {
    expect(Object.keys(original).sort()).toEqual(ALL_TABLES);
    for (const table of ALL_TABLES) expect(original[table]!.length, table).toBeGreaterThan(0);
    const total = Object.values(original).reduce((n, rows) => n + rows.length, 0);
    expect(summary.rows).toBe(total);
    expect(summary.header.migration).toBe(Object.keys(MIGRATIONS).sort().at(-1));
    expect(summary.header.engine).toBe('pglite');
    // Referenced tables come before the tables that point at them.
    const order = summary.header.tables.map((t) => t.name);
    expect(order.indexOf('users')).toBeLessThan(order.indexOf('sessions'));
    expect(order.indexOf('conversations')).toBeLessThan(order.indexOf('messages'));
    expect(order.indexOf('messages')).toBeLessThan(order.indexOf('message_chunks'));
    expect(order.indexOf('status_subscribers')).toBeLessThan(order.indexOf('status_outbox'));
  });

  it('restores into an empty store with every row and value exactly as it was', async () => {
    const restored = await withDb(
      join(dir, 'restored'),
      async (db) => {
        const result = await restoreBackup(db.kysely, createReadStream(backupFile));
        expect(result.rows).toBe(summary.rows);
        expect(result.replaced).toBe(false);
        return tableContents(db.kysely);
      },
      false,
    );
    expect(restored).toEqual(original);
    // The values that are easy to round to something close: exact, not close.
    const daily = restored.status_daily!.join('\n');
    expect(daily).toContain('123456789012345678901234567890.000001');
    expect(restored.status_outbox!.join('\n')).toContain('2030-01-07T10:00:00.123456+00:00');
    expect(restored.api_keys!.join('\n')).toContain('9007199254740993');
  });

  it('serves the restored data from a gateway started on it', async () => {
    const t = await startStatusGateway({ dataDir: join(dir, 'restored') });
    try {
      expect(await completeWithKey(t.url, fixture.secret)).toBe(200);
      expect(await completeWithKey(t.url, `${fixture.secret.slice(0, -4)}AAAA`)).toBe(401);
      const conversations = await conversationsOf(t.url, fixture);
      expect(conversations.map((c) => c.id)).toContain(fixture.conversationId);
      const incidents = (await (await fetch(`${t.url}/api/v2/incidents.json`)).json()) as {
        incidents: Array<{ name: string }>;
      };
      expect(incidents.incidents.map((i) => i.name)).toContain(fixture.incidentName);
    } finally {
      await t.close();
    }
  });

  it('refuses a target that holds data; --force replaces it, atomically', async () => {
    const target = join(dir, 'restored');
    await withDb(target, async (db) => {
      await expect(restoreBackup(db.kysely, createReadStream(backupFile))).rejects.toThrow(
        RestoreRefusedError,
      );
      await expect(restoreBackup(db.kysely, createReadStream(backupFile))).rejects.toThrow(/not empty/);
      await sql`insert into status_settings (key, value) values ('added-after-backup', 'x')`.execute(
        db.kysely,
      );
      // A damaged file with --force leaves the data that was there.
      const damaged = edited((text) => text.replace('Found it.', 'Found it!'));
      await expect(restoreBackup(db.kysely, Readable.from(damaged), { force: true })).rejects.toThrow(
        /checksum/,
      );
      expect((await tableContents(db.kysely)).status_settings!.join()).toContain('added-after-backup');
      const result = await restoreBackup(db.kysely, createReadStream(backupFile), { force: true });
      expect(result.replaced).toBe(true);
      expect(await tableContents(db.kysely)).toEqual(original);
    });
  });

  it('refuses a backup from a newer schema than this code knows, before touching the target', async () => {
    const future = edited((text) =>
      text.replace(
        /"migration":"[^"]+","migrations":\[/,
        '"migration":"0099_from_the_future","migrations":["0099_from_the_future",',
      ),
    );
    await withDb(
      'memory://',
      async (db) => {
        await expect(restoreBackup(db.kysely, Readable.from(future))).rejects.toThrow(RestoreRefusedError);
        await expect(restoreBackup(db.kysely, Readable.from(future))).rejects.toThrow(
          /newer than this holdfast knows \(migration 0099_from_the_future/,
        );
        expect(await appliedMigrations(db.kysely)).toEqual([]);
      },
      false,
    );
  });

  it('detects a damaged file by its checksums and gzip, and leaves the target empty', async () => {
    const whole = readFileSync(backupFile);
    const flipped = Buffer.from(whole);
    flipped[Math.floor(flipped.length / 2)]! ^= 0xff;
    const cases: Array<[string, Buffer, RegExp]> = [
      ['an edited value', edited((t) => t.replace('Which way is north?', 'Which way is south?')), /checksum/],
      ['a dropped row', edited((t) => t.replace(/\n\["sub_1"[^\n]*/, '')), /checksum mismatch|rows/],
      ['an edited header count', edited((t) => t.replace('"rows":1}', '"rows":2}')), /rows|checksum/],
      ['a truncated file', whole.subarray(0, Math.floor(whole.length * 0.7)), /damaged|ends early/],
      ['a flipped byte', flipped, /damaged|checksum/],
      ['no trailer', edited((t) => t.replace(/\{"trailer"[^\n]*\n$/, '')), /ends early|trailer/],
    ];
    // One target for every case: each failed restore must leave it empty for the next, and for a good one.
    await withDb(
      'memory://',
      async (db) => {
        for (const [what, bytes, message] of cases) {
          await expect(verifyBackup(Readable.from(bytes)), what).rejects.toThrow(message);
          const restore = restoreBackup(db.kysely, Readable.from(bytes));
          await expect(restore, what).rejects.toThrow(BackupFormatError);
          await expect(restore, what).rejects.toThrow(message);
          expect(Object.values(await tableContents(db.kysely)).flat(), what).toEqual([]);
        }
        await restoreBackup(db.kysely, createReadStream(backupFile));
        expect(await tableContents(db.kysely)).toEqual(original);
      },
      false,
    );
    await expect(verifyBackup(createReadStream(backupFile))).resolves.toMatchObject({
      format: 'holdfast-backup',
    });
  });

  it('restores a backup taken at an older schema level and migrates it up', async () => {
    const old = await withDb(
      'memory://',
      async (db) => {
        const migrator = new Migrator({
          db: db.kysely,
          migrationTableSchema: 'public',
          provider: { getMigrations: async () => MIGRATIONS },
        });
        expect((await migrator.migrateTo('0004_status')).error).toBeUndefined();
        await db.kysely
          .insertInto('reports')
          .values({ id: 'rep_old', user_id: null, category: 'error', counted: true })
          .execute();
        return backupToBuffer(db);
      },
      false,
    );
    expect(JSON.parse(gunzipSync(old).toString('utf8').split('\n')[0]!).migration).toBe('0004_status');
    // The target is at the latest level already (a gateway opened it once): it goes down, then up again.
    await withDb('memory://', async (db) => {
      const result = await restoreBackup(db.kysely, Readable.from(old));
      expect(result.migration).toBe(Object.keys(MIGRATIONS).sort().at(-1));
      expect(await appliedMigrations(db.kysely)).toEqual(Object.keys(MIGRATIONS).sort());
      const reports = await db.kysely.selectFrom('reports').select(['id', 'ip_hash']).execute();
      expect(reports).toEqual([{ id: 'rep_old', ip_hash: null }]);
    });
  });

  it('writes the same bytes for the same data (a backup can be compared to another)', async () => {
    const copy = join(dir, 'copy.jsonl.gz');
    await withDb(source, (db) =>
      writeBackup(db.kysely, createWriteStream(copy), {
        engine: 'pglite',
        holdfastVersion: 'test',
        now: () => new Date(summary.header.created_at),
      }),
    );
    expect(gunzipSync(readFileSync(copy)).toString()).toBe(gunzipSync(readFileSync(backupFile)).toString());
  });
});
