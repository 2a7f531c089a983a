import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AbortedTransactionError, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Db, type Engine, jsonb, openDatabase } from '../../src/stores/database.ts';
import { createSqlKeyStore, hashKey, keyAllowsModel } from '../../src/stores/keys.ts';
import { MIGRATIONS, migrateToLatest } from '../../src/stores/migrations.ts';

/**
 * One contract for the SQL store, run against every engine it supports. A target owns one piece of
 * storage for the whole suite and can open it as often as a test likes, which is how persistence and
 * idempotent migrations are checked.
 */
interface StoreTarget {
  engine: Engine;
  /** Schema the tables must land in. */
  schema: string;
  setUp(): Promise<void>;
  open(): Promise<Db>;
  tearDown(): Promise<void>;
}

function storeContract(target: StoreTarget): void {
  describe(`SQL store contract: ${target.engine}`, () => {
    let db: Db;

    /** PGlite must never have two instances on one directory, so a reopen always closes first. */
    async function reopen(): Promise<Db> {
      await db.close();
      db = await target.open();
      return db;
    }

    beforeAll(async () => {
      await target.setUp();
      db = await target.open();
    });

    afterAll(async () => {
      await db?.close();
      await target.tearDown();
    });

    it('opens the configured engine with the tables in the expected schema', async () => {
      expect(db.engine).toBe(target.engine);
      const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db.kysely);
      expect(rows[0]?.schema).toBe(target.schema);
      const tables = await db.kysely.introspection.getTables();
      // Other tests create their own schemas in the same Postgres at the same time: look only at ours.
      expect(tables.some((t) => t.name === 'api_keys' && t.schema === target.schema)).toBe(true);
    });

    it('runs each migration once, however often the store is opened', async () => {
      await reopen();
      await reopen();
      expect(await migrateToLatest(db.kysely, target.schema)).toEqual([]);
      const { rows } = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(
        db.kysely,
      );
      expect(rows.map((r) => r.name)).toEqual(Object.keys(MIGRATIONS).sort());
    });

    it('creates, lists, verifies and revokes keys', async () => {
      const keys = createSqlKeyStore(db.kysely);
      const { record, secret } = await keys.createKey({ name: '  ci bot ', models: ['gpt-x', 'claude-y'] });
      expect(secret).toMatch(/^hf-[A-Za-z0-9_-]{43}$/);
      expect(record).toMatchObject({ name: 'ci bot', models: ['gpt-x', 'claude-y'], revokedAt: null });
      expect(record.prefix).toBe(secret.slice(0, 11));
      expect(record.createdAt).toBeInstanceOf(Date);
      expect(Math.abs(record.createdAt.getTime() - Date.now())).toBeLessThan(60_000);

      const listed = await keys.listKeys();
      expect(listed.find((k) => k.id === record.id)).toEqual(record);

      const verified = await keys.verifyKey(secret);
      expect(verified?.id).toBe(record.id);
      expect(verified?.lastUsedAt).toBeInstanceOf(Date);
      expect(await keys.verifyKey(`${secret}x`)).toBeUndefined();
      expect(await keys.verifyKey('')).toBeUndefined();

      const revoked = await keys.revokeKey(record.id);
      expect(revoked?.id).toBe(record.id);
      expect(revoked?.revokedAt).toBeInstanceOf(Date);
      expect((await keys.listKeys()).find((k) => k.id === record.id)?.revokedAt).toEqual(revoked?.revokedAt);
    });

    it('refuses revoked keys and keeps the first revocation time', async () => {
      const keys = createSqlKeyStore(db.kysely);
      const { record, secret } = await keys.createKey({ name: 'to revoke', models: ['*'] });
      const first = await keys.revokeKey(record.prefix);
      expect(first?.id).toBe(record.id);
      expect(await keys.verifyKey(secret)).toBeUndefined();
      const again = await keys.revokeKey(record.id);
      expect(again?.revokedAt).toEqual(first?.revokedAt);
      expect(await keys.revokeKey('no-such-key')).toBeUndefined();
    });

    it('refuses to revoke by a prefix that several keys share', async () => {
      const keys = createSqlKeyStore(db.kysely);
      const { record } = await keys.createKey({ name: 'twin a', models: ['*'] });
      await db.kysely
        .insertInto('api_keys')
        .values({
          id: 'twin-b',
          name: 'twin b',
          key_hash: hashKey('twin b'),
          prefix: record.prefix,
          models: jsonb(['*']),
        })
        .execute();
      await expect(keys.revokeKey(record.prefix)).rejects.toThrow(/2 keys match/);
      expect((await keys.revokeKey('twin-b'))?.revokedAt).toBeInstanceOf(Date);
    });

    it('never stores a secret in plain text', async () => {
      const keys = createSqlKeyStore(db.kysely);
      const { record, secret } = await keys.createKey({ name: 'plain text probe', models: ['m'] });
      const row = await db.kysely
        .selectFrom('api_keys')
        .selectAll()
        .where('id', '=', record.id)
        .executeTakeFirstOrThrow();
      expect(row.key_hash).toBe(hashKey(secret));
      expect(row.key_hash).toMatch(/^[0-9a-f]{64}$/);
      const secretTail = secret.slice(record.prefix.length);
      const { rows } = await sql<{ t: string }>`select api_keys::text as t from api_keys`.execute(db.kysely);
      for (const { t } of rows) {
        expect(t).not.toContain(secret);
        expect(t).not.toContain(secretTail);
      }
    });

    it('scopes keys to models', async () => {
      const keys = createSqlKeyStore(db.kysely);
      const scoped = (await keys.createKey({ name: 'scoped', models: ['a', 'b', 'a'] })).record;
      expect(scoped.models).toEqual(['a', 'b']);
      expect(keyAllowsModel(scoped, 'a')).toBe(true);
      expect(keyAllowsModel(scoped, 'c')).toBe(false);
      expect(keyAllowsModel(scoped, '*')).toBe(false);

      const all = (await keys.createKey({ name: 'all', models: ['x', '*'] })).record;
      expect(all.models).toEqual(['*']);
      expect(keyAllowsModel(all, 'anything')).toBe(true);

      await expect(keys.createKey({ name: 'none', models: [] })).rejects.toThrow(RangeError);
      await expect(keys.createKey({ name: 'blank', models: [' '] })).rejects.toThrow(RangeError);
      await expect(keys.createKey({ name: ' ', models: ['a'] })).rejects.toThrow(RangeError);

      const { rows } = await sql<{
        kind: string;
      }>`select jsonb_typeof(models) as kind from api_keys where id = ${scoped.id}`.execute(db.kysely);
      expect(rows[0]?.kind).toBe('array');
    });

    it('keeps per-key limits and priority, and verifies them back', async () => {
      const keys = createSqlKeyStore(db.kysely);
      const { record, secret } = await keys.createKey({
        name: 'limited',
        models: ['*'],
        limits: { rpm: 5, concurrent: 2 },
        priority: 'batch',
      });
      expect(record.limits).toEqual({ rpm: 5, concurrent: 2 });
      expect(record.priority).toBe('batch');
      expect(await keys.verifyKey(secret)).toMatchObject({
        limits: { rpm: 5, concurrent: 2 },
        priority: 'batch',
      });
      const plain = (await keys.createKey({ name: 'plain', models: ['*'] })).record;
      expect(plain.limits).toEqual({});
      expect(plain.priority).toBeNull();
      await expect(keys.createKey({ name: 'bad', models: ['*'], limits: { rpm: 0 } })).rejects.toThrow(
        RangeError,
      );
    });

    it('serialises a transaction against concurrent queries and rolls back on failure', async () => {
      const keys = createSqlKeyStore(db.kysely);
      const marker = `tx-${randomBytes(4).toString('hex')}`;
      const inserted = Promise.withResolvers<void>();
      const held = Promise.withResolvers<void>();
      const failing = db.kysely.transaction().execute(async (trx) => {
        await trx
          .insertInto('api_keys')
          .values({
            id: marker,
            name: marker,
            key_hash: hashKey(marker),
            prefix: 'hf-tx',
            models: jsonb(['*']),
          })
          .execute();
        inserted.resolve();
        await held.promise;
        throw new Error('abort on purpose');
      });
      await inserted.promise;
      // The engine may make this wait (PGlite, one session) or run it alongside (Postgres); either way
      // it must not see the uncommitted row.
      const outside = keys.listKeys();
      await new Promise((resolve) => setTimeout(resolve, 50));
      held.resolve();
      await expect(failing).rejects.toThrow('abort on purpose');
      expect((await outside).some((k) => k.id === marker)).toBe(false);
      expect((await keys.listKeys()).some((k) => k.id === marker)).toBe(false);

      // A swallowed error still dooms the transaction; the commit must say so instead of pretending.
      const swallowed = db.kysely.transaction().execute(async (trx) => {
        await sql`select 1 / 0`.execute(trx).catch(() => {});
      });
      await expect(swallowed).rejects.toThrow(AbortedTransactionError);

      const trx = await db.kysely.startTransaction().execute();
      const row = (id: string) => ({
        id,
        name: id,
        key_hash: hashKey(id),
        prefix: 'hf-sp',
        models: jsonb(['*']),
      });
      await trx
        .insertInto('api_keys')
        .values(row(`${marker}-kept`))
        .execute();
      const sp = await trx.savepoint('before_second').execute();
      await sp
        .insertInto('api_keys')
        .values(row(`${marker}-undone`))
        .execute();
      await sp.rollbackToSavepoint('before_second').execute();
      await sp.commit().execute();
      const ids = (await keys.listKeys()).map((k) => k.id);
      expect(ids).toContain(`${marker}-kept`);
      expect(ids).not.toContain(`${marker}-undone`);

      const many = await Promise.all(
        Array.from({ length: 12 }, (_, i) => keys.createKey({ name: `burst ${i}`, models: ['m'] })),
      );
      const verified = await Promise.all(many.map((k) => keys.verifyKey(k.secret)));
      expect(verified.map((v) => v?.id)).toEqual(many.map((k) => k.record.id));
    });

    it('keeps keys across close and reopen', async () => {
      const { record, secret } = await createSqlKeyStore(db.kysely).createKey({
        name: 'durable',
        models: ['m'],
      });
      await reopen();
      const keys = createSqlKeyStore(db.kysely);
      expect((await keys.verifyKey(secret))?.id).toBe(record.id);
      expect((await keys.listKeys()).some((k) => k.id === record.id && k.name === 'durable')).toBe(true);
    });
  });
}

