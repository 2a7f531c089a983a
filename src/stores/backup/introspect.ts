import { type Kysely, sql } from 'kysely';
import type { Database } from '../database.ts';

/**
 * What backup and restore need to know about the tables in the store's schema, read from the catalog
 * rather than listed by hand, so a table a later migration adds is backed up without anyone remembering
 * to add it here.
 */

export interface ColumnInfo {
  name: string;
  /** As `format_type` spells it (`timestamp with time zone`, `jsonb`, `integer[]`): a valid cast target. */
  type: string;
  /** GENERATED ALWAYS AS IDENTITY: an insert of explicit values needs OVERRIDING SYSTEM VALUE. */
  identityAlways: boolean;
  /** The sequence behind a serial or identity column, schema-qualified, or null. */
  sequence: string | null;
}

export interface TableInfo {
  name: string;
  /** Stored columns in table order; generated columns are left out (they are computed on insert). */
  columns: ColumnInfo[];
  /** Primary key columns in key order; empty when the table has none. */
  key: string[];
  /** Other tables of the schema this one has foreign keys to. */
  references: string[];
}

/** The migrator's own bookkeeping: recreated by running migrations, never copied. */
export const MIGRATION_TABLES: readonly string[] = ['kysely_migration', 'kysely_migration_lock'];

/** The application's tables in the current schema, each after the tables it references. */
export async function describeTables(db: Kysely<Database>): Promise<TableInfo[]> {
  const tables = await sql<{ oid: number; name: string }>`
    select c.oid::int8 as oid, c.relname as name
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = current_schema() and c.relkind in ('r', 'p') and not c.relispartition
    order by c.relname`.execute(db);
  const columns = await sql<{
    oid: number;
    name: string;
    type: string;
    identity: string;
    generated: string;
    sequence: string | null;
  }>`
    select a.attrelid::int8 as oid, a.attname as name, format_type(a.atttypid, a.atttypmod) as type,
           a.attidentity as identity, a.attgenerated as generated,
           pg_get_serial_sequence(format('%I.%I', n.nspname, c.relname), a.attname) as sequence
    from pg_attribute a
    join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = current_schema() and c.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped
    order by a.attrelid, a.attnum`.execute(db);
  const keys = await sql<{ oid: number; name: string }>`
    select k.conrelid::int8 as oid, a.attname as name
    from pg_constraint k
    join pg_attribute a on a.attrelid = k.conrelid and a.attnum = any(k.conkey)
    where k.contype = 'p' and k.connamespace = (select oid from pg_namespace where nspname = current_schema())
    order by k.conrelid, array_position(k.conkey, a.attnum)`.execute(db);
  const refs = await sql<{ oid: number; target: string }>`
    select distinct k.conrelid::int8 as oid, t.relname as target
    from pg_constraint k join pg_class t on t.oid = k.confrelid
    where k.contype = 'f' and k.connamespace = (select oid from pg_namespace where nspname = current_schema())
      and k.confrelid <> k.conrelid`.execute(db);

  const byOid = new Map<string, TableInfo>();
  for (const t of tables.rows) {
    if (MIGRATION_TABLES.includes(t.name)) continue;
    byOid.set(String(t.oid), { name: t.name, columns: [], key: [], references: [] });
  }
  for (const c of columns.rows) {
    if (c.generated !== '') continue;
    byOid.get(String(c.oid))?.columns.push({
      name: c.name,
      type: c.type,
      identityAlways: c.identity === 'a',
      sequence: c.sequence,
    });
  }
  for (const k of keys.rows) byOid.get(String(k.oid))?.key.push(k.name);
  for (const r of refs.rows) byOid.get(String(r.oid))?.references.push(r.target);
  return dependencyOrder([...byOid.values()]);
}

/**
 * Referenced tables first, so rows can be inserted in this order with every foreign key checked as it
 * goes; ties keep alphabetical order, so the same schema always gives the same file.
 */
export function dependencyOrder(tables: readonly TableInfo[]): TableInfo[] {
  const names = new Set(tables.map((t) => t.name));
  const pending = [...tables].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const placed = new Set<string>();
  const ordered: TableInfo[] = [];
  while (pending.length > 0) {
    const i = pending.findIndex((t) => t.references.every((r) => placed.has(r) || !names.has(r)));
    if (i < 0) {
      const cycle = pending.map((t) => t.name).join(', ');
      throw new Error(`tables reference each other in a cycle (${cycle}); no insert order satisfies them`);
    }
    const [next] = pending.splice(i, 1);
    ordered.push(next!);
    placed.add(next!.name);
  }
  return ordered;
}

/** Migrations applied to the current schema, in order; empty for a database Holdfast never opened. */
export async function appliedMigrations(db: Kysely<Database>): Promise<string[]> {
  const exists = await sql<{ present: boolean }>`
    select to_regclass(format('%I.kysely_migration', current_schema())) is not null as present`.execute(db);
  if (!exists.rows[0]?.present) return [];
  const { rows } = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(db);
  return rows.map((r) => r.name);
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
