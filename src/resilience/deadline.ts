import type { Clock } from './types.ts';

/** An absolute point on the injected clock by which a request must be done, shared by all its attempts. */
export class Deadline {
  readonly at: number;
  readonly #clock: Clock;

  constructor(at: number, clock: Clock) {
    this.at = at;
    this.#clock = clock;
  }

  static after(ms: number, clock: Clock): Deadline {
    return new Deadline(clock.now() + ms, clock);
  }

  /** A deadline that never expires, for callers that set none. */
  static never(clock: Clock): Deadline {
    return new Deadline(Number.POSITIVE_INFINITY, clock);
  }

  remaining(): number {
    return Math.max(0, this.at - this.#clock.now());
  }

  expired(): boolean {
    return this.#clock.now() >= this.at;
  }
}

export interface FirstByteTimeoutOptions {
  floorMs?: number;
  multiplier?: number;
  ceilingMs?: number;
}

/**
 * How long to wait for an upstream's first byte: a multiple of its recent p95 time-to-first-token, clamped.
 * The floor stops a fast, quiet deployment from timing out on its first slow-but-healthy answer; without
 * enough history we know nothing, so only the ceiling applies.
 */
export function firstByteTimeout(p95: number | undefined, opts: FirstByteTimeoutOptions = {}): number {
  const floor = opts.floorMs ?? 2_000;
  const multiplier = opts.multiplier ?? 3;
  const ceiling = opts.ceilingMs ?? 60_000;
  if (p95 === undefined || !Number.isFinite(p95)) return ceiling;
  // The ceiling wins a conflict with the floor: it is the operator's hard limit.
  return Math.min(ceiling, Math.max(floor, p95 * multiplier));
}
