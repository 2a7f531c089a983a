import { createHash, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { CompiledQuery, type Kysely, sql } from 'kysely';
import { Migrator, NO_MIGRATIONS } from 'kysely/migration';
import type { Database } from '../database.ts';
import { MIGRATIONS, migrateToLatest } from '../migrations.ts';
import type { RowProgress } from './dump.ts';
import {
  BackupFormatError,
  type BackupHeader,
  type BackupTable,
  parseControl,
  parseHeader,
  SESSION_SETTINGS,
} from './format.ts';
import { appliedMigrations, describeTables, quoteIdent, type TableInfo } from './introspect.ts';

export interface RestoreOptions {
  /** Replace the Holdfast data already in the target; without it a non-empty target is refused. */
  force?: boolean;
  progress?: RowProgress;
  /** Row text per insert statement (default 1 MiB): bounds memory whatever the table's size. */
  batchBytes?: number;
}

export interface RestoreSummary {
  header: BackupHeader;
  rows: number;
  tables: number;
  /** Whether Holdfast data in the target was replaced (--force on a non-empty target). */
  replaced: boolean;
  /** The schema level after the restore (the code's latest: later migrations run on the restored rows). */
  migration: string | null;
}

/** The target cannot take this backup as things stand (not empty, or a schema this code does not know). */
export class RestoreRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RestoreRefusedError';
  }
}

const KNOWN = Object.keys(MIGRATIONS).sort();

/**
 * Reads a whole backup and checks it (format, every table's row count and digest, the file digest),
 * without a database. Resolves with the header; rejects with BackupFormatError on any damage.
 */
export async function verifyBackup(input: Readable, progress?: RowProgress): Promise<BackupHeader> {
  const lines = backupLines(input);
  const whole = createHash('sha256');
  const first = await lines.next();
  const header = parseHeader(first.done ? undefined : first.value);
  whole.update(`${first.value}\n`);
  progress?.start(totalRows(header));
  await readTables(lines, header, whole, async (_table, batch) => {
    progress?.advance(batch.length, _table.name);
  });
  return header;
}

/**
 * Restores a backup into the store `db` is open on. The target must hold no Holdfast data unless
 * `force`; its schema is first brought to the backup's migration level, the rows go in (in one
 * transaction, referenced tables first), every count and digest is checked before the commit, and then
 * any later migrations this code has run on the restored rows. A damaged file leaves the target as it was.
 */
export async function restoreBackup(
  db: Kysely<Database>,
  input: Readable,
  opts: RestoreOptions = {},
): Promise<RestoreSummary> {
  const lines = backupLines(input);
  try {
    const first = await lines.next();
    const header = parseHeader(first.done ? undefined : first.value);
    const whole = createHash('sha256').update(`${first.value}\n`);
    checkLevel(header);

    const schema = await currentSchema(db);
    const applied = await appliedMigrations(db);
    const foreign = applied.filter((m) => !KNOWN.includes(m));
    if (foreign.length > 0)
      throw new RestoreRefusedError(
        `the target database has migrations this holdfast does not know (${foreign.join(', ')}); restore with the newer holdfast that made them`,
      );
    const occupied = await tablesWithRows(db, await describeTables(db));
    if (occupied.length > 0 && !opts.force)
      throw new RestoreRefusedError(
        `the target database is not empty (rows in ${occupied.join(', ')}); restore into an empty one, or pass --force to replace its Holdfast data`,
      );

    const target = level(applied.at(-1) ?? null);
    const wanted = level(header.migration);
    let wiped = false;
    if (target > wanted) {
      // Going down a migration drops what it added; the data there is being replaced anyway.
      if (occupied.length > 0) await truncate(db, await describeTables(db));
      wiped = true;
      await migrateTo(db, schema, header.migration);
    } else if (target < wanted) await migrateTo(db, schema, header.migration);

    const tables = await describeTables(db);
    const plans = new Map(header.tables.map((t) => [t.name, insertPlan(t, tables)]));
    let rows = 0;
    await db.transaction().execute(async (trx) => {
      for (const statement of SESSION_SETTINGS) await sql.raw(statement).execute(trx);
      if (occupied.length > 0 && !wiped) await truncate(trx, tables);
      opts.progress?.start(totalRows(header));
      const batchBytes = opts.batchBytes ?? 1 << 20;
      rows = await readTables(
        lines,
        header,
        whole,
        async (table, batch) => {
          const plan = plans.get(table.name)!;
          await trx.executeQuery(CompiledQuery.raw(plan, [`[${batch.join(',')}]`]));
          opts.progress?.advance(batch.length, table.name);
        },
        batchBytes,
      );
      for (const t of header.tables) {
        const { rows: counted } = await trx.executeQuery<{ n: string }>(
          CompiledQuery.raw(`select count(*)::text as n from ${quoteIdent(t.name)}`),
        );
        if (Number(counted[0]?.n) !== t.rows)
          throw new BackupFormatError(
            `${t.name}: ${counted[0]?.n} rows after the restore, the backup has ${t.rows}`,
          );
      }
      await resetSequences(trx, tables);
    });
    const latest = await migrateToLatest(db, schema);
    return {
      header,
      rows,
      tables: header.tables.length,
      replaced: occupied.length > 0,
      migration: latest.at(-1)?.migrationName ?? header.migration,
    };
  } finally {
    await lines.return(undefined);
  }
}

