import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { type Db, jsonb } from '../../stores/database.ts';
import { checkTarget, type Resolver, TargetRefused } from './ssrf.ts';

export const SUBSCRIBER_KINDS = ['webhook', 'slack', 'discord', 'email'] as const;
export type SubscriberKind = (typeof SUBSCRIBER_KINDS)[number];

export interface Subscriber {
  id: string;
  kind: SubscriberKind;
  target: string;
  /** HMAC key of webhook signatures; the unsubscribe and confirm tokens derive from it too. */
  secret: string;
  /** Only incidents touching these components (null: all). */
  components: string[] | null;
  /** Webhooks only: also every component status change. */
  componentUpdates: boolean;
  createdAt: Date;
  /** Set while an email address is unconfirmed, or when the target told us it is gone (410). */
  disabledAt: Date | null;
}

/**
 * The `component_ids` jsonb column holds the subscriber's options: `{components: string[] | null,
 * component_updates: boolean}`. A bare array (the column's first meaning) still reads as the filter.
 */
const optionsSchema = z.union([
  z.array(z.string()).transform((components) => ({ components, component_updates: false })),
  z.object({
    components: z.array(z.string()).nullable().default(null),
    component_updates: z.boolean().default(false),
  }),
  z.null().transform(() => ({ components: null, component_updates: false })),
]);

type Row = {
  id: string;
  kind: string;
  target: string;
  secret: string;
  component_ids: unknown;
  created_at: Date;
  disabled_at: Date | null;
};

export function fromRow(r: Row): Subscriber {
  const opts = optionsSchema.safeParse(r.component_ids);
  const o = opts.success ? opts.data : { components: null, component_updates: false };
  return {
    id: r.id,
    kind: (SUBSCRIBER_KINDS as readonly string[]).includes(r.kind) ? (r.kind as SubscriberKind) : 'webhook',
    target: r.target,
    secret: r.secret,
    components: o.components,
    componentUpdates: o.component_updates,
    createdAt: r.created_at,
    disabledAt: r.disabled_at,
  };
}

function token(sub: Pick<Subscriber, 'id' | 'secret'>, purpose: 'unsubscribe' | 'confirm'): string {
  return createHmac('sha256', sub.secret).update(`${purpose}:${sub.id}`).digest('base64url').slice(0, 32);
}

/** In unsubscribe links. Derived, so links (logged, forwarded) never reveal the signing secret. */
export const unsubscribeToken = (sub: Pick<Subscriber, 'id' | 'secret'>) => token(sub, 'unsubscribe');
export const confirmToken = (sub: Pick<Subscriber, 'id' | 'secret'>) => token(sub, 'confirm');

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export const subscribeInput = z
  .object({
    kind: z.enum(SUBSCRIBER_KINDS),
    target: z.string().trim().min(3).max(2048),
    /** Webhooks: your own signing secret; one is generated (and returned once) when absent. */
    secret: z.string().min(16).max(256).optional(),
    components: z.array(z.string().min(1).max(200)).max(200).optional(),
    component_updates: z.boolean().optional(),
  })
  .strict();

export type SubscribeInput = z.input<typeof subscribeInput>;

export class SubscribeError extends Error {
  override name = 'SubscribeError';
}

// Deliberately simple: one @, something on each side, a dot in the domain, no spaces or brackets.
const EMAIL =
  /^[^\s@<>()[\]\\,;:"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

export interface SubscribePolicy {
  allowPrivate: boolean;
  emailEnabled: boolean;
  resolve?: Resolver;
}

export interface Created {
  subscriber: Subscriber;
  /** Returned to the caller once; null for kinds that are not signed. */
  secret: string | null;
  unsubscribeToken: string;
}

const newId = (prefix: string) => `${prefix}_${randomBytes(12).toString('base64url')}`;

export async function createSubscriber(
  db: Db,
  input: z.output<typeof subscribeInput>,
  policy: SubscribePolicy,
): Promise<Created> {
  if (input.secret !== undefined && input.kind !== 'webhook') {
    throw new SubscribeError('secret applies to webhook subscribers only');
  }
  if (input.component_updates && input.kind !== 'webhook') {
    throw new SubscribeError('component_updates applies to webhook subscribers only');
  }
  let target = input.target;
  if (input.kind === 'email') {
    if (!policy.emailEnabled) throw new SubscribeError('email notifications are not configured on this page');
    if (!EMAIL.test(target) || target.length > 254) throw new SubscribeError('not a valid email address');
    target = target.toLowerCase();
  } else {
    try {
      target = (await checkTarget(target, { allowPrivate: policy.allowPrivate, resolve: policy.resolve })).url
        .href;
    } catch (err) {
      if (err instanceof TargetRefused) throw new SubscribeError(`target refused: ${err.message}`);
      throw err;
    }
  }
  const secret = input.secret ?? randomBytes(32).toString('base64url');
  const id = newId('sub');
  const now = new Date();
  const components = input.components && input.components.length > 0 ? [...new Set(input.components)] : null;
  // Email addresses start unconfirmed: anyone can type anyone's address into the form.
  const disabledAt = input.kind === 'email' ? now : null;
  await db.kysely
    .insertInto('status_subscribers')
    .values({
      id,
      kind: input.kind,
      target,
      secret,
      component_ids: jsonb({ components, component_updates: input.component_updates ?? false }),
      created_at: now,
      disabled_at: disabledAt,
    })
    .execute();
  const subscriber: Subscriber = {
    id,
    kind: input.kind,
    target,
    secret,
    components,
    componentUpdates: input.component_updates ?? false,
    createdAt: now,
    disabledAt,
  };
  return {
    subscriber,
    secret: input.kind === 'webhook' ? secret : null,
    unsubscribeToken: unsubscribeToken(subscriber),
  };
}

export async function getSubscriber(db: Db, id: string): Promise<Subscriber | null> {
  const row = await db.kysely
    .selectFrom('status_subscribers')
    .selectAll()
    .where('id', '=', id)
    .executeTakeFirst();
  return row ? fromRow(row) : null;
}

/** Removes the subscriber (and its pending deliveries) when the token matches. */
export async function unsubscribe(db: Db, id: string, tokenGiven: string): Promise<boolean> {
  const sub = await getSubscriber(db, id);
  if (!sub || !sameToken(unsubscribeToken(sub), tokenGiven)) return false;
  await db.kysely.deleteFrom('status_subscribers').where('id', '=', id).execute();
  return true;
}

export async function confirm(db: Db, id: string, tokenGiven: string): Promise<boolean> {
  const sub = await getSubscriber(db, id);
  if (!sub || !sameToken(confirmToken(sub), tokenGiven)) return false;
  await db.kysely.updateTable('status_subscribers').set({ disabled_at: null }).where('id', '=', id).execute();
  return true;
}

export async function activeSubscribers(db: Db): Promise<Subscriber[]> {
  const rows = await db.kysely
    .selectFrom('status_subscribers')
    .selectAll()
    .where('disabled_at', 'is', null)
    .orderBy('created_at')
    .execute();
  return rows.map(fromRow);
}

/** For an admin listing: everything but the secret. */
export async function listSubscribers(db: Db): Promise<Omit<Subscriber, 'secret'>[]> {
  const rows = await db.kysely.selectFrom('status_subscribers').selectAll().orderBy('created_at').execute();
  return rows.map((r) => {
    const { secret: _secret, ...rest } = fromRow(r);
    return rest;
  });
}

export async function disableSubscriber(db: Db, id: string, at: Date): Promise<void> {
  await db.kysely.updateTable('status_subscribers').set({ disabled_at: at }).where('id', '=', id).execute();
}

export { newId };
