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
  '0003_chat': {
    async up(db: Kysely<unknown>): Promise<void> {
      // The chat app: accounts, characters, conversations as message trees, and durable generation.
      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('email', 'text', (c) => c.notNull().unique())
        .addColumn('name', 'text', (c) => c.notNull())
        // null for accounts that only sign in through OIDC
        .addColumn('password_hash', 'text')
        .addColumn('oidc_subject', 'text', (c) => c.unique())
        .addColumn('role', 'text', (c) => c.notNull().defaultTo('user'))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema
        .createTable('sessions')
        // sha256 of the cookie's secret: a database leak does not hand out live sessions
        .addColumn('id_hash', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('csrf_token', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('sessions_user_idx').on('sessions').column('user_id').execute();
      await db.schema
        .createTable('personas')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('is_default', 'boolean', (c) => c.notNull().defaultTo(false))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema
        .createTable('characters')
        .addColumn('id', 'text', (c) => c.primaryKey())
        // null: shipped with Holdfast, visible to everyone, editable by admins only
        .addColumn('owner_id', 'text', (c) => c.references('users.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        // the whole character (src/chat/cards Character), unknown card extensions included
        .addColumn('card', 'jsonb', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema.createIndex('characters_owner_idx').on('characters').column('owner_id').execute();
      await db.schema
        .createTable('conversations')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('character_id', 'text', (c) => c.references('characters.id').onDelete('set null'))
        .addColumn('title', 'text', (c) => c.notNull())
        .addColumn('model', 'text', (c) => c.notNull())
        // the persona as it was when chosen ({name, description}), so later edits do not rewrite history
        .addColumn('persona', 'jsonb')
        // the leaf of the branch on screen; new messages continue from it
        .addColumn('current_leaf_id', 'text')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema
        .createIndex('conversations_user_idx')
        .on('conversations')
        .columns(['user_id', 'updated_at'])
        .execute();
      await db.schema
        .createTable('messages')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('conversation_id', 'text', (c) =>
          c.notNull().references('conversations.id').onDelete('cascade'),
        )
        .addColumn('parent_id', 'text')
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('content', 'text', (c) => c.notNull().defaultTo(''))
        // assistant answers are generation jobs: queued, streaming, complete, incomplete, failed
        .addColumn('status', 'text', (c) => c.notNull())
        // the client's key for a send, so a double submit or a retry never makes a second message
        .addColumn('idempotency_key', 'text')
        // {model, deployment, failedOver, finishReason, usage, error, summarised...}
        .addColumn('meta', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema
        .createIndex('messages_conversation_idx')
        .on('messages')
        .columns(['conversation_id', 'created_at'])
        .execute();
      await db.schema
        .createIndex('messages_idempotency_idx')
        .on('messages')
        .columns(['conversation_id', 'idempotency_key'])
        .unique()
        .where(sql.ref('idempotency_key'), 'is not', null)
        .execute();
      await db.schema.createIndex('messages_status_idx').on('messages').column('status').execute();
      await db.schema
        .createTable('message_chunks')
        // the append-only log of a generation: resumable readers catch up from it by sequence number
        .addColumn('message_id', 'text', (c) => c.notNull().references('messages.id').onDelete('cascade'))
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('text', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addPrimaryKeyConstraint('message_chunks_pk', ['message_id', 'seq'])
        .execute();
      await db.schema
        .createTable('reports')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('set null'))
        .addColumn('category', 'text', (c) => c.notNull())
        .addColumn('text', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('model', 'text')
        .addColumn('conversation_id', 'text')
        // false when the same user already reported within the window: stored, not counted
        .addColumn('counted', 'boolean', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema.createIndex('reports_created_idx').on('reports').column('created_at').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const t of [
        'reports',
        'message_chunks',
        'messages',
        'conversations',
        'characters',
        'personas',
        'sessions',
        'users',
      ])
        await db.schema.dropTable(t).execute();
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
