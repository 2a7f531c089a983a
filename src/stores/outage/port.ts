/**
 * What the stores see of the PostgreSQL outage layer (src/stores/outage/buffer.ts,
 * docs/postgres-outage.md): a guard for reads and a way to write that survives the database being
 * unreachable. Stores on PGlite get no guard at all and keep their plain paths.
 */

/**
 * `ok`: nothing is waiting for the database. `buffering`: writes are kept on local disk and replayed in
 * order as soon as it answers. `full`: the buffer has reached its high-water mark, so new work (a chat
 * message) is refused; what is already running may still use the reserve above it.
 */
export type BufferState = 'ok' | 'buffering' | 'full';

export interface StoreHealth {
  engine: 'postgres';
  /** false from a failed query (connection refused/reset, timeout) until the database answers again. */
  reachable: boolean;
  state: BufferState;
  /** Writes waiting in the buffer, and their size on disk. */
  entries: number;
  bytes: number;
  maxEntries: number;
  maxBytes: number;
  /** Epoch ms of the oldest write waiting, if any. */
  oldestAt?: number;
  /** Since start: writes replayed into the database, writes refused for lack of space, and writes the database rejected on replay (each logged as an error). */
  replayed: number;
  refused: number;
  rejected: number;
  /** The buffer's directory. */
  dir: string;
}

export interface BufferedWrite {
  /** Names the replay handler that applies it (the direct write runs the same handler). */
  kind: string;
  /** The idempotency key that makes a second application a no-op (logged when a replay is rejected). */
  key: string;
  /** JSON-serialisable arguments of the handler (dates as epoch ms). */
  data: unknown;
  /**
   * `new` starts new work (a chat message): refused at the high-water mark. `continuing` belongs to
   * work already accepted (an answer's chunks and final state): refused only at the hard limit.
   */
  admission: 'new' | 'continuing';
  /** Called once the write has reached the database, directly or by replay. */
  onApplied?: () => void;
}

export interface StoreGuard {
  readonly state: BufferState;
  /** The database failed and has not answered since: reads should use their fallback at once. */
  readonly down: boolean;
  /** Epoch ms the database last became reachable again (0: never lost). */
  readonly reachableSince: number;
  /**
   * Runs a read with the outage timeout. While the database is known to be down, or when this read
   * finds it so, throws StoreUnavailableError (the caller falls back or says so); other errors pass.
   */
  read<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * Applies the write now when nothing is buffered and the database answers; otherwise appends it to
   * the buffer (in order, durably). Throws StoreUnavailableError when the buffer has no room.
   */
  write(w: BufferedWrite): Promise<'stored' | 'buffered'>;
}

export type UnavailableReason = 'unreachable' | 'buffer_full' | 'buffer_failed';

/** The database cannot be used now and this operation has no fallback (or the buffer is full). */
export class StoreUnavailableError extends Error {
  readonly code = 'HF_STORE_UNAVAILABLE';
  readonly reason: UnavailableReason;

  constructor(reason: UnavailableReason, opts: { cause?: unknown } = {}) {
    super(
      reason === 'unreachable'
        ? 'The database is unreachable.'
        : reason === 'buffer_full'
          ? 'The database is unreachable and the local write buffer is full.'
          : 'The database is unreachable and the local write buffer could not be written.',
      opts.cause === undefined ? {} : { cause: opts.cause },
    );
    this.name = 'StoreUnavailableError';
    this.reason = reason;
  }
}

/**
 * A write that cannot apply because the database already holds something else under its idempotency
 * key (the same chat message sent through another replica meanwhile). A direct write passes it to its
 * caller; a replay logs it and moves on, since what the key names is already there.
 */
export class WriteConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WriteConflictError';
  }
}
