import { mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  type ColumnType,
  CompiledQuery,
  type Dialect,
  Kysely,
  PostgresDialect,
  type RawBuilder,
  sql,
} from 'kysely';
import pg from 'pg';
import { migrateToLatest } from './migrations.ts';
import { PGliteDialect } from './pglite-dialect.ts';

/**
 * Insert/update type of a jsonb column. Only `jsonb()` makes one, so a bare JS array can never reach
 * `pg`, which would send it as a Postgres array literal ('{a,b}') and fail or corrupt the value.
 */
export interface JsonbParam {
  readonly __jsonb: true;
}

export function jsonb(value: unknown): RawBuilder<JsonbParam> {
  // The text cast pins the parameter type, so both drivers send the JSON text untouched.
  return sql<JsonbParam>`cast(cast(${JSON.stringify(value)} as text) as jsonb)`;
}

export interface ApiKeysTable {
  id: string;
  name: string;
  /** sha256 hex of the secret; the secret itself is never stored. */
  key_hash: string;
  /** Leading characters of the secret, so a key can be recognised in lists without revealing it. */
  prefix: string;
  /** Public model names the key may call, or ['*']. Read back as parsed JSON; validate before use. */
  models: ColumnType<unknown, JsonbParam, JsonbParam>;
  created_at: ColumnType<Date, Date | undefined, never>;
  last_used_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  revoked_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  /** Overrides of the key limits ({rpm?, tpm?, concurrent?}), or null. Validate before use. */
  limits: ColumnType<unknown, JsonbParam | null | undefined, JsonbParam | null>;
  /** Highest priority class the key may ask for (critical | interactive | batch), or null. */
  priority: ColumnType<string | null, string | null | undefined, string | null>;
}

type Created = ColumnType<Date, Date | undefined, never>;
type Updated = ColumnType<Date, Date | undefined, Date>;
type Json<T = unknown> = ColumnType<T, JsonbParam, JsonbParam>;

export interface UsersTable {
  id: string;
  email: string;
  name: string;
  password_hash: string | null;
  oidc_subject: string | null;
  role: string;
  created_at: Created;
}

export interface SessionsTable {
  id_hash: string;
  user_id: string;
  csrf_token: string;
  created_at: Created;
  expires_at: Date;
}

export interface PersonasTable {
  id: string;
  user_id: string;
  name: string;
  description: ColumnType<string, string | undefined, string>;
  is_default: ColumnType<boolean, boolean | undefined, boolean>;
  created_at: Created;
}

export interface CharactersTable {
  id: string;
  owner_id: string | null;
  name: string;
  /** A src/chat/cards Character as JSON; validate when reading. */
  card: Json;
  created_at: Created;
  updated_at: Updated;
}

export interface ConversationsTable {
  id: string;
  user_id: string;
  character_id: string | null;
  title: string;
  model: string;
  persona: ColumnType<unknown, JsonbParam | null | undefined, JsonbParam | null>;
  current_leaf_id: string | null;
  created_at: Created;
  updated_at: Updated;
}

export interface MessagesTable {
  id: string;
  conversation_id: string;
  parent_id: string | null;
  role: string;
  content: ColumnType<string, string | undefined, string>;
  status: string;
  idempotency_key: string | null;
  meta: ColumnType<unknown, JsonbParam | undefined, JsonbParam>;
  created_at: Created;
  updated_at: Updated;
}

export interface MessageChunksTable {
  message_id: string;
  seq: number;
  text: string;
  created_at: Created;
}

