import type { FastifyError } from 'fastify';
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

/** Which dialect to answer in when no route matched: the path or Anthropic's headers tell. */
export function doorForRequest(url: string, headers: Record<string, unknown>): Door {
  if (url.startsWith('/v1/messages') || headers['anthropic-version'] !== undefined) return anthropicDoor;
  return openaiDoor;
}

export function errorHeaders(err: HoldfastError): Record<string, string> {
  return err.retryAfterSec !== undefined ? { 'retry-after': String(err.retryAfterSec) } : {};
}
