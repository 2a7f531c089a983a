import { PassThrough, Readable } from 'node:stream';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RowProgress, writeBackup } from '../../src/stores/backup/dump.ts';
import { dependencyOrder, type TableInfo } from '../../src/stores/backup/introspect.ts';
import { RestoreRefusedError, restoreBackup } from '../../src/stores/backup/restore.ts';
import { type Db, openDatabase } from '../../src/stores/database.ts';
import { tableContents } from './backup-fixture.ts';

/**
 * The backup reads tables from the catalog, so it must carry any column type, key shape and counter a
 * later migration might introduce, not only today's text/jsonb/timestamptz columns. These tables live
 * beside Holdfast's own in a throwaway store.
 */
const EXTRA_TABLES = `
  create table extra_parent (
    id serial primary key,
    blob bytea,
    amount numeric(30, 10),
    big int8,
    ratio float8,
    tags text[],
    span interval,
    born date,
    at timestamptz,
    naive timestamp,
    flag boolean,
    doc json,
    uid uuid,
    doubled int generated always as (id * 2) stored
  );
  create table extra_child (
    id int generated always as identity primary key,
    parent_id int not null references extra_parent (id),
    note text
  );
  create table extra_pair (a text, b int, payload jsonb, primary key (b, a));
  create table extra_heap (v text, n int);
`;

const WIDE_COLUMNS = 120;

/** One statement per query: the drivers take no multi-statement strings. */
async function run(db: Db, script: string): Promise<void> {
  for (const statement of script.split(/;\s*\n/))
    if (statement.trim()) await sql.raw(statement).execute(db.kysely);
}

async function freshStore(): Promise<Db> {
  const db = await openDatabase({ data_dir: 'memory://' });
  await run(db, EXTRA_TABLES);
  const cols = Array.from({ length: WIDE_COLUMNS }, (_, i) => `c${i} text`).join(', ');
  await sql.raw(`create table extra_wide (id int primary key, ${cols})`).execute(db.kysely);
  return db;
}

async function fill(db: Db): Promise<void> {
  await run(
    db,
    `
    insert into extra_parent (blob, amount, big, ratio, tags, span, born, at, naive, flag, doc, uid) values
      ('\\x00ff7f0a', 12345678901234567890.0123456789, 9223372036854775807, 0.1, '{"a b","c,d",NULL}',
       '1 year 2 mons 3 days 04:05:06.789', '0001-01-01', '2024-02-29 23:59:59.999999+13', '2024-01-01 00:00:00.5',
       true, '{"keep":  "spacing", "dup": 1, "dup": 2}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
      (null, 'NaN', -9223372036854775808, '-Infinity', '{}', '-1 day', 'infinity', '-infinity', null,
       false, 'null', null),
      ('\\x', 0, 0, 5e-324, null, null, null, '2000-01-01 00:00:00+00', null, null, '[]', null);
    insert into extra_child (parent_id, note) select p.id, 'child of ' || p.id from extra_parent p;
    insert into extra_pair (a, b, payload)
      select 'k' || g, g % 7, jsonb_build_object('g', g, 'nested', jsonb_build_array(g, g::text))
      from generate_series(1, 2500) g;
    insert into extra_heap (v, n) select md5(g::text), g from generate_series(1, 1200) g;
    insert into extra_heap (v, n) values ('duplicate', 1), ('duplicate', 1);
  `,
  );
  const values = Array.from({ length: WIDE_COLUMNS }, (_, i) => `'v${i}'`).join(', ');
  await sql.raw(`insert into extra_wide values (1, ${values})`).execute(db.kysely);
}

async function backup(db: Db, batchRows: number, progress?: RowProgress): Promise<Buffer> {
  const sink = new PassThrough();
  const chunks: Buffer[] = [];
  sink.on('data', (c: Buffer) => chunks.push(c));
  await writeBackup(db.kysely, sink, {
    engine: db.engine,
    holdfastVersion: 'test',
    batchRows,
    ...(progress ? { progress } : {}),
  });
  return Buffer.concat(chunks);
}

let source: Db;
let restored: Db;
let file: Buffer;
let total = -1;
const seen: Array<[string, number]> = [];

beforeAll(async () => {
  source = await freshStore();
  await fill(source);
  // Small pages, so keyset paging (composite keys, physical row ids) crosses many page boundaries.
  file = await backup(source, 97, {
    start: (n) => {
      total = n;
    },
    advance: (n, table) => seen.push([table, n]),
  });
  restored = await freshStore();
});

afterAll(async () => {
  await Promise.all([source?.close(), restored?.close()]);
});

describe('backup and restore: any column type, key shape and counter', () => {
  it('round-trips bytea, numeric, int8, floats, arrays, intervals, dates, json, uuid and generated columns exactly', async () => {
    await restoreBackup(restored.kysely, Readable.from(file), { batchBytes: 4096 });
    expect(await tableContents(restored.kysely)).toEqual(await tableContents(source.kysely));
    // The heap table has no key: every row, duplicates included, still arrives once.
    const heap = await sql<{ n: string }>`select count(*)::text as n from extra_heap`.execute(
      restored.kysely,
    );
    expect(heap.rows[0]?.n).toBe('1202');
    expect(total).toBe(3 + 3 + 2500 + 1202 + 1);
    expect(seen.reduce((n, [, k]) => n + k, 0)).toBe(total);
    expect(Math.max(...seen.map(([, k]) => k))).toBeLessThanOrEqual(97);
  });

  it('continues serial and identity counters after the restored rows', async () => {
    const parent = await sql<{
      id: number;
    }>`insert into extra_parent (flag) values (true) returning id`.execute(restored.kysely);
    expect(parent.rows[0]?.id).toBe(4);
    const child = await sql<{
      id: number;
    }>`insert into extra_child (parent_id) values (1) returning id`.execute(restored.kysely);
    expect(child.rows[0]?.id).toBe(4);
  });

  it('refuses a target whose schema lacks a table or column of the backup', async () => {
    const target = await openDatabase({ data_dir: 'memory://' });
    try {
      await expect(restoreBackup(target.kysely, Readable.from(file))).rejects.toThrow(RestoreRefusedError);
      await run(target, EXTRA_TABLES.replace('flag boolean,', ''));
      await sql.raw('create table extra_wide (id int primary key)').execute(target.kysely);
      await expect(restoreBackup(target.kysely, Readable.from(file))).rejects.toThrow(
        /column extra_parent.flag that the target does not/,
      );
    } finally {
      await target.close();
    }
  });

  it('orders tables so every referenced table comes first, and names a cycle', () => {
    const t = (name: string, references: string[] = []): TableInfo => ({
      name,
      columns: [],
      key: [],
      references,
    });
    const order = dependencyOrder([t('c', ['b']), t('a'), t('b', ['a', 'outside'])]).map((x) => x.name);
    expect(order).toEqual(['a', 'b', 'c']);
    expect(() => dependencyOrder([t('x', ['y']), t('y', ['x'])])).toThrow(/cycle \(x, y\)/);
  });
});
