import type { IncomingHttpHeaders } from 'node:http';
import type { ChatRequest, ChatResponse, StreamEvent } from './chat.ts';
import type { HoldfastError } from './errors.ts';

export type Dialect = 'openai' | 'anthropic';

/** Writes one dialect's SSE stream from internal events. Returns the exact bytes to send (may be ''). */
export interface StreamRenderer {
  /** Called once before the first event (and before `event`). */
  begin(): string;
  event(ev: StreamEvent): string;
  /** Normal end of stream (after `finish`). */
  end(): string;
  /** The stream failed after it started; render an in-band error and close. */
  error(err: HoldfastError): string;
  /** A keep-alive frame for idle periods (Anthropic `ping`, SSE comment for OpenAI). */
  keepAlive(): string;
}

export interface RenderContext {
  /** Response id (`chatcmpl-…` / `msg_…`). */
  id: string;
  /** Public model name to show the caller. */
  model: string;
  /** Unix seconds. */
  created: number;
  includeUsage: boolean;
  /** Input tokens when known before the stream starts (Anthropic message_start wants it). */
  inputTokens?: number;
}

/** Where a caller stands against its tightest rate limits (requests and tokens per minute). */
export interface RateLimitState {
  requests?: { limit: number; remaining: number; resetMs: number };
  tokens?: { limit: number; remaining: number; resetMs: number };
}

/**
 * A wire dialect as a front door: parse a caller's body into the internal request, and render internal
 * answers and errors back in that dialect. The simulator uses the same doors to speak both wires.
 */
export interface Door {
  readonly dialect: Dialect;
  /** Throws `HoldfastError` with a registry code and the offending `param` path. */
  parseRequest(body: unknown, headers: IncomingHttpHeaders): ChatRequest;
  renderResponse(res: ChatResponse, ctx: RenderContext): unknown;
  streamRenderer(ctx: RenderContext): StreamRenderer;
  renderError(err: HoldfastError): unknown;
  /** Prefix for generated response ids. */
  newId(): string;
  /** Rate-limit headers in this dialect's names and formats (OpenAI `x-ratelimit-*`, `anthropic-ratelimit-*`). */
  rateLimitHeaders(state: RateLimitState): Record<string, string>;
}
