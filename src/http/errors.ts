import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Door } from '../core/door.ts';
import { HoldfastError, toHoldfastError } from '../core/errors.ts';
import { anthropicDoor } from '../providers/anthropic/door.ts';
import { openaiDoor } from '../providers/openai/door.ts';

/** Fastify's own failures (body parsing, limits) mapped onto the registry. */
export function fromFastifyError(err: unknown): HoldfastError {
  if (err instanceof HoldfastError) return err;
  const fe = err as Partial<FastifyError>;
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HoldfastError('body_too_large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HoldfastError('unsupported_media_type');
    case 'FST_ERR_BAD_URL':
      return new HoldfastError('invalid_request', {
        message: 'The URL is not valid (malformed percent-encoding).',
      });
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new HoldfastError('uri_too_long');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new HoldfastError('invalid_json', {
        message: 'The request body is empty or its length is wrong.',
      });
    default:
      if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
        return new HoldfastError('invalid_request', { message: fe.message ?? 'Bad request.' });
      }
      return toHoldfastError(err);
  }
}

/**
 * The JSON APIs under /api/ (chat app, status API) answer errors as `{"error": {"code", "message"}}`
 * (docs/chat-api.md), also when the gateway itself refuses the request before their routes run.
 */
const apiErrors: Door = {
  ...openaiDoor,
  renderError: (err) => ({ error: { code: err.code, message: err.message } }),
};

/**
 * Which dialect to answer in outside a door's handler (unparseable body, no route): a door's path names
 * its dialect whatever the headers say; elsewhere Anthropic's version header tells.
 */
export function doorForRequest(url: string, headers: Record<string, unknown>): Door {
  if (url.startsWith('/api/')) return apiErrors;
  if (url.startsWith('/v1/messages')) return anthropicDoor;
  if (url.startsWith('/v1/chat/completions')) return openaiDoor;
  return headers['anthropic-version'] !== undefined ? anthropicDoor : openaiDoor;
}

export function errorHeaders(err: HoldfastError): Record<string, string> {
  return err.retryAfterSec !== undefined ? { 'retry-after': String(err.retryAfterSec) } : {};
}

/**
 * Fastify's `frameworkErrors` hook: refusals made before routing (a malformed URL such as `/%ff`, a path
 * parameter longer than maxParamLength) are answered in the caller's shape like every other error,
 * instead of Fastify's own `{"error": "Bad Request", "code": "FST_ERR_…"}`. The onRequest hook does not
 * run for these, so the request id is set here.
 */
export function answerFrameworkError(error: unknown, req: FastifyRequest, reply: FastifyReply): void {
  const err = fromFastifyError(error);
  reply
    .code(err.status)
    .header('x-request-id', req.id)
    .type('application/json')
    .send(JSON.stringify(doorForRequest(req.url, req.headers).renderError(err)));
}
