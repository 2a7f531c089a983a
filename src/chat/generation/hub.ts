import { StoreUnavailableError } from '../../stores/outage/port.ts';
import type { ConversationStore, MessageMeta, MessageStatus } from '../conversations/store.ts';

export type LogEvent =
  | { type: 'chunk'; seq: number; text: string }
  | { type: 'status'; status: MessageStatus; meta: MessageMeta }
  | { type: 'done'; status: MessageStatus; meta: MessageMeta; content: string };

export type Listener = (ev: LogEvent) => void;

interface LiveLog {
  id: string;
  /** Chunks up to here were written by an earlier run (Continue) and live only in the database. */
  baseSeq: number;
  /** In-memory chunks: seq baseSeq + 1 + index. */
  chunks: string[];
  /** The whole answer so far, earlier runs included. */
  text: string;
  status: MessageStatus;
  meta: MessageMeta;
  /** Chunks not yet in the database. */
  unflushed: Array<{ seq: number; text: string }>;
  statusDirty: boolean;
  listeners: Set<Listener>;
  done: boolean;
  flushing: Promise<void> | undefined;
  /** Last database write for this answer: its heartbeat, which other nodes' recovery sweeps read. */
  wroteAt: number;
  /**
   * Finished, but its final state could not be written (PostgreSQL unreachable and the outage buffer at
   * its hard limit): kept here, and retried with the flushes until it is.
   */
  finalPending: boolean;
  retrying?: Promise<void> | undefined;
}

export interface HubOptions {
  /** How often buffered chunks are written; the durability bound is 250 ms. */
  flushMs?: number;
  /** A finished log stays in memory this long for late readers, then they read the database. */
  lingerMs?: number;
  /**
   * A live answer with nothing new to write still touches its row this often: well inside the silence
   * after which other replicas' recovery sweeps call it orphaned (chat.orphan_after_ms).
   */
  heartbeatMs?: number;
  onError?: (err: unknown) => void;
}

/**
 * Live generation logs. Each answer being written has an append-only log of chunks, numbered from 1,
 * kept in memory for its readers and flushed to SQL at least every `flushMs`: that bounds what a crash
 * can lose, and lets a reader on a reload, a second tab or another node catch up by sequence number.
 */
export class GenerationHub {
  readonly #store: ConversationStore;
  readonly #logs = new Map<string, LiveLog>();
  readonly #flushMs: number;
  readonly #lingerMs: number;
  readonly #heartbeatMs: number;
  readonly #onError: (err: unknown) => void;
  #timer: NodeJS.Timeout | undefined;

  constructor(store: ConversationStore, opts: HubOptions = {}) {
    this.#store = store;
    this.#flushMs = opts.flushMs ?? 250;
    this.#lingerMs = opts.lingerMs ?? 30_000;
    this.#heartbeatMs = opts.heartbeatMs ?? 5_000;
    this.#onError = opts.onError ?? (() => {});
  }

