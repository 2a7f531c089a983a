import type { FastifyReply, FastifyRequest } from 'fastify';
import { ResponseCollector } from '../core/collect.ts';
import type { Door } from '../core/door.ts';
import { HoldfastError, toHoldfastError } from '../core/errors.ts';
import { newRequestContext, type Stage } from '../pipeline/context.ts';
import type { Dispatch } from '../pipeline/dispatch.ts';
import type { Logger } from '../telemetry/logger.ts';
import { errorHeaders } from './errors.ts';
import type { InFlight } from './inflight.ts';
import { finishOutcome } from './outcome.ts';
import { type RelayResult, relayStream, relayUnary, resilienceHeaders, writeSseHead } from './relay.ts';

export interface ChatRouteDeps {
  /**
   * The stages and dispatch a request runs through, read once when it arrives: a config reload swaps
   * them for new requests while this one finishes on what it started with.
   */
  pipeline(): { readonly stages: readonly Stage[]; readonly dispatch: Dispatch };
  inflight: InFlight;
  logger: Logger;
  keepAliveMs: number;
}

/**
 * One handler for every chat door: the door is the only thing that differs between
 * /v1/chat/completions and /v1/messages.
 */
export function chatHandler(door: Door, deps: ChatRouteDeps) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const abort = new AbortController();
    const release = deps.inflight.add(abort);
    const res = reply.raw;
    const onClose = (): void => {
      if (!res.writableFinished) abort.abort(new Error('client disconnected'));
    };
    res.on('close', onClose);

    const ctx = newRequestContext({
      requestId: req.id,
      door,
      headers: req.headers,
      ip: req.ip,
      body: req.body,
      signal: abort.signal,
    });
    const relay: RelayResult = { collector: new ResponseCollector(), headersSent: false };
    // The waiting room: a queued streaming caller gets the stream opened and SSE comments with its place
    // in line (at most once a second), which SDKs ignore and the chat app shows.
    let lastTold = 0;
    ctx.onQueued = (position, etaMs) => {
      if (!ctx.request?.stream || res.destroyed) return;
      const now = performance.now();
      if (res.headersSent && now - lastTold < 1_000) return;
      lastTold = now;
      if (!res.headersSent) {
        reply.hijack();
        writeSseHead(res, { ...resilienceHeaders(ctx), 'x-request-id': req.id });
        relay.headersSent = true;
      }
      res.write(`: queue position=${position} eta_ms=${etaMs}\n\n`);
    };
    let status = 200;
    let failure: HoldfastError | undefined;
    try {
      // Only asynchronous stages are awaited: an await per stage costs a microtask turn for nothing.
      const pipeline = deps.pipeline();
      for (const stage of pipeline.stages) {
        const pending = stage.run(ctx);
        if (pending) await pending;
      }
      const events = pipeline.dispatch(ctx);
      if (ctx.request!.stream) {
        reply.hijack();
        await relayStream(ctx, events, res, relay, {
          keepAliveMs: deps.keepAliveMs,
          headers: { 'x-request-id': req.id },
        });
      } else {
        const body = JSON.stringify(await relayUnary(ctx, events, relay));
        // Written directly: Fastify's send pipeline (onSend hooks, serializers) has nothing to add here.
        reply.hijack();
        res.writeHead(
          200,
          resilienceHeaders(ctx, {
            'content-type': 'application/json; charset=utf-8',
            'content-length': Buffer.byteLength(body),
            'x-request-id': req.id,
          }),
        );
        res.end(body);
      }
    } catch (err) {
      failure = toHoldfastError(err);
      if (failure.code === 'internal_error' && !abort.signal.aborted)
        deps.logger.error({ err, reqId: req.id }, 'internal error');
      if (relay.headersSent && !res.writableEnded && !res.destroyed && relay.collector.content.length === 0) {
        // Opened by the waiting room, then refused (shed, timed out): say so in band, in the dialect.
        status = 200;
        res.end(
          door
            .streamRenderer({
              id: door.newId(),
              model: ctx.request?.model ?? '',
              created: Math.floor(ctx.startedAt / 1000),
              includeUsage: false,
            })
            .error(failure),
        );
      } else if (!relay.headersSent && !abort.signal.aborted) {
        status = failure.status;
        const body = JSON.stringify(door.renderError(failure));
        if (res.headersSent) {
          res.end();
        } else if (ctx.request?.stream) {
          // Hijacked: Fastify no longer owns the reply, so write it ourselves.
          res.writeHead(status, {
            'content-type': 'application/json',
            'x-request-id': req.id,
            ...resilienceHeaders(ctx),
            ...errorHeaders(failure),
          });
          res.end(body);
        } else {
          await reply
            .code(status)
            .headers({ ...resilienceHeaders(ctx), ...errorHeaders(failure) })
            .type('application/json')
            .send(body);
        }
      }
    } finally {
      res.off('close', onClose);
      release();
      for (const end of ctx.onEnd) {
        try {
          end(relay.collector.usage);
        } catch (err) {
          deps.logger.error({ err, reqId: req.id }, 'request end hook failed');
        }
      }
      // Cut by shutdown, not left by the caller: recorded as the gateway's doing (SHUTTING_DOWN).
      const reason: unknown = abort.signal.reason;
      const cut = reason instanceof HoldfastError && reason.code === 'shutting_down' ? reason : undefined;
      if (cut) {
        failure = cut;
        if (!relay.headersSent) status = cut.status;
      }
      const cancelled = abort.signal.aborted && !res.writableFinished && !cut;
      const rec = finishOutcome(ctx, cancelled ? 499 : status, failure, cancelled, relay);
      deps.logger.info(
        {
          reqId: rec.requestId,
          status: rec.status,
          outcome: rec.outcome,
          flag: rec.flag,
          model: rec.model,
          deployment: rec.deployment,
          ms: Math.round(rec.latencyMs),
        },
        'request',
      );
    }
  };
}
