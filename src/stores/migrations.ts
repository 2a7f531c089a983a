import { type Kysely, sql } from 'kysely';
import { type Migration, type MigrationResult, Migrator } from 'kysely/migration';

/**
 * Schema history, in code so the binary carries it. Names sort in run order; a shipped migration is never
 * edited, only followed by a new one.
 */
export const MIGRATIONS: Readonly<Record<string, Migration>> = {
  '0001_api_keys': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('key_hash', 'text', (c) => c.notNull().unique())
        .addColumn('prefix', 'text', (c) => c.notNull())
        .addColumn('models', 'jsonb', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('last_used_at', 'timestamptz')
        .addColumn('revoked_at', 'timestamptz')
        .execute();
      await db.schema.createIndex('api_keys_prefix_idx').on('api_keys').column('prefix').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('api_keys').execute();
    },
  },
  '0002_key_limits': {
    async up(db: Kysely<unknown>): Promise<void> {
      // Per-key overrides of the config's key limits ({rpm?, tpm?, concurrent?}) and the highest
      // priority class the key may use; null = the defaults.
      await db.schema.alterTable('api_keys').addColumn('limits', 'jsonb').execute();
      await db.schema.alterTable('api_keys').addColumn('priority', 'text').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('api_keys').dropColumn('priority').execute();
      await db.schema.alterTable('api_keys').dropColumn('limits').execute();
    },
  },
};

/**
 * Brings the schema up to date. `schema` pins Kysely's bookkeeping tables to the schema the app tables
 * live in; left unset, the migrator would take a `kysely_migration` table in any other schema of the
 * same database as its own.
 */
export async function migrateToLatest<DB>(db: Kysely<DB>, schema: string): Promise<MigrationResult[]> {
  const migrator = new Migrator({
    db,
    migrationTableSchema: schema,
    provider: { getMigrations: async () => MIGRATIONS },
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    const which = failed === undefined ? 'database migration' : `database migration ${failed}`;
    throw new Error(`${which} failed: ${describe(error)}`, { cause: error });
  }
  return [...(results ?? [])];
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