  /** Starts (or, for Continue, resumes) the log of an answer whose earlier text and chunks are given. */
  open(id: string, start: { baseSeq: number; text: string; status: MessageStatus; meta: MessageMeta }): void {
    const old = this.#logs.get(id);
    this.#logs.set(id, {
      id,
      baseSeq: start.baseSeq,
      chunks: [],
      text: start.text,
      status: start.status,
      meta: start.meta,
      unflushed: [],
      statusDirty: true,
      listeners: old?.listeners ?? new Set(),
      done: false,
      flushing: undefined,
      wroteAt: Date.now(),
      finalPending: false,
    });
    this.#emit(this.#logs.get(id)!, { type: 'status', status: start.status, meta: start.meta });
    this.#ensureTimer();
  }

  isLive(id: string): boolean {
    const log = this.#logs.get(id);
    return log !== undefined && !log.done;
  }

  /**
   * The final state of an answer finished here, while its log lingers: the truth even when the database
   * has not taken it yet (its final write is retried in the background).
   */
  final(id: string): { status: MessageStatus; content: string; meta: MessageMeta } | undefined {
    const log = this.#logs.get(id);
    return log?.done ? { status: log.status, content: log.text, meta: log.meta } : undefined;
  }

  text(id: string): string | undefined {
    return this.#logs.get(id)?.text;
  }

  append(id: string, text: string): void {
    const log = this.#logs.get(id);
    if (!log || log.done || text === '') return;
    log.chunks.push(text);
    log.text += text;
    const seq = log.baseSeq + log.chunks.length;
    log.unflushed.push({ seq, text });
    this.#emit(log, { type: 'chunk', seq, text });
  }

  setStatus(id: string, status: MessageStatus, meta: MessageMeta): void {
    const log = this.#logs.get(id);
    if (!log || log.done) return;
    log.status = status;
    log.meta = meta;
    log.statusDirty = true;
    this.#emit(log, { type: 'status', status, meta });
  }

  /** Writes what is left and the final row, then tells readers. */
  async finish(id: string, status: MessageStatus, meta: MessageMeta): Promise<void> {
    const log = this.#logs.get(id);
    if (!log || log.done) return;
    log.done = true;
    log.status = status;
    log.meta = meta;
    try {
      await this.#flush(log);
      await this.#store.finish(id, status, log.text, meta);
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      log.finalPending = true;
      this.#ensureTimer();
    }
    this.#emit(log, { type: 'done', status, meta, content: log.text });
    log.listeners.clear();
    this.#linger(log);
  }

  #linger(log: LiveLog): void {
    setTimeout(() => {
      // One whose final state is not written yet stays: it is the only copy.
      if (this.#logs.get(log.id) === log && !log.finalPending) this.#logs.delete(log.id);
    }, this.#lingerMs).unref();
  }

  #retryFinal(log: LiveLog): Promise<void> {
    log.retrying ??= (async () => {
      try {
        await this.#flush(log);
        await this.#store.finish(log.id, log.status, log.text, log.meta);
        log.finalPending = false;
        this.#linger(log);
      } catch (err) {
        if (!(err instanceof StoreUnavailableError)) throw err;
      } finally {
        log.retrying = undefined;
      }
    })();
    return log.retrying;
  }

  /**
   * Sends a reader every chunk after `afterSeq`, then live events, with no gap or duplicate. Returns
   * undefined when no live log is here (the answer is finished, or being written on another node).
   */
  async attach(id: string, afterSeq: number, listener: Listener): Promise<(() => void) | undefined> {
    const log = this.#logs.get(id);
    if (!log) return undefined;
    // Chunks of an earlier run are only in the database; baseSeq is fixed for this log, so reading them
    // first and then the memory tail synchronously leaves no window for a chunk to slip between the two.
    if (afterSeq < log.baseSeq) {
      for (const c of await this.#store.chunksAfter(id, afterSeq)) {
        if (c.seq > log.baseSeq) break;
        listener({ type: 'chunk', seq: c.seq, text: c.text });
      }
    }
    if (this.#logs.get(id) !== log) return this.attach(id, Math.max(afterSeq, log.baseSeq), listener);
    const from = Math.max(afterSeq, log.baseSeq) - log.baseSeq;
    for (let i = from; i < log.chunks.length; i++)
      listener({ type: 'chunk', seq: log.baseSeq + i + 1, text: log.chunks[i]! });
    if (log.done) {
      listener({ type: 'done', status: log.status, meta: log.meta, content: log.text });
      return () => {};
    }
    listener({ type: 'status', status: log.status, meta: log.meta });
    log.listeners.add(listener);
    return () => log.listeners.delete(listener);
  }

  #emit(log: LiveLog, ev: LogEvent): void {
    for (const l of log.listeners) {
      try {
        l(ev);
      } catch (err) {
        this.#onError(err);
      }
    }
  }

  #ensureTimer(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      let live = 0;
      for (const log of this.#logs.values()) {
        if (log.done) {
          if (log.finalPending) {
            live++;
            this.#retryFinal(log).catch(this.#onError);
          }
          continue;
        }
        live++;
        this.#flush(log).catch(this.#onError);
      }
      if (live === 0) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    }, this.#flushMs);
    this.#timer.unref();
  }

  async #flush(log: LiveLog): Promise<void> {
    // One flush at a time per log, so chunks reach the database in order.
    while (log.flushing) await log.flushing;
    if (log.unflushed.length === 0 && !log.statusDirty) {
      if (!log.done && Date.now() - log.wroteAt >= this.#heartbeatMs) {
        log.wroteAt = Date.now();
        await this.#store.touch(log.id);
      }
      return;
    }
    log.wroteAt = Date.now();
    const chunks = log.unflushed;
    log.unflushed = [];
    const statusDirty = log.statusDirty;
    log.statusDirty = false;
    log.flushing = (async () => {
      try {
        await this.#store.appendChunks(log.id, chunks);
        if (statusDirty && !log.done) await this.#store.setStatus(log.id, log.status, log.meta);
      } catch (err) {
        // Put them back: the next tick retries, and order is kept because nothing else flushes meanwhile.
        log.unflushed = [...chunks, ...log.unflushed];
        log.statusDirty ||= statusDirty;
        throw err;
      } finally {
        log.flushing = undefined;
      }
    })();
    await log.flushing;
  }

  /** Flushes every live log (shutdown). */
  async flushAll(): Promise<void> {
    await Promise.allSettled(
      [...this.#logs.values()].map((l) => (l.finalPending ? this.#retryFinal(l) : this.#flush(l))),
    );
  }

  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
