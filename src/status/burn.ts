import type { ComponentStatus } from './statuspage.ts';
import type { Tally } from './windows.ts';

export interface BurnPair {
  shortMs: number;
  longMs: number;
  /** How many times faster than the SLO allows the error budget must burn in both windows. */
  burn: number;
}

export interface BurnRules {
  fast: BurnPair;
  slow: BurnPair;
  /** Availability SLO, e.g. 0.995 (error budget 0.5%). */
  availability: number;
  /** Share of successful requests that must not be slow, e.g. 0.95. */
  latencyTarget: number;
  majorErrorRatio: number;
  minRequests: number;
  minFailures: number;
}

/** Why a component has the status it has: what the docs call "the reading" behind it. */
export interface Finding {
  status: ComponentStatus;
  /**
   * 'errors' | 'latency': which SLO burned; 'idle': too little traffic to judge by requests;
   * 'redundancy': requests succeed, but some of the group's deployments are out of service.
   */
  signal: 'errors' | 'latency' | 'idle' | 'redundancy';
  /** The short window of the pair that fired (the freshest picture). */
  windowMs: number;
  errorRatio: number;
  slowRatio: number;
  requests: number;
}

const RANK: Record<ComponentStatus, number> = {
  operational: 0,
  under_maintenance: 0,
  degraded_performance: 1,
  partial_outage: 2,
  major_outage: 3,
};

export const severity = (s: ComponentStatus): number => RANK[s];

export function worst(a: ComponentStatus, b: ComponentStatus): ComponentStatus {
  return RANK[b] > RANK[a] ? b : a;
}

const ratio = (n: number, d: number): number => (d > 0 ? n / d : 0);

/**
 * The multi-window burn-rate rules (Google SRE workbook, "Alerting on SLOs"): a pair fires when both its
 * long window (the trouble is real, not a blip) and its short window (it is still going on) burn the
 * error budget `burn` times faster than the SLO allows. The fast pair finds a hard outage in seconds
 * and is a partial or major outage; the slow pair finds smouldering trouble and is degraded performance.
 * Slowness alone is never an outage: it is degraded performance.
 */
export function judge(sum: (windowMs: number) => Tally, rules: BurnRules): Finding | undefined {
  const errBudget = 1 - rules.availability;
  const slowBudget = 1 - rules.latencyTarget;
  let found: Finding | undefined;
  const consider = (f: Finding): void => {
    if (!found || RANK[f.status] > RANK[found.status]) found = f;
  };
  for (const [pair, fast] of [
    [rules.fast, true],
    [rules.slow, false],
  ] as const) {
    const s = sum(pair.shortMs);
    const l = sum(pair.longMs);
    if (s.total < rules.minRequests || l.total < rules.minRequests) continue;
    const errS = ratio(s.bad, s.total);
    const errL = ratio(l.bad, l.total);
    const slowS = ratio(s.slow, s.ok);
    const slowL = ratio(l.slow, l.ok);
    const reading = { windowMs: pair.shortMs, errorRatio: errS, slowRatio: slowS, requests: s.total };
    if (s.bad >= rules.minFailures && errS >= pair.burn * errBudget && errL >= pair.burn * errBudget) {
      const status: ComponentStatus = !fast
        ? 'degraded_performance'
        : errS >= rules.majorErrorRatio
          ? 'major_outage'
          : 'partial_outage';
      consider({ ...reading, status, signal: 'errors' });
    }
    // A burn rate above 1/budget is unreachable; cap the threshold so a strict target still fires.
    const slowAt = Math.min(pair.burn * slowBudget, 0.99);
    if (s.ok >= rules.minRequests && s.slow >= rules.minFailures && slowS >= slowAt && slowL >= slowAt)
      consider({ ...reading, status: 'degraded_performance', signal: 'latency' });
  }
  return found;
}

/**
 * Raise at once, lower only after the better picture has held for `holdMs`: one bad minute shows, but
 * the page does not flap back and forth while the trouble comes and goes.
 */
export class Hysteresis {
  status: ComponentStatus = 'operational';
  readonly #holdMs: number;
  #clearSince: number | undefined;

  constructor(holdMs: number, initial: ComponentStatus = 'operational') {
    this.#holdMs = holdMs;
    this.status = initial;
  }

  /** Feeds the freshly computed status; returns true when the shown status changed. */
  step(candidate: ComponentStatus, now: number): boolean {
    if (RANK[candidate] > RANK[this.status]) {
      this.status = candidate;
      this.#clearSince = undefined;
      return true;
    }
    if (RANK[candidate] === RANK[this.status]) {
      this.#clearSince = undefined;
      return false;
    }
    this.#clearSince ??= now;
    if (now - this.#clearSince < this.#holdMs) return false;
    this.status = candidate;
    this.#clearSince = undefined;
    return true;
  }
}