export interface ReportsTable {
  id: string;
  user_id: string | null;
  category: string;
  text: ColumnType<string, string | undefined, string>;
  model: string | null;
  conversation_id: string | null;
  counted: boolean;
  created_at: Created;
  ip_hash: ColumnType<string | null, string | null | undefined, string | null>;
  component_id: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface StatusComponentsTable {
  id: string;
  key: string;
  name: string;
  description: string | null;
  group_id: string | null;
  is_group: ColumnType<boolean, boolean | undefined, boolean>;
  position: ColumnType<number, number | undefined, number>;
  status: ColumnType<string, string | undefined, string>;
  retired: ColumnType<boolean, boolean | undefined, boolean>;
  created_at: Created;
  updated_at: Updated;
}

export interface StatusIncidentsTable {
  id: string;
  kind: string;
  name: string;
  status: string;
  impact: string;
  impact_override: string | null;
  auto: ColumnType<boolean, boolean | undefined, boolean>;
  component_ids: ColumnType<unknown, JsonbParam | undefined, JsonbParam>;
  merged_into: string | null;
  started_at: ColumnType<Date, Date | undefined, Date>;
  monitoring_at: Date | null;
  resolved_at: Date | null;
  scheduled_for: Date | null;
  scheduled_until: Date | null;
  postmortem_body: string | null;
  postmortem_published_at: Date | null;
  created_at: Created;
  updated_at: Updated;
}

export interface StatusIncidentUpdatesTable {
  id: string;
  incident_id: string;
  status: string;
  body: string;
  affected_components: ColumnType<unknown, JsonbParam | null | undefined, JsonbParam | null>;
  auto: ColumnType<boolean, boolean | undefined, boolean>;
  deliver_notifications: ColumnType<boolean, boolean | undefined, boolean>;
  display_at: ColumnType<Date, Date | undefined, Date>;
  created_at: Created;
  updated_at: Updated;
}

export interface StatusDailyTable {
  component_id: string;
  day: string;
  worst_status: string;
  seconds: Json;
  latency: ColumnType<unknown, JsonbParam | null | undefined, JsonbParam | null>;
}

export interface StatusSubscribersTable {
  id: string;
  kind: string;
  target: string;
  secret: string;
  component_ids: ColumnType<unknown, JsonbParam | null | undefined, JsonbParam | null>;
  created_at: Created;
  disabled_at: Date | null;
}

export interface StatusOutboxTable {
  id: string;
  subscriber_id: string;
  topic: string;
  payload: Json;
  attempts: ColumnType<number, number | undefined, number>;
  next_attempt_at: ColumnType<Date, Date | undefined, Date>;
  delivered_at: Date | null;
  failed_at: Date | null;
  last_error: string | null;
  created_at: Created;
}

export interface Database {
  api_keys: ApiKeysTable;
  status_components: StatusComponentsTable;
  status_incidents: StatusIncidentsTable;
  status_incident_updates: StatusIncidentUpdatesTable;
  status_daily: StatusDailyTable;
  status_subscribers: StatusSubscribersTable;
  status_outbox: StatusOutboxTable;
  users: UsersTable;
  sessions: SessionsTable;
  personas: PersonasTable;
  characters: CharactersTable;
  conversations: ConversationsTable;
  messages: MessagesTable;
  message_chunks: MessageChunksTable;
  reports: ReportsTable;
}

export type Engine = 'pglite' | 'postgres';

export interface Db {
  kysely: Kysely<Database>;
  engine: Engine;
  close(): Promise<void>;
  /**
   * Postgres: drops every open connection, busy ones included (their queries fail), so the next query
   * connects afresh. For a server that stopped answering without closing anything (packets dropped, an
   * address gone after a failover): queries stuck on such connections would otherwise hold the pool
   * until TCP gives up, many minutes later (src/stores/outage, docs/postgres-outage.md).
   */
  resetConnections?(): void;
}

export interface StoreLocation {
  /** postgres://… selects PostgreSQL; unset selects embedded PGlite in data_dir. */
  url?: string | undefined;
  /** A directory (created if missing) or `memory://` for a throwaway database. */
  data_dir: string;
}

export interface OpenOptions {
  /**
   * Keep every table in this schema (created if missing) instead of the connection's default, so
   * test runs sharing one Postgres database cannot see each other.
   */
  schema?: string;
  /** Errors on idle pooled Postgres connections; without a listener they would crash the process. */
  onPoolError?: (error: Error) => void;
  /** false: leave the schema as found (restore brings it to a backup's level itself). Default true. */
  migrate?: boolean;
  /**
   * Postgres: how long opening a connection may take (default 10 s). The outage layer sets its own
   * timeout here, so a query during an outage fails within it rather than waiting on the OS.
   */
  connectTimeoutMs?: number;
  /**
   * Postgres: the server ends a session left idle inside a transaction this long
   * (idle_in_transaction_session_timeout), releasing its locks. Unset: the server's setting.
   */
  idleInTransactionTimeoutMs?: number;
}

/** Opens the SQL store named by the config and brings its schema up to date. */
export async function openDatabase(store: StoreLocation, opts: OpenOptions = {}): Promise<Db> {
  const schema = opts.schema === undefined ? undefined : checkSchemaName(opts.schema);
  const engine: Engine = store.url ? 'postgres' : 'pglite';
  let unlock = async (): Promise<void> => {};
  let dialect: Dialect;
  let resetConnections: (() => void) | undefined;
  if (store.url) {
    const opened = await postgresDialect(store.url, schema, opts);
    dialect = opened.dialect;
    resetConnections = opened.reset;
  } else {
    const opened = await pgliteDialect(store.data_dir);
    dialect = opened.dialect;
    unlock = opened.unlock;
  }
  const kysely = new Kysely<Database>({ dialect });
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= kysely.destroy().finally(unlock);
    return closing;
  };
  try {
    // PGlite is a single session, so setting the path once covers every later query.
    if (schema !== undefined && engine === 'pglite') {
      await createSchema((statement) => kysely.executeQuery(CompiledQuery.raw(statement)), schema);
      await kysely.executeQuery(CompiledQuery.raw(`set search_path to ${quoteIdent(schema)}`));
    }
    if (opts.migrate !== false) await migrateToLatest(kysely, await currentSchema(kysely));
  } catch (error) {
    await close().catch(() => {});
    throw error;
  }
  return { kysely, engine, close, ...(resetConnections ? { resetConnections } : {}) };
}

