import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../../stores/database.ts';
import type { ReplayHandler } from '../../stores/outage/buffer.ts';
import { type StoreGuard, StoreUnavailableError } from '../../stores/outage/port.ts';
import type { Session } from '../session.ts';
import { toChatUser } from './users.ts';

export const SESSION_COOKIE = 'hf_session';

/** 32 random bytes, base64url: what the cookie carries. */
const SECRET_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/** Only this goes to the database, so a leaked table does not hand out live sessions. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export interface NewSession {
  /** Goes into the cookie and nowhere else. */
  secret: string;
  csrfToken: string;
  expiresAt: Date;
}

export interface SessionStore {
  create(userId: string): Promise<NewSession>;
  /** The live session behind a cookie secret; an expired one is deleted on the way and not returned. */
  resolve(secret: string): Promise<Session | undefined>;
  destroy(secret: string): Promise<void>;
}

/** On PostgreSQL: the outage guard, and how long a session seen valid is honoured while it is unreachable. */
export interface SessionOutage {
  guard: StoreGuard;
  knownMs: number;
}

/** Sessions remembered for an outage (the most recently resolved ones). */
const MAX_KNOWN = 10_000;

export const SESSION_DESTROY = 'session.destroy';

async function deleteSession(db: Kysely<Database>, idHash: string): Promise<void> {
  await db.deleteFrom('sessions').where('id_hash', '=', idHash).execute();
}

export const sessionReplayHandlers: Readonly<Record<string, ReplayHandler>> = {
  [SESSION_DESTROY]: (db, d) => deleteSession(db, (d as { idHash: string }).idHash),
};

export function createSessionStore(
  db: Kysely<Database>,
  ttlMs: number,
  now: () => number,
  outage?: SessionOutage,
): SessionStore {
  const plain = createPlainSessionStore(db, ttlMs, now);
  if (!outage) return plain;
  const { guard, knownMs } = outage;
  // Sessions resolved while the database answered, so a signed-in user keeps chatting while it does not
  // (bounded by knownMs from the last successful check, and by the session's own expiry).
  const known = new Map<string, { session: Session; expiresAt: number; checkedAt: number }>();
  return {
    create: (userId) => guard.read(() => plain.create(userId)),
    async resolve(secret) {
      if (!SECRET_SHAPE.test(secret)) return undefined;
      const idHash = hashSecret(secret);
      try {
        const found = await guard.read(() => lookup(db, idHash, now));
        known.delete(idHash);
        if (found) {
          known.set(idHash, { ...found, checkedAt: now() });
          if (known.size > MAX_KNOWN) known.delete(known.keys().next().value!);
        }
        return found?.session;
      } catch (err) {
        if (!(err instanceof StoreUnavailableError)) throw err;
        const k = known.get(idHash);
        const t = now();
        if (k && k.expiresAt > t && t - k.checkedAt <= knownMs) return k.session;
        throw err;
      }
    },
    async destroy(secret) {
      if (!SECRET_SHAPE.test(secret)) return;
      const idHash = hashSecret(secret);
      known.delete(idHash);
      await guard.write({ kind: SESSION_DESTROY, key: idHash, data: { idHash }, admission: 'continuing' });
    },
  };
}

/** The live session behind a hashed secret; an expired one is deleted on the way. */
async function lookup(
  db: Kysely<Database>,
  idHash: string,
  now: () => number,
): Promise<{ session: Session; expiresAt: number } | undefined> {
  const row = await db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .select([
      'sessions.csrf_token',
      'sessions.expires_at',
      'users.id',
      'users.email',
      'users.name',
      'users.role',
    ])
    .where('sessions.id_hash', '=', idHash)
    .executeTakeFirst();
  if (!row) return undefined;
  const expiresAt = new Date(row.expires_at).getTime();
  if (expiresAt <= now()) {
    await deleteSession(db, idHash);
    return undefined;
  }
  return { session: { user: toChatUser(row), csrfToken: row.csrf_token }, expiresAt };
}

function createPlainSessionStore(db: Kysely<Database>, ttlMs: number, now: () => number): SessionStore {
  return {
    async create(userId) {
      const secret = randomBytes(32).toString('base64url');
      const csrfToken = randomBytes(32).toString('base64url');
      const t = now();
      const expiresAt = new Date(t + ttlMs);
      // Sessions nobody comes back to are never resolved, so sweep this user's dead ones here.
      await db
        .deleteFrom('sessions')
        .where('user_id', '=', userId)
        .where('expires_at', '<=', new Date(t))
        .execute();
      await db
        .insertInto('sessions')
        .values({
          id_hash: hashSecret(secret),
          user_id: userId,
          csrf_token: csrfToken,
          created_at: new Date(t),
          expires_at: expiresAt,
        })
        .execute();
      return { secret, csrfToken, expiresAt };
    },

    async resolve(secret) {
      if (!SECRET_SHAPE.test(secret)) return undefined;
      return (await lookup(db, hashSecret(secret), now))?.session;
    },

    async destroy(secret) {
      if (!SECRET_SHAPE.test(secret)) return;
      await deleteSession(db, hashSecret(secret));
    },
  };
}
