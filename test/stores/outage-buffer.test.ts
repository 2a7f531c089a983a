import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/load.ts';
import { openStoreOutage } from '../../src/runtime/store-outage.ts';
import type { Database, Db } from '../../src/stores/database.ts';
import { OutageBuffer, type OutageLog } from '../../src/stores/outage/buffer.ts';
import { isOutageError } from '../../src/stores/outage/classify.ts';
import { admits, bufferState, onReplayError } from '../../src/stores/outage/policy.ts';
import { StoreUnavailableError } from '../../src/stores/outage/port.ts';
import { WalFile } from '../../src/stores/outage/wal.ts';
import { simModels } from '../helpers/gateway.ts';

/**
 * The outage buffer without a database: its handlers write into an array that can be made to fail the
 * way node-postgres fails when PostgreSQL is unreachable. The end-to-end behaviour on a real PostgreSQL
 * behind a cut proxy is test/stores/postgres-outage.test.ts.
 */

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'holdfast-outage-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function refused(): Error {
  return Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
}

/** A fake database: applied writes in order; `up` false makes every call fail like a refused connect. */
function fakeDb() {
  const applied: string[] = [];
  const state = { up: true, reject: new Set<string>() };
  const handler = async (_db: Kysely<Database>, data: unknown): Promise<void> => {
    if (!state.up) throw refused();
    const v = (data as { v: string }).v;
    if (state.reject.has(v)) throw Object.assign(new Error('duplicate key'), { code: '23505' });
    // Idempotent like the real handlers: a second application of one record changes nothing.
    if (!applied.includes(v)) applied.push(v);
  };
  return { applied, state, handler };
}

function logs(): OutageLog & { lines: Array<{ level: string; msg: string }> } {
  const lines: Array<{ level: string; msg: string }> = [];
  return {
    lines,
    info: (_o, msg) => lines.push({ level: 'info', msg }),
    warn: (_o, msg) => lines.push({ level: 'warn', msg }),
    error: (_o, msg) => lines.push({ level: 'error', msg }),
  };
}

async function open(dir: string, f: ReturnType<typeof fakeDb>, log = logs(), limits = {}) {
  return OutageBuffer.open({
    db: {} as Kysely<Database>,
    dir,
    maxBytes: 1024 * 1024,
    maxEntries: 1000,
    fsync: 'always',
    timeoutMs: 1000,
    handlers: { t: f.handler },
    log,
    backoff: { baseMs: 5, capMs: 20 },
    probe: async () => {
      if (!f.state.up) throw refused();
    },
    ...limits,
  });
}

const w = (v: string, admission: 'new' | 'continuing' = 'new') => ({
  kind: 't',
  key: `k:${v}`,
  data: { v },
  admission,
});

describe('outage buffer policy', () => {
  it('counts connection failures and timeouts as an outage, not query errors', () => {
    expect(isOutageError(refused())).toBe(true);
    expect(isOutageError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isOutageError(Object.assign(new Error('x'), { code: '57P01' }))).toBe(true);
    expect(isOutageError(Object.assign(new Error('x'), { code: '08006' }))).toBe(true);
    expect(isOutageError(Object.assign(new Error('dup'), { code: '23505' }))).toBe(false);
    expect(isOutageError(new Error('syntax error'))).toBe(false);
  });

  it('refuses new work at the high-water mark and everything at the hard limit', () => {
    const l = { maxEntries: 100, maxBytes: 10_000 };
    expect(bufferState({ entries: 0, bytes: 0 }, l)).toBe('ok');
    expect(bufferState({ entries: 10, bytes: 100 }, l)).toBe('buffering');
    expect(bufferState({ entries: 90, bytes: 100 }, l)).toBe('full');
    expect(admits({ entries: 89, bytes: 100 }, l, 10, 'new')).toBe(true);
    expect(admits({ entries: 90, bytes: 100 }, l, 10, 'new')).toBe(false);
    expect(admits({ entries: 90, bytes: 100 }, l, 10, 'continuing')).toBe(true);
    expect(admits({ entries: 100, bytes: 100 }, l, 10, 'continuing')).toBe(false);
    expect(admits({ entries: 1, bytes: 9_000 }, l, 10, 'new')).toBe(false);
  });

  it('sets aside integrity errors at once and retries unknown ones a few times', () => {
    expect(onReplayError('23503', 1, false)).toBe('reject');
    expect(onReplayError(undefined, 1, true)).toBe('reject');
    expect(onReplayError('40001', 3, false)).toBe('retry');
    expect(onReplayError(undefined, 1, false)).toBe('retry');
    expect(onReplayError(undefined, 5, false)).toBe('reject');
  });
});

describe('write-ahead file', () => {
  it('keeps records across reopening, drops a torn last line, and keeps sequence numbers rising', async () => {
    const dir = tmp();
    const a = (await WalFile.open(dir, 'always')).wal;
    await Promise.all([a.append('t', 'k1', { v: 1 }, 1), a.append('t', 'k2', { v: 2 }, 2)]);
    await a.close();
    writeFileSync(join(dir, 'wal.jsonl'), `${readFileSync(join(dir, 'wal.jsonl'), 'utf8')}{"seq":3,"ki`);
    const reopened = await WalFile.open(dir, 'always');
    expect(reopened.torn).toBe(true);
    const b = reopened.wal;
    expect(b.entries).toBe(2);
    expect(b.next(0)?.key).toBe('k1');
    await b.ack(1);
    expect(b.entries).toBe(1);
    const third = await b.append('t', 'k3', { v: 3 }, 3);
    expect(third.seq).toBe(3);
    await b.ack(3);
    expect(b.entries).toBe(0);
    expect(readFileSync(join(dir, 'wal.jsonl'), 'utf8')).toBe('');
    await b.close();
    const c = (await WalFile.open(dir, 'always')).wal;
    expect(c.entries).toBe(0);
    expect((await c.append('t', 'k4', {}, 4)).seq).toBe(4);
    await c.close();
  });
});

