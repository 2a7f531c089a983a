import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { ConfigError } from '../config/load.ts';
import { writeBackup } from '../stores/backup/dump.ts';
import type { BackupHeader } from '../stores/backup/format.ts';
import { appliedMigrations } from '../stores/backup/introspect.ts';
import { RestoreRefusedError, restoreBackup, verifyBackup } from '../stores/backup/restore.ts';
import { type Db, openDatabase, type StoreLocation } from '../stores/database.ts';
import { resolveConfig } from './config-source.ts';
import { formatBytes, formatCount, formatDuration, Progress } from './progress.ts';

const BACKUP_USAGE = `usage: holdfast backup [FILE | - | --to-stdout] [--config FILE] [--data-dir DIR | --database-url URL]
                       [--force] [--quiet]
       holdfast backup verify FILE|-
`;
const RESTORE_USAGE = `usage: holdfast restore FILE|- [--config FILE] [--data-dir DIR | --database-url URL] [--force] [--quiet]
`;

const STORE_OPTIONS = {
  config: { type: 'string', short: 'c' },
  'data-dir': { type: 'string' },
  'database-url': { type: 'string' },
  force: { type: 'boolean', short: 'f' },
  quiet: { type: 'boolean', short: 'q' },
} as const;

/**
 * `holdfast backup [FILE|-]`: one portable file (gzip'd JSON lines, src/stores/backup/format.ts) of every
 * Holdfast table, from PGlite or PostgreSQL, that `holdfast restore` loads into either. The store is the
 * config's (as for `holdfast start`) unless --data-dir / --database-url name another. Exit 0 written,
 * 1 failed, 2 usage.
 */
