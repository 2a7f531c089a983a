import { sql } from 'kysely';
import { type Db, jsonb } from '../../stores/database.ts';
import type { SpWebhookPage } from '../statuspage.ts';
import type { StatusEvent } from '../view.ts';
import type { OutboxPayload } from './messages.ts';
import { activeSubscribers, newId, type Subscriber } from './subscribers.ts';

/**
 * The durable outbox (status_outbox): one row per subscriber per delivery. Rows are written when a status
 * event happens and sent by the worker; a crash between the two loses nothing, and a claimed row whose
 * worker died is picked up again when its lease runs out.
 */

export interface OutboxRow {
  id: string;
  subscriberId: string;
  topic: string;
  payload: OutboxPayload;
  attempts: number;
}

function touches(sub: Subscriber, componentIds: readonly string[]): boolean {
  if (sub.components === null || componentIds.length === 0) return true;
  return componentIds.some((id) => sub.components!.includes(id));
}

/** Subscribers hear about incidents and maintenance; component flaps only reach webhooks that asked. */
export function wants(sub: Subscriber, ev: StatusEvent): boolean {
  if (ev.type === 'component') {
    return sub.kind === 'webhook' && sub.componentUpdates && touches(sub, [ev.component.id]);
  }
  return touches(
    sub,
    ev.incident.components.map((c) => c.id),
  );
}

/** Statuspage lets an update opt out of notifications; a newly created incident always notifies. */
function notifies(ev: StatusEvent): boolean {
  if (ev.type === 'component') return true;
  if (ev.type === 'incident' && ev.change === 'created') return true;
  const latest = [...ev.incident.incident_updates].sort((a, b) =>
    b.display_at.localeCompare(a.display_at),
  )[0];
  return latest?.deliver_notifications !== false;
}

function payloadFor(ev: StatusEvent, page: SpWebhookPage): { topic: string; payload: OutboxPayload } {
  if (ev.type === 'component') {
    return {
      topic: `component:${ev.component.id}`,
      payload: {
        type: 'component',
        changes: [ev.newStatus],
        component: ev.component,
        component_update: {
          id: `cu_${ev.component.id}_${Date.parse(ev.at) || Date.now()}`,
          component_id: ev.component.id,
          old_status: ev.oldStatus,
          new_status: ev.newStatus,
          created_at: ev.at,
        },
        page,
      },
    };
  }
  return {
    topic: `incident:${ev.incident.id}`,
    payload: { type: ev.type, changes: [ev.change], incident: ev.incident, page },
  };
}

/** A later event about the same thing, folded into a delivery that has not gone out yet. */
function fold(older: OutboxPayload, newer: OutboxPayload): OutboxPayload {
  const changes = [...older.changes, ...newer.changes];
  if (older.type === 'component' && newer.type === 'component') {
    // Keep where the component started from, so "operational → degraded → major" reads as one step.
    return {
      ...newer,
      changes,
      component_update: { ...newer.component_update, old_status: older.component_update.old_status },
    };
  }
  return { ...newer, changes };
}

export interface EnqueueOptions {
  batchWindowS: number;
  page: SpWebhookPage;
  now: Date;
}

/** Writes (or folds into pending rows) the deliveries one status event causes. Returns rows touched. */
export async function enqueueEvent(db: Db, ev: StatusEvent, o: EnqueueOptions): Promise<number> {
  if (!notifies(ev)) return 0;
  const subs = (await activeSubscribers(db)).filter((s) => wants(s, ev));
  if (subs.length === 0) return 0;
  const { topic, payload } = payloadFor(ev, o.page);
  const due = new Date(o.now.getTime() + o.batchWindowS * 1000);
  let n = 0;
  for (const sub of subs) {
    if (o.batchWindowS > 0 && (await foldPending(db, sub.id, topic, payload, o.now))) {
      n++;
      continue;
    }
    await db.kysely
      .insertInto('status_outbox')
      .values({
        id: newId('ob'),
        subscriber_id: sub.id,
        topic,
        payload: jsonb(payload),
        next_attempt_at: due,
        created_at: o.now,
      })
      .execute();
    n++;
  }
  return n;
}

async function foldPending(
  db: Db,
  subscriberId: string,
  topic: string,
  payload: OutboxPayload,
  now: Date,
): Promise<boolean> {
  const pending = await db.kysely
    .selectFrom('status_outbox')
    .select(['id', 'payload'])
    .where('subscriber_id', '=', subscriberId)
    .where('topic', '=', topic)
    .where('attempts', '=', 0)
    .where('delivered_at', 'is', null)
    .where('failed_at', 'is', null)
    .where('next_attempt_at', '>', now)
    .orderBy('created_at', 'desc')
    .executeTakeFirst();
  if (!pending) return false;
  const merged = fold(pending.payload as OutboxPayload, payload);
  // attempts = 0 again: a worker that claimed the row in between wins, and this event gets its own row.
  const res = await db.kysely
    .updateTable('status_outbox')
    .set({ payload: jsonb(merged) })
    .where('id', '=', pending.id)
    .where('attempts', '=', 0)
    .executeTakeFirst();
  return res.numUpdatedRows > 0n;
}

