import type { Engine } from '../database.ts';

/**
 * The backup file: gzip over JSON lines, readable with `zcat FILE | head -1 | jq`.
 *
 *   {"format":"holdfast-backup","format_version":1,...,"tables":[...]}   header: what follows, row counts
 *   {"table":"api_keys"}                                                 a table begins
 *   ["k_1", "web", "…", "2025-01-01 10:00:00.123456+00", null, …]        one row: values in header column order
 *   {"end":"api_keys","rows":3,"sha256":"…"}                             the table's row count and digest
 *   …
 *   {"trailer":true,"tables":16,"rows":1234,"sha256":"…"}                digest of every line above
 *
 * Every value is Postgres's own text form of it (or null), read and written with the same session
 * settings, so a value goes back exactly as it was: jsonb keeps its numbers' precision, timestamps their
 * microseconds, bytea its bytes. The header's counts are taken in the same snapshot as the rows; the
 * digests come last because they are known only once the rows are written.
 */

export const BACKUP_FORMAT = 'holdfast-backup';
export const BACKUP_FORMAT_VERSION = 1;

export interface BackupColumn {
  name: string;
  type: string;
}

export interface BackupTable {
  name: string;
  columns: BackupColumn[];
  /** Primary key columns: the order the rows are in. */
  key: string[];
  rows: number;
}

export interface BackupHeader {
  format: typeof BACKUP_FORMAT;
  format_version: number;
  holdfast_version: string;
  /** The last migration applied to the source: the schema the rows fit. Null for a never-migrated store. */
  migration: string | null;
  migrations: string[];
  created_at: string;
  engine: Engine;
  server_version: string;
  /** In insert order: every table after the tables it references. */
  tables: BackupTable[];
}

export interface TableStart {
  table: string;
}

export interface TableEnd {
  end: string;
  rows: number;
  sha256: string;
}

export interface Trailer {
  trailer: true;
  tables: number;
  rows: number;
  sha256: string;
}

/** A problem with the file itself (not with the database it is restored into). */
export class BackupFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackupFormatError';
  }
}

/** Session settings the text forms depend on, pinned for both reading and writing. */
export const SESSION_SETTINGS: readonly string[] = [
  "set local timezone = 'UTC'",
  "set local datestyle = 'ISO, YMD'",
  "set local intervalstyle = 'postgres'",
  'set local extra_float_digits = 1',
  "set local bytea_output = 'hex'",
];

export function parseHeader(line: string | undefined): BackupHeader {
  if (line === undefined || line === '') throw new BackupFormatError('the file is empty');
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new BackupFormatError('not a Holdfast backup (the first line is not JSON)');
  }
  if (!isObject(value) || value.format !== BACKUP_FORMAT)
    throw new BackupFormatError('not a Holdfast backup (no holdfast-backup header)');
  const version = value.format_version;
  if (typeof version !== 'number' || !Number.isInteger(version))
    throw new BackupFormatError('the header has no format_version');
  if (version > BACKUP_FORMAT_VERSION)
    throw new BackupFormatError(
      `backup format ${version} is newer than this Holdfast reads (${BACKUP_FORMAT_VERSION}); restore with a newer holdfast`,
    );
  const tables = value.tables;
  if (!Array.isArray(tables) || !tables.every(isTable))
    throw new BackupFormatError('the header has no valid table list');
  if (value.migration !== null && typeof value.migration !== 'string')
    throw new BackupFormatError('the header has no migration level');
  if (value.engine !== 'pglite' && value.engine !== 'postgres')
    throw new BackupFormatError('the header names no source engine');
  return {
    format: BACKUP_FORMAT,
    format_version: version,
    holdfast_version: String(value.holdfast_version ?? 'unknown'),
    migration: value.migration,
    migrations: Array.isArray(value.migrations) ? value.migrations.map(String) : [],
    created_at: String(value.created_at ?? ''),
    engine: value.engine,
    server_version: String(value.server_version ?? ''),
    tables,
  };
}

export function parseControl(line: string): TableStart | TableEnd | Trailer {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new BackupFormatError('a line is not valid JSON (the file is damaged)');
  }
  if (isObject(value)) {
    if (typeof value.table === 'string') return { table: value.table };
    if (typeof value.end === 'string' && isCount(value.rows) && typeof value.sha256 === 'string')
      return { end: value.end, rows: value.rows, sha256: value.sha256 };
    if (
      value.trailer === true &&
      isCount(value.tables) &&
      isCount(value.rows) &&
      typeof value.sha256 === 'string'
    )
      return { trailer: true, tables: value.tables, rows: value.rows, sha256: value.sha256 };
  }
  throw new BackupFormatError(`unexpected line in the backup (damaged file?): ${line.slice(0, 80)}`);
}

function isTable(v: unknown): v is BackupTable {
  return (
    isObject(v) &&
    typeof v.name === 'string' &&
    isCount(v.rows) &&
    Array.isArray(v.key) &&
    v.key.every((k) => typeof k === 'string') &&
    Array.isArray(v.columns) &&
    v.columns.every((c) => isObject(c) && typeof c.name === 'string' && typeof c.type === 'string')
  );
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