export async function backupCommand(args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseBackup>;
  try {
    parsed = parseBackup(args);
  } catch (err) {
    process.stderr.write(`holdfast backup: ${(err as Error).message}\n${BACKUP_USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (positionals[0] === 'verify') return verifyCommand(positionals.slice(1), values.quiet === true);
  if (positionals.length > 1 || (values['to-stdout'] && positionals.length > 0)) {
    process.stderr.write(BACKUP_USAGE);
    return 2;
  }
  const toStdout = values['to-stdout'] === true || positionals[0] === '-';
  if (toStdout && process.stdout.isTTY) {
    process.stderr.write(
      'holdfast backup: refusing to write a compressed backup to a terminal; redirect stdout\n',
    );
    return 2;
  }
  const file = toStdout ? undefined : resolve(positionals[0] ?? defaultFileName(new Date()));
  if (file && existsSync(file) && !values.force) {
    process.stderr.write(
      `holdfast backup: ${file} exists; pass --force to overwrite it, or name another file\n`,
    );
    return 1;
  }
  const store = storeFrom(values);
  if (typeof store === 'number') return store;
  // Opening a directory that holds no database would create an empty one there.
  if (
    !store.url &&
    !store.data_dir.startsWith('memory://') &&
    !existsSync(join(store.data_dir, 'PG_VERSION'))
  ) {
    process.stderr.write(`holdfast backup: no PGlite data directory at ${resolve(store.data_dir)}\n`);
    return 1;
  }

  const db = await open(store, 'backup');
  if (typeof db === 'number') return db;
  if ((await appliedMigrations(db.kysely)).length === 0) {
    process.stderr.write(
      `holdfast backup: no Holdfast tables in ${describeStore(store)} (the wrong database or schema?)\n`,
    );
    await db.close();
    return 1;
  }
  const progress = new Progress({ label: 'backup', unit: 'rows', quiet: values.quiet === true });
  // Written beside the target and renamed at the end, so a failed run never leaves a file that looks whole.
  const partial = file ? `${file}.partial-${process.pid}` : undefined;
  const out: Writable = partial ? createWriteStream(partial) : process.stdout;
  const { version } = (await import('../../package.json', { with: { type: 'json' } })).default;
  const started = performance.now();
  try {
    const summary = await writeBackup(db.kysely, out, {
      engine: db.engine,
      holdfastVersion: version,
      progress: {
        start: (total) => progress.start(total, describeStore(store)),
        advance: (n, table) => progress.advance(n, table),
      },
    });
    if (file && partial) await rename(partial, file);
    const took = performance.now() - started;
    progress.finish([
      `backup: ${file ?? 'stdout'}: ${summary.header.tables.length} tables, ${formatCount(summary.rows)} rows, ` +
        `${formatBytes(summary.bytes)} (${formatBytes(summary.rawBytes)} uncompressed) in ${formatDuration(took)}`,
      `backup: schema ${summary.header.migration ?? 'empty'}, ${db.engine} ${summary.header.server_version}, ` +
        `sha256 ${summary.sha256.slice(0, 16)}…`,
    ]);
    return 0;
  } catch (err) {
    if (partial) {
      // The file may still be opening; unlinking before it is closed would leave it behind.
      if (!out.closed) await new Promise((done) => out.once('close', done).destroy());
      await unlink(partial).catch(() => {});
    }
    progress.fail(`failed: ${(err as Error).message}`);
    return 1;
  } finally {
    await db.close();
  }
}

/**
 * `holdfast restore FILE|-`: loads a backup into the configured store (or --data-dir / --database-url),
 * which must hold no Holdfast data unless --force. Exit 0 restored, 1 refused or failed, 2 usage.
 */
export async function restoreCommand(args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseRestore>;
  try {
    parsed = parseRestore(args);
  } catch (err) {
    process.stderr.write(`holdfast restore: ${(err as Error).message}\n${RESTORE_USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) {
    process.stderr.write(RESTORE_USAGE);
    return 2;
  }
  const input = openInput(positionals[0]!, 'restore');
  if (typeof input === 'number') return input;
  const store = storeFrom(values);
  if (typeof store === 'number') return store;
  const db = await open(store, 'restore');
  if (typeof db === 'number') return db;
  const progress = new Progress({ label: 'restore', unit: 'rows', quiet: values.quiet === true });
  const started = performance.now();
  try {
    const summary = await restoreBackup(db.kysely, input, {
      force: values.force === true,
      progress: {
        start: (total) => progress.start(total, describeStore(store)),
        advance: (n, table) => progress.advance(n, table),
      },
    });
    const took = performance.now() - started;
    const h = summary.header;
    progress.finish([
      `restore: ${summary.tables} tables, ${formatCount(summary.rows)} rows into ${db.engine} (${describeStore(store)}) ` +
        `in ${formatDuration(took)}${summary.replaced ? ', replacing the data that was there' : ''}`,
      `restore: backup of ${h.engine} taken ${h.created_at} by holdfast ${h.holdfast_version} at ${h.migration ?? 'an empty schema'}; ` +
        `counts and checksums verified; schema now ${summary.migration ?? 'empty'}`,
    ]);
    return 0;
  } catch (err) {
    const refused = err instanceof RestoreRefusedError;
    progress.fail(`${refused ? 'refused' : 'failed'}: ${(err as Error).message}`);
    return 1;
  } finally {
    input.destroy();
    await db.close();
  }
}

/** `holdfast backup verify FILE`: reads the whole file and checks every count and checksum; no database. */
async function verifyCommand(positionals: string[], quiet: boolean): Promise<number> {
  if (positionals.length !== 1) {
    process.stderr.write(BACKUP_USAGE);
    return 2;
  }
  const input = openInput(positionals[0]!, 'backup verify');
  if (typeof input === 'number') return input;
  const progress = new Progress({ label: 'verify', unit: 'rows', quiet });
  try {
    const header = await verifyBackup(input, {
      start: (total) => progress.start(total),
      advance: (n, table) => progress.advance(n, table),
    });
    progress.finish(describeHeader(header));
    process.stdout.write(`ok ${positionals[0]}\n`);
    return 0;
  } catch (err) {
    progress.fail(`failed: ${(err as Error).message}`);
    return 1;
  } finally {
    input.destroy();
  }
}

function describeHeader(h: BackupHeader): string[] {
  const rows = h.tables.reduce((n, t) => n + t.rows, 0);
  return [
    `verify: holdfast ${h.holdfast_version} backup of ${h.engine} ${h.server_version}, taken ${h.created_at}, schema ${h.migration ?? 'empty'}`,
    `verify: ${h.tables.length} tables, ${formatCount(rows)} rows: ${h.tables
      .filter((t) => t.rows > 0)
      .map((t) => `${t.name} ${formatCount(t.rows)}`)
      .join(', ')}`,
  ];
}

function openInput(name: string, command: string): Readable | number {
  if (name === '-') {
    if (process.stdin.isTTY) {
      process.stderr.write(`holdfast ${command}: '-' reads the backup from stdin; pipe one in\n`);
      return 2;
    }
    return process.stdin;
  }
  if (!existsSync(name)) {
    process.stderr.write(`holdfast ${command}: no such file: ${name}\n`);
    return 1;
  }
  return createReadStream(name);
}

type StoreValues = { config?: string; 'data-dir'?: string; 'database-url'?: string };

function storeFrom(values: StoreValues): StoreLocation | number {
  if (values['data-dir'] !== undefined && values['database-url'] !== undefined) {
    process.stderr.write('holdfast: give --data-dir or --database-url, not both\n');
    return 2;
  }
  if (values['database-url'] !== undefined) return { url: values['database-url'], data_dir: './data' };
  if (values['data-dir'] !== undefined) return { data_dir: values['data-dir'] };
  try {
    return resolveConfig(values.config).config.store;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

async function open(store: StoreLocation, command: string): Promise<Db | number> {
  try {
    // Restore brings the schema to the backup's level itself; backup reads whatever level is there.
    return await openDatabase(store, { migrate: false });
  } catch (err) {
    const message = (err as Error).message;
    process.stderr.write(`holdfast ${command}: ${message}\n`);
    if (/is in use by process/.test(message))
      process.stderr.write(
        `holdfast ${command}: embedded PGlite serves one process at a time: stop the gateway, run ${command}, start it again ` +
          '(tens of thousands of rows a second). Online backups need PostgreSQL: see docs/disaster-recovery.md\n',
      );
    return 1;
  }
}

function describeStore(store: StoreLocation): string {
  if (store.url) {
    try {
      const u = new URL(store.url);
      return `postgres ${u.host}${u.pathname}`;
    } catch {
      return 'postgres';
    }
  }
  return `pglite ${store.data_dir}`;
}

/** holdfast-backup-20250102T030405Z.jsonl.gz: sorts by time, says what it is. */
export function defaultFileName(now: Date): string {
  const stamp = now
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replaceAll(/[-:]/g, '');
  return `holdfast-backup-${stamp}.jsonl.gz`;
}

function parseBackup(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    options: { ...STORE_OPTIONS, 'to-stdout': { type: 'boolean' } },
  });
}

function parseRestore(args: string[]) {
  return parseArgs({ args, allowPositionals: true, options: STORE_OPTIONS });
}
