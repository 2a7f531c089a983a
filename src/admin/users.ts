import type { Kysely } from 'kysely';
import { toChatUser } from '../chat/accounts/users.ts';
import type { Database } from '../stores/database.ts';

export interface UserView {
  id: string;
  email: string;
  name: string;
  role: 'user' | 'admin';
  /** How the account can sign in. */
  password: boolean;
  sso: boolean;
  createdAt: string;
  /** Unexpired chat sessions (signed-in browsers). */
  sessions: number;
}

/** At most this many accounts per page of the console; the list is read-only. */
const LIMIT = 500;

/**
 * The chat accounts, newest first, read-only. The accounts module has no disable or role-change
 * operation, so the console offers none: changing who may do what belongs in that module, with its own
 * checks (the last admin, active sessions), not in a side door here.
 */
export async function listUsers(
  db: Kysely<Database>,
  now: Date,
): Promise<{ users: UserView[]; total: number; limit: number }> {
  const [rows, sessions, total] = await Promise.all([
    db
      .selectFrom('users')
      .select(['id', 'email', 'name', 'role', 'password_hash', 'oidc_subject', 'created_at'])
      .orderBy('created_at', 'desc')
      .orderBy('id')
      .limit(LIMIT)
      .execute(),
    db
      .selectFrom('sessions')
      .select(['user_id', db.fn.countAll<string | number>().as('n')])
      .where('expires_at', '>', now)
      .groupBy('user_id')
      .execute(),
    db.selectFrom('users').select(db.fn.countAll<string | number>().as('n')).executeTakeFirst(),
  ]);
  const live = new Map(sessions.map((s) => [s.user_id, Number(s.n)]));
  return {
    users: rows.map((r) => ({
      ...toChatUser(r),
      password: r.password_hash !== null,
      sso: r.oidc_subject !== null,
      createdAt: new Date(r.created_at).toISOString(),
      sessions: live.get(r.id) ?? 0,
    })),
    total: Number(total?.n ?? 0),
    limit: LIMIT,
  };
}
