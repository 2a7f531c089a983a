import { type Kysely, type Selectable, sql } from 'kysely';
import { randomId } from '../../core/ids.ts';
import type { ConversationsTable, Database, MessagesTable } from '../../stores/database.ts';
import { hasCode, jsonb } from '../../stores/database.ts';
import { type StoreGuard, StoreUnavailableError, WriteConflictError } from '../../stores/outage/port.ts';
import { ChatError } from '../errors.ts';
import { ConversationCache } from './cache.ts';
// The writes themselves, shared with the outage buffer's replay: one code whether they run now or later.
import {
  CHAT_KINDS,
  type InsertMessagesData,
  type NewMessageData,
  appendChunks as writeChunks,
  finish as writeFinish,
  setStatus as writeStatus,
  setSummary as writeSummary,
} from './replay.ts';

export type MessageRole = 'system' | 'user' | 'assistant';
export type MessageStatus = 'queued' | 'streaming' | 'complete' | 'incomplete' | 'failed';
export const LIVE_STATUSES: readonly MessageStatus[] = ['queued', 'streaming'];

export interface MessageMeta {
  model?: string;
  deployment?: string;
  /** Part or all of the answer came from another deployment than the first one tried. */
  failedOver?: boolean;
  finishReason?: string;
  usage?: { inputTokens: number; outputTokens: number };
  error?: { code: string; message: string };
  queue?: { position: number; etaMs: number };
  /** Epoch ms of an automatic retry the gateway asked for (retry-after). */
  retryAt?: number;
  /** The server stopped while this answer was being written. */
  interrupted?: boolean;
  /** Stopped by the user. */
  stopped?: boolean;
  /** The conversation's opening message, from the character card. */
  greeting?: boolean;
  /**
   * On the newest turn a summary covers: the summary of every turn up to and including this one, made
   * when they no longer fitted the model's context (chat.overflow: summarise) and reused until more drop.
   */
  summary?: string;
}

export interface MessageRecord {
  id: string;
  conversationId: string;
  parentId: string | null;
  role: MessageRole;
  content: string;
  status: MessageStatus;
  meta: MessageMeta;
  createdAt: Date;
}

export interface Persona {
  name: string;
  description: string;
}

export interface ConversationRecord {
  id: string;
  userId: string;
  characterId: string | null;
  title: string;
  model: string;
  persona: Persona | null;
  currentLeafId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface Sent {
  userMessage: MessageRecord;
  assistantMessage: MessageRecord;
  /** The idempotency key had been used: these are the messages the first send made. */
  replay: boolean;
  /** Kept in the outage buffer, not yet in the database (PostgreSQL unreachable). */
  delayed?: boolean;
}

/**
 * Conversations as trees of message rows (parent ids), and the durable side of generation jobs.
 *
 * On PostgreSQL it gets the outage guard (docs/postgres-outage.md): writes go through the outage buffer
 * (directly while the database answers), and the conversations this process works with are kept in a
 * cache that answers reads while the database is unreachable or their writes are still buffered. On
 * PGlite there is no guard and every method is a plain query.
 */
export class ConversationStore {
  readonly #db: Kysely<Database>;
  readonly #guard: StoreGuard | undefined;
  readonly #cache: ConversationCache | undefined;

  constructor(db: Kysely<Database>, guard?: StoreGuard) {
    this.#db = db;
    this.#guard = guard;
    this.#cache = guard ? new ConversationCache() : undefined;
  }

  /** Whether saving is behind: writes are waiting in the outage buffer, or the database is unreachable. */
  get savingDelayed(): boolean {
    return this.#guard !== undefined && (this.#guard.down || this.#guard.state !== 'ok');
  }

  async list(userId: string): Promise<ConversationRecord[]> {
    const rows = await this.#plain(() =>
      this.#db
        .selectFrom('conversations')
        .selectAll()
        .where('user_id', '=', userId)
        .orderBy('updated_at', 'desc')
        .execute(),
    );
    return rows.map(toConversation);
  }

