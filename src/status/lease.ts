import { type Kysely, sql } from 'kysely';
import type { Database } from '../stores/database.ts';

/**
 * Who is the cluster's status evaluator: the one replica that writes component statuses, opens, updates
 * and resolves incidents, runs maintenance windows and keeps the daily rollups. The others compute the
 * same statuses (for the chat banner and operators) but only follow what it writes.
 */
export interface EvaluatorLease {
  /** Takes or renews the role; true while this replica holds it. */
  hold(): Promise<boolean>;
  /** Gives the role up at once (a clean shutdown), so another replica takes over at its next tick. */
  release(): Promise<void>;
  /** The holder as last seen (this replica's id when it holds the role). */
  holder(): string | undefined;
  readonly replicaId: string;
}

const LEASE_KEY = 'status_evaluator';

/** The database's clock in epoch ms: replicas' clocks may disagree, the lease row's timestamps must not. */
const DB_NOW_MS = sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint`;

/**
 * The evaluator role as a lease row in `status_settings`, in the same database as the incidents it
 * guards, so it holds whether or not Redis is there: `{"holder", "until"}`, taken with one conditional
 * upsert when it is free, expired or already ours, and timed on the database's clock. A replica that dies
 * loses the role `ttlMs` after its last renewal; one that shuts down cleanly gives it up at once.
 *
 * When the database cannot be reached the last answer stands: this replica's writes are failing or
 * buffered then anyway, and the incident steps, which read the database first, wait for it.
 */
export class SqlEvaluatorLease implements EvaluatorLease {
  readonly #db: Kysely<Database>;
  readonly replicaId: string;
  readonly #ttlMs: number;
  #holding = false;
  #holder: string | undefined;

  constructor(db: Kysely<Database>, replicaId: string, ttlMs: number) {
    this.#db = db;
    this.replicaId = replicaId;
    this.#ttlMs = Math.max(1, Math.round(ttlMs));
  }

  async hold(): Promise<boolean> {
    try {
      const me = this.replicaId;
      const value = sql<string>`json_build_object('holder', ${me}::text, 'until', ${DB_NOW_MS} + ${this.#ttlMs}::bigint)::text`;
      const won = await sql<{ value: string }>`
        insert into status_settings (key, value) values (${LEASE_KEY}, ${value})
        on conflict (key) do update set value = excluded.value
        where (status_settings.value::json ->> 'holder') = ${me}::text
           or (status_settings.value::json ->> 'until')::bigint < ${DB_NOW_MS}
        returning value`.execute(this.#db);
      if (won.rows.length > 0) {
        this.#holding = true;
        this.#holder = me;
        return true;
      }
      const row = await sql<{ holder: string | null }>`
        select value::json ->> 'holder' as holder from status_settings where key = ${LEASE_KEY}`.execute(
        this.#db,
      );
      this.#holding = false;
      this.#holder = row.rows[0]?.holder ?? undefined;
      return false;
    } catch {
      return this.#holding;
    }
  }

  async release(): Promise<void> {
    if (!this.#holding) return;
    this.#holding = false;
    await sql`delete from status_settings where key = ${LEASE_KEY}
      and (value::json ->> 'holder') = ${this.replicaId}::text`
      .execute(this.#db)
      .catch(() => {});
  }

  holder(): string | undefined {
    return this.#holder;
  }
}
