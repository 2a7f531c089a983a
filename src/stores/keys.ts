import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import { HoldfastError } from '../core/errors.ts';
import { type ApiKeysTable, type Database, jsonb } from './database.ts';
import { type StoreGuard, StoreUnavailableError } from './outage/port.ts';

/** A virtual API key as the rest of the gateway sees it; the secret is never part of it. */
export interface KeyRecord {
  id: string;
  name: string;
  /** Leading characters of the secret (e.g. `hf-AbCdEfGh`), safe to show in lists and logs. */
  prefix: string;
  /** Public model names the key may call; ['*'] allows all. */
  models: string[];
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  /** Overrides of the config's per-key limits. */
  limits: KeyLimits;
  /** Highest priority class this key may use; requests default to it. */
  priority: KeyPriority | null;
}

export interface KeyLimits {
  rpm?: number;
  tpm?: number;
  concurrent?: number;
}

export type KeyPriority = 'critical' | 'interactive' | 'batch';
const PRIORITIES: readonly KeyPriority[] = ['critical', 'interactive', 'batch'];

export interface NewKey {
  name: string;
  models: readonly string[];
  limits?: KeyLimits;
  priority?: KeyPriority;
}

export interface KeyStore {
  /** The secret is returned once, here, and cannot be recovered later. */
  createKey(input: NewKey): Promise<{ record: KeyRecord; secret: string }>;
  listKeys(): Promise<KeyRecord[]>;
  /**
   * Revokes by id or by the exact prefix shown in lists. Revoking twice keeps the first time; an
   * unknown key gives undefined; a prefix shared by several keys throws rather than guess.
   */
  revokeKey(idOrPrefix: string): Promise<KeyRecord | undefined>;
  /** The active key with this secret, or undefined (unknown or revoked). */
  verifyKey(secret: string): Promise<KeyRecord | undefined>;
}

export const KEY_SCHEME = 'hf-';
const PREFIX_LENGTH = KEY_SCHEME.length + 8;
const SECRET_BYTES = 32;
const MAX_NAME_LENGTH = 200;

/**
 * sha256 is enough here, unlike for passwords: the secret carries 256 random bits, so there is nothing
 * to guess from the hash and no reason to pay for a slow hash on every request.
 */
