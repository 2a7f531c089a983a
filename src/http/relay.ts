import type { ServerResponse } from 'node:http';
import type { StreamEvent } from '../core/chat.ts';
import type { ResponseCollector } from '../core/collect.ts';
import type { RenderContext } from '../core/door.ts';
import { toHoldfastError } from '../core/errors.ts';
import type { RequestContext } from '../pipeline/context.ts';

/** What the relay learned, for the outcome record. */
export interface RelayResult {
  collector: ResponseCollector;
  /** performance.now() when the first content (text or tool call) reached the caller. */
  firstTokenAt?: number;
  /** True once response headers went out (a later failure can only be reported in-band). */
  headersSent: boolean;
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
  events: AsyncIterable<StreamEvent>,
  result: RelayResult,
): Promise<unknown> {
  for await (const ev of events) {
    if (result.firstTokenAt === undefined && isContent(ev)) result.firstTokenAt = performance.now();
    result.collector.push(ev);
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

/**
 * Streams events as SSE. Headers are held until the upstream produced its first event, so a failure
 * before any output still gets a real HTTP status (and, later, a chance to fail over invisibly).
 */
export async function relayStream(
  ctx: RequestContext,
  events: AsyncIterable<StreamEvent>,
  res: ServerResponse,
  result: RelayResult,
  opts: { keepAliveMs: number; headers: Record<string, string> },
): Promise<void> {
  const it = events[Symbol.asyncIterator]();
  const first = await it.next();
  if (!first.done) result.collector.push(first.value);

  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    ...opts.headers,
  });
  result.headersSent = true;
  const renderer = ctx.door.streamRenderer(renderContext(ctx, result.collector));
  let lastWrite = performance.now();
  const write = async (s: string): Promise<void> => {
    if (!s || res.destroyed) return;
    lastWrite = performance.now();
    if (!res.write(s)) await drained(res);
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
    if (!first.done) {
      if (isContent(first.value)) result.firstTokenAt = performance.now();
      frame += renderer.event(first.value);
    }
    await write(frame);
    for (;;) {
      const next = await it.next();
      if (next.done) break;
      const ev = next.value;
      result.collector.push(ev);
      if (result.firstTokenAt === undefined && isContent(ev)) result.firstTokenAt = performance.now();
      await write(renderer.event(ev));
    }
    await write(renderer.end());
  } catch (err) {
    if (!res.destroyed) await write(renderer.error(toHoldfastError(err)));
    throw err;
  } finally {
    clearInterval(timer);
    if (!res.destroyed) res.end();
  }
}
