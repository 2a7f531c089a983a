import type { ConversationRecord, MessageRecord } from './store.ts';

interface Chunks {
  list: Array<{ seq: number; text: string }>;
  /** Every chunk of the message is in `list` (it was created here, or read whole). */
  complete: boolean;
}

interface Entry {
  conv: ConversationRecord;
  /** Every message of the conversation, when read whole or created here; undefined when only some are known. */
  messages: Map<string, MessageRecord> | undefined;
  /** Idempotency key → the message made under it. */
  keys: Map<string, string>;
  chunks: Map<string, Chunks>;
  /** Writes of this conversation still in the outage buffer: while above 0 it is read from here. */
  pending: number;
  /** Bumped by every local write, so a database read that started before one cannot undo it. */
  version: number;
  /** Text held (message contents and chunks), for the memory bound. */
  bytes: number;
}

/** Conversations kept (least recently used first out; never one with buffered writes). */
const MAX_CONVERSATIONS = 500;
/** Text kept across them (UTF-16 code units, roughly bytes): the memory bound. */
const MAX_CHARS = 64 * 1024 * 1024;

/**
 * The chat app's memory of the conversations this process recently read or wrote, on PostgreSQL only.
 * While the database is unreachable (or a conversation's writes are still buffered for it) reads are
 * answered from here, so a conversation being chatted in keeps working: its history for the next
 * answer, the page's reload, the stream of an answer after it finished (docs/postgres-outage.md).
 */
export class ConversationCache {
  readonly #byId = new Map<string, Entry>();
  readonly #convOf = new Map<string, string>();
  readonly #max: number;
  readonly #maxChars: number;
  #chars = 0;

  constructor(max = MAX_CONVERSATIONS, maxChars = MAX_CHARS) {
    this.#max = max;
    this.#maxChars = maxChars;
  }

  /** Text held now (tests). */
  get chars(): number {
    return this.#chars;
  }

  has(convId: string): boolean {
    return this.#byId.has(convId);
  }

  version(convId: string): number {
    return this.#byId.get(convId)?.version ?? 0;
  }

  pending(convId: string): number {
    return this.#byId.get(convId)?.pending ?? 0;
  }

  conversation(convId: string): ConversationRecord | undefined {
    return this.#touch(convId)?.conv;
  }

