import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Database } from '../../stores/database.ts';
import { buildPromptParts, type Character } from '../cards/index.ts';
import type { CharacterStore } from '../characters/store.ts';
import { ChatError } from '../errors.ts';
import type { Generator } from '../generation/runner.ts';
import { parseBody } from '../http.ts';
import { sessionOf } from '../session.ts';
import { buildContext } from './context.ts';
import { type ConversationRecord, type ConversationStore, type MessageRecord, pathTo } from './store.ts';

export interface ConversationRouteDeps {
  guard: preHandlerAsyncHookHandler;
  db: Kysely<Database>;
  conversations: ConversationStore;
  characters: CharacterStore;
  generator: Generator;
  models(): Array<{ name: string; contextTokens: number }>;
  defaultModel(): string;
  budgetFor(model: string): number;
  maxAnswerTokens: number;
}

const createBody = z.object({
  characterId: z.string().min(1).optional(),
  model: z.string().min(1).optional(),
  personaId: z.string().min(1).optional(),
  greetingIndex: z.number().int().min(0).optional(),
});
const patchBody = z.object({
  title: z.string().trim().min(1).max(200).optional(),
  currentLeafId: z.string().min(1).optional(),
});
const sendBody = z.object({
  content: z
    .string()
    .max(200_000)
    .refine((s) => s.trim() !== '', 'must not be empty'),
  idempotencyKey: z.string().min(8).max(200),
  parentId: z.string().min(1).nullable().optional(),
});
const keyBody = z.object({ idempotencyKey: z.string().min(8).max(200) });

export function messageView(m: MessageRecord) {
  return {
    id: m.id,
    parentId: m.parentId,
    role: m.role,
    content: m.content,
    status: m.status,
    meta: m.meta,
    createdAt: m.createdAt.toISOString(),
  };
}

export function conversationView(c: ConversationRecord) {
  return {
    id: c.id,
    title: c.title,
    characterId: c.characterId,
    model: c.model,
    persona: c.persona,
    currentLeafId: c.currentLeafId,
    createdAt: c.createdAt.toISOString(),
    updatedAt: c.updatedAt.toISOString(),
  };
}

