import type { OutcomeFlag, OutcomeRecord } from '../../src/telemetry/outcome.ts';

let seq = 0;

/** A finished request as the gateway records it; only what the status system reads matters. */
export function outcome(
  model: string,
  flag: OutcomeFlag = 'OK',
  extra: Partial<OutcomeRecord> = {},
): OutcomeRecord {
  const ok = flag === 'OK' || flag === 'FAILED_OVER' || flag === 'HEDGED';
  seq += 1;
  return {
    requestId: `req_${seq}`,
    startedAt: 0,
    dialect: 'openai',
    model,
    stream: true,
    status: ok ? 200 : 502,
    ok,
    outcome: ok ? 'success' : 'upstream_error',
    flag,
    failovers: flag === 'FAILED_OVER' ? 1 : 0,
    deployment: 'dep-a',
    attempts: 1,
    latencyMs: 120,
    ttftMs: 40,
    inputTokens: 1,
    outputTokens: 1,
    ...extra,
  };
}

/** A clock tests move by hand. */
export class FakeClock {
  t: number;
  constructor(start = Date.parse('2030-01-07T10:00:00Z')) {
    this.t = start;
  }
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}
