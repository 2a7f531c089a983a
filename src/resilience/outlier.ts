import type { Clock } from './types.ts';
import { WindowCounter } from './window.ts';

export type OutlierState = 'healthy' | 'ejected' | 'probing' | 'blocked';

export interface SuccessRateOptions {
  /** Success-rate ejection needs at least this many hosts in the group with enough traffic. */
  minHosts?: number;
  /** A host needs this many requests in the window to be judged. */
  minRequests?: number;
  /** Eject below mean − stdevFactor × stdev of the group's success rates [Envoy 1.9]. */
  stdevFactor?: number;
  windowMs?: number;
  /**
   * Also require the host to be at least this far below the mean (0.05 = 5 points). With five hosts a lone
   * outlier is always 2 population standard deviations out, however small the gap, so without this a
   * deployment at 99% among four at 100% would be ejected for one unlucky error.
   */
  minDeficit?: number;
}

export interface OutlierOptions {
  consecutiveFailures?: number;
  baseEjectionMs?: number;
  maxEjectionMs?: number;
  maxEjectionPercent?: number;
  successRate?: SuccessRateOptions;
  /** Consecutive successful trial requests that bring a probing deployment back. */
  probeSuccesses?: number;
  /**
   * While healthy, the ejection multiplier steps down by one per this much time [Envoy decrements it each
   * interval], so a deployment that failed once last week is not punished like one that flaps every minute.
   */
  multiplierDecayMs?: number;
  /** A trial slot not released after this long is considered lost and freed, so probing cannot wedge. */
  probeLeaseMs?: number;
}

export interface OutlierSnapshot {
  id: string;
  group: string;
  state: OutlierState;
  consecutiveFailures: number;
  ejectedUntil?: number;
  blockedUntil?: number;
  /** Times ejected since registration. */
  ejections: number;
}

export type OutlierListener = (id: string, from: OutlierState, to: OutlierState) => void;

type Mode = 'healthy' | 'ejected' | 'probing';

interface Host {
  id: string;
  group: string;
  mode: Mode;
  consecutiveFailures: number;
  ejectedUntil: number;
  blockedUntil: number;
  ejections: number;
  /** Drives the ejection time (base × multiplier); unlike `ejections` it decays while healthy. */
  multiplier: number;
  decayMark: number;
  probeHeldSince: number | undefined;
  probeStreak: number;
  successes: WindowCounter;
  failures: WindowCounter;
  /** Last state told to listeners, so time-driven transitions are announced once, when first noticed. */
  reported: OutlierState;
}

/**
 * Envoy-style outlier detection per deployment, with a half-open probe before an ejected deployment gets
 * traffic back.
 *
 * - Consecutive failures: `consecutiveFailures` deployment faults in a row eject it.
 * - Success rate: over the window, among a group's deployments with enough requests (and enough such
 *   deployments), those below mean − stdevFactor × stdev are ejected, worst first.
 * - Ejection lasts base × multiplier (capped); the multiplier grows with each ejection and decays while
 *   healthy. When it ends the deployment is `probing`: one trial request at a time, `probeSuccesses` in a row
 *   make it healthy, a failure ejects it again for longer.
 * - Never a whole group: at most `maxEjectionPercent` of a group may be out (ejected or probing; at least one
 *   may always go, as in Envoy), and never the last healthy member — unless the percentage is 100, which
 *   the engine uses for groups that have a fallback group to send their traffic to.
 * - `blockUntil` (retry-after) keeps traffic off without counting as an ejection.
 *
 * Time-driven transitions (ejected → probing, blocked → healthy) happen lazily when a deployment is next
 * looked at; listeners hear of them then. No timers, so the class stays pure and testable.
 */
export class OutlierDetector {
  readonly #clock: Clock;
  readonly #consecutive: number;
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #maxPercent: number;
  readonly #probeSuccesses: number;
  readonly #decayMs: number;
  readonly #leaseMs: number;
  readonly #sr: Required<SuccessRateOptions>;
  readonly #hosts = new Map<string, Host>();
  readonly #groups = new Map<string, Set<Host>>();
  readonly #listeners: OutlierListener[] = [];