// --- PGlite: a fresh directory that does not exist yet, so creation is part of the test.

let pgliteRoot = '';
storeContract({
  engine: 'pglite',
  schema: 'public',
  async setUp() {
    pgliteRoot = await mkdtemp(join(tmpdir(), 'holdfast-store-'));
  },
  open: () => openDatabase({ data_dir: join(pgliteRoot, 'nested', 'data') }),
  async tearDown() {
    if (pgliteRoot) await rm(pgliteRoot, { recursive: true, force: true });
  },
});

describe('PGlite store location', () => {
  it('creates a missing data directory', async () => {
    const root = await mkdtemp(join(tmpdir(), 'holdfast-store-'));
    try {
      const db = await openDatabase({ data_dir: join(root, 'a', 'b') });
      await db.close();
      expect((await stat(join(root, 'a', 'b'))).isDirectory()).toBe(true);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('runs in memory and can hold tables in a named schema', async () => {
    const db = await openDatabase({ data_dir: 'memory://' }, { schema: 'isolated' });
    try {
      const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db.kysely);
      expect(rows[0]?.schema).toBe('isolated');
      const { secret } = await createSqlKeyStore(db.kysely).createKey({ name: 'mem', models: ['*'] });
      expect(await createSqlKeyStore(db.kysely).verifyKey(secret)).toBeDefined();
    } finally {
      await db.close();
    }
  });

  it("keeps a second opener out of a directory in use, and takes over a dead holder's lock", async () => {
    const root = await mkdtemp(join(tmpdir(), 'holdfast-store-'));
    try {
      const first = await openDatabase({ data_dir: root });
      await expect(openDatabase({ data_dir: root })).rejects.toThrow(/in use by process/);
      await first.close();

      const gone = spawnSync(process.execPath, ['-e', '']).pid;
      await writeFile(join(root, 'holdfast.lock'), `${gone}\n`);
      const second = await openDatabase({ data_dir: root });
      expect(await readFile(join(root, 'holdfast.lock'), 'utf8')).toBe(`${process.pid}\n`);
      await second.close();
      await expect(stat(join(root, 'holdfast.lock'))).rejects.toThrow();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('rejects schema names that would need quoting', async () => {
    await expect(openDatabase({ data_dir: 'memory://' }, { schema: 'Bad-Name' })).rejects.toThrow(
      /schema name/,
    );
  });
});

// --- Postgres: a schema of our own per run, dropped afterwards, so runs never see each other.

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';
const postgresDown = await probe(DATABASE_URL);
if (postgresDown) {
  console.warn(
    `[store contract] PostgreSQL at ${redact(DATABASE_URL)} is unreachable (${postgresDown}); skipping the Postgres run.`,
  );
}

const runSchema = `hf_test_${process.pid}_${randomBytes(4).toString('hex')}`;
describe.skipIf(postgresDown !== undefined)('Postgres', () => {
  storeContract({
    engine: 'postgres',
    schema: runSchema,
    async setUp() {},
    open: () => openDatabase({ url: DATABASE_URL, data_dir: 'unused' }, { schema: runSchema }),
    async tearDown() {
      await withClient(DATABASE_URL, (c) => c.query(`drop schema if exists "${runSchema}" cascade`));
    },
  });
});

/** Undefined when reachable, otherwise why not. */
async function probe(url: string): Promise<string | undefined> {
  try {
    await withClient(url, (c) => c.query('select 1'));
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message || error.name : String(error);
  }
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}
