import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { ATTEMPT_CHANNEL, type AttemptRecord } from '../telemetry/outcome.ts';

export interface LastFailure {
  kind: string;
  status?: number;
  midStream: boolean;
  /** Epoch ms the failure was seen. */
  at: number;
}

/**
 * The last failed upstream attempt of each deployment, from the `holdfast:upstream:attempt` channel: the
 * "why" next to an ejection in the console. Successes cost one comparison; nothing else is kept.
 */
export class LastFailures {
  readonly #byDeployment = new Map<string, LastFailure>();
  readonly #now: () => number;
  readonly #listener = (m: unknown): void => {
    const a = m as AttemptRecord;
    // No kind: the attempt was cancelled (a lost hedge race, a caller who left), not a failure.
    if (a.ok || a.errorKind === undefined) return;
    this.#byDeployment.set(a.deployment, {
      kind: a.errorKind,
      ...(a.status !== undefined ? { status: a.status } : {}),
      midStream: a.midStream === true,
      at: this.#now(),
    });
  };

  constructor(now: () => number = Date.now) {
    this.#now = now;
    subscribe(ATTEMPT_CHANNEL, this.#listener);
  }

  get(deployment: string): LastFailure | undefined {
    return this.#byDeployment.get(deployment);
  }

  close(): void {
    unsubscribe(ATTEMPT_CHANNEL, this.#listener);
  }
}
