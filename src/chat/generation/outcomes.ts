import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { OUTCOME_CHANNEL, type OutcomeRecord } from '../../telemetry/outcome.ts';

const PREFIX = 'chat_';
const KEEP_MS = 10_000;

/**
 * The gateway's outcome records of the chat app's own requests. They tell what the stream cannot: that
 * the answer moved to another deployment after it had started (a mid-stream failover), so the chat can
 * say "completed by a backup model".
 */
export class ChatOutcomes {
  readonly #records = new Map<string, { rec: OutcomeRecord; at: number }>();
  readonly #waiters = new Map<string, (rec: OutcomeRecord) => void>();
  readonly #onOutcome = (m: unknown): void => {
    const rec = m as OutcomeRecord;
    if (!rec.requestId.startsWith(PREFIX)) return;
    const waiter = this.#waiters.get(rec.requestId);
    if (waiter) {
      this.#waiters.delete(rec.requestId);
      waiter(rec);
      return;
    }
    const now = Date.now();
    this.#records.set(rec.requestId, { rec, at: now });
    for (const [id, r] of this.#records) {
      if (now - r.at < KEEP_MS) break;
      this.#records.delete(id);
    }
  };

  constructor() {
    subscribe(OUTCOME_CHANNEL, this.#onOutcome);
  }

  /** The outcome of `requestId`, waiting up to `ms` for it (it is published as the response ends). */
  wait(requestId: string, ms: number): Promise<OutcomeRecord | undefined> {
    const have = this.#records.get(requestId);
    if (have) {
      this.#records.delete(requestId);
      return Promise.resolve(have.rec);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(requestId);
        resolve(undefined);
      }, ms);
      this.#waiters.set(requestId, (rec) => {
        clearTimeout(timer);
        resolve(rec);
      });
    });
  }

  close(): void {
    unsubscribe(OUTCOME_CHANNEL, this.#onOutcome);
  }
}
