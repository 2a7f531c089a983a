import { fullJitter } from '../../resilience/backoff.ts';
import type { Rng } from '../../resilience/types.ts';
import type { Redis } from './client.ts';

/** The slice of the gateway's pino logger shared state writes to. */
export interface LogSink {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/** `shared`: state lives in Redis. `local-fallback`: Redis is away; each replica answers from its own state. */
export type SharedMode = 'shared' | 'local-fallback';

/** Returned by `RedisLink.within`: answer from local state; the call did not run (not sent, or it failed). */
export const LOCAL: unique symbol = Symbol('answer locally');
/** Returned by `RedisLink.within`: answer from local state; the call was sent and may still run in Redis. */
export const LATE: unique symbol = Symbol('answer locally, the call may still run');

export interface RedisLinkOptions {
  redis: Redis;
  /** Longest a request-path call may wait on Redis. */
  timeoutMs: number;
  /** Consecutive failures or timeouts that switch to local fallback. */
  failuresToFallback: number;
  reconnectBaseMs: number;
  reconnectCapMs: number;
  logger?: LogSink;
  rng?: Rng;
}

export interface LinkStatus {
  mode: SharedMode;
  /** Wall-clock ms of the last change of mode. */
  since: number;
  /** Why the link is in fallback (absent while shared). */
  reason?: string;
  /** Changes of mode since start. */
  transitions: number;
}

/**
 * Whether this replica trusts Redis right now, and the time budget of every request-path call to it.
 *
 * A single slow or failed call only makes that request answer locally; `failuresToFallback` in a row (or a
 * closed connection) switch the whole replica to local fallback, where the request path stops calling Redis
 * at all. Meanwhile a probe (PING, with a longer timeout) retries with full-jitter backoff; ioredis
 * reconnects the socket underneath with its own backoff. Each change of mode is logged once.
 */
export class RedisLink {
  readonly #redis: Redis;
  readonly #timeoutMs: number;
  readonly #threshold: number;
  readonly #backoff: { baseMs: number; capMs: number };
  readonly #logger: LogSink | undefined;
  readonly #rng: Rng;
  readonly #listeners: Array<(mode: SharedMode) => void> = [];
  #mode: SharedMode = 'local-fallback';
  #since = Date.now();
  #reason: string | undefined = 'not connected yet';
  #transitions = 0;
  #failures = 0;
  #probing = false;
  #closed = false;
  #probeTimer: NodeJS.Timeout | undefined;

  constructor(opts: RedisLinkOptions) {
    this.#redis = opts.redis;
    this.#timeoutMs = opts.timeoutMs;
    this.#threshold = Math.max(1, opts.failuresToFallback);
    this.#backoff = { baseMs: opts.reconnectBaseMs, capMs: opts.reconnectCapMs };
    this.#logger = opts.logger;
    this.#rng = opts.rng ?? Math.random;
    // Without a listener ioredis prints every connection error; the mode change is what gets logged.
    this.#redis.on('error', () => {});
    this.#redis.on('close', () => this.#fallBack('connection to Redis closed'));
  }