async function pgliteDialect(dataDir: string): Promise<{ dialect: Dialect; unlock: () => Promise<void> }> {
  if (dataDir.startsWith('memory://')) {
    return { dialect: new PGliteDialect(await openPglite(dataDir)), unlock: async () => {} };
  }
  const dir = resolve(dataDir);
  await mkdir(dir, { recursive: true });
  const unlock = await lockDataDir(dir);
  try {
    return { dialect: new PGliteDialect(await openPglite(dir)), unlock };
  } catch (error) {
    await unlock();
    throw error;
  }
}

/** Directories this process holds, to tell its own live lock from one left by an earlier same-pid run. */
const heldDirs = new Set<string>();

/**
 * PGlite does not notice a second instance on the same directory, and two would corrupt it (one Postgres
 * backend each, no shared locking). A pid file keeps a second opener out, in this process or another;
 * a file whose process is gone is taken over.
 */
async function lockDataDir(dir: string): Promise<() => Promise<void>> {
  const file = join(dir, 'holdfast.lock');
  for (let attempt = 0; ; attempt++) {
    if (heldDirs.has(dir)) throw inUse(dir, process.pid);
    try {
      await writeFile(file, `${process.pid}\n`, { flag: 'wx' });
      heldDirs.add(dir);
      return async () => {
        heldDirs.delete(dir);
        await unlink(file).catch(() => {});
      };
    } catch (error) {
      if (!hasCode(error, 'EEXIST') || attempt > 0) throw error;
    }
    const holder = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10);
    if (Number.isInteger(holder) && holder !== process.pid && isAlive(holder)) throw inUse(dir, holder);
    await unlink(file).catch(() => {});
  }
}

