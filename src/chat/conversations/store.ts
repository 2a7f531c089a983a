import { type Kysely, type Selectable, sql } from 'kysely';
import { randomId } from '../../core/ids.ts';
import type { ConversationsTable, Database, MessagesTable } from '../../stores/database.ts';
import { hasCode, jsonb } from '../../stores/database.ts';
import { ChatError } from '../errors.ts';

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
}

/** Conversations as trees of message rows (parent ids), and the durable side of generation jobs. */
export class ConversationStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async list(userId: string): Promise<ConversationRecord[]> {
    const rows = await this.#db
      .selectFrom('conversations')
      .selectAll()
      .where('user_id', '=', userId)
      .orderBy('updated_at', 'desc')
      .execute();
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
    return this.#db.transaction().execute(async (tx) => {
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
    });
  }

  /** The user's conversation; 404 for anyone else's. */
  async get(id: string, userId: string): Promise<ConversationRecord> {
    const row = await this.#db
      .selectFrom('conversations')
      .selectAll()
      .where('id', '=', id)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    if (!row) throw new ChatError('not_found');
    return toConversation(row);
  }

  async messages(conversationId: string): Promise<MessageRecord[]> {
    const rows = await this.#db
      .selectFrom('messages')
      .selectAll()
      .where('conversation_id', '=', conversationId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(toMessage);
  }

  async update(
    id: string,
    userId: string,
    patch: { title?: string | undefined; currentLeafId?: string | undefined },
  ): Promise<ConversationRecord> {
    await this.get(id, userId);
    if (patch.currentLeafId !== undefined) {
      const m = await this.#db
        .selectFrom('messages')
        .select('id')
        .where('id', '=', patch.currentLeafId)
        .where('conversation_id', '=', id)
        .executeTakeFirst();
      if (!m) throw new ChatError('invalid_request', 'currentLeafId: no such message in this conversation');
    }
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

  async delete(id: string, userId: string): Promise<void> {
    await this.get(id, userId);
    await this.#db.deleteFrom('conversations').where('id', '=', id).execute();
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

  async #replay(conversationId: string, key: string): Promise<Sent | undefined> {
    const user = await this.#db
      .selectFrom('messages')
      .selectAll()
      .where('conversation_id', '=', conversationId)
      .where('idempotency_key', '=', key)
      .executeTakeFirst();
    if (!user) return undefined;
    const answer = await this.#db
      .selectFrom('messages')
      .selectAll()
      .where('parent_id', '=', user.id)
      .where('role', '=', 'assistant')
      .orderBy('created_at')
      .executeTakeFirst();
    if (!answer) return undefined;
    return { userMessage: toMessage(user), assistantMessage: toMessage(answer), replay: true };
  }

  /** A new answer beside `of` (same parent): regenerate. Idempotent per key like `send`. */
  async regenerate(
    of: MessageRecord,
    conversation: ConversationRecord,
    idempotencyKey: string,
  ): Promise<{
    message: MessageRecord;
    replay: boolean;
  }> {
    if (of.role !== 'assistant' || of.parentId === null)
      throw new ChatError('invalid_request', 'Only an answer to a message can be regenerated.');
    const key = `regen:${idempotencyKey}`;
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

  /** A message with the conversation it belongs to, if the user owns it; 404 otherwise. */
  async message(
    id: string,
    userId: string,
  ): Promise<{ message: MessageRecord; conversation: ConversationRecord }> {
    const row = await this.#db.selectFrom('messages').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new ChatError('not_found');
    const conversation = await this.get(row.conversation_id, userId);
    return { message: toMessage(row), conversation };
  }

  async messageById(id: string): Promise<MessageRecord | undefined> {
    const row = await this.#db.selectFrom('messages').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toMessage(row) : undefined;
  }

  // --- the durable side of generation jobs -------------------------------------------------------------

  async setStatus(id: string, status: MessageStatus, meta: MessageMeta): Promise<void> {
    await this.#db
      .updateTable('messages')
      .set({ status, meta: jsonb(meta), updated_at: new Date() })
      .where('id', '=', id)
      .execute();
  }

  /** Appends to the chunk log and bumps the row's heartbeat in one transaction. */
  async appendChunks(id: string, chunks: ReadonlyArray<{ seq: number; text: string }>): Promise<void> {
    if (chunks.length === 0) return;
    await this.#db.transaction().execute(async (tx) => {
      await tx
        .insertInto('message_chunks')
        .values(chunks.map((c) => ({ message_id: id, seq: c.seq, text: c.text })))
        .onConflict((oc) => oc.columns(['message_id', 'seq']).doNothing())
        .execute();
      await tx.updateTable('messages').set({ updated_at: new Date() }).where('id', '=', id).execute();
    });
  }

  async finish(id: string, status: MessageStatus, content: string, meta: MessageMeta): Promise<void> {
    await this.#db
      .updateTable('messages')
      .set({ status, content, meta: jsonb(meta), updated_at: new Date() })
      .where('id', '=', id)
      .execute();
  }

  async chunksAfter(id: string, seq: number): Promise<Array<{ seq: number; text: string }>> {
    return this.#db
      .selectFrom('message_chunks')
      .select(['seq', 'text'])
      .where('message_id', '=', id)
      .where('seq', '>', seq)
      .orderBy('seq')
      .execute();
  }

  async lastSeq(id: string): Promise<number> {
    const r = await this.#db
      .selectFrom('message_chunks')
      .select((eb) => eb.fn.max('seq').as('seq'))
      .where('message_id', '=', id)
      .executeTakeFirst();
    return Number(r?.seq ?? 0);
  }

  /**
   * Answers left queued or streaming by a process that died: their logged chunks become the content,
   * status `incomplete` (continuable), never an error text. `staleMs` 0 takes all of them (one node owns
   * the data directory); with several nodes on one database only rows whose heartbeat stopped.
   */
  async recoverInterrupted(staleMs: number): Promise<string[]> {
    const cutoff = new Date(Date.now() - staleMs);
    const rows = await this.#db
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
      .execute();
    return rows.map((r) => r.id);
  }

  async setSummary(id: string, summary: string): Promise<void> {
    await this.#db
      .updateTable('messages')
      .set({ meta: sql`messages.meta || ${JSON.stringify({ summary })}::jsonb` })
      .where('id', '=', id)
      .execute();
  }

  /** Heartbeat for a job that is alive but not producing (waiting in the gateway's queue). */
  async touch(id: string): Promise<void> {
    await this.#db.updateTable('messages').set({ updated_at: new Date() }).where('id', '=', id).execute();
  }
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
