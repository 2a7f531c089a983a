import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { randomId } from '../core/ids.ts';
import { type Database, jsonb } from '../stores/database.ts';
import { conversationView, messageView } from './conversations/routes.ts';
import type { ConversationStore, MessageRecord } from './conversations/store.ts';
import { pathTo } from './conversations/store.ts';
import { ChatError } from './errors.ts';
import { parseBody } from './http.ts';
import { sessionOf } from './session.ts';

const EXPORT_VERSION = 1;

const importedMessage = z.object({
  id: z.string().min(1).max(100),
  parentId: z.string().min(1).max(100).nullable(),
  role: z.enum(['system', 'user', 'assistant']),
  content: z.string().max(1_000_000),
  status: z.enum(['queued', 'streaming', 'complete', 'incomplete', 'failed']),
  meta: z.record(z.string(), z.unknown()).default({}),
  createdAt: z.string().optional(),
});
const importBody = z.object({
  version: z.literal(EXPORT_VERSION),
  conversations: z
    .array(
      z.object({
        title: z.string().max(200),
        model: z.string().min(1).max(200),
        characterId: z.string().nullable().optional(),
        persona: z.object({ name: z.string(), description: z.string() }).nullable().optional(),
        currentLeafId: z.string().nullable().optional(),
        messages: z.array(importedMessage).max(50_000),
      }),
    )
    .max(10_000),
});

/** Export (JSON: everything; Markdown: one conversation's visible branch) and import of conversations. */
export function registerExportRoutes(
  app: FastifyInstance,
  deps: { guard: preHandlerAsyncHookHandler; db: Kysely<Database>; conversations: ConversationStore },
): void {
  const { conversations, db } = deps;
  const opts = { preHandler: deps.guard };

  app.get('/api/export', opts, async (req, reply) => {
    const { user } = sessionOf(req);
    const out = [];
    for (const c of await conversations.list(user.id)) {
      out.push({ ...conversationView(c), messages: (await conversations.messages(c.id)).map(messageView) });
    }
    return reply
      .header('content-disposition', 'attachment; filename="holdfast-conversations.json"')
      .send({ version: EXPORT_VERSION, exportedAt: new Date().toISOString(), conversations: out });
  });

  app.get<{ Params: { id: string }; Querystring: { format?: string } }>(
    '/api/conversations/:id/export',
    opts,
    async (req, reply) => {
      const { user } = sessionOf(req);
      const conv = await conversations.get(req.params.id, user.id);
      const messages = await conversations.messages(conv.id);
      const format = req.query.format ?? 'json';
      if (format === 'md') {
        const name = conv.persona?.name ?? user.name;
        return reply
          .type('text/markdown; charset=utf-8')
          .header('content-disposition', 'attachment; filename="conversation.md"')
          .send(toMarkdown(conv.title, pathTo(messages, conv.currentLeafId), name));
      }
      if (format !== 'json') throw new ChatError('invalid_request', 'format must be json or md');
      return reply.header('content-disposition', 'attachment; filename="conversation.json"').send({
        version: EXPORT_VERSION,
        exportedAt: new Date().toISOString(),
        conversations: [{ ...conversationView(conv), messages: messages.map(messageView) }],
      });
    },
  );

  app.post('/api/import', opts, async (req, reply) => {
    const { user } = sessionOf(req);
    const body = parseBody(importBody, req.body);
    let n = 0;
    await db.transaction().execute(async (tx) => {
      for (const [i, c] of body.conversations.entries()) {
        // New ids throughout: an import never collides with, or overwrites, what exists.
        const ids = new Map(c.messages.map((m) => [m.id, randomId('msg_', 20)]));
        if (ids.size !== c.messages.length)
          throw new ChatError('invalid_request', `conversations.${i}.messages: message ids must be unique`);
        const convId = randomId('cnv_', 20);
        const character =
          c.characterId &&
          (await tx
            .selectFrom('characters')
            .select('id')
            .where('id', '=', c.characterId)
            .where((eb) => eb.or([eb('owner_id', '=', user.id), eb('owner_id', 'is', null)]))
            .executeTakeFirst());
        await tx
          .insertInto('conversations')
          .values({
            id: convId,
            user_id: user.id,
            character_id: character ? character.id : null,
            title: c.title || 'Imported chat',
            model: c.model,
            persona: c.persona ? jsonb(c.persona) : null,
            current_leaf_id: c.currentLeafId ? (ids.get(c.currentLeafId) ?? null) : null,
          })
          .execute();
        for (const m of c.messages) {
          if (m.parentId !== null && !ids.has(m.parentId))
            throw new ChatError(
              'invalid_request',
              `message ${m.id}: parentId ${m.parentId} is not in the file`,
            );
          await tx
            .insertInto('messages')
            .values({
              id: ids.get(m.id)!,
              conversation_id: convId,
              parent_id: m.parentId === null ? null : ids.get(m.parentId)!,
              role: m.role,
              content: m.content,
              // Nothing is being written for an imported answer.
              status: m.status === 'queued' || m.status === 'streaming' ? 'incomplete' : m.status,
              meta: jsonb(m.meta),
              ...(m.createdAt && !Number.isNaN(Date.parse(m.createdAt))
                ? { created_at: new Date(m.createdAt) }
                : {}),
            })
            .execute();
        }
        n++;
      }
    });
    return reply.code(201).send({ conversations: n });
  });
}

export function toMarkdown(title: string, path: readonly MessageRecord[], userName: string): string {
  const lines = [`# ${title}`, ''];
  for (const m of path) {
    const who =
      m.role === 'user' ? userName : m.role === 'assistant' ? (m.meta.model ?? 'Assistant') : 'System';
    const note = m.status === 'incomplete' ? ' _(incomplete)_' : m.status === 'failed' ? ' _(failed)_' : '';
    lines.push(`**${who}**${note}`, '', m.content, '');
  }
  return lines.join('\n');
}
