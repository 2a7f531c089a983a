import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { ATTEMPT_CHANNEL, type AttemptRecord } from '../../telemetry/outcome.ts';
import { type Redis, withTimeout } from './client.ts';
import type { LogSink, RedisLink } from './link.ts';

/** Admission as overload sharing sees it (src/pipeline/admission.ts). */
export interface OverloadAdmission {
  remoteOverload(id: string, rttMs: number): void;
}

interface OverloadMessage {
  deployment: string;
  replica: string;
  /** Duration of the refused attempt (ms). */
  rttMs: number;
}

/**
 * Refusals that are the upstream's word about itself: it is past capacity (529) or over its account's
 * rate (429), for every replica alike. A timeout may be this replica's own network, so it stays local.
 */
const SHARED_KINDS = new Set(['rate_limited', 'overloaded']);

/** At most one message per deployment this often: a storm of 429s is one piece of news, not thousands. */
const MIN_INTERVAL_MS = 100;

export interface SharedOverloadOptions {
  redis: Redis;
  /** The subscriber connection (shared with ejection sharing). */
  subscriber: Redis;
  link: RedisLink;
  channel: string;
  replicaId: string;
  /** The current admission (a config reload replaces it). */
  admission: () => OverloadAdmission | undefined;
  logger?: LogSink;
}

/**
 * Adaptive limits, shared where it matters: when an upstream refuses one replica for overload, every
 * replica cuts its concurrency limit for that deployment at once (AIMD's multiplicative decrease), instead
 * of each having to be refused itself first. Growth stays per replica: each one learns its own share of a
 * deployment from the latency it sees, and a cut holds them below the edge the upstream just showed.
 */
export class SharedOverload {
  readonly #redis: Redis;
  readonly #sub: Redis;
  readonly #link: RedisLink;
  readonly #channel: string;
  readonly #me: string;
  readonly #admission: () => OverloadAdmission | undefined;
  readonly #logger: LogSink | undefined;
  readonly #lastSent = new Map<string, number>();
  readonly #onAttempt = (m: unknown): void => this.#attempt(m as AttemptRecord);
  readonly #onMessage = (channel: string, text: string): void => {
    if (channel === this.#channel) this.#receive(text);
  };

  constructor(opts: SharedOverloadOptions) {
    this.#redis = opts.redis;
    this.#sub = opts.subscriber;
    this.#link = opts.link;
    this.#channel = opts.channel;
    this.#me = opts.replicaId;
    this.#admission = opts.admission;
    this.#logger = opts.logger;
  }

  start(): void {
    this.#sub.on('message', this.#onMessage);
    this.#sub.subscribe(this.#channel).catch(() => {});
    subscribe(ATTEMPT_CHANNEL, this.#onAttempt);
  }

  close(): void {
    unsubscribe(ATTEMPT_CHANNEL, this.#onAttempt);
    this.#sub.off('message', this.#onMessage);
  }

  #attempt(a: AttemptRecord): void {
    if (a.ok || a.errorKind === undefined || !SHARED_KINDS.has(a.errorKind)) return;
    if (this.#link.mode !== 'shared') return;
    const now = Date.now();
    if (now - (this.#lastSent.get(a.deployment) ?? 0) < MIN_INTERVAL_MS) return;
    this.#lastSent.set(a.deployment, now);
    const msg: OverloadMessage = { deployment: a.deployment, replica: this.#me, rttMs: a.latencyMs };
    withTimeout(this.#redis.publish(this.#channel, JSON.stringify(msg)), 1_000).catch((err: unknown) =>
      this.#logger?.warn({ deployment: a.deployment, err }, 'shared state: could not share an overload'),
    );
  }

  #receive(text: string): void {
    let m: Partial<OverloadMessage>;
    try {
      m = JSON.parse(text) as Partial<OverloadMessage>;
    } catch {
      return;
    }
    if (typeof m.deployment !== 'string' || typeof m.replica !== 'string' || m.replica === this.#me) return;
    const rtt = typeof m.rttMs === 'number' && Number.isFinite(m.rttMs) ? Math.max(0, m.rttMs) : 0;
    this.#admission()?.remoteOverload(m.deployment, rtt);
  }
}
