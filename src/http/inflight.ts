import { HoldfastError } from '../core/errors.ts';

/** Tracks in-flight requests so shutdown can wait for them, then cut the stragglers. */
export class InFlight {
  readonly #active = new Set<AbortController>();
  #idle: Array<() => void> = [];

  get size(): number {
    return this.#active.size;
  }

  add(ac: AbortController): () => void {
    this.#active.add(ac);
    return () => {
      this.#active.delete(ac);
      if (this.#active.size === 0) {
        for (const r of this.#idle) r();
        this.#idle = [];
      }
    };
  }

  /** Resolves true when everything finished, false when `ms` ran out first. */
  drain(ms: number): Promise<boolean> {
    if (this.#active.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      timer.unref();
      this.#idle.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Cuts every request still running; they end as `shutting_down` (SHUTTING_DOWN), not as hang-ups. */
  abortAll(reason: string): void {
    const err = new HoldfastError('shutting_down', { message: `Request cut: ${reason}.`, retryAfterSec: 1 });
    for (const ac of this.#active) ac.abort(err);
  }
}