function inUse(dir: string, pid: number): Error {
  return new Error(
    `PGlite data_dir ${dir} is in use by process ${pid}; stop that process first, or set store.url to share a PostgreSQL database`,
  );
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return hasCode(error, 'EPERM');
  }
}

async function postgresDialect(
  url: string,
  schema: string | undefined,
  opts: Pick<OpenOptions, 'onPoolError' | 'connectTimeoutMs' | 'idleInTransactionTimeoutMs'>,
): Promise<{ dialect: Dialect; reset(): void }> {
  const { onPoolError, connectTimeoutMs = 10_000, idleInTransactionTimeoutMs } = opts;
  if (!/^postgres(ql)?:\/\//.test(url))
    throw new Error('store.url must be a postgres:// or postgresql:// URL');
  // Without a connect timeout an unreachable host hangs startup until the OS gives up, minutes later.
  const pool = new pg.Pool({
    connectionString: url,
    application_name: 'holdfast',
    connectionTimeoutMillis: connectTimeoutMs,
    // TCP keepalive finds a connection to a vanished server, where a query would otherwise wait forever.
    keepAlive: true,
    ...(idleInTransactionTimeoutMs !== undefined
      ? { idle_in_transaction_session_timeout: idleInTransactionTimeoutMs }
      : {}),
  });
  // The pool drops the broken client by itself; the next query that needs one reports the failure.
  pool.on('error', onPoolError ?? (() => {}));
  // A checked-out client has no pool listener: a connection reset while it waits between two queries (in
  // a transaction, say) would be an uncaught 'error' event and end the process. The query in flight, if
  // any, still gets the error; this only keeps the event from being unhandled.
  const clients = new Set<pg.PoolClient>();
  pool.on('connect', (client) => {
    client.on('error', () => {});
    clients.add(client);
  });
  pool.on('remove', (client) => clients.delete(client));
  const reset = (): void => {
    for (const client of clients) {
      // pg keeps the socket on `connection.stream`; destroying it fails the client's query, if any, and
      // the pool then removes the client.
      (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
    }
  };
  if (schema === undefined) return { dialect: new PostgresDialect({ pool }), reset };
  try {
    await createSchema((statement) => pool.query(statement), schema);
  } catch (error) {
    await pool.end().catch(() => {});
    throw error;
  }
  // Set per connection rather than through the URL's `options`, which a caller's own URL options
  // would silently replace.
  const setPath = CompiledQuery.raw(`set search_path to ${quoteIdent(schema)}`);
  return {
    dialect: new PostgresDialect({
      pool,
      onCreateConnection: async (connection) => {
        await connection.executeQuery(setPath);
      },
    }),
    reset,
  };
}

async function createSchema(run: (statement: string) => Promise<unknown>, schema: string): Promise<void> {
  try {
    await run(`create schema if not exists ${quoteIdent(schema)}`);
  } catch (error) {
    // Two openers racing on `if not exists` can still collide on the catalog's unique index.
    if (!hasCode(error, '23505') && !hasCode(error, '42P06')) throw error;
  }
}

async function currentSchema(db: Kysely<Database>): Promise<string> {
  const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
  const schema = rows[0]?.schema;
  if (!schema) throw new Error('the database search_path names no existing schema to create tables in');
  return schema;
}

function checkSchemaName(schema: string): string {
  // Lower-case only: Postgres folds unquoted names, and one spelling everywhere avoids two schemas.
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new Error(`schema name must match [a-z_][a-z0-9_]*, at most 63 characters: ${schema}`);
  }
  return schema;
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A driver error with this SQLSTATE or Node error code (PGlite and pg both set `code`). */
export function hasCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && error.code === code;
}

/** PGlite (a Postgres compiled to WASM) is loaded only in embedded mode: a replica on Postgres never pays for it. */
async function openPglite(dir: string) {
  const { PGlite } = await import('@electric-sql/pglite');
  return PGlite.create(dir);
}
