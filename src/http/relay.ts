import type { ServerResponse } from 'node:http';
import type { StreamEvent } from '../core/chat.ts';
import type { ResponseCollector } from '../core/collect.ts';
import type { RenderContext } from '../core/door.ts';
import { toHoldfastError } from '../core/errors.ts';
import type { EventBatch } from '../core/provider.ts';
import type { RequestContext } from '../pipeline/context.ts';

/** What the relay learned, for the outcome record. */
export interface RelayResult {
  collector: ResponseCollector;
  /** performance.now() when the first content (text or tool call) reached the caller. */
  firstTokenAt?: number;
  /** True once response headers went out (a later failure can only be reported in-band). */
  headersSent: boolean;
}

export function writeSseHead(res: ServerResponse, headers: Record<string, string | number>): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    ...headers,
  });
}

/**
 * Which deployment answered and how hard it was, for callers and for debugging; added to `into` (a fresh
 * object by default) so a response's headers are built in one object.
 */
export function resilienceHeaders(
  ctx: RequestContext,
  into: Record<string, string | number> = {},
): Record<string, string | number> {
  Object.assign(into, ctx.responseHeaders);
  into['x-holdfast-attempts'] = String(ctx.attempts);
  if (ctx.deployment) into['x-holdfast-deployment'] = ctx.deployment.config.id;
  if (ctx.failovers > 0) into['x-holdfast-failover'] = ctx.hedged ? 'hedged' : 'true';
  return into;
}

function isContent(ev: StreamEvent): boolean {
  return ev.type === 'text' || ev.type === 'tool_call_start';
}

function renderContext(ctx: RequestContext, collector: ResponseCollector): RenderContext {
  return {
    id: ctx.door.newId(),
    // Show which model really answered (a simulated one says so in its name); fall back to the public name.
    model: collector.model || ctx.deployment?.config.model || ctx.request!.model,
    created: Math.floor(ctx.startedAt / 1000),
    includeUsage: ctx.request!.includeUsage ?? false,
    ...(collector.usage.inputTokens ? { inputTokens: collector.usage.inputTokens } : {}),
  };
}

export async function relayUnary(
  ctx: RequestContext,
  batches: AsyncIterable<EventBatch>,
  result: RelayResult,
): Promise<unknown> {
  for await (const batch of batches) {
    for (const ev of batch) {
      if (result.firstTokenAt === undefined && isContent(ev)) result.firstTokenAt = performance.now();
      result.collector.push(ev);
    }
  }
  return ctx.door.renderResponse(result.collector.result(), renderContext(ctx, result.collector));
}

/** Resolves when the socket can take more, or is gone. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

const WAITING = Symbol('waiting');
/**
 * Streams event batches as SSE. Headers are held until the first content (or the end) arrives, so a
 * failure before any output still gets a real HTTP status (and, with failover, an invisible retry), and
 * the opening frame can carry what the upstream said first (Anthropic's message_start wants input
 * tokens). A slow upstream does not hold headers past one keep-alive interval, after which keep-alives
 * flow. Each batch (one upstream read) leaves in one write, and the first one as soon as it arrives.
 */
export async function relayStream(
  ctx: RequestContext,
  batches: AsyncIterable<EventBatch>,
  res: ServerResponse,
  result: RelayResult,
  opts: { keepAliveMs: number; headers: Record<string, string> },
): Promise<void> {
  const it = batches[Symbol.asyncIterator]();
  const held: StreamEvent[] = [];
  let pending: Promise<IteratorResult<EventBatch>> | undefined = it.next();
  // One timer bounds the whole hold phase (a timer per event showed up in profiles).
  let holdTimer: NodeJS.Timeout | undefined;
  const holdExpired = new Promise<typeof WAITING>((resolve) => {
    holdTimer = setTimeout(() => resolve(WAITING), opts.keepAliveMs);
  });
  hold: for (;;) {
    let r: IteratorResult<EventBatch> | typeof WAITING;
    try {
      r = await Promise.race([pending, holdExpired]);
    } catch (err) {
      clearTimeout(holdTimer);
      throw err;
    }
    if (r === WAITING) break;
    if (r.done) {
      pending = undefined;
      break;
    }
    pending = it.next();
    for (const ev of r.value) {
      held.push(ev);
      result.collector.push(ev);
    }
    for (const ev of r.value) if (isContent(ev) || ev.type === 'finish') break hold;
  }
  clearTimeout(holdTimer);
  // A held promise that later rejects must not surface as an unhandled rejection before we await it.
  pending?.catch(() => {});

  // The waiting room may already have opened the stream to tell a queued caller its place.
  if (!res.headersSent) writeSseHead(res, resilienceHeaders(ctx, { ...opts.headers }));
  result.headersSent = true;
  const renderer = ctx.door.streamRenderer(renderContext(ctx, result.collector));
  let lastWrite = performance.now();
  // Returns a promise only when the socket is full, so the common case costs no extra async step.
  // Backpressure: a slow reader stops us pulling from upstream instead of growing memory.
  const write = (s: string): Promise<void> | undefined => {
    if (!s || res.destroyed) return undefined;
    lastWrite = performance.now();
    return res.write(s) ? undefined : drained(res);
  };
  const timer = setInterval(
    () => {
      if (performance.now() - lastWrite >= opts.keepAliveMs && !res.destroyed) {
        lastWrite = performance.now();
        res.write(renderer.keepAlive());
      }
    },
    Math.max(50, Math.floor(opts.keepAliveMs / 2)),
  );
  timer.unref();

  try {
    let frame = renderer.begin();
    for (const ev of held) {
      if (result.firstTokenAt === undefined && isContent(ev)) result.firstTokenAt = performance.now();
      frame += renderer.event(ev);
    }
    let full = write(frame);
    if (full) await full;
    while (pending) {
      const next = await pending;
      if (next.done) break;
      pending = it.next();
      frame = '';
      for (const ev of next.value) {
        result.collector.push(ev);
        if (result.firstTokenAt === undefined && isContent(ev)) result.firstTokenAt = performance.now();
        frame += renderer.event(ev);
      }
      full = write(frame);
      if (full) await full;
    }
    full = write(renderer.end());
    if (full) await full;
  } catch (err) {
    if (!res.destroyed) await write(renderer.error(toHoldfastError(err)));
    throw err;
  } finally {
    clearInterval(timer);
    if (!res.destroyed) res.end();
  }
}
