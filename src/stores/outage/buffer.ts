import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Kysely, sql } from 'kysely';
import { fullJitter } from '../../resilience/backoff.ts';
import type { Rng } from '../../resilience/types.ts';
import type { Database } from '../database.ts';
import { isOutageError, StoreTimeoutError, withTimeout } from './classify.ts';
import { admits, bufferState, onReplayError } from './policy.ts';
import {
  type BufferedWrite,
  type BufferState,
  type StoreGuard,
  type StoreHealth,
  StoreUnavailableError,
  WriteConflictError,
} from './port.ts';
import { type FsyncPolicy, lockDir, WalFile, type WalRecord } from './wal.ts';

/**
 * Applies one buffered write. Must be idempotent under the record's key (INSERT … ON CONFLICT DO
 * NOTHING, updates that set values rather than add to them): a replay after a crash may repeat the
 * last few records the database already has.
 */
export type ReplayHandler = (db: Kysely<Database>, data: unknown) => Promise<void>;

export interface OutageLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface OutageBufferOptions {
  db: Kysely<Database>;
  /**
   * Where the buffer lives. A directory another live process holds is skipped for `dir-2`, `dir-3`…,
   * so replicas started in one working directory each get their own; one left by a dead process is
   * taken over, with what it holds.
   */
  dir: string;
  maxBytes: number;
  maxEntries: number;
  fsync: FsyncPolicy;
  /** How long a query may take before the database counts as unreachable. */
  timeoutMs: number;
  /** Replay handlers by record kind; every kind ever buffered must have one. */
  handlers: Readonly<Record<string, ReplayHandler>>;
  log: OutageLog;
  now?: () => number;
  rng?: Rng;
  /** Backoff between tries while the database is unreachable (full jitter). */
  backoff?: { baseMs: number; capMs: number };
  /** Asks whether the database answers (default `select 1`). */
  probe?: () => Promise<unknown>;
  /**
   * Called when a query timed out (rather than failed): the connections it may be stuck on should be
   * dropped (Db.resetConnections), or they hold the pool until TCP gives up.
   */
  onTimeout?: () => void;
}

/** Records applied between two writes of the ack file (a crash repeats at most these, idempotently). */
const ACK_EVERY = 64;
const MAX_DIRS = 64;

/**
 * The PostgreSQL outage layer: a guard for reads, and writes that go to the database when it answers
 * and to a bounded write-ahead buffer on local disk when it does not, replayed in order by a background
 * drainer with backoff (docs/postgres-outage.md). While anything is buffered every write is buffered,
 * so nothing overtakes what is waiting.
 */
export class OutageBuffer implements StoreGuard {
  readonly #o: OutageBufferOptions;
  readonly #wal: WalFile;
  readonly #unlock: () => Promise<void>;
  readonly #now: () => number;
  readonly #rng: Rng;
  readonly #onApplied = new Map<number, () => void>();
  #down = false;
  #reachableSince = 0;
  #logged: { state: BufferState; down: boolean } = { state: 'ok', down: false };
  #replayed = 0;
  #refused = 0;
  #rejected = 0;
  #draining: Promise<void> | undefined;
  readonly #stop = new AbortController();
  #closed = false;

  private constructor(o: OutageBufferOptions, wal: WalFile, unlock: () => Promise<void>) {
    this.#o = o;
    this.#wal = wal;
    this.#unlock = unlock;
    this.#now = o.now ?? Date.now;
    this.#rng = o.rng ?? Math.random;
  }

  static async open(o: OutageBufferOptions): Promise<OutageBuffer> {
    for (let i = 1; i <= MAX_DIRS; i++) {
      const dir = i === 1 ? o.dir : `${o.dir}-${i}`;
      const unlock = await lockDir(dir);
      if (!unlock) continue;
      try {
        const { wal, corrupt, torn } = await WalFile.open(dir, o.fsync);
        if (corrupt > 0)
          o.log.error(
            { dir, corrupt },
            'outage buffer: unreadable records in the write-ahead file were skipped (disk corruption?)',
          );
        if (torn)
          o.log.warn(
            { dir },
            'outage buffer: a half-written last record was dropped (its writer was never answered)',
          );
        const buffer = new OutageBuffer({ ...o, dir }, wal, unlock);
        buffer.#logged = { state: buffer.state, down: false };
        return buffer;
      } catch (err) {
        await unlock();
        throw err;
      }
    }
    throw new Error(`outage buffer: ${o.dir} and ${MAX_DIRS - 1} siblings are all held by live processes`);
  }

  get dir(): string {
    return this.#wal.dir;
  }

