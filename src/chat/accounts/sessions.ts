import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../../stores/database.ts';
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

export function createSessionStore(db: Kysely<Database>, ttlMs: number, now: () => number): SessionStore {
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
      const idHash = hashSecret(secret);
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
      if (new Date(row.expires_at).getTime() <= now()) {
        await db.deleteFrom('sessions').where('id_hash', '=', idHash).execute();
        return undefined;
      }
      return { user: toChatUser(row), csrfToken: row.csrf_token };
    },

    async destroy(secret) {
      if (!SECRET_SHAPE.test(secret)) return;
      await db.deleteFrom('sessions').where('id_hash', '=', hashSecret(secret)).execute();
    },
  };
}
