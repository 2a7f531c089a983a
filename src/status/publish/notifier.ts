import type { Config } from '../../config/schema.ts';
import type { Db } from '../../stores/database.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { StatusEvent, StatusView } from '../view.ts';
import { createMailer, type Mailer, PermanentFailure, postJson } from './deliver.ts';
import { publicUrls } from './links.ts';
import {
  discordBody,
  emailMessage,
  type MessageContext,
  type OutboxPayload,
  slackBody,
  webhookBody,
} from './messages.ts';
import {
  backoffMs,
  claimDue,
  enqueueDirect,
  enqueueEvent,
  markDelivered,
  markFailed,
  markRetry,
  type OutboxRow,
  pruneOutbox,
} from './outbox.ts';
import { SIGNATURE_HEADER, sign } from './signature.ts';
import type { Resolver } from './ssrf.ts';
import {
  confirmToken,
  disableSubscriber,
  getSubscriber,
  type Subscriber,
  unsubscribeToken,
} from './subscribers.ts';

/** Finished deliveries stay this long (for an operator asking "did they get it?"), then go. */
const KEEP_FINISHED_MS = 14 * 86_400_000;
const PRUNE_EVERY_MS = 3_600_000;

export interface NotifierOptions {
  db: Db;
  view: StatusView;
  config: Config['status'];
  logger: Logger;
  /** Test seams. */
  resolve?: Resolver;
  mailer?: Mailer;
  clock?: () => Date;
  rand?: () => number;
  /** How often the worker looks for due rows. */
  tickMs?: number;
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** Per delivery: connect, headers and body all within this. */
  timeoutMs?: number;
  /** How long a claimed row stays invisible to other workers. Must exceed timeoutMs. */
  leaseMs?: number;
  batchSize?: number;
}

export interface Notifier {
  /** Writes the deliveries an event causes (serialised, so batching sees every earlier event). */
  onEvent(ev: StatusEvent): Promise<void>;
  /** Queues the confirmation email of a new email subscriber. */
  requestConfirmation(sub: Subscriber): Promise<void>;
  /** One worker pass: claims due rows and delivers them. Returns how many were attempted. */
  tick(): Promise<number>;
  /** Waits for queued events to be written and due rows to be sent. */
  flush(): Promise<void>;
  start(): void;
  close(): Promise<void>;
}