  get state(): BufferState {
    return bufferState(this.#wal, this.#o);
  }

  get down(): boolean {
    return this.#down;
  }

  get reachableSince(): number {
    return this.#reachableSince;
  }

  health(): StoreHealth {
    const oldestAt = this.#wal.oldestAt;
    return {
      engine: 'postgres',
      reachable: !this.#down,
      state: this.state,
      entries: this.#wal.entries,
      bytes: this.#wal.bytes,
      maxEntries: this.#o.maxEntries,
      maxBytes: this.#o.maxBytes,
      ...(oldestAt !== undefined ? { oldestAt } : {}),
      replayed: this.#replayed,
      refused: this.#refused,
      rejected: this.#rejected,
      dir: this.#wal.dir,
    };
  }

  async read<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#down) throw new StoreUnavailableError('unreachable');
    try {
      return await withTimeout(fn, this.#o.timeoutMs);
    } catch (err) {
      if (!isOutageError(err)) throw err;
      this.#markDown(err);
      throw new StoreUnavailableError('unreachable', { cause: err });
    }
  }

  async write(w: BufferedWrite): Promise<'stored' | 'buffered'> {
    const handler = this.#o.handlers[w.kind];
    if (!handler) throw new Error(`outage buffer: no replay handler for ${w.kind}`);
    if (this.#wal.entries === 0 && !this.#down) {
      try {
        await withTimeout(() => handler(this.#o.db, w.data), this.#o.timeoutMs);
        w.onApplied?.();
        return 'stored';
      } catch (err) {
        if (!isOutageError(err)) throw err;
        this.#markDown(err);
      }
    }
    await this.#append(w);
    return 'buffered';
  }

  /**
   * Startup: replays what an earlier run left before anything else reads the database. Returns how many
   * records were replayed; if the database fails meanwhile the rest drains in the background.
   */
  async replayPending(): Promise<number> {
    const before = this.#replayed;
    if (this.#wal.entries > 0) {
      this.#o.log.warn(
        { dir: this.dir, entries: this.#wal.entries, bytes: this.#wal.bytes },
        'outage buffer: replaying writes an earlier run buffered while PostgreSQL was unreachable',
      );
      await this.#kick();
    }
    return this.#replayed - before;
  }

  /** Resolves once nothing is buffered and the database answers (tests, shutdown). */
  async drained(): Promise<void> {
    while (!this.#closed && (this.#wal.entries > 0 || this.#down)) {
      await (this.#draining ?? this.#kick());
      if (this.#wal.entries > 0 || this.#down) await sleep(20);
    }
  }

  /** Stops the drainer; what is still buffered stays on disk for the next start. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stop.abort();
    await this.#draining?.catch(() => {});
    await this.#wal.close();
    await this.#unlock();
  }

  async #append(w: BufferedWrite): Promise<void> {
    if (this.#closed) throw new StoreUnavailableError('unreachable');
    const size = WalFile.sizeOf(w.kind, w.key, w.data);
    if (!admits(this.#wal, this.#o, size, w.admission)) {
      this.#refused++;
      this.#note();
      // Above the high-water mark the state says `full` (logged once); a refusal at the hard limit,
      // where even running answers cannot write, is worth its own line each time.
      if (w.admission === 'continuing')
        this.#o.log.error(
          { kind: w.kind, key: w.key, entries: this.#wal.entries, bytes: this.#wal.bytes },
          'outage buffer: hard limit reached, a write of work already accepted is kept in memory only',
        );
      throw new StoreUnavailableError('buffer_full');
    }
    const seq = this.#wal.nextSeq;
    if (w.onApplied) this.#onApplied.set(seq, w.onApplied);
    try {
      await this.#wal.append(w.kind, w.key, w.data, this.#now());
    } catch (err) {
      this.#onApplied.delete(seq);
      this.#refused++;
      this.#o.log.error({ err, dir: this.dir }, 'outage buffer: the write-ahead file could not be written');
      throw new StoreUnavailableError('buffer_failed', { cause: err });
    }
    this.#note();
    void this.#kick();
  }

  #kick(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#draining ??= this.#drain()
      .catch((err: unknown) => this.#o.log.error({ err }, 'outage buffer: drainer failed'))
      .finally(() => {
        this.#draining = undefined;
        // Something arrived after the loop's last look.
        if (!this.#closed && (this.#wal.next(0) || this.#down)) void this.#kick();
      });
    return this.#draining;
  }

  async #drain(): Promise<void> {
    let failures = 0;
    let tries = 0;
    let applied = 0;
    let last = 0;
    const ack = async (): Promise<void> => {
      if (applied === 0) return;
      applied = 0;
      const callbacks: Array<() => void> = [];
      for (const [seq, cb] of this.#onApplied)
        if (seq <= last) {
          callbacks.push(cb);
          this.#onApplied.delete(seq);
        }
      await this.#wal.ack(last);
      for (const cb of callbacks) cb();
      this.#note();
    };
    const wait = async (): Promise<void> => {
      failures++;
      const ms = fullJitter(failures, this.#o.backoff ?? { baseMs: 250, capMs: 5_000 }, this.#rng);
      await sleep(ms, undefined, { signal: this.#stop.signal }).catch(() => {});
    };
    while (!this.#closed) {
      const rec = this.#wal.next(last);
      if (!rec) {
        await ack();
        if (this.#wal.next(last)) continue;
        // Records appended but not yet on disk: they show up once written.
        if (this.#wal.entries > 0) {
          await this.#wal.settled();
          if (this.#wal.next(last)) continue;
        }
        if (!this.#down) return;
        try {
          await withTimeout(this.#o.probe ?? (() => sql`select 1`.execute(this.#o.db)), this.#o.timeoutMs);
          this.#markUp();
          failures = 0;
        } catch (err) {
          if (err instanceof StoreTimeoutError) this.#o.onTimeout?.();
          else if (!isOutageError(err)) this.#o.log.error({ err }, 'outage buffer: probe failed');
          await wait();
        }
        continue;
      }
      const verdict = await this.#apply(rec, tries);
      if (verdict === 'outage') {
        await ack();
        await wait();
        continue;
      }
      if (verdict === 'retry') {
        tries++;
        await sleep(50 * tries, undefined, { signal: this.#stop.signal }).catch(() => {});
        continue;
      }
      failures = 0;
      tries = 0;
      last = rec.seq;
      applied++;
      if (verdict === 'applied') this.#replayed++;
      if (this.#down) this.#markUp();
      if (applied >= ACK_EVERY) await ack();
    }
    await ack();
  }

  async #apply(rec: WalRecord, tries: number): Promise<'applied' | 'rejected' | 'retry' | 'outage'> {
    const handler = this.#o.handlers[rec.kind];
    if (!handler) {
      this.#rejected++;
      this.#o.log.error(
        { kind: rec.kind, key: rec.key, seq: rec.seq },
        'outage buffer: no replay handler for this record; it is set aside (still in the write-ahead file until it drains)',
      );
      return 'rejected';
    }
    try {
      await withTimeout(() => handler(this.#o.db, rec.data), this.#o.timeoutMs);
      return 'applied';
    } catch (err) {
      if (isOutageError(err)) {
        this.#markDown(err);
        return 'outage';
      }
      const code = (err as { code?: unknown }).code;
      const decision = onReplayError(
        typeof code === 'string' ? code : undefined,
        tries + 1,
        err instanceof WriteConflictError,
      );
      if (decision === 'retry') return 'retry';
      this.#rejected++;
      // Not silent: the record, its key and why are logged, and counted in the metrics.
      this.#o.log.error(
        { err, kind: rec.kind, key: rec.key, seq: rec.seq, bufferedAt: new Date(rec.at).toISOString() },
        'outage buffer: the database rejected a replayed write; it is skipped',
      );
      return 'rejected';
    }
  }

  #markDown(err: unknown): void {
    if (err instanceof StoreTimeoutError) this.#o.onTimeout?.();
    if (this.#down) return;
    this.#down = true;
    this.#note(err);
    void this.#kick();
  }

  #markUp(): void {
    if (!this.#down) return;
    this.#down = false;
    this.#reachableSince = this.#now();
    this.#note();
  }

  /** Logs each change of reachability or buffer state once (never once per write). */
  #note(err?: unknown): void {
    const now = { state: this.state, down: this.#down };
    const was = this.#logged;
    if (now.state === was.state && now.down === was.down) return;
    this.#logged = now;
    const fields = {
      dir: this.dir,
      state: now.state,
      entries: this.#wal.entries,
      bytes: this.#wal.bytes,
      ...(err ? { err } : {}),
    };
    if (now.down && !was.down)
      this.#o.log.error(
        fields,
        'PostgreSQL unreachable: writes go to the local outage buffer until it answers',
      );
    if (now.state === 'full' && was.state !== 'full')
      this.#o.log.error(
        { ...fields, maxBytes: this.#o.maxBytes, maxEntries: this.#o.maxEntries },
        'outage buffer FULL: new chat messages are refused until PostgreSQL answers and the buffer drains',
      );
    if (was.state === 'full' && now.state === 'buffering')
      this.#o.log.warn(
        fields,
        'outage buffer below its high-water mark again: new chat messages are accepted',
      );
    if (!now.down && was.down)
      this.#o.log.warn(fields, 'PostgreSQL answers again: replaying the outage buffer');
    if (now.state === 'ok' && was.state !== 'ok')
      this.#o.log.info(
        { dir: this.dir, replayed: this.#replayed, rejected: this.#rejected },
        'outage buffer drained',
      );
  }
}

/** The buffer's directory when the config names none: beside the embedded store's data. */
export function defaultBufferDir(dataDir: string): string {
  return join(dataDir, 'outage-buffer');
}
