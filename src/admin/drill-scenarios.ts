import type { FaultSpecInput } from '../chaos/faults.ts';

/**
 * Saved chaos drills: outages worth rehearsing, written down once so an operator runs the same drill
 * every time (and compares the reports) instead of improvising fault specs under pressure.
 */

/** Which deployment of the drilled model group a step breaks, resolved when the drill starts. */
export type DrillTarget = 'primary' | 'secondary' | 'all';

/** A fault spec without its duration: the drill decides how long each step lasts. */
export type StepFault = FaultSpecInput extends infer F
  ? F extends unknown
    ? Omit<F, 'duration_s'>
    : never
  : never;

export interface DrillStep {
  /** Seconds after the drill starts. */
  atS: number;
  /** How long the fault lasts; default: until the drill ends. */
  forS?: number;
  target: DrillTarget;
  fault: StepFault;
  /** What the step does, in words, for the timeline. */
  note: string;
}

export interface DrillScenario {
  id: string;
  name: string;
  /** What it simulates and what a healthy gateway should do about it. */
  summary: string;
  durationS: number;
  steps: readonly DrillStep[];
}

export const DRILL_SCENARIOS: readonly DrillScenario[] = [
  {
    id: 'primary-down',
    name: 'Primary provider down for 5 minutes',
    summary:
      'Every request to the primary deployment is refused, as if its provider were unreachable. Expect ' +
      'failovers to the next deployment, an ejection after a few consecutive failures, and no failed ' +
      'requests while another deployment or a fallback group can answer.',
    durationS: 300,
    steps: [{ atS: 0, target: 'primary', fault: { kind: 'refuse' }, note: 'primary refuses connections' }],
  },
  {
    id: 'slow-upstream',
    name: 'Slow upstream: +3 s before the first byte for 2 minutes',
    summary:
      'The primary answers, but 3 s late. Expect hedged requests and first-byte timeouts to move traffic ' +
      'to faster deployments, and time to first token to stay close to normal.',
    durationS: 120,
    steps: [
      {
        atS: 0,
        target: 'primary',
        fault: { kind: 'latency', ms: 3000 },
        note: 'primary waits 3 s before answering',
      },
    ],
  },
  {
    id: 'rate-limit-storm',
    name: '429 storm for 1 minute',
    summary:
      'Every deployment of the group answers 60% of requests with 429 and retry-after 2 s. Expect retries ' +
      'within the retry budget, deployments paused (blocked) rather than ejected, the adaptive limits cut, ' +
      'and requests queued or shed honestly rather than hammering the provider.',
    durationS: 60,
    steps: [
      {
        atS: 0,
        target: 'all',
        fault: { kind: 'rate_limit', rate: 0.6, retry_after_s: 2 },
        note: 'every deployment rate-limits 60% of requests',
      },
    ],
  },
  {
    id: 'primary-brownout',
    name: 'Primary brown-out: 30% of requests fail for 3 minutes',
    summary:
      'A partial failure, the hardest kind to notice: the primary fails 30% of requests with 503. Expect ' +
      'retries to hide the failures from callers and the primary to stay in rotation or be ejected by its ' +
      'success rate, not to flap.',
    durationS: 180,
    steps: [
      {
        atS: 0,
        target: 'primary',
        fault: { kind: 'error', status: 503, rate: 0.3 },
        note: 'primary fails 30% of requests with 503',
      },
    ],
  },
  {
    id: 'streams-cut',
    name: 'Streams cut mid-answer on the primary for 2 minutes',
    summary:
      'The primary drops every streamed answer after 5 tokens. Expect the gateway to continue each answer ' +
      'on another deployment (flag FAILED_OVER) so callers still see one whole answer.',
    durationS: 120,
    steps: [
      {
        atS: 0,
        target: 'primary',
        fault: { kind: 'cut', after_tokens: 5 },
        note: 'primary drops streams after 5 tokens',
      },
    ],
  },
  {
    id: 'rolling-outage',
    name: 'Rolling outage: primary down, then the backup fails too',
    summary:
      'The primary goes down; a minute later the second deployment starts failing as well, for 30 s. ' +
      'Expect failover first, then fallback groups (if the model has any) or honest 5xx answers while ' +
      'nothing is left, and recovery when the backup returns.',
    durationS: 150,
    steps: [
      { atS: 0, target: 'primary', fault: { kind: 'refuse' }, note: 'primary refuses connections' },
      {
        atS: 60,
        forS: 30,
        target: 'secondary',
        fault: { kind: 'error', status: 503 },
        note: 'second deployment answers 503',
      },
    ],
  },
];

export function findScenario(id: string): DrillScenario | undefined {
  return DRILL_SCENARIOS.find((s) => s.id === id);
}
