import { type Kysely, sql } from 'kysely';
import { type Database, jsonb } from '../../stores/database.ts';
import type { ReplayHandler } from '../../stores/outage/buffer.ts';
import { WriteConflictError } from '../../stores/outage/port.ts';
import type { MessageMeta, MessageStatus } from './store.ts';

/**
 * The chat app's writes as records of the PostgreSQL outage buffer (docs/postgres-outage.md). Each
 * handler is the write itself: it runs directly while the database answers and replays from the buffer
 * when it did not, so both paths are one code. Every one is idempotent: rows are inserted with ids made
 * before the write (ON CONFLICT DO NOTHING), updates set values, chunks are keyed by (message, seq).
 * Times travel as epoch ms.
 */

export interface NewMessageData {
  id: string;
  parentId: string | null;
  role: 'user' | 'assistant';
  content: string;
  status: MessageStatus;
  idempotencyKey: string | null;
  meta: MessageMeta;
  createdAt: number;
}

/** A user's message and its queued answer (send), or a lone answer (regenerate). */
export interface InsertMessagesData {
  conversationId: string;
  messages: NewMessageData[];
  /** The conversation's leaf afterwards (the new answer). */
  leafId: string;
  at: number;
}

export interface PatchConversationData {
  id: string;
  title?: string;
  currentLeafId?: string;
  at: number;
}

export interface MessageStatusData {
  id: string;
  status: MessageStatus;
  meta: MessageMeta;
  at: number;
}

export interface FinishData extends MessageStatusData {
  content: string;
}

export interface ChunksData {
  id: string;
  chunks: Array<{ seq: number; text: string }>;
  at: number;
}

export interface SummaryData {
  id: string;
  summary: string;
}

export const CHAT_KINDS = {
  insertMessages: 'chat.messages',
  patchConversation: 'chat.conversation',
  status: 'chat.status',
  finish: 'chat.finish',
  chunks: 'chat.chunks',
  summary: 'chat.summary',
} as const;

export async function insertMessages(db: Kysely<Database>, d: InsertMessagesData): Promise<void> {
  await db.transaction().execute(async (tx) => {
    for (const m of d.messages) {
      const inserted = await tx
        .insertInto('messages')
        .values({
          id: m.id,
          conversation_id: d.conversationId,
          parent_id: m.parentId,
          role: m.role,
          content: m.content,
          status: m.status,
          idempotency_key: m.idempotencyKey,
          meta: jsonb(m.meta),
          created_at: new Date(m.createdAt),
        })
        .onConflict((oc) => oc.doNothing())
        .returning('id')
        .executeTakeFirst();
      if (inserted) continue;
      // Nothing inserted: either this very row is there (a repeated replay: fine) or another row holds
      // its idempotency key (the same send arrived through another replica): not ours to add.
      const same = await tx.selectFrom('messages').select('id').where('id', '=', m.id).executeTakeFirst();
      if (!same)
        throw new WriteConflictError(
          `conversation ${d.conversationId} already has a message under idempotency key ${m.idempotencyKey}`,
        );
    }
    await tx
      .updateTable('conversations')
      .set({ current_leaf_id: d.leafId, updated_at: new Date(d.at) })
      .where('id', '=', d.conversationId)
      .execute();
  });
}

export async function patchConversation(db: Kysely<Database>, d: PatchConversationData): Promise<void> {
  await db
    .updateTable('conversations')
    .set({
      ...(d.title !== undefined ? { title: d.title } : {}),
      ...(d.currentLeafId !== undefined ? { current_leaf_id: d.currentLeafId } : {}),
      updated_at: new Date(d.at),
    })
    .where('id', '=', d.id)
    .execute();
}

export async function setStatus(db: Kysely<Database>, d: MessageStatusData): Promise<void> {
  await db
    .updateTable('messages')
    // Also a heartbeat (see appendChunks): the time it lands.
    .set({ status: d.status, meta: jsonb(d.meta), updated_at: new Date() })
    .where('id', '=', d.id)
    .execute();
}

export async function finish(db: Kysely<Database>, d: FinishData): Promise<void> {
  await db
    .updateTable('messages')
    .set({ status: d.status, content: d.content, meta: jsonb(d.meta), updated_at: new Date(d.at) })
    .where('id', '=', d.id)
    .execute();
}

export async function appendChunks(db: Kysely<Database>, d: ChunksData): Promise<void> {
  if (d.chunks.length === 0) return;
  await db.transaction().execute(async (tx) => {
    await tx
      .insertInto('message_chunks')
      .values(d.chunks.map((c) => ({ message_id: d.id, seq: c.seq, text: c.text })))
      .onConflict((oc) => oc.columns(['message_id', 'seq']).doNothing())
      .execute();
    // The heartbeat other replicas' recovery sweeps read: the time it reaches the database, not the
    // time it was buffered, or a replayed answer would look abandoned.
    await tx.updateTable('messages').set({ updated_at: new Date() }).where('id', '=', d.id).execute();
  });
}

export async function setSummary(db: Kysely<Database>, d: SummaryData): Promise<void> {
  await db
    .updateTable('messages')
    .set({ meta: sql`messages.meta || ${JSON.stringify({ summary: d.summary })}::jsonb` })
    .where('id', '=', d.id)
    .execute();
}

/** The chat app's replay handlers, by record kind (src/app.ts hands them to the outage buffer). */
export const chatReplayHandlers: Readonly<Record<string, ReplayHandler>> = {
  [CHAT_KINDS.insertMessages]: (db, d) => insertMessages(db, d as InsertMessagesData),
  [CHAT_KINDS.patchConversation]: (db, d) => patchConversation(db, d as PatchConversationData),
  [CHAT_KINDS.status]: (db, d) => setStatus(db, d as MessageStatusData),
  [CHAT_KINDS.finish]: (db, d) => finish(db, d as FinishData),
  [CHAT_KINDS.chunks]: (db, d) => appendChunks(db, d as ChunksData),
  [CHAT_KINDS.summary]: (db, d) => setSummary(db, d as SummaryData),
};
