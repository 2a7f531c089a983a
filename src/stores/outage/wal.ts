import { type FileHandle, mkdir, open, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** One buffered write: what to do (`kind` + `data`), in which order (`seq`), and under which key. */
export interface WalRecord {
  /** Strictly increasing for the life of the directory, across restarts and truncations. */
  seq: number;
  /** Names the replay handler that applies it (e.g. `chat.send`). */
  kind: string;
  /** Idempotency key: what makes applying it twice the same as applying it once (docs/postgres-outage.md). */
  key: string;
  /** Epoch ms it was buffered. */
  at: number;
  data: unknown;
}

/**
 * `always`: every append is on disk (fdatasync) before the caller is answered, batched so that appends
 * made together share one sync (group commit). `never`: written to the OS at once but synced when the OS
 * decides: survives a crash of the process, not of the machine.
 */
export type FsyncPolicy = 'always' | 'never';

const WAL = 'wal.jsonl';
const ACK = 'ack';
/** Rewrite the file without its applied head once that head is this big and most of the file. */
const COMPACT_BYTES = 1024 * 1024;

interface Held {
  rec: WalRecord;
  bytes: number;
}

/**
 * The outage buffer's file: JSON lines appended in sequence order, plus an `ack` file holding the last
 * sequence number applied to the database. Applied records are dropped from the head (the file is
 * rewritten once the dropped part is large, and truncated when nothing is left), so the file holds what
 * still has to reach the database. Every file operation runs in one chain, in call order.
 */
export class WalFile {
  readonly dir: string;
  readonly #fsync: FsyncPolicy;
  #fh: FileHandle;
  #nextSeq: number;
  /** Durable and not yet applied, in order. */
  #records: Held[];
  #head = 0;
  /** Appended but not yet written: the next batch. */
  #batch: Array<{ held: Held; line: string; done: (err?: unknown) => void }> = [];
  #ops: Promise<unknown> = Promise.resolve();
  #bytes: number;
  /** Bytes of records waiting to be written (counted against the bound too). */
  #batchBytes = 0;
  /** Bytes in the file before the first unapplied record. */
  #appliedBytes = 0;
  #ackedSeq: number;
  #ackWritten: number;
  #closed = false;

  private constructor(dir: string, fsync: FsyncPolicy, fh: FileHandle, records: Held[], acked: number) {
    this.dir = dir;
    this.#fsync = fsync;
    this.#fh = fh;
    this.#records = records;
    this.#bytes = records.reduce((n, r) => n + r.bytes, 0);
    this.#ackedSeq = acked;
    this.#ackWritten = acked;
    this.#nextSeq = Math.max(acked, records.at(-1)?.rec.seq ?? 0) + 1;
  }

  /**
   * Opens (creating) the log in `dir` and loads what it still holds. A torn last line (the process died
   * mid-write, so its writer was never answered) is left out; any other unreadable line is counted in
   * `corrupt` so the caller can say so.
   */
  static async open(
    dir: string,
    fsync: FsyncPolicy,
  ): Promise<{ wal: WalFile; corrupt: number; torn: boolean }> {
    await mkdir(dir, { recursive: true });
    const path = join(dir, WAL);
    const acked = Number.parseInt(await readFile(join(dir, ACK), 'utf8').catch(() => '0'), 10) || 0;
    const text = await readFile(path, 'utf8').catch((err: unknown) => {
      if ((err as { code?: string }).code === 'ENOENT') return '';
      throw err;
    });
    const lines = text.split('\n');
    const last = lines.pop() ?? '';
    const torn = last !== '';
    const records: Held[] = [];
    let corrupt = 0;
    let dropped = torn;
    for (const line of lines) {
      if (line === '') continue;
      const rec = parse(line);
      if (!rec) {
        corrupt++;
        dropped = true;
      } else if (rec.seq <= acked || rec.seq <= (records.at(-1)?.rec.seq ?? 0)) dropped = true;
      else records.push({ rec, bytes: Buffer.byteLength(line) + 1 });
    }
    // Rewritten clean, so an append never lands after half a line.
    if (dropped) await writeAtomically(path, records.map((r) => `${JSON.stringify(r.rec)}\n`).join(''));
    const fh = await open(path, 'a');
    return { wal: new WalFile(dir, fsync, fh, records, acked), corrupt, torn };
  }

  /** Records and bytes not yet applied (written or about to be). */
  get entries(): number {
    return this.#records.length - this.#head + this.#batch.length;
  }

  get bytes(): number {
    return this.#bytes + this.#batchBytes;
  }

  /** Epoch ms of the oldest record not yet applied. */
  get oldestAt(): number | undefined {
    return this.#records[this.#head]?.rec.at ?? this.#batch[0]?.held.rec.at;
  }

  /** The size a record would take in the file. */
  static sizeOf(kind: string, key: string, data: unknown): number {
    // The envelope's fixed fields take about this much; exactness is not needed for a bound.
    return (
      Buffer.byteLength(JSON.stringify(data) ?? '') + Buffer.byteLength(kind) + Buffer.byteLength(key) + 64
    );
  }

  /** Appends a record; resolves once it is written (and synced, under `always`). */
  append(kind: string, key: string, data: unknown, at: number): Promise<WalRecord> {
    if (this.#closed) return Promise.reject(new Error('the outage buffer is closed'));
    const rec: WalRecord = { seq: this.#nextSeq++, kind, key, at, data };
    const line = `${JSON.stringify(rec)}\n`;
    const held = { rec, bytes: Buffer.byteLength(line) };
    this.#batchBytes += held.bytes;
    return new Promise((resolve, reject) => {
      this.#batch.push({ held, line, done: (err) => (err ? reject(err) : resolve(rec)) });
      // One write (and one sync) per chain step takes everything appended meanwhile.
      if (this.#batch.length === 1) this.#chain(() => this.#writeBatch());
    });
  }

  /** The seq the next append gets (so a caller can key something on it before appending). */
  get nextSeq(): number {
    return this.#nextSeq;
  }

  /** The first durable record after `seq` (applied but unacknowledged records are still held). */
  next(seq: number): WalRecord | undefined {
    for (let i = this.#head; i < this.#records.length; i++) {
      const rec = this.#records[i]!.rec;
      if (rec.seq > seq) return rec;
    }
    return undefined;
  }

  /**
   * Marks everything up to `seq` applied: the ack file is written first, and only then are the records
   * let go, so nothing counts as drained before a restart would also see it drained. Once the file is
   * mostly applied records it is rewritten without them, and once nothing is left it is truncated.
   */
  async ack(seq: number): Promise<void> {
    if (seq <= this.#ackedSeq) return;
    this.#ackedSeq = seq;
    await this.#chain(async () => {
      if (this.#ackedSeq === this.#ackWritten) return;
      await writeAtomically(join(this.dir, ACK), String(this.#ackedSeq));
      this.#ackWritten = this.#ackedSeq;
    });
    while (this.#head < this.#records.length && this.#records[this.#head]!.rec.seq <= seq) {
      const h = this.#records[this.#head++]!;
      this.#bytes -= h.bytes;
      this.#appliedBytes += h.bytes;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#records.length) {
      this.#records = this.#records.slice(this.#head);
      this.#head = 0;
    }
    await this.#chain(async () => {
      const empty = this.#head >= this.#records.length && this.#batch.length === 0;
      if (empty && this.#appliedBytes > 0) await this.#rewrite([]);
      else if (this.#appliedBytes >= COMPACT_BYTES && this.#appliedBytes > this.#bytes)
        await this.#rewrite(this.#records.slice(this.#head));
    });
  }

  /** Waits for every pending file operation. */
  settled(): Promise<void> {
    return this.#chain(async () => {});
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.settled();
    this.#closed = true;
    await this.#fh.close();
  }

  #chain(fn: () => Promise<void>): Promise<void> {
    const run = this.#ops.then(fn);
    this.#ops = run.catch(() => {});
    return run;
  }

  async #writeBatch(): Promise<void> {
    const batch = this.#batch;
    this.#batch = [];
    if (batch.length === 0) return;
    const size = batch.reduce((n, b) => n + b.held.bytes, 0);
    this.#batchBytes -= size;
    try {
      await this.#fh.write(batch.map((b) => b.line).join(''));
      if (this.#fsync === 'always') await this.#fh.datasync();
    } catch (err) {
      for (const b of batch) b.done(err);
      return;
    }
    for (const b of batch) this.#records.push(b.held);
    this.#bytes += size;
    for (const b of batch) b.done();
  }

  /** Replaces the file by `keep` (written to a new file, synced, renamed over the old one). */
  async #rewrite(keep: Held[]): Promise<void> {
    const path = join(this.dir, WAL);
    await this.#fh.close();
    await writeAtomically(path, keep.map((h) => `${JSON.stringify(h.rec)}\n`).join(''));
    this.#fh = await open(path, 'a');
    this.#appliedBytes = 0;
  }
}

function parse(line: string): WalRecord | undefined {
  try {
    const v = JSON.parse(line) as Partial<WalRecord>;
    if (
      typeof v.seq === 'number' &&
      typeof v.kind === 'string' &&
      typeof v.key === 'string' &&
      typeof v.at === 'number'
    )
      return { seq: v.seq, kind: v.kind, key: v.key, at: v.at, data: v.data };
  } catch {}
  return undefined;
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

/**
 * Takes `dir` for this process with a lock file naming its pid and host. Another live process holding
 * it gets undefined (the caller tries the next directory); a file left by a dead process on this host is
 * taken over, together with whatever that process had buffered. A file from another host (a volume
 * shared between containers, whose pids mean nothing here) is always left alone.
 */
export async function lockDir(dir: string): Promise<(() => Promise<void>) | undefined> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'lock');
  const me = `${process.pid}@${hostname()}`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(file, `${me}\n`, { flag: 'wx' });
      held.add(file);
      return async () => {
        held.delete(file);
        await unlink(file).catch(() => {});
      };
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST') throw error;
    }
    if (held.has(file)) return undefined;
    const [pidText, host = hostname()] = (await readFile(file, 'utf8').catch(() => '')).trim().split('@');
    const holder = Number.parseInt(pidText ?? '', 10);
    if (host !== hostname()) return undefined;
    if (Number.isInteger(holder) && holder !== process.pid && isAlive(holder)) return undefined;
    await unlink(file).catch(() => {});
  }
  return undefined;
}

/** Lock files this process holds (a same-pid file left by an earlier run is not one of them). */
const held = new Set<string>();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
}