  constructor(opts: OutlierOptions, clock: Clock) {
    this.#clock = clock;
    this.#consecutive = Math.max(1, opts.consecutiveFailures ?? 5);
    this.#baseMs = Math.max(0, opts.baseEjectionMs ?? 30_000);
    this.#maxMs = Math.max(0, opts.maxEjectionMs ?? 300_000);
    this.#maxPercent = opts.maxEjectionPercent ?? 50;
    this.#probeSuccesses = Math.max(1, opts.probeSuccesses ?? 3);
    this.#decayMs = opts.multiplierDecayMs ?? 60_000;
    this.#leaseMs = opts.probeLeaseMs ?? 300_000;
    const sr = opts.successRate ?? {};
    this.#sr = {
      minHosts: sr.minHosts ?? 5,
      minRequests: sr.minRequests ?? 20,
      stdevFactor: sr.stdevFactor ?? 1.9,
      windowMs: sr.windowMs ?? 10_000,
      minDeficit: sr.minDeficit ?? 0.05,
    };
  }

  /** Adds a deployment, or moves it to another group (config reload) keeping its history. */
  register(id: string, group: string): void {
    const existing = this.#hosts.get(id);
    if (existing) {
      if (existing.group === group) return;
      this.#groups.get(existing.group)?.delete(existing);
      existing.group = group;
      this.#members(group).add(existing);
      return;
    }
    const now = this.#clock.now();
    const host: Host = {
      id,
      group,
      mode: 'healthy',
      consecutiveFailures: 0,
      ejectedUntil: 0,
      blockedUntil: Number.NEGATIVE_INFINITY,
      ejections: 0,
      multiplier: 0,
      decayMark: now,
      probeHeldSince: undefined,
      probeStreak: 0,
      successes: new WindowCounter(this.#sr.windowMs, this.#clock),
      failures: new WindowCounter(this.#sr.windowMs, this.#clock),
      reported: 'healthy',
    };
    this.#hosts.set(id, host);
    this.#members(group).add(host);
  }

  unregister(id: string): void {
    const host = this.#hosts.get(id);
    if (!host) return;
    this.#hosts.delete(id);
    this.#groups.get(host.group)?.delete(host);
  }

  recordSuccess(id: string): void {
    const host = this.#fresh(id);
    // A late answer to a request sent before the ejection says nothing about now.
    if (!host || host.mode === 'ejected') return;
    host.consecutiveFailures = 0;
    if (host.mode === 'probing') {
      host.probeStreak++;
      if (host.probeStreak >= this.#probeSuccesses) this.#restore(host);
      return;
    }
    host.successes.add();
    this.#checkSuccessRate(host.group);
  }

  /** Only for deployment faults; a caller's bad request must not count against the deployment. */
  recordFailure(id: string): void {
    const host = this.#fresh(id);
    if (!host || host.mode === 'ejected') return;
    if (host.mode === 'probing') {
      // Already out of rotation, so the group cap does not apply: the trial failed, stay out for longer.
      this.#eject(host);
      return;
    }
    host.consecutiveFailures++;
    host.failures.add();
    if (host.consecutiveFailures >= this.#consecutive && this.#mayEject(host)) {
      this.#eject(host);
      return;
    }
    this.#checkSuccessRate(host.group);
  }

  /** Retry-after: keep traffic off until `untilMs` (clock time) without calling it an ejection. */
  blockUntil(id: string, untilMs: number): void {
    const host = this.#fresh(id);
    if (!host) return;
    host.blockedUntil = Math.max(host.blockedUntil, untilMs);
    this.#sync(host);
  }

  /** Unknown deployments are healthy: the detector only ever takes traffic away on evidence. */
  state(id: string): OutlierState {
    const host = this.#fresh(id);
    return host ? host.reported : 'healthy';
  }

  isAvailable(id: string): boolean {
    const host = this.#fresh(id);
    if (!host) return true;
    if (host.reported === 'healthy') return true;
    return host.reported === 'probing' && host.probeHeldSince === undefined;
  }

  /** Takes the single trial slot of a probing deployment; false if not probing or the slot is taken. */
  acquireProbe(id: string): boolean {
    const host = this.#fresh(id);
    if (host?.reported !== 'probing' || host.probeHeldSince !== undefined) return false;
    host.probeHeldSince = this.#clock.now();
    return true;
  }

  /** Returns the trial slot; call after recording the trial's outcome, or alone if it had none (cancelled). */
  releaseProbe(id: string): void {
    const host = this.#hosts.get(id);
    if (host) host.probeHeldSince = undefined;
  }

  ejectionCount(id: string): number {
    return this.#hosts.get(id)?.ejections ?? 0;
  }

  snapshot(): OutlierSnapshot[] {
    const out: OutlierSnapshot[] = [];
    const now = this.#clock.now();
    for (const host of this.#hosts.values()) {
      this.#refresh(host);
      const s: OutlierSnapshot = {
        id: host.id,
        group: host.group,
        state: host.reported,
        consecutiveFailures: host.consecutiveFailures,
        ejections: host.ejections,
      };
      if (host.mode === 'ejected') s.ejectedUntil = host.ejectedUntil;
      if (host.blockedUntil > now) s.blockedUntil = host.blockedUntil;
      out.push(s);
    }
    return out;
  }

  /** Listeners run synchronously on every state change and must not throw. Returns an unsubscribe. */
  onChange(listener: OutlierListener): () => void {
    this.#listeners.push(listener);
    return () => {
      const i = this.#listeners.indexOf(listener);
      if (i >= 0) this.#listeners.splice(i, 1);
    };
  }

  #members(group: string): Set<Host> {
    let set = this.#groups.get(group);
    if (!set) {
      set = new Set();
      this.#groups.set(group, set);
    }
    return set;
  }

  #fresh(id: string): Host | undefined {
    const host = this.#hosts.get(id);
    if (host) this.#refresh(host);
    return host;
  }

  /** Applies what the passage of time implies, then announces any resulting state change. */
  #refresh(host: Host): void {
    const now = this.#clock.now();
    if (host.mode === 'ejected' && now >= host.ejectedUntil) {
      host.mode = 'probing';
      host.probeStreak = 0;
      host.probeHeldSince = undefined;
    }
    if (host.mode === 'healthy' && host.multiplier > 0 && this.#decayMs > 0) {
      const steps = Math.floor((now - host.decayMark) / this.#decayMs);
      if (steps > 0) {
        host.multiplier = Math.max(0, host.multiplier - steps);
        host.decayMark += steps * this.#decayMs;
      }
    }
    if (host.probeHeldSince !== undefined && now - host.probeHeldSince >= this.#leaseMs) {
      host.probeHeldSince = undefined;
    }
    this.#sync(host);
  }

  #sync(host: Host): void {
    const now = this.#clock.now();
    const state: OutlierState =
      host.mode === 'ejected' ? 'ejected' : host.blockedUntil > now ? 'blocked' : host.mode;
    if (state === host.reported) return;
    const from = host.reported;
    host.reported = state;
    for (const listener of [...this.#listeners]) listener(host.id, from, state);
  }

  #mayEject(host: Host): boolean {
    if (!(this.#maxPercent > 0)) return false;
    const members = this.#groups.get(host.group);
    if (!members) return false;
    let out = 0;
    let healthyOthers = 0;
    for (const m of members) {
      if (m !== host) this.#refresh(m);
      if (m.mode !== 'healthy') out++;
      else if (m !== host && m.reported === 'healthy') healthyOthers++;
    }
    // At 100% the group may go entirely (its owner has somewhere else to send traffic: a fallback group).
    if (this.#maxPercent >= 100) return true;
    // As in Envoy, the percentage may always allow one ejection; the last-healthy rule still guards tiny groups.
    const limit = Math.max(1, Math.floor((this.#maxPercent * members.size) / 100));
    return out + 1 <= limit && healthyOthers > 0;
  }

  #eject(host: Host): void {
    const now = this.#clock.now();
    host.multiplier++;
    host.ejections++;
    host.mode = 'ejected';
    host.ejectedUntil = now + Math.min(this.#maxMs, this.#baseMs * host.multiplier);
    host.consecutiveFailures = 0;
    host.probeStreak = 0;
    host.probeHeldSince = undefined;
    // Old window data would get the deployment judged again on pre-ejection behaviour once it is back.
    host.successes.reset();
    host.failures.reset();
    this.#sync(host);
  }

  #restore(host: Host): void {
    host.mode = 'healthy';
    host.probeStreak = 0;
    host.probeHeldSince = undefined;
    host.decayMark = this.#clock.now();
    this.#sync(host);
  }

  #checkSuccessRate(group: string): void {
    const members = this.#groups.get(group);
    const { minHosts, minRequests, stdevFactor, minDeficit } = this.#sr;
    if (!members || members.size < minHosts) return;
    const judged: Array<{ host: Host; rate: number }> = [];
    for (const m of members) {
      this.#refresh(m);
      if (m.mode !== 'healthy') continue;
      const ok = m.successes.total();
      const n = ok + m.failures.total();
      if (n >= Math.max(1, minRequests)) judged.push({ host: m, rate: ok / n });
    }
    if (judged.length < minHosts) return;
    const mean = judged.reduce((a, j) => a + j.rate, 0) / judged.length;
    // Population standard deviation, as Envoy computes it.
    const variance = judged.reduce((a, j) => a + (j.rate - mean) ** 2, 0) / judged.length;
    const threshold = mean - stdevFactor * Math.sqrt(variance);
    const outliers = judged
      .filter((j) => j.rate < threshold && mean - j.rate >= minDeficit)
      .sort((a, b) => a.rate - b.rate);
    for (const o of outliers) if (this.#mayEject(o.host)) this.#eject(o.host);
  }
}