/**
 * Walks the tables of a backup after its header, handing each table's rows to `insert` in batches, and
 * checks every table's end line and the trailer. Returns the number of rows.
 */
async function readTables(
  lines: AsyncGenerator<string>,
  header: BackupHeader,
  whole: Hash,
  insert: (table: BackupTable, batch: string[]) => Promise<void>,
  batchBytes = 1 << 20,
): Promise<number> {
  const next = async (): Promise<string> => {
    const r = await lines.next();
    if (r.done) throw new BackupFormatError('the backup ends early (truncated file?)');
    return r.value;
  };
  let rows = 0;
  for (const table of header.tables) {
    const open = await next();
    whole.update(`${open}\n`);
    const start = parseControl(open);
    if (!('table' in start) || start.table !== table.name)
      throw new BackupFormatError(`expected table ${table.name} next in the backup (damaged file?)`);
    const digest = createHash('sha256');
    let batch: string[] = [];
    let size = 0;
    let n = 0;
    let failure: unknown;
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      const pending = batch;
      batch = [];
      size = 0;
      // After a failed insert, keep reading to the table's digest: a damaged file should be reported as
      // damaged, not as whatever the database made of the damage.
      if (failure === undefined) await insert(table, pending).catch((e: unknown) => (failure = e));
    };
    let line = await next();
    while (line.startsWith('[')) {
      const text = `${line}\n`;
      digest.update(text);
      whole.update(text);
      batch.push(line);
      size += text.length;
      n++;
      if (size >= batchBytes || batch.length >= 10_000) await flush();
      line = await next();
    }
    await flush();
    whole.update(`${line}\n`);
    const end = parseControl(line);
    if (!('end' in end) || end.end !== table.name)
      throw new BackupFormatError(
        `${table.name}: expected its end line, found something else (damaged file?)`,
      );
    const sha = digest.digest('hex');
    if (sha !== end.sha256 || n !== end.rows)
      throw new BackupFormatError(
        `${table.name}: checksum mismatch (${n} rows read, the file says ${end.rows}): the backup is damaged`,
      );
    if (failure !== undefined) throw failure;
    if (n !== table.rows)
      throw new BackupFormatError(`${table.name}: ${n} rows in the file, the header says ${table.rows}`);
    rows += n;
  }
  const last = parseControl(await next());
  if (!('trailer' in last)) throw new BackupFormatError('the backup has no trailer (damaged file?)');
  const sha = whole.digest('hex');
  if (sha !== last.sha256) throw new BackupFormatError('file checksum mismatch: the backup is damaged');
  if (last.rows !== rows || last.tables !== header.tables.length)
    throw new BackupFormatError('the trailer does not match the tables read');
  const extra = await lines.next();
  if (!extra.done && extra.value !== '') throw new BackupFormatError('unexpected data after the trailer');
  return rows;
}

/**
 * The insert for one table's batch: the batch travels as one JSON array parameter and Postgres casts each
 * text value to the column's type itself, so values are never reinterpreted in JavaScript. Names and
 * types come from the target's catalog, never from the file. The array is read as jsonb, which is parsed
 * once and indexed, where `->>` on json would rescan the row for every column (a third slower); every
 * value is a string or null, which jsonb keeps exactly.
 */