  async create(input: {
    userId: string;
    characterId: string | null;
    model: string;
    persona: Persona | null;
    title: string;
    greeting?: string;
  }): Promise<{ conversation: ConversationRecord; messages: MessageRecord[] }> {
    const created = await this.#plain(() =>
      this.#db.transaction().execute(async (tx) => {
        const id = randomId('cnv_', 20);
        const greetingId = input.greeting ? randomId('msg_', 20) : null;
        const row = await tx
          .insertInto('conversations')
          .values({
            id,
            user_id: input.userId,
            character_id: input.characterId,
            title: input.title,
            model: input.model,
            persona: input.persona ? jsonb(input.persona) : null,
            current_leaf_id: greetingId,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        const messages: MessageRecord[] = [];
        if (greetingId && input.greeting) {
          const m = await tx
            .insertInto('messages')
            .values({
              id: greetingId,
              conversation_id: id,
              parent_id: null,
              role: 'assistant',
              content: input.greeting,
              status: 'complete',
              meta: jsonb({ greeting: true }),
            })
            .returningAll()
            .executeTakeFirstOrThrow();
          messages.push(toMessage(m));
        }
        return { conversation: toConversation(row), messages };
      }),
    );
    this.#cache?.created(created.conversation, created.messages);
    return created;
  }

  /** The user's conversation; 404 for anyone else's. */
  async get(id: string, userId: string): Promise<ConversationRecord> {
    const cache = this.#cache;
    return this.#read(
      id,
      async () => {
        const version = cache?.version(id) ?? 0;
        const row = await this.#db
          .selectFrom('conversations')
          .selectAll()
          .where('id', '=', id)
          .where('user_id', '=', userId)
          .executeTakeFirst();
        if (!row) throw new ChatError('not_found');
        const conv = toConversation(row);
        cache?.fillConversation(conv, version);
        return conv;
      },
      () => {
        const conv = cache?.conversation(id);
        if (conv && conv.userId !== userId) throw new ChatError('not_found');
        return conv;
      },
    );
  }

  async messages(conversationId: string): Promise<MessageRecord[]> {
    const cache = this.#cache;
    return this.#read(
      conversationId,
      async () => {
        const version = cache?.version(conversationId) ?? 0;
        const rows = await this.#db
          .selectFrom('messages')
          .selectAll()
          .where('conversation_id', '=', conversationId)
          .orderBy('created_at')
          .orderBy('id')
          .execute();
        const messages = rows.map(toMessage);
        cache?.fillMessages(
          conversationId,
          rows.map((r, i) => ({ message: messages[i]!, idempotencyKey: r.idempotency_key })),
          version,
        );
        return messages;
      },
      () => cache?.messages(conversationId),
    );
  }

  async update(
    id: string,
    userId: string,
    patch: { title?: string | undefined; currentLeafId?: string | undefined },
  ): Promise<ConversationRecord> {
    const conv = await this.get(id, userId);
    if (patch.currentLeafId !== undefined) {
      const leafId = patch.currentLeafId;
      const known = this.#cache?.conversationOf(leafId) === id;
      const m =
        known ||
        (await this.#read(
          id,
          () =>
            this.#db
              .selectFrom('messages')
              .select('id')
              .where('id', '=', leafId)
              .where('conversation_id', '=', id)
              .executeTakeFirst(),
          () => (this.#cache?.complete(id) ? null : undefined),
        ));
      if (!m) throw new ChatError('invalid_request', 'currentLeafId: no such message in this conversation');
    }
    if (!this.#guard) {
      const row = await this.#db
        .updateTable('conversations')
        .set({
          ...(patch.title !== undefined ? { title: patch.title } : {}),
          ...(patch.currentLeafId !== undefined ? { current_leaf_id: patch.currentLeafId } : {}),
          updated_at: new Date(),
        })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirstOrThrow();
      return toConversation(row);
    }
    const at = new Date();
    await this.#write(id, 'new', {
      kind: CHAT_KINDS.patchConversation,
      key: `conversation:${id}:${at.getTime()}`,
      data: {
        id,
        ...(patch.title !== undefined ? { title: patch.title } : {}),
        ...(patch.currentLeafId !== undefined ? { currentLeafId: patch.currentLeafId } : {}),
        at: at.getTime(),
      },
    });
    const next: ConversationRecord = {
      ...conv,
      ...(patch.title !== undefined ? { title: patch.title } : {}),
      ...(patch.currentLeafId !== undefined ? { currentLeafId: patch.currentLeafId } : {}),
      updatedAt: at,
    };
    this.#cache?.patchConversation(id, next);
    return next;
  }

  async delete(id: string, userId: string): Promise<void> {
    await this.get(id, userId);
    await this.#plain(() => this.#db.deleteFrom('conversations').where('id', '=', id).execute());
    this.#cache?.delete(id);
  }

  /**
   * Stores the user's message and its (queued) answer in one transaction, before any model is called. The
   * client's idempotency key makes a double submit or a retry return the first send's messages instead.
   */
  async send(input: {
    conversation: ConversationRecord;
    content: string;
    parentId: string | null;
    idempotencyKey: string;
  }): Promise<Sent> {
    if (this.#guard) return this.#sendGuarded(input);
    const conv = input.conversation;
    const existing = await this.#replay(conv.id, input.idempotencyKey);
    if (existing) return existing;
    try {
      return await this.#db.transaction().execute(async (tx) => {
        if (input.parentId !== null) {
          const parent = await tx
            .selectFrom('messages')
            .select(['id', 'role'])
            .where('id', '=', input.parentId)
            .where('conversation_id', '=', conv.id)
            .executeTakeFirst();
          if (!parent)
            throw new ChatError('invalid_request', 'parentId: no such message in this conversation');
        }
        // Explicit, distinct times: now() is the transaction's start, so both rows would tie and their
        // order (and an export's) would fall to their random ids.
        const at = Date.now();
        const user = await tx
          .insertInto('messages')
          .values({
            id: randomId('msg_', 20),
            conversation_id: conv.id,
            parent_id: input.parentId,
            role: 'user',
            content: input.content,
            status: 'complete',
            idempotency_key: input.idempotencyKey,
            meta: jsonb({}),
            created_at: new Date(at),
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        const assistant = await insertAnswer(tx, conv, user.id, null, new Date(at + 1));
        await tx
          .updateTable('conversations')
          .set({ current_leaf_id: assistant.id, updated_at: new Date() })
          .where('id', '=', conv.id)
          .execute();
        return { userMessage: toMessage(user), assistantMessage: toMessage(assistant), replay: false };
      });
    } catch (err) {
      // Two sends with one key raced past the check: the unique index let one win; answer with its rows.
      if (isUniqueViolation(err)) {
        const winner = await this.#replay(conv.id, input.idempotencyKey);
        if (winner) return winner;
      }
      throw err;
    }
  }

  /**
   * `send` on PostgreSQL: both rows are made here (ids, times) and written as one outage-buffer record,
   * so the send is accepted whether the database answers or not. The conversation must be known whole
   * here (read before, or readable now): its next answer needs the history.
   */
  async #sendGuarded(input: {
    conversation: ConversationRecord;
    content: string;
    parentId: string | null;
    idempotencyKey: string;
  }): Promise<Sent> {
    const conv = input.conversation;
    const existing = await this.#replay(conv.id, input.idempotencyKey);
    if (existing) return existing;
    const all = await this.messages(conv.id);
    if (input.parentId !== null && !all.some((m) => m.id === input.parentId))
      throw new ChatError('invalid_request', 'parentId: no such message in this conversation');
    // Explicit, distinct times: they order the history (and an export), in the database and here alike.
    const at = Date.now();
    const user: NewMessageData = {
      id: randomId('msg_', 20),
      parentId: input.parentId,
      role: 'user',
      content: input.content,
      status: 'complete',
      idempotencyKey: input.idempotencyKey,
      meta: {},
      createdAt: at,
    };
    const answer = newAnswer(conv, user.id, null, at + 1);
    const data: InsertMessagesData = {
      conversationId: conv.id,
      messages: [user, answer],
      leafId: answer.id,
      at,
    };
    try {
      const how = await this.#write(conv.id, 'new', {
        kind: CHAT_KINDS.insertMessages,
        key: `send:${conv.id}:${input.idempotencyKey}`,
        data,
      });
      const records = [toRecord(conv.id, user), toRecord(conv.id, answer)];
      this.#cache?.added(conv.id, records, [[input.idempotencyKey, user.id]], answer.id, new Date(at));
      return {
        userMessage: records[0]!,
        assistantMessage: records[1]!,
        replay: false,
        ...(how === 'buffered' ? { delayed: true } : {}),
      };
    } catch (err) {
      // The same send landed through another replica meanwhile: answer with its rows.
      if (err instanceof WriteConflictError) {
        const winner = await this.#replay(conv.id, input.idempotencyKey);
        if (winner) return winner;
      }
      throw err;
    }
  }

  async #replay(conversationId: string, key: string): Promise<Sent | undefined> {
    const cache = this.#cache;
    return this.#read(
      conversationId,
      async () => {
        const user = await this.#db
          .selectFrom('messages')
          .selectAll()
          .where('conversation_id', '=', conversationId)
          .where('idempotency_key', '=', key)
          .executeTakeFirst();
        if (!user) return null;
        const answer = await this.#db
          .selectFrom('messages')
          .selectAll()
          .where('parent_id', '=', user.id)
          .where('role', '=', 'assistant')
          .orderBy('created_at')
          .executeTakeFirst();
        if (!answer) return null;
        const sent: Sent = {
          userMessage: toMessage(user),
          assistantMessage: toMessage(answer),
          replay: true,
        };
        return sent;
      },
      () => {
        if (!cache?.complete(conversationId)) return undefined;
        const userId = cache.keyed(conversationId, key);
        if (!userId) return null;
        const all = cache.messages(conversationId) ?? [];
        const user = all.find((m) => m.id === userId);
        const answer = all.find((m) => m.parentId === userId && m.role === 'assistant');
        return user && answer ? { userMessage: user, assistantMessage: answer, replay: true } : null;
      },
    ).then((r) => r ?? undefined);
  }

  /** A new answer beside `of` (same parent): regenerate. Idempotent per key like `send`. */
  async regenerate(
    of: MessageRecord,
    conversation: ConversationRecord,
    idempotencyKey: string,
  ): Promise<{
    message: MessageRecord;
    replay: boolean;
    delayed?: boolean;
  }> {
    if (of.role !== 'assistant' || of.parentId === null)
      throw new ChatError('invalid_request', 'Only an answer to a message can be regenerated.');
    const key = `regen:${idempotencyKey}`;
    if (this.#guard) return this.#regenerateGuarded(of.parentId, conversation, key);
    const prior = await this.#db
      .selectFrom('messages')
      .selectAll()
      .where('conversation_id', '=', conversation.id)
      .where('idempotency_key', '=', key)
      .executeTakeFirst();
    if (prior) return { message: toMessage(prior), replay: true };
    const parentId = of.parentId;
    try {
      const row = await this.#db.transaction().execute(async (tx) => {
        const answer = await insertAnswer(tx, conversation, parentId, key);
        await tx
          .updateTable('conversations')
          .set({ current_leaf_id: answer.id, updated_at: new Date() })
          .where('id', '=', conversation.id)
          .execute();
        return answer;
      });
      return { message: toMessage(row), replay: false };
    } catch (err) {
      if (isUniqueViolation(err)) return this.regenerate(of, conversation, idempotencyKey);
      throw err;
    }
  }

  async #regenerateGuarded(
    parentId: string,
    conversation: ConversationRecord,
    key: string,
  ): Promise<{ message: MessageRecord; replay: boolean; delayed?: boolean }> {
    const all = await this.messages(conversation.id);
    const priorId = this.#cache?.keyed(conversation.id, key);
    const prior = all.find((m) => m.id === priorId);
    if (prior) return { message: prior, replay: true };
    const at = Date.now();
    const answer = newAnswer(conversation, parentId, key, at);
    try {
      const how = await this.#write(conversation.id, 'new', {
        kind: CHAT_KINDS.insertMessages,
        key: `regenerate:${conversation.id}:${key}`,
        data: {
          conversationId: conversation.id,
          messages: [answer],
          leafId: answer.id,
          at,
        } satisfies InsertMessagesData,
      });
      const record = toRecord(conversation.id, answer);
      this.#cache?.added(conversation.id, [record], [[key, answer.id]], answer.id, new Date(at));
      return { message: record, replay: false, ...(how === 'buffered' ? { delayed: true } : {}) };
    } catch (err) {
      if (!(err instanceof WriteConflictError)) throw err;
      const row = await this.#plain(() =>
        this.#db
          .selectFrom('messages')
          .selectAll()
          .where('conversation_id', '=', conversation.id)
          .where('idempotency_key', '=', key)
          .executeTakeFirstOrThrow(),
      );
      return { message: toMessage(row), replay: true };
    }
  }

  /** A message with the conversation it belongs to, if the user owns it; 404 otherwise. */
  async message(
    id: string,
    userId: string,
  ): Promise<{ message: MessageRecord; conversation: ConversationRecord }> {
    const message = await this.messageById(id);
    if (!message) throw new ChatError('not_found');
    const conversation = await this.get(message.conversationId, userId);
    return { message, conversation };
  }

  async messageById(id: string): Promise<MessageRecord | undefined> {
    const cache = this.#cache;
    return this.#read(
      cache?.conversationOf(id),
      async () => {
        const row = await this.#db.selectFrom('messages').selectAll().where('id', '=', id).executeTakeFirst();
        return row ? toMessage(row) : undefined;
      },
      () => cache?.message(id),
    );
  }

  // --- the durable side of generation jobs -------------------------------------------------------------

  async setStatus(id: string, status: MessageStatus, meta: MessageMeta): Promise<void> {
    if (!this.#guard) return writeStatus(this.#db, { id, status, meta, at: Date.now() });
    await this.#write(this.#cache?.conversationOf(id), 'continuing', {
      kind: CHAT_KINDS.status,
      key: `status:${id}`,
      data: { id, status, meta, at: Date.now() },
    });
    this.#cache?.patchMessage(id, { status, meta });
  }

  /** Appends to the chunk log and bumps the row's heartbeat in one transaction. */
  async appendChunks(id: string, chunks: ReadonlyArray<{ seq: number; text: string }>): Promise<void> {
    if (chunks.length === 0) return;
    if (!this.#guard) return writeChunks(this.#db, { id, chunks: [...chunks], at: Date.now() });
    await this.#write(this.#cache?.conversationOf(id), 'continuing', {
      kind: CHAT_KINDS.chunks,
      key: `chunks:${id}:${chunks[0]!.seq}-${chunks.at(-1)!.seq}`,
      data: { id, chunks: [...chunks], at: Date.now() },
    });
    this.#cache?.addChunks(id, chunks);
  }

  async finish(id: string, status: MessageStatus, content: string, meta: MessageMeta): Promise<void> {
    if (!this.#guard) return writeFinish(this.#db, { id, status, content, meta, at: Date.now() });
    await this.#write(this.#cache?.conversationOf(id), 'continuing', {
      kind: CHAT_KINDS.finish,
      key: `finish:${id}`,
      data: { id, status, content, meta, at: Date.now() },
    });
    this.#cache?.patchMessage(id, { status, content, meta });
  }

  async chunksAfter(id: string, seq: number): Promise<Array<{ seq: number; text: string }>> {
    const cache = this.#cache;
    return this.#read(
      cache?.conversationOf(id),
      async () => {
        const rows = await this.#db
          .selectFrom('message_chunks')
          .select(['seq', 'text'])
          .where('message_id', '=', id)
          .where('seq', '>', seq)
          .orderBy('seq')
          .execute();
        if (seq === 0) cache?.fillChunks(id, rows);
        return rows;
      },
      () => cache?.chunksAfter(id, seq),
    );
  }

  async lastSeq(id: string): Promise<number> {
    const cache = this.#cache;
    return this.#read(
      cache?.conversationOf(id),
      async () => {
        const r = await this.#db
          .selectFrom('message_chunks')
          .select((eb) => eb.fn.max('seq').as('seq'))
          .where('message_id', '=', id)
          .executeTakeFirst();
        return Number(r?.seq ?? 0);
      },
      () => cache?.lastSeq(id),
    );
  }

  /**
   * Answers left queued or streaming by a process that died: their logged chunks become the content,
   * status `incomplete` (continuable), never an error text. `staleMs` 0 takes all of them (one node owns
   * the data directory); with several nodes on one database only rows whose heartbeat stopped.
   */
  async recoverInterrupted(staleMs: number): Promise<string[]> {
    const cutoff = new Date(Date.now() - staleMs);
    const rows = await this.#plain(() =>
      this.#db
        .updateTable('messages')
        .set({
          status: 'incomplete',
          content: sql<string>`coalesce((select string_agg(c.text, '' order by c.seq) from message_chunks c where c.message_id = messages.id), messages.content)`,
          meta: sql`messages.meta || '{"interrupted": true}'::jsonb`,
          updated_at: new Date(),
        })
        .where('status', 'in', [...LIVE_STATUSES])
        .where('updated_at', '<=', cutoff)
        .returning('id')
        .execute(),
    );
    return rows.map((r) => r.id);
  }

  async setSummary(id: string, summary: string): Promise<void> {
    if (!this.#guard) return writeSummary(this.#db, { id, summary });
    await this.#write(this.#cache?.conversationOf(id), 'continuing', {
      kind: CHAT_KINDS.summary,
      key: `summary:${id}`,
      data: { id, summary },
    });
    const m = this.#cache?.message(id);
    if (m) this.#cache?.patchMessage(id, { meta: { ...m.meta, summary } });
  }

  /** Heartbeat for a job that is alive but not producing (waiting in the gateway's queue). */
  async touch(id: string): Promise<void> {
    const run = () =>
      this.#db.updateTable('messages').set({ updated_at: new Date() }).where('id', '=', id).execute();
    if (!this.#guard) {
      await run();
      return;
    }
    // A heartbeat means nothing while writes wait in the buffer (replayed chunks and statuses stamp
    // their own when they land): skipped, not buffered.
    if (this.savingDelayed) return;
    await this.#guard.read(run).catch((err: unknown) => {
      if (!(err instanceof StoreUnavailableError)) throw err;
    });
  }

  // --- the outage guard --------------------------------------------------------------------------------

  /** A query with no fallback: fails fast with `storage_unavailable` while the database is unreachable. */
  async #plain<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.#guard) return fn();
    try {
      return await this.#guard.read(fn);
    } catch (err) {
      throw asChatError(err);
    }
  }

  /**
   * A read with a fallback to the cache: used first when the database is down or this conversation's
   * writes are still buffered (the database would answer without them), and when the query finds the
   * database unreachable. `fromCache` returns undefined when the cache cannot answer.
   */
  async #read<T>(
    convId: string | undefined,
    fromDb: () => Promise<T>,
    fromCache: () => T | undefined,
  ): Promise<T> {
    const guard = this.#guard;
    const cache = this.#cache;
    if (!guard || !cache) return fromDb();
    if (convId !== undefined && (guard.down || cache.pending(convId) > 0)) {
      const hit = fromCache();
      if (hit !== undefined) return hit;
    }
    try {
      return await guard.read(fromDb);
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      const hit = fromCache();
      if (hit !== undefined) return hit;
      throw asChatError(err);
    }
  }

  /** A write through the outage buffer, counted against its conversation until it reaches the database. */
  async #write(
    convId: string | undefined,
    admission: 'new' | 'continuing',
    w: { kind: string; key: string; data: unknown },
  ): Promise<'stored' | 'buffered'> {
    const guard = this.#guard!;
    const unpin = convId !== undefined ? (this.#cache?.pin(convId) ?? (() => {})) : () => {};
    try {
      return await guard.write({ ...w, admission, onApplied: unpin });
    } catch (err) {
      unpin();
      throw admission === 'new' ? asChatError(err) : err;
    }
  }
}

