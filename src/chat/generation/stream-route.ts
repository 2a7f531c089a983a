import type { FastifyInstance, FastifyReply, preHandlerAsyncHookHandler } from 'fastify';
import type { ConversationStore, MessageRecord } from '../conversations/store.ts';
import { sessionOf } from '../session.ts';
import type { GenerationHub, LogEvent } from './hub.ts';

const HEARTBEAT_MS = 15_000;
/** How often a reader polls the database when the answer is being written by another node. */
const POLL_MS = 250;
/** A handed-over reader reconnects after this long plus up to as much again (SSE `retry:`). */
const HANDOVER_RETRY_MS = 250;

/**
 * GET /api/messages/:id/stream: the answer as server-sent events, resumable. Chunk events carry their
 * sequence number as the SSE id, so a browser reconnecting with Last-Event-ID (a reload, a dropped
 * network, a second tab) gets exactly the chunks it lacks, then the live ones.
 */
export function registerStreamRoute(
  app: FastifyInstance,
  deps: { guard: preHandlerAsyncHookHandler; conversations: ConversationStore; hub: GenerationHub },
): { closeAll(): void } {
  const { conversations, hub } = deps;
  /** Each open stream's handover: a reconnect hint, then the end of the stream. */
  const open = new Set<() => void>();
  app.get<{ Params: { id: string }; Querystring: { lastEventId?: string } }>(
    '/api/messages/:id/stream',
    { preHandler: deps.guard },
    async (req, reply) => {
      const { user } = sessionOf(req);
      const { message } = await conversations.message(req.params.id, user.id);
      const header = req.headers['last-event-id'];
      const raw = typeof header === 'string' ? header : (req.query.lastEventId ?? '0');
      const after = Math.max(0, Number.parseInt(raw, 10) || 0);

      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      // Browsers retry after this long when the connection drops.
      res.write('retry: 1000\n\n');
      let closed = false;
      let detach: (() => void) | undefined;
      let poller: NodeJS.Timeout | undefined;
      const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
      heartbeat.unref();
      const end = (): void => {
        if (closed) return;
        closed = true;
        open.delete(handOver);
        clearInterval(heartbeat);
        clearTimeout(poller);
        detach?.();
        res.end();
      };
      // This replica is stopping: reconnect soon (to another one), spread out so the readers of a busy
      // replica do not all land on the next one in the same instant. Last-Event-ID resumes them.
      const handOver = (): void => {
        if (closed) return;
        res.write(`retry: ${HANDOVER_RETRY_MS + Math.floor(Math.random() * HANDOVER_RETRY_MS)}\n\n`);
        end();
      };
      req.raw.on('close', end);
      open.add(handOver);
      const send = (ev: LogEvent): void => {
        if (closed) return;
        res.write(format(ev));
        if (ev.type === 'done') end();
      };

      detach = await hub.attach(message.id, after, send);
      if (detach || closed) return;
      // Not live here: finished, or being written elsewhere; read the database, and poll while it is live.
      await fromDatabase(
        conversations,
        message,
        after,
        send,
        (ms, fn) => {
          if (!closed) poller = setTimeout(fn, ms);
        },
        () => closed,
        hub,
      );
    },
  );
  return {
    closeAll() {
      for (const handOver of [...open]) handOver();
    },
  };
}

async function fromDatabase(
  conversations: ConversationStore,
  first: MessageRecord,
  after: number,
  send: (ev: LogEvent) => void,
  later: (ms: number, fn: () => void) => void,
  isClosed: () => boolean,
  hub: GenerationHub,
): Promise<void> {
  let seq = after;
  let lastStatus = '';
  const step = async (m: MessageRecord): Promise<void> => {
    for (const c of await conversations.chunksAfter(m.id, seq)) {
      send({ type: 'chunk', seq: c.seq, text: c.text });
      seq = c.seq;
    }
    if (m.status !== 'queued' && m.status !== 'streaming') {
      send({ type: 'done', status: m.status, meta: m.meta, content: m.content });
      return;
    }
    const key = `${m.status}:${JSON.stringify(m.meta)}`;
    if (key !== lastStatus) {
      lastStatus = key;
      send({ type: 'status', status: m.status, meta: m.meta });
    }
    later(POLL_MS, () => {
      void (async () => {
        if (isClosed()) return;
        // It may have started here meanwhile (Continue on this node): switch to the live log.
        if (hub.isLive(m.id)) {
          await hub.attach(m.id, seq, send);
          return;
        }
        const now = await conversations.messageById(m.id);
        if (now) await step(now);
      })().catch(() => {});
    });
  };
  await step(first);
}

function format(ev: LogEvent): string {
  switch (ev.type) {
    case 'chunk':
      return `id: ${ev.seq}\nevent: chunk\ndata: ${JSON.stringify({ text: ev.text })}\n\n`;
    case 'status':
      return `event: status\ndata: ${JSON.stringify({ status: ev.status, meta: ev.meta })}\n\n`;
    case 'done':
      return `event: done\ndata: ${JSON.stringify({ status: ev.status, meta: ev.meta, content: ev.content })}\n\n`;
  }
}

export type { FastifyReply };