export function registerConversationRoutes(app: FastifyInstance, deps: ConversationRouteDeps): void {
  const { guard, conversations, characters, generator } = deps;
  const opts = { preHandler: guard };

  app.get('/api/models', opts, async () => {
    const models = deps.models();
    const first = deps.defaultModel();
    return { models: [...models].sort((a, b) => Number(b.name === first) - Number(a.name === first)) };
  });

  app.get('/api/conversations', opts, async (req) => {
    const { user } = sessionOf(req);
    const list = await conversations.list(user.id);
    return {
      conversations: list.map((c) => ({
        id: c.id,
        title: c.title,
        characterId: c.characterId,
        model: c.model,
        updatedAt: c.updatedAt.toISOString(),
      })),
    };
  });

  app.post('/api/conversations', opts, async (req, reply) => {
    const { user } = sessionOf(req);
    const body = parseBody(createBody, req.body);
    const model = body.model ?? deps.defaultModel();
    if (!deps.models().some((m) => m.name === model))
      throw new ChatError('invalid_request', `model: unknown model ${model}`);
    let character: Character | null = null;
    if (body.characterId) character = (await characters.get(body.characterId, user)).character;
    const persona = await personaFor(deps.db, user.id, body.personaId, user.name);
    let greeting: string | undefined;
    if (character) {
      try {
        greeting = buildPromptParts({ character, persona, greetingIndex: body.greetingIndex ?? 0 }).greeting;
      } catch {
        throw new ChatError('invalid_request', 'greetingIndex: this character has no such greeting');
      }
    }
    const created = await conversations.create({
      userId: user.id,
      characterId: body.characterId ?? null,
      model,
      persona,
      title: character?.name ?? 'New chat',
      ...(greeting ? { greeting } : {}),
    });
    return reply.code(201).send({
      conversation: conversationView(created.conversation),
      messages: created.messages.map(messageView),
    });
  });

  app.get<{ Params: { id: string } }>('/api/conversations/:id', opts, async (req) => {
    const { user } = sessionOf(req);
    const conv = await conversations.get(req.params.id, user.id);
    const messages = await conversations.messages(conv.id);
    return {
      conversation: { ...conversationView(conv), context: await contextOf(deps, conv, messages, user) },
      messages: messages.map(messageView),
    };
  });

  app.patch<{ Params: { id: string } }>('/api/conversations/:id', opts, async (req) => {
    const { user } = sessionOf(req);
    const body = parseBody(patchBody, req.body);
    return { conversation: conversationView(await conversations.update(req.params.id, user.id, body)) };
  });

  app.delete<{ Params: { id: string } }>('/api/conversations/:id', opts, async (req, reply) => {
    const { user } = sessionOf(req);
    const conv = await conversations.get(req.params.id, user.id);
    for (const m of await conversations.messages(conv.id)) await generator.stop(m.id);
    await conversations.delete(conv.id, user.id);
    return reply.code(204).send();
  });

  app.post<{ Params: { id: string } }>('/api/conversations/:id/messages', opts, async (req, reply) => {
    const { user } = sessionOf(req);
    const body = parseBody(sendBody, req.body);
    const conv = await conversations.get(req.params.id, user.id);
    const parentId = body.parentId === undefined ? conv.currentLeafId : body.parentId;
    const sent = await conversations.send({
      conversation: conv,
      content: body.content,
      parentId,
      idempotencyKey: body.idempotencyKey,
    });
    if (!sent.replay) {
      if (conv.title === 'New chat')
        await conversations.update(conv.id, user.id, { title: titleFrom(body.content) }).catch((err) => {
          // The message is accepted: an outage buffer with no room left for the title must not lose
          // its answer (docs/postgres-outage.md). The chat keeps its old title.
          if (!(err instanceof ChatError && err.code === 'storage_unavailable')) throw err;
        });
      generator.start(sent.assistantMessage.id, user);
    }
    return reply.code(sent.replay ? 200 : 201).send({
      userMessage: messageView(sent.userMessage),
      assistantMessage: messageView(
        (await conversations.messageById(sent.assistantMessage.id)) ?? sent.assistantMessage,
      ),
      // Kept in the server's outage buffer, saved when PostgreSQL answers again (docs/postgres-outage.md).
      savingDelayed: sent.delayed === true || conversations.savingDelayed,
    });
  });

  app.post<{ Params: { id: string } }>('/api/messages/:id/regenerate', opts, async (req, reply) => {
    const { user } = sessionOf(req);
    const body = parseBody(keyBody, req.body);
    const { message, conversation } = await conversations.message(req.params.id, user.id);
    const r = await conversations.regenerate(message, conversation, body.idempotencyKey);
    if (!r.replay) generator.start(r.message.id, user);
    return reply.code(r.replay ? 200 : 201).send({
      assistantMessage: messageView(r.message),
      savingDelayed: r.delayed === true || conversations.savingDelayed,
    });
  });

  app.post<{ Params: { id: string } }>('/api/messages/:id/stop', opts, async (req) => {
    const { user } = sessionOf(req);
    const { message } = await conversations.message(req.params.id, user.id);
    if (message.role !== 'assistant')
      throw new ChatError('invalid_request', 'Only an answer can be stopped.');
    const stopped = await generator.stop(message.id);
    // What the job ended with is the truth even if the database has not taken it yet.
    if (stopped) return { message: messageView({ ...message, ...stopped }) };
    if (message.status === 'queued' || message.status === 'streaming') {
      // Its job runs on no node here (another replica, or one that died): mark it so Continue can pick it up.
      await conversations.finish(message.id, 'incomplete', message.content, {
        ...message.meta,
        stopped: true,
      });
    }
    return { message: messageView((await conversations.messageById(message.id))!) };
  });

  app.post<{ Params: { id: string } }>('/api/messages/:id/continue', opts, async (req) => {
    const { user } = sessionOf(req);
    const { message } = await conversations.message(req.params.id, user.id);
    if (message.role !== 'assistant' || (message.status !== 'incomplete' && message.status !== 'failed'))
      throw new ChatError('conflict', 'Only a stopped, cut-off or failed answer can be continued.');
    if (!generator.isRunning(message.id)) generator.start(message.id, user, { continue: true });
    const now = (await conversations.messageById(message.id))!;
    return { message: messageView({ ...now, status: 'queued' }) };
  });
}

async function personaFor(
  db: Kysely<Database>,
  userId: string,
  personaId: string | undefined,
  fallbackName: string,
): Promise<{ name: string; description: string }> {
  let q = db.selectFrom('personas').select(['name', 'description']).where('user_id', '=', userId);
  q = personaId ? q.where('id', '=', personaId) : q.where('is_default', '=', true);
  const row = await q.executeTakeFirst();
  if (!row && personaId) throw new ChatError('invalid_request', 'personaId: no such persona');
  return row ?? { name: fallbackName, description: '' };
}

function titleFrom(content: string): string {
  const line = content.trim().split('\n')[0] ?? '';
  return line.length > 60 ? `${line.slice(0, 57)}…` : line || 'New chat';
}

async function contextOf(
  deps: ConversationRouteDeps,
  conv: ConversationRecord,
  messages: MessageRecord[],
  user: { id: string; email: string; name: string; role: 'user' | 'admin' },
) {
  const history = pathTo(messages, conv.currentLeafId);
  const leaf = history.at(-1);
  const upTo =
    leaf && leaf.role === 'assistant' && leaf.status !== 'complete' ? history.slice(0, -1) : history;
  let character: Character | null = null;
  if (conv.characterId)
    character = await deps.characters.get(conv.characterId, user).then(
      (r) => r.character,
      () => null,
    );
  const input = {
    character,
    persona: conv.persona,
    history: upTo,
    budgetTokens: deps.budgetFor(conv.model),
    maxAnswerTokens: deps.maxAnswerTokens,
  };
  const built = buildContext(input);
  const last = built.dropped.at(-1);
  if (!last?.meta.summary) return built.report;
  return buildContext({ ...input, summary: { text: last.meta.summary, coversThrough: last.id } }).report;
}