  /** Every message, in the database's order (created_at, then id); undefined unless known whole. */
  messages(convId: string): MessageRecord[] | undefined {
    const e = this.#touch(convId);
    if (!e?.messages) return undefined;
    return [...e.messages.values()].sort(
      (a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    );
  }

  complete(convId: string): boolean {
    return this.#byId.get(convId)?.messages !== undefined;
  }

  /** The conversation a known message belongs to. */
  conversationOf(messageId: string): string | undefined {
    return this.#convOf.get(messageId);
  }

  message(messageId: string): MessageRecord | undefined {
    const convId = this.#convOf.get(messageId);
    return convId ? this.#byId.get(convId)?.messages?.get(messageId) : undefined;
  }

  keyed(convId: string, key: string): string | undefined {
    return this.#byId.get(convId)?.keys.get(key);
  }

  chunksAfter(messageId: string, seq: number): Array<{ seq: number; text: string }> | undefined {
    const c = this.#chunksOf(messageId);
    if (!c?.complete) return undefined;
    return c.list.filter((x) => x.seq > seq);
  }

  lastSeq(messageId: string): number | undefined {
    const c = this.#chunksOf(messageId);
    if (!c?.complete) return undefined;
    return c.list.at(-1)?.seq ?? 0;
  }

  // --- filled from database reads (ignored if a local write came in since `version`) -----------------

  fillConversation(conv: ConversationRecord, version: number): void {
    const e = this.#byId.get(conv.id);
    if (e) {
      if (e.version === version) e.conv = conv;
      this.#touch(conv.id);
      return;
    }
    this.#add({
      conv,
      messages: undefined,
      keys: new Map(),
      chunks: new Map(),
      pending: 0,
      version: 0,
      bytes: 0,
    });
  }

  fillMessages(
    convId: string,
    rows: ReadonlyArray<{ message: MessageRecord; idempotencyKey: string | null }>,
    version: number,
  ): void {
    const e = this.#byId.get(convId);
    if (!e || e.version !== version) return;
    if (e.messages) for (const id of e.messages.keys()) this.#convOf.delete(id);
    this.#grow(e, -sumContent(e.messages));
    e.messages = new Map(rows.map((r) => [r.message.id, r.message]));
    for (const r of rows) {
      this.#convOf.set(r.message.id, convId);
      if (r.idempotencyKey) e.keys.set(r.idempotencyKey, r.message.id);
    }
    this.#grow(e, sumContent(e.messages));
    this.#evict(convId);
  }

  fillChunks(messageId: string, list: Array<{ seq: number; text: string }>): void {
    const convId = this.#convOf.get(messageId);
    const e = convId ? this.#byId.get(convId) : undefined;
    if (!e || e.chunks.get(messageId)?.complete) return;
    this.#grow(e, -sumChunks(e.chunks.get(messageId)));
    const c = { list: [...list], complete: true };
    e.chunks.set(messageId, c);
    this.#grow(e, sumChunks(c));
    this.#evict(convId!);
  }

  // --- local writes ---------------------------------------------------------------------------------

  /** A conversation created here: every message of it is known. */
  created(conv: ConversationRecord, messages: readonly MessageRecord[]): void {
    const e: Entry = {
      conv,
      messages: new Map(messages.map((m) => [m.id, m])),
      keys: new Map(),
      chunks: new Map(),
      pending: 0,
      version: 1,
      bytes: 0,
    };
    e.bytes = sumContent(e.messages);
    this.#add(e);
    for (const m of messages) this.#convOf.set(m.id, conv.id);
  }

  /** Messages created here (and so with no chunks yet), and the conversation's new leaf. */
  added(
    convId: string,
    messages: readonly MessageRecord[],
    keys: ReadonlyArray<[string, string]>,
    leafId: string,
    at: Date,
  ): void {
    const e = this.#byId.get(convId);
    if (!e) return;
    e.version++;
    e.conv = { ...e.conv, currentLeafId: leafId, updatedAt: at };
    for (const m of messages) {
      e.messages?.set(m.id, m);
      this.#convOf.set(m.id, convId);
      e.chunks.set(m.id, { list: [], complete: true });
      this.#grow(e, m.content.length);
    }
    for (const [k, id] of keys) e.keys.set(k, id);
    this.#evict(convId);
  }

  patchConversation(convId: string, patch: Partial<ConversationRecord>): void {
    const e = this.#byId.get(convId);
    if (!e) return;
    e.version++;
    e.conv = { ...e.conv, ...patch };
  }

  patchMessage(messageId: string, patch: Partial<MessageRecord>): void {
    const convId = this.#convOf.get(messageId);
    const e = convId ? this.#byId.get(convId) : undefined;
    const m = e?.messages?.get(messageId);
    if (!e || !m) return;
    e.version++;
    const next = { ...m, ...patch };
    e.messages?.set(messageId, next);
    this.#grow(e, next.content.length - m.content.length);
    this.#evict(convId!);
  }

  addChunks(messageId: string, chunks: ReadonlyArray<{ seq: number; text: string }>): void {
    const convId = this.#convOf.get(messageId);
    const e = convId ? this.#byId.get(convId) : undefined;
    if (!e) return;
    const c = e.chunks.get(messageId) ?? { list: [], complete: false };
    const last = c.list.at(-1)?.seq ?? 0;
    for (const x of chunks)
      if (x.seq > last) {
        c.list.push({ seq: x.seq, text: x.text });
        this.#grow(e, x.text.length);
      }
    e.chunks.set(messageId, c);
    this.#evict(convId!);
  }

  delete(convId: string): void {
    const e = this.#byId.get(convId);
    if (!e) return;
    for (const id of e.messages?.keys() ?? []) this.#convOf.delete(id);
    for (const id of e.chunks.keys()) this.#convOf.delete(id);
    this.#chars -= e.bytes;
    this.#byId.delete(convId);
  }

  /**
   * Counts a write of this conversation that may end up buffered; the returned function uncounts it
   * (once it reached the database, or failed). While counted the conversation is never evicted.
   */
  pin(convId: string): () => void {
    const e = this.#byId.get(convId);
    if (!e) return () => {};
    e.pending++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      e.pending--;
    };
  }

  #chunksOf(messageId: string): Chunks | undefined {
    const convId = this.#convOf.get(messageId);
    return convId ? this.#byId.get(convId)?.chunks.get(messageId) : undefined;
  }

  #touch(convId: string): Entry | undefined {
    const e = this.#byId.get(convId);
    if (!e) return undefined;
    // Map order is insertion order: re-inserting makes it the most recently used.
    this.#byId.delete(convId);
    this.#byId.set(convId, e);
    return e;
  }

  #add(e: Entry): void {
    this.delete(e.conv.id);
    this.#byId.set(e.conv.id, e);
    this.#chars += e.bytes;
    this.#evict(e.conv.id);
  }

  #grow(e: Entry, chars: number): void {
    e.bytes += chars;
    this.#chars += chars;
  }

  /** Least recently used out until within both bounds, sparing `keep` and anything with buffered writes. */
  #evict(keep: string): void {
    if (this.#byId.size <= this.#max && this.#chars <= this.#maxChars) return;
    for (const [id, old] of this.#byId) {
      if (this.#byId.size <= this.#max && this.#chars <= this.#maxChars) break;
      if (old.pending === 0 && id !== keep) this.delete(id);
    }
  }
}

function sumContent(messages: Map<string, MessageRecord> | undefined): number {
  let n = 0;
  for (const m of messages?.values() ?? []) n += m.content.length;
  return n;
}

function sumChunks(c: Chunks | undefined): number {
  let n = 0;
  for (const x of c?.list ?? []) n += x.text.length;
  return n;
}