/** Queues one message outside the event flow (email confirmation). */
export async function enqueueDirect(
  db: Db,
  subscriberId: string,
  topic: string,
  payload: OutboxPayload,
  now: Date,
): Promise<void> {
  await db.kysely
    .insertInto('status_outbox')
    .values({
      id: newId('ob'),
      subscriber_id: subscriberId,
      topic,
      payload: jsonb(payload),
      next_attempt_at: now,
      created_at: now,
    })
    .execute();
}

/**
 * Claims up to `limit` due rows and leases them for `leaseMs` (their next_attempt_at moves past the
 * lease, so another node, or this one after a crash, retries them only once it has run out).
 * `for update skip locked` lets several gateways on one Postgres claim disjoint rows; PGlite is real
 * Postgres in one process, so the same statement serves both.
 */
export async function claimDue(
  db: Db,
  o: { limit: number; leaseMs: number; now: Date },
): Promise<OutboxRow[]> {
  const leaseUntil = new Date(o.now.getTime() + o.leaseMs);
  const { rows } = await sql<{
    id: string;
    subscriber_id: string;
    topic: string;
    payload: unknown;
    attempts: number;
  }>`
    with due as (
      select id from status_outbox
      where delivered_at is null and failed_at is null and next_attempt_at <= ${o.now}
      order by next_attempt_at
      limit ${o.limit}
      for update skip locked
    )
    update status_outbox o
    set attempts = o.attempts + 1, next_attempt_at = ${leaseUntil}
    from due
    where o.id = due.id
    returning o.id, o.subscriber_id, o.topic, o.payload, o.attempts`.execute(db.kysely);
  return rows.map((r) => ({
    id: r.id,
    subscriberId: r.subscriber_id,
    topic: r.topic,
    payload: r.payload as OutboxPayload,
    attempts: r.attempts,
  }));
}

export async function markDelivered(db: Db, id: string, now: Date): Promise<void> {
  await db.kysely
    .updateTable('status_outbox')
    .set({ delivered_at: now, last_error: null })
    .where('id', '=', id)
    .execute();
}

export async function markFailed(db: Db, id: string, error: string, now: Date): Promise<void> {
  await db.kysely
    .updateTable('status_outbox')
    .set({ failed_at: now, last_error: error.slice(0, 2000) })
    .where('id', '=', id)
    .execute();
}

export async function markRetry(db: Db, id: string, error: string, at: Date): Promise<void> {
  await db.kysely
    .updateTable('status_outbox')
    .set({ next_attempt_at: at, last_error: error.slice(0, 2000) })
    .where('id', '=', id)
    .execute();
}

/**
 * Exponential backoff with jitter: attempt n waits base·2^(n-1), capped, then scaled by a random factor
 * in [0.5, 1) so receivers coming back up are not hit by every sender at the same instant.
 */
export function backoffMs(
  attempt: number,
  baseMs: number,
  capMs: number,
  rand: () => number = Math.random,
): number {
  const exp = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp * (0.5 + rand() * 0.5));
}

/** Forgets finished rows (delivered or given up) older than `before`; the outbox is a queue, not a log. */
export async function pruneOutbox(db: Db, before: Date): Promise<number> {
  const res = await db.kysely
    .deleteFrom('status_outbox')
    .where((eb) =>
      eb.or([
        eb.and([eb('delivered_at', 'is not', null), eb('delivered_at', '<', before)]),
        eb.and([eb('failed_at', 'is not', null), eb('failed_at', '<', before)]),
      ]),
    )
    .executeTakeFirst();
  return Number(res.numDeletedRows);
}

export interface OutboxStats {
  pending: number;
  delivered: number;
  failed: number;
}

export async function outboxStats(db: Db): Promise<OutboxStats> {
  const r = await db.kysely
    .selectFrom('status_outbox')
    .select([
      sql<number>`count(*) filter (where delivered_at is null and failed_at is null)::int`.as('pending'),
      sql<number>`count(*) filter (where delivered_at is not null)::int`.as('delivered'),
      sql<number>`count(*) filter (where failed_at is not null)::int`.as('failed'),
    ])
    .executeTakeFirstOrThrow();
  return { pending: r.pending, delivered: r.delivered, failed: r.failed };
}
