import { randomUUID } from 'node:crypto';
import { type Kysely, type Selectable, sql, type Transaction } from 'kysely';
import { z } from 'zod';
import type { Database, UsersTable } from '../../stores/database.ts';
import { ChatError } from '../errors.ts';
import type { ChatUser, Role } from '../session.ts';
import { hashPassword, PASSWORD_MAX, PASSWORD_MIN } from './passwords.ts';

export const NAME_MAX = 100;
const EMAIL_MAX = 254;
const emailSchema = z.email();

/** Emails compare case-insensitively in practice; storing one spelling keeps the unique index honest. */
export function normaliseEmail(raw: string): string {
  return raw.trim().toLowerCase();
}

export function isValidEmail(email: string): boolean {
  return email.length <= EMAIL_MAX && emailSchema.safeParse(email).success;
}

export function checkPassword(password: string): void {
  if (password.length < PASSWORD_MIN)
    throw new ChatError('invalid_request', `password: at least ${PASSWORD_MIN} characters`);
  if (password.length > PASSWORD_MAX)
    throw new ChatError('invalid_request', `password: at most ${PASSWORD_MAX} characters`);
}

export type UserRow = Selectable<UsersTable>;

export function toChatUser(row: Pick<UserRow, 'id' | 'email' | 'name' | 'role'>): ChatUser {
  return { id: row.id, email: row.email, name: row.name, role: row.role === 'admin' ? 'admin' : 'user' };
}

export interface NewUser {
  email: string;
  name: string;
  password?: string | undefined;
  role?: Role | undefined;
  oidcSubject?: string | undefined;
}

// Serialises account creation, so two concurrent first sign-ups cannot both see an empty table and
// both become admin. An arbitrary constant of our own ("hfusers").
const CREATE_LOCK = 0x68_6675_7365_7273n;

export interface UserStore {
  /** Validates, hashes, inserts. The first account ever created becomes admin unless `role` says otherwise. */
  create(input: NewUser): Promise<ChatUser>;
  byEmail(email: string): Promise<UserRow | undefined>;
  byOidcSubject(subject: string): Promise<UserRow | undefined>;
  /** Attaches an OIDC identity to an account that has none; false when it already has one. */
  linkOidc(userId: string, subject: string): Promise<boolean>;
  setPasswordHash(userId: string, hash: string): Promise<void>;
}

export function createUserStore(db: Kysely<Database>): UserStore {
  return {
    async create(input) {
      const email = normaliseEmail(input.email);
      if (!isValidEmail(email)) throw new ChatError('invalid_request', 'email: not a valid email address');
      const name = input.name.trim();
      if (name.length === 0 || name.length > NAME_MAX)
        throw new ChatError('invalid_request', `name: 1 to ${NAME_MAX} characters`);
      let passwordHash: string | null = null;
      if (input.password !== undefined) {
        checkPassword(input.password);
        passwordHash = await hashPassword(input.password);
      }
      try {
        return await db.transaction().execute(async (tx) => {
          await sql`select pg_advisory_xact_lock(${CREATE_LOCK})`.execute(tx);
          if (await emailExists(tx, email)) throw new ChatError('email_taken');
          const anyone = await tx.selectFrom('users').select('id').limit(1).executeTakeFirst();
          const role: Role = input.role ?? (anyone ? 'user' : 'admin');
          const row = await tx
            .insertInto('users')
            .values({
              id: randomUUID(),
              email,
              name,
              password_hash: passwordHash,
              oidc_subject: input.oidcSubject ?? null,
              role,
            })
            .returning(['id', 'email', 'name', 'role'])
            .executeTakeFirstOrThrow();
          return toChatUser(row);
        });
      } catch (error) {
        // The lock makes an email race unreachable; a racing oidc_subject insert can still land here.
        const violated = uniqueViolation(error);
        if (violated !== undefined)
          throw new ChatError(violated.includes('oidc') ? 'conflict' : 'email_taken', undefined, {
            cause: error,
          });
        throw error;
      }
    },

    byEmail(email) {
      return db.selectFrom('users').selectAll().where('email', '=', normaliseEmail(email)).executeTakeFirst();
    },

    byOidcSubject(subject) {
      return db.selectFrom('users').selectAll().where('oidc_subject', '=', subject).executeTakeFirst();
    },

    async linkOidc(userId, subject) {
      const r = await db
        .updateTable('users')
        .set({ oidc_subject: subject })
        .where('id', '=', userId)
        .where('oidc_subject', 'is', null)
        .executeTakeFirst();
      return r.numUpdatedRows > 0n;
    },

    async setPasswordHash(userId, hash) {
      await db.updateTable('users').set({ password_hash: hash }).where('id', '=', userId).execute();
    },
  };
}

async function emailExists(tx: Transaction<Database>, email: string): Promise<boolean> {
  const row = await tx.selectFrom('users').select('id').where('email', '=', email).executeTakeFirst();
  return row !== undefined;
}

/** The violated constraint's name ('' when the driver does not say) for a unique violation. */
function uniqueViolation(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as { code?: unknown; constraint?: unknown };
  if (e.code !== '23505') return undefined;
  return typeof e.constraint === 'string' ? e.constraint : '';
}
