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
  '0004_status': {
    async up(db: Kysely<unknown>): Promise<void> {
      // The status system: components (stable ids), incidents and maintenances (one table, as
      // Statuspage models them), their updates, daily uptime rollups, subscribers and the notification
      // outbox. Shapes: src/status/statuspage.ts.
      await db.schema
        .createTable('status_components')
        .addColumn('id', 'text', (c) => c.primaryKey())
        // the config key it came from; an id is never reused for another key
        .addColumn('key', 'text', (c) => c.notNull().unique())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text')
        .addColumn('group_id', 'text')
        .addColumn('is_group', 'boolean', (c) => c.notNull().defaultTo(false))
        .addColumn('position', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('status', 'text', (c) => c.notNull().defaultTo('operational'))
        // no longer in the config: hidden, kept so history and ids stay valid
        .addColumn('retired', 'boolean', (c) => c.notNull().defaultTo(false))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema
        .createTable('status_incidents')
        .addColumn('id', 'text', (c) => c.primaryKey())
        // incident | maintenance
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('impact', 'text', (c) => c.notNull())
        // set when an operator overrides the computed impact
        .addColumn('impact_override', 'text')
        // opened by the system (true) or an operator
        .addColumn('auto', 'boolean', (c) => c.notNull().defaultTo(false))
        .addColumn('component_ids', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
        .addColumn('merged_into', 'text')
        .addColumn('started_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('monitoring_at', 'timestamptz')
        .addColumn('resolved_at', 'timestamptz')
        .addColumn('scheduled_for', 'timestamptz')
        .addColumn('scheduled_until', 'timestamptz')
        .addColumn('postmortem_body', 'text')
        .addColumn('postmortem_published_at', 'timestamptz')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema
        .createIndex('status_incidents_created_idx')
        .on('status_incidents')
        .columns(['kind', 'created_at'])
        .execute();
      await db.schema
        .createTable('status_incident_updates')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('incident_id', 'text', (c) =>
          c.notNull().references('status_incidents.id').onDelete('cascade'),
        )
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('affected_components', 'jsonb')
        .addColumn('auto', 'boolean', (c) => c.notNull().defaultTo(false))
        .addColumn('deliver_notifications', 'boolean', (c) => c.notNull().defaultTo(true))
        .addColumn('display_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema
        .createIndex('status_incident_updates_incident_idx')
        .on('status_incident_updates')
        .columns(['incident_id', 'created_at'])
        .execute();
      await db.schema
        .createTable('status_daily')
        // one row per component per UTC day: what the 90-day uptime bars show
        .addColumn('component_id', 'text', (c) => c.notNull())
        .addColumn('day', 'text', (c) => c.notNull())
        .addColumn('worst_status', 'text', (c) => c.notNull())
        // seconds observed in each status that day: {"operational": 86000, "partial_outage": 400}
        .addColumn('seconds', 'jsonb', (c) => c.notNull())
        // response time (ms) samples summary: {"p50": .., "p95": .., "count": ..}
        .addColumn('latency', 'jsonb')
        .addPrimaryKeyConstraint('status_daily_pk', ['component_id', 'day'])
        .execute();
      await db.schema
        .createTable('status_subscribers')
        .addColumn('id', 'text', (c) => c.primaryKey())
        // webhook | slack | discord | email
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('target', 'text', (c) => c.notNull())
        // HMAC secret for webhooks; unsubscribe token for all
        .addColumn('secret', 'text', (c) => c.notNull())
        .addColumn('component_ids', 'jsonb')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('disabled_at', 'timestamptz')
        .execute();
      await db.schema
        .createTable('status_outbox')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('subscriber_id', 'text', (c) =>
          c.notNull().references('status_subscribers.id').onDelete('cascade'),
        )
        // what it is about, so updates close together can be batched into one delivery
        .addColumn('topic', 'text', (c) => c.notNull())
        .addColumn('payload', 'jsonb', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('delivered_at', 'timestamptz')
        .addColumn('failed_at', 'timestamptz')
        .addColumn('last_error', 'text')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema
        .createIndex('status_outbox_due_idx')
        .on('status_outbox')
        .columns(['delivered_at', 'next_attempt_at'])
        .execute();
      // Public (signed-out) reports are throttled per IP; only a keyed hash of it is kept.
      await db.schema.alterTable('reports').addColumn('ip_hash', 'text').execute();
      await db.schema.alterTable('reports').addColumn('component_id', 'text').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('reports').dropColumn('component_id').execute();
      await db.schema.alterTable('reports').dropColumn('ip_hash').execute();
      for (const t of [
        'status_outbox',
        'status_subscribers',
        'status_daily',
        'status_incident_updates',
        'status_incidents',
        'status_components',
      ])
        await db.schema.dropTable(t).execute();
    },
  },
  '0005_status_core': {
    async up(db: Kysely<unknown>): Promise<void> {
      // Small settings the status core keeps across restarts (the keyed-hash secret for reporters' IPs).
      await db.schema
        .createTable('status_settings')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
      // One counted public report per IP hash per window: looked up on every report.
      await db.schema
        .createIndex('reports_ip_hash_idx')
        .on('reports')
        .columns(['ip_hash', 'created_at'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('reports_ip_hash_idx').execute();
      await db.schema.dropTable('status_settings').execute();
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
