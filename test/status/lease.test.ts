import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqlEvaluatorLease } from '../../src/status/lease.ts';
import { type Db, openDatabase } from '../../src/stores/database.ts';

/** The status evaluator's lease: one holder at a time, renewed by it, taken over when it lapses or is given up. */

const PG = 'postgres://root@127.0.0.1:5432/test';

async function pgAvailable(): Promise<boolean> {
  const c = new pg.Client({ connectionString: PG, connectionTimeoutMillis: 1_000 });
  try {
    await c.connect();
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => {});
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function leaseContract(engine: string, open: () => Promise<Db>, close: (db: Db) => Promise<void>): void {
  describe(`evaluator lease on ${engine}`, () => {
    let db: Db;
    beforeAll(async () => {
      db = await open();
    });
    afterAll(async () => {
      await close(db);
    });

    it('has one holder, who renews it; the others see who holds it; giving it up hands it over', async () => {
      const a = new SqlEvaluatorLease(db.kysely, 'a', 60_000);
      const b = new SqlEvaluatorLease(db.kysely, 'b', 60_000);
      expect(await a.hold()).toBe(true);
      expect(await b.hold()).toBe(false);
      expect(b.holder()).toBe('a');
      expect(await a.hold()).toBe(true);
      expect(await b.hold()).toBe(false);
      await a.release();
      expect(await b.hold()).toBe(true);
      expect(await a.hold()).toBe(false);
      expect(a.holder()).toBe('b');
      await b.release();
    });

    it('lapses when its holder stops renewing (a replica that died)', async () => {
      const dead = new SqlEvaluatorLease(db.kysely, 'dead', 300);
      const next = new SqlEvaluatorLease(db.kysely, 'next', 300);
      expect(await dead.hold()).toBe(true);
      expect(await next.hold()).toBe(false);
      await sleep(450);
      expect(await next.hold()).toBe(true);
      expect(await dead.hold()).toBe(false);
      await next.release();
    });

    it('goes to exactly one of many replicas asking at once', async () => {
      const many = Array.from({ length: 8 }, (_, i) => new SqlEvaluatorLease(db.kysely, `r${i}`, 60_000));
      const won = await Promise.all(many.map((l) => l.hold()));
      expect(won.filter(Boolean)).toHaveLength(1);
      const holder = many[won.indexOf(true)]!.replicaId;
      for (const l of many) if (l.replicaId !== holder) expect(l.holder()).toBe(holder);
      await Promise.all(many.map((l) => l.release()));
    });
  });
}

leaseContract(
  'PGlite',
  () => openDatabase({ data_dir: 'memory://' }),
  (db) => db.close(),
);

const schema = `hf_lease_${randomBytes(5).toString('hex')}`;
describe.skipIf(!(await pgAvailable()))('PostgreSQL (skipped when none answers at 127.0.0.1:5432)', () => {
  leaseContract(
    'PostgreSQL',
    () => openDatabase({ url: PG, data_dir: '' }, { schema }),
    async (db) => {
      await db.close();
      const c = new pg.Client({ connectionString: PG });
      await c.connect();
      await c.query(`drop schema if exists ${schema} cascade`);
      await c.end();
    },
  );
});
