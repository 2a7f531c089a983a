import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { randomId } from '../../core/ids.ts';
import type { Database } from '../../stores/database.ts';
import {
  type Character,
  characterSchema,
  emptyCharacter,
  exportCardJson,
  exportCardPng,
  importCard,
  isCardError,
} from '../cards/index.ts';
import { ChatError } from '../errors.ts';
import { parseBody } from '../http.ts';
import { sessionOf } from '../session.ts';
import type { CharacterRecord, CharacterStore } from './store.ts';

const characterBody = z.object({ character: z.record(z.string(), z.unknown()) });

/** A full or partial character from a form: missing fields take the blank character's values. */
function characterFrom(input: Record<string, unknown>): Character {
  const name = typeof input.name === 'string' ? input.name : '';
  const r = characterSchema.safeParse({ ...emptyCharacter(name), ...input });
  if (!r.success) {
    const first = r.error.issues[0];
    throw new ChatError(
      'invalid_request',
      `character.${first?.path.map(String).join('.')}: ${first?.message}`,
    );
  }
  return r.data;
}

function summary(rec: CharacterRecord, userId: string) {
  const c = rec.character;
  return {
    id: rec.id,
    name: c.name,
    description: c.description,
    avatar: c.avatar,
    tags: c.tags,
    shipped: rec.ownerId === null,
    mine: rec.ownerId === userId,
  };
}

function full(rec: CharacterRecord, userId: string) {
  return {
    id: rec.id,
    shipped: rec.ownerId === null,
    mine: rec.ownerId === userId,
    character: rec.character,
  };
}

function safeFileName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80) || 'character';
}

export function registerCharacterRoutes(
  app: FastifyInstance,
  deps: { guard: preHandlerAsyncHookHandler; characters: CharacterStore; db: Kysely<Database> },
): void {
  const { guard, characters } = deps;
  const opts = { preHandler: guard };

  app.get('/api/characters', opts, async (req) => {
    const { user } = sessionOf(req);
    return { characters: (await characters.list(user)).map((r) => summary(r, user.id)) };
  });

  app.get<{ Params: { id: string } }>('/api/characters/:id', opts, async (req) => {
    const { user } = sessionOf(req);
    return full(await characters.get(req.params.id, user), user.id);
  });

  app.post('/api/characters', opts, async (req, reply) => {
    const { user } = sessionOf(req);
    const body = parseBody(characterBody, req.body);
    const rec = await characters.create(user, characterFrom(body.character));
    return reply.code(201).send(full(rec, user.id));
  });

  app.put<{ Params: { id: string } }>('/api/characters/:id', opts, async (req) => {
    const { user } = sessionOf(req);
    const body = parseBody(characterBody, req.body);
    return full(await characters.update(req.params.id, user, characterFrom(body.character)), user.id);
  });

  app.delete<{ Params: { id: string } }>('/api/characters/:id', opts, async (req, reply) => {
    const { user } = sessionOf(req);
    await characters.delete(req.params.id, user);
    return reply.code(204).send();
  });

  app.post('/api/characters/import', opts, async (req, reply) => {
    const { user } = sessionOf(req);
    const bytes = toBytes(req.body);
    if (!bytes || bytes.length === 0)
      throw new ChatError('invalid_request', 'Send the card file as the request body (PNG, JSON or .charx).');
    let character: Character;
    try {
      character = importCard(bytes).character;
    } catch (err) {
      if (isCardError(err)) {
        throw err.code === 'card_too_large'
          ? new ChatError('payload_too_large', err.message)
          : new ChatError('card_invalid', err.message);
      }
      throw err;
    }
    const rec = await characters.create(user, character);
    return reply.code(201).send(full(rec, user.id));
  });

  app.get<{ Params: { id: string }; Querystring: { format?: string } }>(
    '/api/characters/:id/export',
    opts,
    async (req, reply) => {
      const { user } = sessionOf(req);
      const rec = await characters.get(req.params.id, user);
      const format = req.query.format ?? 'v3';
      const base = safeFileName(rec.character.name);
      if (format === 'png') {
        return reply
          .type('image/png')
          .header('content-disposition', `attachment; filename="${base}.png"`)
          .send(Buffer.from(exportCardPng(rec.character)));
      }
      if (format !== 'v2' && format !== 'v3')
        throw new ChatError('invalid_request', 'format must be v2, v3 or png');
      return reply
        .type('application/json')
        .header('content-disposition', `attachment; filename="${base}.${format}.json"`)
        .send(exportCardJson(rec.character, format));
    },
  );

  registerPersonaRoutes(app, guard, deps.db);
}

/** Re-sent JSON arrives parsed by the JSON parser; binary uploads arrive as a Buffer. */
function toBytes(body: unknown): Uint8Array | undefined {
  if (body instanceof Uint8Array) return body;
  if (body !== undefined && body !== null && typeof body === 'object')
    return new TextEncoder().encode(JSON.stringify(body));
  return undefined;
}

const personaBody = z.object({
  name: z.string().trim().min(1).max(200),
  description: z.string().max(20_000).default(''),
  isDefault: z.boolean().default(false),
});

function registerPersonaRoutes(
  app: FastifyInstance,
  guard: preHandlerAsyncHookHandler,
  db: Kysely<Database>,
): void {
  const opts = { preHandler: guard };
  const view = (r: { id: string; name: string; description: string; is_default: boolean }) => ({
    id: r.id,
    name: r.name,
    description: r.description,
    isDefault: r.is_default,
  });

  app.get('/api/personas', opts, async (req) => {
    const { user } = sessionOf(req);
    const rows = await db
      .selectFrom('personas')
      .selectAll()
      .where('user_id', '=', user.id)
      .orderBy('name')
      .execute();
    return { personas: rows.map(view) };
  });

  app.post('/api/personas', opts, async (req, reply) => {
    const { user } = sessionOf(req);
    const p = parseBody(personaBody, req.body);
    const row = await db.transaction().execute(async (tx) => {
      if (p.isDefault) await clearDefault(tx, user.id);
      return tx
        .insertInto('personas')
        .values({
          id: randomId('per_', 20),
          user_id: user.id,
          name: p.name,
          description: p.description,
          is_default: p.isDefault,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
    });
    return reply.code(201).send(view(row));
  });

  app.put<{ Params: { id: string } }>('/api/personas/:id', opts, async (req) => {
    const { user } = sessionOf(req);
    const p = parseBody(personaBody, req.body);
    const row = await db.transaction().execute(async (tx) => {
      if (p.isDefault) await clearDefault(tx, user.id);
      return tx
        .updateTable('personas')
        .set({ name: p.name, description: p.description, is_default: p.isDefault })
        .where('id', '=', req.params.id)
        .where('user_id', '=', user.id)
        .returningAll()
        .executeTakeFirst();
    });
    if (!row) throw new ChatError('not_found');
    return view(row);
  });

  app.delete<{ Params: { id: string } }>('/api/personas/:id', opts, async (req, reply) => {
    const { user } = sessionOf(req);
    const r = await db
      .deleteFrom('personas')
      .where('id', '=', req.params.id)
      .where('user_id', '=', user.id)
      .executeTakeFirst();
    if (Number(r.numDeletedRows) === 0) throw new ChatError('not_found');
    return reply.code(204).send();
  });
}

/** One default persona per user: a new default takes the flag from the old one in the same transaction. */
async function clearDefault(tx: Kysely<Database>, userId: string): Promise<void> {
  await tx.updateTable('personas').set({ is_default: false }).where('user_id', '=', userId).execute();
}