  /** Connects, waiting at most `waitMs`; starts in local fallback (and keeps trying) if Redis is not there. */
  async start(waitMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), waitMs);
    });
    const connected = this.#redis.connect().then(() => this.#redis.ping());
    connected.catch(() => {});
    let reason: string;
    try {
      const r = await Promise.race([connected, gaveUp]);
      if (r === 'PONG') {
        this.#toShared();
        return;
      }
      reason = `Redis did not answer within ${waitMs} ms at startup`;
    } catch (err) {
      reason = `Redis unreachable at startup: ${messageOf(err)}`;
    } finally {
      clearTimeout(timer);
    }
    this.#reason = reason;
    this.#logger?.warn({ sharedState: 'local-fallback', reason }, FALLBACK_MESSAGE);
    this.#probe();
  }

  get mode(): SharedMode {
    return this.#mode;
  }

  status(): LinkStatus {
    return {
      mode: this.#mode,
      since: this.#since,
      ...(this.#reason ? { reason: this.#reason } : {}),
      transitions: this.#transitions,
    };
  }

  /** Hears every change of mode (after it is logged). */
  onChange(listener: (mode: SharedMode) => void): void {
    this.#listeners.push(listener);
  }

  /**
   * Waits for a Redis call at most the request budget. `LOCAL` when the link is in fallback (the call is not
   * even made) or the call failed; `LATE` when it ran out of time: either way the caller answers from local
   * state. Argument
   * errors (RangeError, raised before anything is sent) pass through, as the memory store would raise them.
   */
  within<T>(call: () => Promise<T>): Promise<T | typeof LOCAL | typeof LATE> {
    if (this.#mode !== 'shared') return Promise.resolve(LOCAL);
    return new Promise((resolve, reject) => {
      let settled = false;
      // The expiry waits one more turn of the event loop (setImmediate runs after I/O polling), so a reply
      // already sitting in the socket while this process was busy is read rather than called late.
      const timer = setTimeout(
        () =>
          setImmediate(() => {
            if (settled) return;
            settled = true;
            this.#failed(`no answer from Redis within ${this.#timeoutMs} ms`);
            resolve(LATE);
          }),
        this.#timeoutMs,
      );
      call().then(
        (value) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          this.#failures = 0;
          resolve(value);
        },
        (err: unknown) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          if (err instanceof RangeError) {
            reject(err);
            return;
          }
          this.#failed(messageOf(err));
          resolve(LOCAL);
        },
      );
    });
  }

  /** Stops probing; the caller closes the connection. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#probeTimer);
  }

  #failed(reason: string): void {
    this.#failures += 1;
    if (this.#failures >= this.#threshold) this.#fallBack(reason);
  }

  #fallBack(reason: string): void {
    if (this.#closed) return;
    if (this.#mode === 'local-fallback') {
      this.#probe();
      return;
    }
    this.#set('local-fallback', reason);
    this.#logger?.warn({ sharedState: 'local-fallback', reason }, FALLBACK_MESSAGE);
    this.#probe();
  }

  #toShared(): void {
    this.#failures = 0;
    if (this.#mode === 'shared') return;
    const wasDown = this.#transitions > 0;
    this.#set('shared', undefined);
    this.#logger?.info(
      { sharedState: 'shared' },
      wasDown
        ? 'shared state: Redis is back; limits are cluster-wide again'
        : 'shared state: connected to Redis',
    );
  }

  #set(mode: SharedMode, reason: string | undefined): void {
    this.#mode = mode;
    this.#reason = reason;
    this.#since = Date.now();
    this.#transitions += 1;
    for (const l of [...this.#listeners]) l(mode);
  }

  /** The retry loop while in fallback: one probe at a time, full-jitter backoff between them. */
  #probe(attempt = 1): void {
    if (this.#probing || this.#closed) return;
    this.#probing = true;
    const wait = Math.max(10, fullJitter(attempt, this.#backoff, this.#rng));
    this.#probeTimer = setTimeout(() => {
      void this.#ping().then((ok) => {
        this.#probing = false;
        if (this.#closed) return;
        if (ok) this.#toShared();
        else this.#probe(attempt + 1);
      });
    }, wait);
    this.#probeTimer.unref();
  }

  async #ping(): Promise<boolean> {
    const r = this.#redis;
    // ioredis reconnects by itself while its status is 'reconnecting'; after a manual close it needs a nudge.
    if (r.status === 'end' || r.status === 'wait') r.connect().catch(() => {});
    if (r.status !== 'ready') return false;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), Math.max(250, this.#timeoutMs * 10));
    });
    try {
      return (await Promise.race([r.ping().then((p) => p === 'PONG'), late])) === true;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }
}

const FALLBACK_MESSAGE =
  'shared state: Redis unavailable; rate limits use this replica’s share of each limit, ejections are not shared';

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
