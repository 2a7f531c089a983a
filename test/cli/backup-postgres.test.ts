import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeBackup } from '../../src/stores/backup/dump.ts';
import { restoreBackup } from '../../src/stores/backup/restore.ts';
import { openDatabase } from '../../src/stores/database.ts';
import { createSqlKeyStore } from '../../src/stores/keys.ts';
import { ChatClient } from '../helpers/chat-client.ts';
import {
  addAwkwardRows,
  completeWithKey,
  conversationsOf,
  createSchema,
  DATABASE_URL,
  populateThroughGateway,
  postgresProblem,
  startGatewayOn,
  tableContents,
} from './backup-fixture.ts';
import { holdfast } from './cli-runner.ts';

const problem = await postgresProblem();
if (problem)
  console.warn(
    `[backup] PostgreSQL at ${DATABASE_URL.replace(/\/\/[^@]*@/, '//…@')} is unreachable (${problem}); skipping the cross-engine backup tests.`,
  );

let dir: string;
const drops: Array<() => Promise<void>> = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'holdfast-backup-pg-'));
});

afterAll(async () => {
  for (const drop of drops) await drop().catch(() => {});
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(problem !== undefined)(
  'backup and restore across engines (PostgreSQL)',
  { timeout: 90_000 },
  () => {
    it('backs up PostgreSQL while its gateway keeps writing, as one consistent snapshot, and restores it into PGlite', async () => {
      const source = await createSchema('hf_backup_src');
      drops.push(source.drop);
      const t = await startGatewayOn({ url: source.url });
      let sends = 0;
      let failures = 0;
      let writing = true;
      let writer: Promise<void> = Promise.resolve();
      const file = join(dir, 'from-postgres.jsonl.gz');
      try {
        const fixture = await populateThroughGateway(t);
        // Enough history that the backup takes a while, so the writes below land in the middle of it.
        const db = await openDatabase({ url: DATABASE_URL, data_dir: 'unused' }, { schema: source.schema });
        try {
          const [user] = await db.kysely.selectFrom('users').select('id').execute();
          await sql`insert into conversations (id, user_id, title, model)
          select 'bulk_c' || g, ${user!.id}, 'bulk ' || g, 'sim-openai' from generate_series(1, 200) g`.execute(
            db.kysely,
          );
          await sql`insert into messages (id, conversation_id, role, content, status)
          select 'bulk_m' || g, 'bulk_c' || (g % 200 + 1), 'assistant', repeat('tide ', 40), 'complete'
          from generate_series(1, 4000) g`.execute(db.kysely);
          await sql`insert into message_chunks (message_id, seq, text)
          select 'bulk_m' || (g % 4000 + 1), g / 4000, 'chunk ' || g from generate_series(0, 39999) g`.execute(
            db.kysely,
          );
        } finally {
          await db.close();
        }

        // A user keeps chatting through the gateway: every send adds messages and chunks.
        const chat = new ChatClient(t.url);
        expect(
          (await chat.call('POST', '/api/auth/login', { email: fixture.email, password: fixture.password }))
            .status,
        ).toBe(200);
        writer = (async () => {
          while (writing) {
            const sent = await chat.call('POST', `/api/conversations/${fixture.conversationId}/messages`, {
              content: `message ${sends}`,
              idempotencyKey: `during-backup-${sends}`,
            });
            if (sent.status !== 201) failures++;
            else if ((await chat.stream(sent.body.assistantMessage.id)).done?.status !== 'complete')
              failures++;
            sends++;
          }
        })();

        const before = sends;
        const r = await holdfast(['backup', file, '--database-url', source.url], { cwd: dir });
        expect(r.code, r.stderr).toBe(0);
        expect(r.stderr).toMatch(/backup: .* 16 tables, /);
        expect(sends - before, 'chat sends completed while the backup ran').toBeGreaterThan(0);
        writing = false;
        await writer;
        expect(failures).toBe(0);

        // Restoring checks every foreign key: a torn read (chunks of messages the backup does not have) fails.
        const header = JSON.parse(gunzipSync(readFileSync(file)).toString('utf8').split('\n', 1)[0]!);
        expect(header.engine).toBe('postgres');
        const target = await openDatabase({ data_dir: join(dir, 'from-postgres') }, { migrate: false });
        try {
          const result = await restoreBackup(target.kysely, createReadStream(file));
          const chunks = header.tables.find((x: { name: string }) => x.name === 'message_chunks').rows;
          expect(chunks).toBeGreaterThan(40_000);
          expect(result.rows).toBe(header.tables.reduce((n: number, x: { rows: number }) => n + x.rows, 0));
          expect(await createSqlKeyStore(target.kysely).verifyKey(fixture.secret)).toMatchObject({
            name: 'restored-key',
          });
        } finally {
          await target.close();
        }
      } finally {
        writing = false;
        await writer;
        await t.close();
      }
    });

    it('restores a PGlite backup into PostgreSQL exactly, and a gateway on PostgreSQL serves it', async () => {
      const sourceDir = join(dir, 'pglite-source');
      const t = await startGatewayOn({ data_dir: sourceDir });
      let fixture: Awaited<ReturnType<typeof populateThroughGateway>>;
      try {
        fixture = await populateThroughGateway(t);
      } finally {
        await t.close();
      }
      const file = join(dir, 'from-pglite.jsonl.gz');
      const src = await openDatabase({ data_dir: sourceDir });
      let original: Record<string, string[]>;
      try {
        await addAwkwardRows(src.kysely);
        original = await tableContents(src.kysely);
        await writeBackup(src.kysely, createWriteStream(file), { engine: 'pglite', holdfastVersion: 'test' });
      } finally {
        await src.close();
      }

      const target = await createSchema('hf_backup_dst');
      drops.push(target.drop);
      const r = await holdfast(['restore', file, '--database-url', target.url], { cwd: dir });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/restore: 16 tables, \d+ rows into postgres/);

      const db = await openDatabase({ url: DATABASE_URL, data_dir: 'unused' }, { schema: target.schema });
      try {
        expect(await tableContents(db.kysely)).toEqual(original);
      } finally {
        await db.close();
      }
      const onPostgres = await startGatewayOn({ url: target.url });
      try {
        expect(await completeWithKey(onPostgres.url, fixture.secret)).toBe(200);
        expect((await conversationsOf(onPostgres.url, fixture)).map((c) => c.id)).toContain(
          fixture.conversationId,
        );
      } finally {
        await onPostgres.close();
      }
    });
  },
);
