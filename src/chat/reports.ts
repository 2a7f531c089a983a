import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { randomId } from '../core/ids.ts';
import type { Database } from '../stores/database.ts';
import { ChatError } from './errors.ts';
import { parseBody } from './http.ts';
import { sessionOf } from './session.ts';

export const REPORT_CATEGORIES = ['slow', 'error', 'wrong_answer', 'cannot_sign_in', 'other'] as const;
/** Reports stored per user per window beyond the counted one; past this they are refused. */
const MAX_STORED_PER_WINDOW = 10;

const reportBody = z.object({
  category: z.enum(REPORT_CATEGORIES),
  text: z.string().max(4_000).default(''),
  model: z.string().max(200).optional(),
  conversationId: z.string().max(100).optional(),
});

/**
 * "Report a problem": every report is stored for operators, but only one per user per window counts
 * toward the status system's signal, so one angry user (or a script) cannot move the public status.
 */
export function registerReportRoutes(
  app: FastifyInstance,
  deps: { guard: preHandlerAsyncHookHandler; db: Kysely<Database>; windowSec: number },
): void {
  const { db } = deps;
  app.post('/api/reports', { preHandler: deps.guard }, async (req, reply) => {
    const { user } = sessionOf(req);
    const body = parseBody(reportBody, req.body);
    const since = new Date(Date.now() - deps.windowSec * 1000);
    const recent = await db
      .selectFrom('reports')
      .select(['counted'])
      .where('user_id', '=', user.id)
      .where('created_at', '>', since)
      .execute();
    if (recent.length >= MAX_STORED_PER_WINDOW)
      throw new ChatError('report_throttled', undefined, { retryAfterSec: deps.windowSec });
    const counted = !recent.some((r) => r.counted);
    await db
      .insertInto('reports')
      .values({
        id: randomId('rep_', 20),
        user_id: user.id,
        category: body.category,
        text: body.text,
        model: body.model ?? null,
        conversation_id: body.conversationId ?? null,
        counted,
      })
      .execute();
    return reply.code(201).send({ counted });
  });
}
