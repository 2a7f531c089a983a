import type { SimulatorFaults } from '../../config/schema.ts';
import type { Dialect } from '../../core/door.ts';
import type { ErrorCode } from '../../core/errors.ts';
import { type Rng, rngFromNumber } from './random.ts';

/**
 * The simulator's fault and capacity decisions, kept free of I/O: randomness and time come in as
 * arguments, so a drill with a given seed fails the same requests every time and tests need no sleeps.
 */

export type { Rng };

/** A seeded source of fault draws (config `seed`). */
export function createRng(seed: number): Rng {
  return rngFromNumber(seed);
}

/** A whole-request failure answered instead of the model's output. */
export type RequestFault =
  | { kind: 'error'; status: number; code: ErrorCode }
  | { kind: 'rate_limit'; status: 429; code: 'rate_limited'; retryAfterSec: number }
  | { kind: 'overloaded'; status: 529; code: 'overloaded'; retryAfterSec: number };

/**
 * Which configured failure, if any, this request gets. One uniform draw is split into bands
 * [error_rate][rate_limit_rate][overloaded_rate], so each rate is exactly its share of requests (if they
 * sum past 1 the later bands are squeezed). The error status is a second draw.
 */
export function decideFault(faults: SimulatorFaults, rng: Rng): RequestFault | undefined {
  const u = rng.next();
  let band = faults.error_rate;
  if (u < band) {
    const status = rng.pick(faults.error_statuses);
    return { kind: 'error', status, code: codeForStatus(status) };
  }
  band += faults.rate_limit_rate;
  if (u < band)
    return { kind: 'rate_limit', status: 429, code: 'rate_limited', retryAfterSec: faults.retry_after_s };
  band += faults.overloaded_rate;
  if (u < band)
    return { kind: 'overloaded', status: 529, code: 'overloaded', retryAfterSec: faults.retry_after_s };
  return undefined;
}

/**
 * The registry error whose body an injected status carries, so each wire shows the type its real
 * provider would (a 5xx reads as a server fault, never as our own gateway's upstream errors).
 */
export function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 400:
    case 422:
      return 'invalid_request';
    case 401:
      return 'invalid_api_key';
    case 403:
      return 'model_not_allowed';
    case 404:
      return 'not_found';
    case 413:
      return 'body_too_large';
    case 415:
      return 'unsupported_media_type';
    case 429:
      return 'rate_limited';
    case 529:
      return 'overloaded';
    default:
      return status < 500 ? 'invalid_request' : 'internal_error';
  }
}

/**
 * How a real provider turns away a request it has no room for: OpenAI answers 429 with retry-after,
 * Anthropic 529 overloaded_error.
 */
export function capacityRejection(dialect: Dialect, retryAfterSec: number): RequestFault {
  return dialect === 'openai'
    ? { kind: 'rate_limit', status: 429, code: 'rate_limited', retryAfterSec }
    : { kind: 'overloaded', status: 529, code: 'overloaded', retryAfterSec };
}

/** A request admitted by the capacity gate. */
export interface Admission {
  /** Speed multiplier for this request right now: 1 within capacity, capacity/active beyond it. */
  speed(): number;
  /** Frees the slot; safe to call more than once. */
  release(): void;
}

/**
 * Concurrency model: up to `capacity` requests run at full speed; up to `queue` more are taken but every
 * request slows to capacity/active (the same work shared by more streams); beyond that, rejection.
 */
export class CapacityGate {
  readonly capacity: number;
  readonly queue: number;
  #active = 0;

  constructor(capacity: number, queue: number) {
    this.capacity = capacity;
    this.queue = queue;
  }

  get active(): number {
    return this.#active;
  }

  /** Current speed multiplier for every admitted request. */
  speed(): number {
    return this.#active <= this.capacity ? 1 : this.capacity / this.#active;
  }

  /** Takes a slot, or returns undefined when capacity and queue are both full. */
  admit(): Admission | undefined {
    if (this.#active >= this.capacity + this.queue) return undefined;
    this.#active++;
    let released = false;
    return {
      speed: () => this.speed(),
      release: () => {
        if (released) return;
        released = true;
        this.#active--;
      },
    };
  }
}

/**
 * Paces tokens at `tokensPerSec` scaled by the current speed. Due times accumulate from the start, so
 * timer lateness does not compound into a slower stream than configured.
 */
export class Pacer {
  readonly #tokensPerSec: number;
  readonly #now: () => number;
  readonly #speed: () => number;
  #due: number;

  constructor(opts: { tokensPerSec: number; now: () => number; speed: () => number; start?: number }) {
    this.#tokensPerSec = opts.tokensPerSec;
    this.#now = opts.now;
    this.#speed = opts.speed;
    this.#due = opts.start ?? opts.now();
  }

  /** Milliseconds to wait before sending the next token (0: send now). The first token is due at start. */
  next(): number {
    if (this.#tokensPerSec <= 0) return 0;
    const interval = 1000 / (this.#tokensPerSec * Math.max(this.#speed(), 1e-6));
    const now = this.#now();
    // After a long pause (a slow reader), resume pacing from now rather than bursting to catch up.
    if (this.#due < now - interval) this.#due = now;
    const wait = Math.max(0, this.#due - now);
    this.#due += interval;
    return wait;
  }
}

/** Time to first token under load: queued requests wait their share, as the tokens do. */
export function firstTokenDelay(ttftMs: number, slowMs: number, speed: number): number {
  return slowMs + ttftMs / Math.max(speed, 1e-6);
}

/** What to do just before sending streamed token number `sent` (0-based count already sent). */
export type StreamFault = 'cut' | 'stall' | 'malformed';

/**
 * The mid-stream fault due after `sent` tokens, if any. Checked before every token and once after the
 * last, so a threshold equal to the answer length fires before the final event. When several share a
 * threshold, the harshest wins: a cut connection cannot also stall.
 */
export function streamFaultAt(faults: SimulatorFaults, sent: number): StreamFault | undefined {
  if (faults.cut_after_tokens === sent) return 'cut';
  if (faults.stall_after_tokens === sent) return 'stall';
  if (faults.malformed_after_tokens === sent) return 'malformed';
  return undefined;
}

/**
 * For unary answers, the first mid-stream fault that the whole answer (`total` tokens) would reach; the
 * unary path applies it to the one response (drop, hang or garble it).
 */
export function unaryFault(faults: SimulatorFaults, total: number): StreamFault | undefined {
  let best: { at: number; fault: StreamFault } | undefined;
  const consider = (at: number | undefined, fault: StreamFault): void => {
    if (at !== undefined && at <= total && (best === undefined || at < best.at)) best = { at, fault };
  };
  consider(faults.cut_after_tokens, 'cut');
  consider(faults.stall_after_tokens, 'stall');
  consider(faults.malformed_after_tokens, 'malformed');
  return best?.fault;
}

/** The unparseable frame a malformed fault sends: truncated JSON, as a broken proxy would pass on. */
export function malformedFrame(dialect: Dialect): string {
  const data = 'data: {"choices": [\n\n';
  // Anthropic clients dispatch on the event name, so the broken data must arrive under one they parse.
  return dialect === 'anthropic' ? `event: content_block_delta\n${data}` : data;
}