describe('outage buffer', () => {
  it('writes directly while the database answers', async () => {
    const f = fakeDb();
    const b = await open(tmp(), f);
    expect(await b.write(w('a'))).toBe('stored');
    expect(f.applied).toEqual(['a']);
    expect(b.state).toBe('ok');
    await b.close();
  });

  it('buffers while the database is down, keeps order while draining, and replays each write once', async () => {
    const f = fakeDb();
    const log = logs();
    const b = await open(tmp(), f, log);
    await b.write(w('a'));
    f.state.up = false;
    const applied: string[] = [];
    for (const v of ['b', 'c', 'd'])
      expect(await b.write({ ...w(v), onApplied: () => applied.push(v) })).toBe('buffered');
    expect(b.state).toBe('buffering');
    expect(b.down).toBe(true);
    await expect(b.read(async () => 1)).rejects.toBeInstanceOf(StoreUnavailableError);
    f.state.up = true;
    // Still buffered: nothing may overtake what is waiting.
    expect(await b.write(w('e'))).toBe('buffered');
    await b.drained();
    expect(f.applied).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(applied).toEqual(['b', 'c', 'd']);
    expect(b.state).toBe('ok');
    expect(b.health()).toMatchObject({ replayed: 4, refused: 0, rejected: 0, entries: 0, reachable: true });
    // Each change logged once, not once per write.
    expect(log.lines.filter((l) => l.msg.startsWith('PostgreSQL unreachable'))).toHaveLength(1);
    expect(log.lines.filter((l) => l.msg === 'outage buffer drained')).toHaveLength(1);
    expect(await b.write(w('f'))).toBe('stored');
    await b.close();
  });

  it('when full refuses new work with a clear error, still takes running work, and drops nothing', async () => {
    const f = fakeDb();
    const log = logs();
    const b = await open(tmp(), f, log, { maxEntries: 10 });
    f.state.up = false;
    for (let i = 0; i < 9; i++) await b.write(w(`n${i}`));
    expect(b.state).toBe('full');
    const refusal = await b.write(w('late')).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(StoreUnavailableError);
    expect((refusal as StoreUnavailableError).reason).toBe('buffer_full');
    expect(await b.write(w('running', 'continuing'))).toBe('buffered');
    await expect(b.write(w('over', 'continuing'))).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(log.lines.filter((l) => l.msg.startsWith('outage buffer FULL'))).toHaveLength(1);
    expect(b.health().refused).toBe(2);
    f.state.up = true;
    await b.drained();
    expect(f.applied).toEqual([...Array.from({ length: 9 }, (_, i) => `n${i}`), 'running']);
    await b.close();
  });

  it('replays what a stopped process left, in order, before anything else', async () => {
    const dir = tmp();
    const f = fakeDb();
    const first = await open(dir, f);
    f.state.up = false;
    for (const v of ['x', 'y', 'z']) await first.write(w(v));
    await first.close();
    f.state.up = true;
    const second = await open(dir, f);
    expect(second.health().entries).toBe(3);
    expect(await second.replayPending()).toBe(3);
    expect(f.applied).toEqual(['x', 'y', 'z']);
    expect(second.state).toBe('ok');
    await second.close();
    const third = await open(dir, f);
    expect(third.health().entries).toBe(0);
    await third.close();
  });

  it('sets aside a write the database rejects, loudly, and goes on', async () => {
    const f = fakeDb();
    const log = logs();
    const b = await open(tmp(), f, log);
    f.state.up = false;
    for (const v of ['p', 'bad', 'q']) await b.write(w(v));
    f.state.reject.add('bad');
    f.state.up = true;
    await b.drained();
    expect(f.applied).toEqual(['p', 'q']);
    expect(b.health().rejected).toBe(1);
    expect(log.lines.some((l) => l.level === 'error' && l.msg.includes('rejected a replayed write'))).toBe(
      true,
    );
    await b.close();
  });

  it('gives a second process on the same directory a sibling of its own', async () => {
    const dir = tmp();
    const f = fakeDb();
    const a = await open(join(dir, 'buf'), f);
    const b = await open(join(dir, 'buf'), f);
    expect(a.dir).toBe(join(dir, 'buf'));
    expect(b.dir).toBe(join(dir, 'buf-2'));
    await Promise.all([a.close(), b.close()]);
  });

  it('leaves the gateway running without a buffer, loudly, when its directory cannot be written', async () => {
    const file = join(tmp(), 'not-a-directory');
    writeFileSync(file, '');
    const store = buildConfig(
      {
        store: { url: 'postgres://h/db', outage_buffer: { dir: join(file, 'buffer') } },
        models: simModels(),
      },
      {},
    ).store;
    const log = logs();
    const db = { engine: 'postgres', kysely: {} } as unknown as Db;
    expect(await openStoreOutage(store, db, log)).toBeUndefined();
    expect(log.lines.some((l) => l.level === 'error' && l.msg.startsWith('outage buffer DISABLED'))).toBe(
      true,
    );
  });
});