export function hashKey(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function keyAllowsModel(record: Pick<KeyRecord, 'models'>, model: string): boolean {
  return record.models.includes('*') || record.models.includes(model);
}

export interface SqlKeyStoreOptions {
  /**
   * last_used_at is written at most this often per key, so verifying a key on every request does not
   * turn every request into a write.
   */
  touchIntervalMs?: number;
}

export function createSqlKeyStore(db: Kysely<Database>, opts: SqlKeyStoreOptions = {}): KeyStore {
  const touchIntervalMs = opts.touchIntervalMs ?? 60_000;

  return {
    async createKey(input) {
      const name = input.name.trim();
      if (name === '' || name.length > MAX_NAME_LENGTH) {
        throw new RangeError(`key name must be 1 to ${MAX_NAME_LENGTH} characters`);
      }
      const models = normaliseModels(input.models);
      if (input.priority !== undefined && !PRIORITIES.includes(input.priority)) {
        throw new RangeError(`priority must be one of ${PRIORITIES.join(', ')}`);
      }
      const secret = KEY_SCHEME + randomBytes(SECRET_BYTES).toString('base64url');
      const row = await db
        .insertInto('api_keys')
        .values({
          id: randomUUID(),
          name,
          key_hash: hashKey(secret),
          prefix: secret.slice(0, PREFIX_LENGTH),
          models: jsonb(models),
          limits: input.limits ? jsonb(normaliseLimits(input.limits)) : null,
          priority: input.priority ?? null,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return { record: toRecord(row), secret };
    },

    async listKeys() {
      const rows = await db.selectFrom('api_keys').selectAll().orderBy('created_at').orderBy('id').execute();
      return rows.map(toRecord);
    },

    async revokeKey(idOrPrefix) {
      const matches = await db
        .selectFrom('api_keys')
        .selectAll()
        .where((eb) => eb.or([eb('id', '=', idOrPrefix), eb('prefix', '=', idOrPrefix)]))
        .execute();
      if (matches.length > 1) {
        throw new Error(`${matches.length} keys match ${idOrPrefix}; revoke by id instead`);
      }
      const match = matches[0];
      if (match === undefined) return undefined;
      if (match.revoked_at !== null) return toRecord(match);
      const revoked = await db
        .updateTable('api_keys')
        .set({ revoked_at: new Date() })
        .where('id', '=', match.id)
        .where('revoked_at', 'is', null)
        .returningAll()
        .executeTakeFirst();
      if (revoked) return toRecord(revoked);
      // Someone revoked it between our read and write; theirs is the time that stands.
      const current = await db
        .selectFrom('api_keys')
        .selectAll()
        .where('id', '=', match.id)
        .executeTakeFirst();
      return current && toRecord(current);
    },

    async verifyKey(secret) {
      const row = await db
        .selectFrom('api_keys')
        .selectAll()
        .where('key_hash', '=', hashKey(secret))
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      if (row === undefined) return undefined;
      const now = new Date();
      const stale = new Date(now.getTime() - touchIntervalMs);
      if (row.last_used_at !== null && row.last_used_at > stale) return toRecord(row);
      await db
        .updateTable('api_keys')
        .set({ last_used_at: now })
        .where('id', '=', row.id)
        .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', stale)]))
        .execute();
      return toRecord({ ...row, last_used_at: now });
    },
  };
}

export interface KnownKeysOptions {
  guard: StoreGuard;
  /** How long after its last successful verification a key is still honoured while the database is down. */
  ttlMs: number;
  now?: () => number;
  /** Keys remembered (the most recently verified). */
  max?: number;
}

/**
 * Key verification that keeps known callers served while PostgreSQL is unreachable
 * (docs/postgres-outage.md). Every verification that reaches the database refreshes what is remembered
 * about the key (a revoked or unknown key is forgotten at once); while the database cannot answer, a key
 * verified within `ttlMs` is honoured as last seen, and any other key gets `store_unavailable` (503, with
 * Retry-After) rather than a 401 it may not deserve. So a key revoked while this replica could not
 * reach the database stays usable here for at most `ttlMs` after this replica last verified it.
 */
export function withKnownKeys(
  store: Pick<KeyStore, 'verifyKey'>,
  opts: KnownKeysOptions,
): { verify(secret: string): Promise<KeyRecord | undefined>; forget(): void } {
  const now = opts.now ?? Date.now;
  const max = opts.max ?? 10_000;
  const known = new Map<string, { record: KeyRecord; at: number }>();
  return {
    async verify(secret) {
      const hash = hashKey(secret);
      try {
        const record = await opts.guard.read(() => store.verifyKey(secret));
        known.delete(hash);
        if (record) {
          known.set(hash, { record, at: now() });
          if (known.size > max) known.delete(known.keys().next().value!);
        }
        return record;
      } catch (err) {
        if (!(err instanceof StoreUnavailableError)) throw err;
        const k = known.get(hash);
        if (k && now() - k.at <= opts.ttlMs) return k.record;
        throw new HoldfastError('store_unavailable', { retryAfterSec: 10, cause: err });
      }
    },
    /** A revocation here: nothing remembered may outlive it, even during an outage. */
    forget() {
      known.clear();
    },
  };
}

function normaliseModels(models: readonly string[]): string[] {
  if (models.length === 0) throw new RangeError('a key needs at least one model, or "*" for all');
  const unique = [...new Set(models.map((m) => m.trim()))];
  if (unique.some((m) => m === '')) throw new RangeError('model names must not be empty');
  return unique.includes('*') ? ['*'] : unique;
}

function normaliseLimits(limits: KeyLimits): KeyLimits {
  const out: KeyLimits = {};
  for (const k of ['rpm', 'tpm', 'concurrent'] as const) {
    const v = limits[k];
    if (v === undefined) continue;
    if (!Number.isInteger(v) || v <= 0) throw new RangeError(`${k} must be a positive integer`);
    out[k] = v;
  }
  return out;
}

function parseLimits(value: unknown): KeyLimits {
  if (value === null || value === undefined || typeof value !== 'object') return {};
  const v = value as Record<string, unknown>;
  const out: KeyLimits = {};
  for (const k of ['rpm', 'tpm', 'concurrent'] as const) if (typeof v[k] === 'number') out[k] = v[k];
  return out;
}

function toRecord(row: Selectable<ApiKeysTable>): KeyRecord {
  return {
    limits: parseLimits(row.limits),
    priority: PRIORITIES.includes(row.priority as KeyPriority) ? (row.priority as KeyPriority) : null,
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    models: parseModels(row.id, row.models),
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}

function parseModels(id: string, value: unknown): string[] {
  if (Array.isArray(value) && value.every((m): m is string => typeof m === 'string')) return value;
  // Fail closed: a key whose scope cannot be read must not fall back to allowing anything.
  throw new Error(`api_keys.models of key ${id} is not an array of strings`);
}