export function createNotifier(o: NotifierOptions): Notifier {
  const { db, config, logger } = o;
  const n = config.notifications;
  const clock = o.clock ?? (() => new Date());
  const timeoutMs = o.timeoutMs ?? 10_000;
  const leaseMs = Math.max(o.leaseMs ?? 60_000, timeoutMs * 2);
  const baseMs = o.backoffBaseMs ?? 10_000;
  const capMs = o.backoffCapMs ?? 3_600_000;
  const urls = publicUrls(config.page.url);
  const mailer: Mailer | null = o.mailer ?? (n.smtp ? createMailer(n.smtp, timeoutMs) : null);
  let chain: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<number> | null = null;
  let closed = false;

  const onEvent = (ev: StatusEvent): Promise<void> => {
    // The batch window counts from when the event happened, not from when the queue got to it.
    const at = clock();
    chain = chain.then(async () => {
      try {
        const { status, page } = await o.view.summary();
        await enqueueEvent(db, ev, {
          batchWindowS: n.batch_window_s,
          page: { id: page.id, status_indicator: status.indicator, status_description: status.description },
          now: at,
        });
      } catch (err) {
        logger.error({ err, event: ev.type }, 'status notifications: could not queue an event');
      }
    });
    return chain;
  };

  const context = (sub: Subscriber, now: Date): MessageContext => ({
    pageName: config.page.name,
    urls,
    unsubscribeUrl: urls.unsubscribe(sub.id, unsubscribeToken(sub)),
    generatedAt: now.toISOString(),
  });

  /** Sends one row; returns normally on 2xx, throws otherwise. */
  const send = async (row: OutboxRow, sub: Subscriber, now: Date): Promise<void> => {
    const ctx = context(sub, now);
    const p: OutboxPayload = row.payload;
    if (sub.kind === 'email') {
      if (!mailer) throw new PermanentFailure('email is not configured (status.notifications.smtp)');
      const confirmUrl = urls.confirm(sub.id, confirmToken(sub));
      try {
        await mailer.send(sub.target, emailMessage(p, ctx, confirmUrl), {
          'List-Unsubscribe': `<${ctx.unsubscribeUrl}>`,
          'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
          'X-Holdfast-Delivery': row.id,
        });
      } catch (err) {
        const code = (err as { responseCode?: number }).responseCode;
        // 5xx from the mail server is a final answer (no such mailbox); anything else may pass later.
        if (typeof code === 'number' && code >= 500)
          throw new PermanentFailure(`SMTP ${code}: ${(err as Error).message}`);
        throw err;
      }
      return;
    }
    let body: string;
    const headers: Record<string, string> = {
      'x-holdfast-delivery': row.id,
      'x-holdfast-attempt': String(row.attempts),
    };
    if (sub.kind === 'webhook') {
      const payload = webhookBody(p, ctx);
      if (!payload) throw new PermanentFailure(`nothing to send a webhook for (${p.type})`);
      body = JSON.stringify(payload);
      headers[SIGNATURE_HEADER] = sign(sub.secret, body, Math.floor(now.getTime() / 1000));
    } else if (sub.kind === 'slack') {
      body = JSON.stringify(slackBody(p, ctx));
    } else {
      body = JSON.stringify(discordBody(p, ctx));
    }
    const res = await postJson(sub.target, body, headers, {
      allowPrivate: n.allow_private_targets,
      resolve: o.resolve,
      timeoutMs,
    });
    if (res.status >= 200 && res.status < 300) return;
    if (res.status === 410) {
      await disableSubscriber(db, sub.id, now);
      throw new PermanentFailure('HTTP 410: the receiver says it is gone; subscriber disabled');
    }
    const err = new Error(`HTTP ${res.status}`) as Error & { retryAfterS?: number | null };
    err.retryAfterS = res.retryAfterS;
    throw err;
  };

  const deliver = async (row: OutboxRow): Promise<void> => {
    const sub = await getSubscriber(db, row.subscriberId);
    const now = clock();
    if (!sub) {
      await markFailed(db, row.id, 'subscriber no longer exists', now);
      return;
    }
    try {
      await send(row, sub, now);
      await markDelivered(db, row.id, clock());
      logger.debug(
        { outbox: row.id, subscriber: sub.id, attempt: row.attempts },
        'status notification delivered',
      );
    } catch (err) {
      const message = (err as Error).message || String(err);
      const at = clock();
      if (err instanceof PermanentFailure || row.attempts >= n.max_attempts) {
        await markFailed(db, row.id, message, at);
        logger.warn(
          { outbox: row.id, subscriber: sub.id, kind: sub.kind, attempts: row.attempts, error: message },
          'status notification failed for good',
        );
        return;
      }
      const asked = (err as { retryAfterS?: number | null }).retryAfterS;
      let wait = backoffMs(row.attempts, baseMs, capMs, o.rand);
      // Honour the receiver's Retry-After, within reason.
      if (typeof asked === 'number') wait = Math.max(wait, Math.min(asked * 1000, capMs));
      await markRetry(db, row.id, message, new Date(at.getTime() + wait));
      logger.info(
        {
          outbox: row.id,
          subscriber: sub.id,
          kind: sub.kind,
          attempts: row.attempts,
          retryInMs: wait,
          error: message,
        },
        'status notification will be retried',
      );
    }
  };

  let lastPrune = 0;
  const pass = async (): Promise<number> => {
    const now = clock();
    if (now.getTime() - lastPrune > PRUNE_EVERY_MS) {
      lastPrune = now.getTime();
      await pruneOutbox(db, new Date(now.getTime() - KEEP_FINISHED_MS));
    }
    const rows = await claimDue(db, { limit: o.batchSize ?? 20, leaseMs, now });
    await Promise.all(
      rows.map((r) =>
        deliver(r).catch((err) => logger.error({ err, outbox: r.id }, 'status notification crashed')),
      ),
    );
    return rows.length;
  };

  const tick = (): Promise<number> => {
    // One pass at a time in this process; other processes are kept apart by the claim itself.
    running ??= pass().finally(() => {
      running = null;
    });
    return running;
  };

  return {
    onEvent,
    async requestConfirmation(sub) {
      await enqueueDirect(
        db,
        sub.id,
        `confirm:${sub.id}`,
        { type: 'confirm', changes: ['confirm'] },
        clock(),
      );
    },
    tick,
    async flush() {
      await chain;
      for (let i = 0; i < 100 && (await tick()) > 0; i++);
    },
    start() {
      if (timer || closed) return;
      timer = setInterval(() => {
        tick().catch((err) => logger.error({ err }, 'status notification worker pass failed'));
      }, o.tickMs ?? 1000);
      timer.unref();
    },
    async close() {
      closed = true;
      if (timer) clearInterval(timer);
      timer = null;
      await chain;
      await running?.catch(() => {});
      mailer?.close();
    },
  };
}
