import { createHash } from 'node:crypto';
import { Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { CompiledQuery, type Kysely, sql } from 'kysely';
import type { Database, Engine } from '../database.ts';
import { BACKUP_FORMAT, BACKUP_FORMAT_VERSION, type BackupHeader, SESSION_SETTINGS } from './format.ts';
import { appliedMigrations, describeTables, quoteIdent, type TableInfo } from './introspect.ts';

/** Told how far a backup or restore has got; the CLI draws it as a progress bar. */
export interface RowProgress {
  start(totalRows: number): void;
  advance(rows: number, table: string): void;
}

export interface WriteBackupOptions {
  engine: Engine;
  holdfastVersion: string;
  /** Rows per query page: memory stays bounded by one page whatever the table's size. */
  batchRows?: number;
  progress?: RowProgress;
  now?: () => Date;
  /** zlib level 1..9 (default 6). */
  gzipLevel?: number;
}

export interface BackupSummary {
  header: BackupHeader;
  rows: number;
  /** Size of the JSON lines before compression. */
  rawBytes: number;
  /** Size of what was written to `out`. */
  bytes: number;
  sha256: string;
}

/**
 * Writes a backup of the store's schema to `out` (gzip'd JSON lines, see format.ts) and ends it. Every
 * table is read in one REPEATABLE READ, read-only transaction, so the file is one consistent snapshot
 * even while a gateway keeps writing (on PostgreSQL); rows are paged in primary key order.
 */
export async function writeBackup(
  db: Kysely<Database>,
  out: Writable,
  opts: WriteBackupOptions,
): Promise<BackupSummary> {
  const batchRows = opts.batchRows ?? 1_000;
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute(async (trx) => {
      for (const statement of SESSION_SETTINGS) await sql.raw(statement).execute(trx);
      const migrations = await appliedMigrations(trx);
      const tables = await describeTables(trx);
      const counts = new Map<string, number>();
      for (const t of tables) {
        const { rows } = await trx.executeQuery<{ n: string }>(
          CompiledQuery.raw(`select count(*)::text as n from ${quoteIdent(t.name)}`),
        );
        counts.set(t.name, Number(rows[0]?.n ?? 0));
      }
      const version = await sql<{ v: string }>`select current_setting('server_version') as v`.execute(trx);
      const header: BackupHeader = {
        format: BACKUP_FORMAT,
        format_version: BACKUP_FORMAT_VERSION,
        holdfast_version: opts.holdfastVersion,
        migration: migrations.at(-1) ?? null,
        migrations,
        created_at: (opts.now?.() ?? new Date()).toISOString(),
        engine: opts.engine,
        server_version: version.rows[0]?.v ?? '',
        tables: tables.map((t) => ({
          name: t.name,
          columns: t.columns.map((c) => ({ name: c.name, type: c.type })),
          key: t.key,
          rows: counts.get(t.name) ?? 0,
        })),
      };
      const total = header.tables.reduce((n, t) => n + t.rows, 0);
      opts.progress?.start(total);

      const whole = createHash('sha256');
      let rawBytes = 0;
      let rows = 0;
      const emit = (text: string): string => {
        whole.update(text);
        rawBytes += Buffer.byteLength(text);
        return text;
      };
      async function* lines(): AsyncGenerator<string> {
        yield emit(`${JSON.stringify(header)}\n`);
        for (const t of tables) {
          yield emit(`${JSON.stringify({ table: t.name })}\n`);
          const digest = createHash('sha256');
          let n = 0;
          for await (const page of readPages(trx, t, batchRows)) {
            let chunk = '';
            for (const line of page) chunk += `${line}\n`;
            digest.update(chunk);
            n += page.length;
            opts.progress?.advance(page.length, t.name);
            yield emit(chunk);
          }
          rows += n;
          yield emit(`${JSON.stringify({ end: t.name, rows: n, sha256: digest.digest('hex') })}\n`);
        }
      }
      let bytes = 0;
      const count = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          bytes += chunk.length;
          done(null, chunk);
        },
      });
      let sha256 = '';
      async function* withTrailer(): AsyncGenerator<string> {
        yield* lines();
        sha256 = whole.digest('hex');
        yield `${JSON.stringify({ trailer: true, tables: tables.length, rows, sha256 })}\n`;
      }
      await pipeline(withTrailer(), createGzip({ level: opts.gzipLevel ?? 6 }), count, out);
      return { header, rows, rawBytes, bytes, sha256 };
    });
}

/**
 * A table's rows as JSON array lines, one page at a time, after the previous page's last key (keyset
 * paging: each page is an index range scan, not an ever longer OFFSET). A table without a primary key
 * pages by physical row id, which is stable inside the snapshot.
 */
async function* readPages(db: Kysely<Database>, t: TableInfo, limit: number): AsyncGenerator<string[]> {
  const keyed = t.key.length > 0;
  const keys = keyed ? t.key.map(quoteIdent) : ['ctid'];
  const keyTypes = keyed ? t.key.map((k) => t.columns.find((c) => c.name === k)?.type ?? 'text') : ['tid'];
  // An array rather than json_build_array, which takes at most 100 arguments.
  const values = t.columns.map((c) => `${quoteIdent(c.name)}::text`).join(', ');
  const select =
    `select array_to_json(array[${values}]::text[])::text as line, ` +
    `${keys.map((k, i) => `${k}::text as k${i}`).join(', ')} from ${quoteIdent(t.name)}`;
  const order = ` order by ${keys.join(', ')} limit ${limit}`;
  const after = ` where (${keys.join(', ')}) > (${keyTypes.map((type, i) => `cast($${i + 1} as ${type})`).join(', ')})`;
  let last: string[] | undefined;
  for (;;) {
    const query = last === undefined ? select + order : select + after + order;
    const { rows } = await db.executeQuery<Record<string, string>>(CompiledQuery.raw(query, last ?? []));
    if (rows.length === 0) return;
    yield rows.map((r) => r.line!);
    const tail = rows.at(-1)!;
    last = keys.map((_, i) => tail[`k${i}`]!);
    if (rows.length < limit) return;
  }
}