function insertPlan(backup: BackupTable, tables: readonly TableInfo[]): string {
  const table = tables.find((t) => t.name === backup.name);
  if (!table)
    throw new RestoreRefusedError(`the backup has a table ${backup.name} that the target's schema does not`);
  const columns = backup.columns.map((c) => {
    const column = table.columns.find((x) => x.name === c.name);
    if (!column)
      throw new RestoreRefusedError(
        `the backup has a column ${backup.name}.${c.name} that the target does not`,
      );
    if (column.type !== c.type)
      throw new RestoreRefusedError(
        `${backup.name}.${c.name} is ${c.type} in the backup but ${column.type} in the target`,
      );
    return column;
  });
  const overriding = columns.some((c) => c.identityAlways) ? ' overriding system value' : '';
  return (
    `insert into ${quoteIdent(table.name)} (${columns.map((c) => quoteIdent(c.name)).join(', ')})${overriding} ` +
    `select ${columns.map((c, i) => `cast(r->>${i} as ${c.type})`).join(', ')} ` +
    'from jsonb_array_elements(cast($1 as jsonb)) as x(r)'
  );
}

function checkLevel(header: BackupHeader): void {
  const unknown = [...header.migrations, ...(header.migration ? [header.migration] : [])].filter(
    (m) => !KNOWN.includes(m),
  );
  if (unknown.length > 0)
    throw new RestoreRefusedError(
      `the backup's schema is newer than this holdfast knows (migration ${unknown.at(-1)}; this one knows up to ${KNOWN.at(-1)}); restore with holdfast ${header.holdfast_version} or newer`,
    );
}

function level(migration: string | null): number {
  return migration === null ? -1 : KNOWN.indexOf(migration);
}

async function migrateTo(db: Kysely<Database>, schema: string, name: string | null): Promise<void> {
  const migrator = new Migrator({
    db,
    migrationTableSchema: schema,
    provider: { getMigrations: async () => MIGRATIONS },
  });
  const { error } = await migrator.migrateTo(name ?? NO_MIGRATIONS);
  if (error !== undefined)
    throw new Error(`migrating the target to ${name ?? 'an empty schema'} failed: ${String(error)}`, {
      cause: error,
    });
}

async function tablesWithRows(db: Kysely<Database>, tables: readonly TableInfo[]): Promise<string[]> {
  const occupied: string[] = [];
  for (const t of tables) {
    const { rows } = await db.executeQuery<{ some: boolean }>(
      CompiledQuery.raw(`select exists (select 1 from ${quoteIdent(t.name)}) as some`),
    );
    if (rows[0]?.some) occupied.push(t.name);
  }
  return occupied;
}

async function truncate(db: Kysely<Database>, tables: readonly TableInfo[]): Promise<void> {
  if (tables.length === 0) return;
  await db.executeQuery(
    CompiledQuery.raw(`truncate table ${tables.map((t) => quoteIdent(t.name)).join(', ')}`),
  );
}

/** Serial and identity counters continue after the restored rows, not from 1 into a key collision. */
async function resetSequences(db: Kysely<Database>, tables: readonly TableInfo[]): Promise<void> {
  for (const t of tables)
    for (const c of t.columns) {
      if (c.sequence === null) continue;
      const col = quoteIdent(c.name);
      await db.executeQuery(
        CompiledQuery.raw(
          `select setval(cast($1 as regclass), coalesce(max(${col})::int8, ` +
            `(select seqstart from pg_sequence where seqrelid = cast($1 as regclass))), max(${col}) is not null) ` +
            `from ${quoteIdent(t.name)}`,
          [c.sequence],
        ),
      );
    }
}

async function currentSchema(db: Kysely<Database>): Promise<string> {
  const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
  if (!rows[0]?.schema) throw new Error('the database search_path names no existing schema');
  return rows[0].schema;
}

function totalRows(header: BackupHeader): number {
  return header.tables.reduce((n, t) => n + t.rows, 0);
}

/** The decompressed file as lines (without their newline); gzip damage is reported as a format error. */
async function* backupLines(input: Readable): AsyncGenerator<string> {
  const gunzip = createGunzip();
  input.on('error', (e) => gunzip.destroy(e));
  input.pipe(gunzip);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let rest = '';
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      const piece = decoder.decode(chunk, { stream: true });
      let start = 0;
      let nl = piece.indexOf('\n');
      while (nl >= 0) {
        yield rest + piece.slice(start, nl);
        rest = '';
        start = nl + 1;
        nl = piece.indexOf('\n', start);
      }
      rest += piece.slice(start);
    }
    rest += decoder.decode();
  } catch (error) {
    if (isZlibError(error))
      throw new BackupFormatError(`the backup is damaged (gzip: ${(error as Error).message})`);
    if (error instanceof TypeError) throw new BackupFormatError('the backup is damaged (invalid UTF-8)');
    throw error;
  } finally {
    gunzip.destroy();
  }
  if (rest !== '') yield rest;
}

function isZlibError(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
  return code.startsWith('Z_') || code === 'ERR_ZLIB_INITIALIZATION_FAILED';
}