/** The chat API's face of an unusable database: `storage_unavailable` (503) with what is wrong. */
function asChatError(err: unknown): unknown {
  if (!(err instanceof StoreUnavailableError)) return err;
  const message =
    err.reason === 'unreachable'
      ? 'The database is unreachable and this is not available from memory; try again shortly.'
      : 'The database is unreachable and the server can hold no more unsaved messages; try again in a minute.';
  return new ChatError('storage_unavailable', message, { retryAfterSec: 10, cause: err });
}

function newAnswer(
  conv: ConversationRecord,
  parentId: string,
  idempotencyKey: string | null,
  createdAt: number,
): NewMessageData {
  return {
    id: randomId('msg_', 20),
    parentId,
    role: 'assistant',
    content: '',
    status: 'queued',
    idempotencyKey,
    meta: { model: conv.model },
    createdAt,
  };
}

function toRecord(conversationId: string, m: NewMessageData): MessageRecord {
  return {
    id: m.id,
    conversationId,
    parentId: m.parentId,
    role: m.role,
    content: m.content,
    status: m.status,
    meta: m.meta,
    createdAt: new Date(m.createdAt),
  };
}

async function insertAnswer(
  tx: Kysely<Database>,
  conv: ConversationRecord,
  parentId: string,
  idempotencyKey: string | null,
  createdAt?: Date,
): Promise<Selectable<MessagesTable>> {
  return tx
    .insertInto('messages')
    .values({
      ...(createdAt ? { created_at: createdAt } : {}),
      id: randomId('msg_', 20),
      conversation_id: conv.id,
      parent_id: parentId,
      role: 'assistant',
      content: '',
      status: 'queued',
      idempotency_key: idempotencyKey,
      meta: jsonb({ model: conv.model }),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

function isUniqueViolation(err: unknown): boolean {
  return hasCode(err, '23505');
}

export function toMessage(row: Selectable<MessagesTable>): MessageRecord {
  return {
    id: row.id,
    conversationId: row.conversation_id,
    parentId: row.parent_id,
    role: row.role as MessageRole,
    content: row.content,
    status: row.status as MessageStatus,
    meta: (row.meta ?? {}) as MessageMeta,
    createdAt: row.created_at,
  };
}

function toConversation(row: Selectable<ConversationsTable>): ConversationRecord {
  const p = row.persona as Persona | null;
  return {
    id: row.id,
    userId: row.user_id,
    characterId: row.character_id,
    title: row.title,
    model: row.model,
    persona:
      p && typeof p.name === 'string' ? { name: p.name, description: String(p.description ?? '') } : null,
    currentLeafId: row.current_leaf_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** The messages from the root down to `leafId` (the branch on screen). */
export function pathTo(messages: readonly MessageRecord[], leafId: string | null): MessageRecord[] {
  if (leafId === null) return [];
  const byId = new Map(messages.map((m) => [m.id, m]));
  const out: MessageRecord[] = [];
  const seen = new Set<string>();
  for (let m = byId.get(leafId); m && !seen.has(m.id); m = m.parentId ? byId.get(m.parentId) : undefined) {
    seen.add(m.id);
    out.push(m);
  }
  return out.reverse();
}
