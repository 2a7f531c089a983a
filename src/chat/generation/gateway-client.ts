import type { WireMessage } from '../conversations/context.ts';

/** What the chat app hears from the gateway while one answer is produced. */
export type GatewayEvent =
  | { type: 'headers'; deployment?: string; failedOver: boolean }
  | { type: 'queue'; position: number; etaMs: number }
  | { type: 'text'; text: string }
  | { type: 'finish'; reason: string }
  | { type: 'usage'; inputTokens: number; outputTokens: number }
  /** Refused before any answer: `retryAfterSec` when the gateway said when to come back. */
  | { type: 'refused'; status: number; code: string; message: string; retryAfterSec?: number }
  /** Broke off after the answer started (in-band error or a cut connection). */
  | { type: 'error'; code: string; message: string };

export interface GatewayTarget {
  /** Base URL of this process's own gateway (http://127.0.0.1:port). */
  url(): string;
  /** The in-process credential: the gateway treats its holder as the chat app acting for `user`. */
  key: string;
}

const QUEUE_COMMENT = /^: queue position=(\d+) eta_ms=(\d+)/;

/**
 * One streamed chat completion through the gateway's OpenAI door, as the chat app's events. Going
 * through the public door (rather than a private shortcut) gives chat users exactly what API callers
 * get: per-user rate limits, admission and its waiting room, retries, failover, continuation.
 */
export async function* streamCompletion(
  target: GatewayTarget,
  req: CompletionRequest,
  signal: AbortSignal,
): AsyncGenerator<GatewayEvent> {
  const res = await post(target, req, true, signal);
  if (!res.ok || !res.body) {
    const body = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
    const ra = Number(res.headers.get('retry-after'));
    yield {
      type: 'refused',
      status: res.status,
      code: body.error?.code ?? `http_${res.status}`,
      message: body.error?.message ?? res.statusText,
      ...(Number.isFinite(ra) && ra >= 0 && res.headers.has('retry-after') ? { retryAfterSec: ra } : {}),
    };
    return;
  }
  const deployment = res.headers.get('x-holdfast-deployment') ?? undefined;
  yield {
    type: 'headers',
    ...(deployment ? { deployment } : {}),
    failedOver: (res.headers.get('x-holdfast-failover') ?? '') !== '',
  };
  const decoder = new TextDecoder();
  let buf = '';
  let started = false;
  let sawDone = false;
  try {
    for await (const chunk of res.body) {
      buf += decoder.decode(chunk as Uint8Array, { stream: true });
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        nl = buf.indexOf('\n');
        if (line.startsWith(':')) {
          const q = QUEUE_COMMENT.exec(line);
          if (q) yield { type: 'queue', position: Number(q[1]), etaMs: Number(q[2]) };
          continue;
        }
        if (!line.startsWith('data:')) continue;
        const data = line.slice(5).trim();
        if (data === '[DONE]') {
          sawDone = true;
          continue;
        }
        let obj: ChunkJson;
        try {
          obj = JSON.parse(data) as ChunkJson;
        } catch {
          continue;
        }
        if (obj.error) {
          const e = { code: obj.error.code ?? 'upstream_error', message: obj.error.message ?? 'error' };
          // Refused in-band before any text (the waiting room had already opened the stream).
          if (!started) {
            yield { type: 'refused', status: 503, ...e, ...retryAfterOf(obj.error) };
          } else yield { type: 'error', ...e };
          return;
        }
        const choice = obj.choices?.[0];
        const text = choice?.delta?.content;
        if (typeof text === 'string' && text !== '') {
          started = true;
          yield { type: 'text', text };
        }
        if (choice?.finish_reason) yield { type: 'finish', reason: choice.finish_reason };
        if (obj.usage)
          yield {
            type: 'usage',
            inputTokens: obj.usage.prompt_tokens ?? 0,
            outputTokens: obj.usage.completion_tokens ?? 0,
          };
      }
    }
  } catch (err) {
    if (signal.aborted) throw err;
    yield { type: 'error', code: 'stream_interrupted', message: 'The connection to the gateway broke.' };
    return;
  }
  if (!sawDone)
    yield { type: 'error', code: 'stream_interrupted', message: 'The answer stream ended early.' };
}

interface ChunkJson {
  choices?: Array<{ delta?: { content?: string | null }; finish_reason?: string | null }>;
  usage?: { prompt_tokens?: number; completion_tokens?: number };
  error?: { code?: string; message?: string; retry_after?: number };
}

function retryAfterOf(e: { retry_after?: number }): { retryAfterSec?: number } {
  return typeof e.retry_after === 'number' ? { retryAfterSec: e.retry_after } : {};
}

export interface CompletionRequest {
  model: string;
  messages: WireMessage[];
  maxTokens: number;
  /** The end user, for per-user limits and fair queueing. */
  user: string;
  requestId: string;
}

function post(target: GatewayTarget, req: CompletionRequest, stream: boolean, signal: AbortSignal) {
  return fetch(`${target.url()}/v1/chat/completions`, {
    method: 'POST',
    signal,
    headers: {
      authorization: `Bearer ${target.key}`,
      'content-type': 'application/json',
      'x-request-id': req.requestId,
      'x-holdfast-priority': 'interactive',
    },
    body: JSON.stringify({
      model: req.model,
      ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
      max_tokens: req.maxTokens,
      user: req.user,
      messages: req.messages,
    }),
  });
}

/** One unary completion (summaries): the text, or undefined when the gateway could not answer. */
export async function completeOnce(
  target: GatewayTarget,
  req: CompletionRequest,
  signal: AbortSignal,
): Promise<string | undefined> {
  const res = await post(target, req, false, signal);
  if (!res.ok) return undefined;
  const body = (await res.json().catch(() => ({}))) as {
    choices?: Array<{ message?: { content?: string } }>;
  };
  const text = body.choices?.[0]?.message?.content;
  return typeof text === 'string' && text.trim() !== '' ? text.trim() : undefined;
}
