import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MAX_JSON_DEPTH, tooDeep } from '../core/json-depth.ts';
import { DATA_EXCEPTION_MESSAGE, isDataException } from '../stores/data-errors.ts';
import { isOutageError } from '../stores/outage/classify.ts';
import { StoreUnavailableError } from '../stores/outage/port.ts';
import { CHAT_ERRORS, ChatError } from './errors.ts';

/** Uploads (character cards: PNG, JSON, .charx) are read as raw bytes up to this size. */
export const UPLOAD_LIMIT_BYTES = 12 * 1024 * 1024;
const JSON_LIMIT_BYTES = 4 * 1024 * 1024;

/**
 * The chat API's Fastify context, built once: its own body parsers (JSON, plus raw bytes for uploads),
 * its own error shape (`{"error": {"code", "message"}}`, docs/chat-api.md) and a JSON 404 under /api/.
 * Encapsulated, so none of it leaks into the gateway's /v1 routes and their dialect errors.
 */
export function chatPlugin(register: (app: FastifyInstance) => void | Promise<void>) {
  return async (app: FastifyInstance): Promise<void> => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser(
      'application/json',
      { parseAs: 'string', bodyLimit: JSON_LIMIT_BYTES },
      (_req, body, done) => {
        const text = typeof body === 'string' ? body : body.toString('utf8');
        if (text.trim() === '') return done(null, undefined);
        let value: unknown;
        try {
          value = JSON.parse(text);
        } catch {
          return done(new ChatError('invalid_request', 'The request body is not valid JSON.'), undefined);
        }
        // Stored bodies are serialised again (jsonb), which overflows the stack on deep nesting.
        if (tooDeep(value))
          return done(
            new ChatError(
              'invalid_request',
              `The request body is nested more than ${MAX_JSON_DEPTH} levels deep.`,
            ),
            undefined,
          );
        done(null, value);
      },
    );
    app.addContentTypeParser(
      ['image/png', 'application/zip', 'application/octet-stream', 'application/x-zip-compressed'],
      { parseAs: 'buffer', bodyLimit: UPLOAD_LIMIT_BYTES },
      (_req, body, done) => done(null, body),
    );
    app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
      const e = toChatError(err);
      if (e.status >= 500) req.log?.error?.({ err }, 'chat api error');
      if (e.retryAfterSec !== undefined) reply.header('retry-after', String(e.retryAfterSec));
      return reply.code(e.status).type('application/json').send(e.toJSON());
    });
    await register(app);
  };
}

export function toChatError(err: unknown): ChatError {
  if (err instanceof ChatError) return err;
  const fe = err as Partial<FastifyError>;
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new ChatError('payload_too_large');
  // A query with no fallback while PostgreSQL is unreachable (docs/postgres-outage.md).
  if (err instanceof StoreUnavailableError || isOutageError(err))
    return new ChatError(
      'storage_unavailable',
      'The database is unreachable and this is not available from memory; try again shortly.',
      { retryAfterSec: 10, cause: err },
    );
  if (isDataException(err)) return new ChatError('invalid_request', DATA_EXCEPTION_MESSAGE);
  if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
    return new ChatError('invalid_request', 'Unsupported content type.');
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new ChatError('invalid_request', fe.message ?? CHAT_ERRORS.invalid_request.message);
  }
  return new ChatError('internal', undefined, { cause: err });
}

/** Parses with a zod-like schema and turns its failure into `invalid_request` naming the field. */
export function parseBody<T>(
  schema: {
    safeParse(
      v: unknown,
    ):
      | { success: true; data: T }
      | { success: false; error: { issues: ReadonlyArray<{ path: PropertyKey[]; message: string }> } };
  },
  value: unknown,
): T {
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  const first = r.error.issues[0];
  const where = first && first.path.length > 0 ? `${first.path.map(String).join('.')}: ` : '';
  throw new ChatError('invalid_request', `${where}${first?.message ?? 'invalid body'}`);
}
