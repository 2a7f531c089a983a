import { PROBE_REQUEST_PREFIX } from './classify.ts';
import { randomStatusId } from './ids.ts';

export interface ProberOptions {
  target: { url(): string; key: string };
  intervalMs: number;
  /** Model groups with too little traffic to judge: these get a probe this round. */
  idleModels(): string[];
  onError?: (err: unknown) => void;
}

/**
 * Active health probes: every interval, one tiny request to each idle model group through the gateway's
 * own front door (the full path a caller's request takes), with the in-process app credential. Its
 * outcome record reaches the status computer like any other, tagged by its request id.
 */
export class Prober {
  readonly #opts: ProberOptions;
  #timer: NodeJS.Timeout | undefined;
  readonly #inflight = new Set<AbortController>();

  constructor(opts: ProberOptions) {
    this.#opts = opts;
  }

  start(): void {
    this.#timer = setInterval(() => this.round(), this.#opts.intervalMs);
    this.#timer.unref();
  }

  round(): void {
    for (const model of this.#opts.idleModels()) void this.#probe(model);
  }

  async #probe(model: string): Promise<void> {
    const ac = new AbortController();
    this.#inflight.add(ac);
    const timer = setTimeout(() => ac.abort(), this.#opts.intervalMs);
    try {
      const res = await fetch(`${this.#opts.target.url()}/v1/chat/completions`, {
        method: 'POST',
        signal: ac.signal,
        headers: {
          authorization: `Bearer ${this.#opts.target.key}`,
          'content-type': 'application/json',
          'x-request-id': `${PROBE_REQUEST_PREFIX}${randomStatusId()}`,
          'x-holdfast-priority': 'batch',
        },
        body: JSON.stringify({
          model,
          max_tokens: 1,
          user: 'holdfast-status-probe',
          messages: [{ role: 'user', content: 'ping' }],
        }),
      });
      await res.arrayBuffer();
    } catch (err) {
      // The gateway records the outcome; a probe that could not even connect means this process is going
      // down, which the page cannot report anyway.
      if (!ac.signal.aborted) this.#opts.onError?.(err);
    } finally {
      clearTimeout(timer);
      this.#inflight.delete(ac);
    }
  }

  close(): void {
    clearInterval(this.#timer);
    for (const ac of this.#inflight) ac.abort();
  }
}
