import type { OutcomeFlag, OutcomeRecord } from '../telemetry/outcome.ts';
import type { ComponentRole } from './components.ts';

/**
 * What one request means for availability. `skip`: says nothing about us (the caller's mistake, its own
 * rate limit, a caller who hung up, a planned shutdown), so it is left out of the ratio entirely.
 * Overload sheds are failures: the caller was refused because we had no room, not because of anything
 * it did.
 */
export type Verdict = 'good' | 'bad' | 'skip';

const SKIP: ReadonlySet<OutcomeFlag> = new Set<OutcomeFlag>([
  'CLIENT_ERROR',
  'RATE_LIMITED',
  'CLIENT_CLOSED',
  'SHUTTING_DOWN',
]);

/** Failures of a model's upstreams: they count against that model's component. */
const UPSTREAM_BAD: ReadonlySet<OutcomeFlag> = new Set<OutcomeFlag>([
  'NO_HEALTHY_UPSTREAM',
  'UPSTREAM_ERROR',
  'RETRY_EXHAUSTED',
  'STREAM_INTERRUPTED',
]);

/** Failures of the gateway itself: every component the request touched sees them. */
const GATEWAY_BAD: ReadonlySet<OutcomeFlag> = new Set<OutcomeFlag>(['SHED', 'QUEUE_TIMEOUT', 'INTERNAL']);

/**
 * The platform components (API, chat app) count only the gateway's own failures: a provider outage is
 * the model's component's news, and counting it twice would show "API: partial outage" whenever any one
 * model is down.
 */
export function verdictFor(flag: OutcomeFlag, role: ComponentRole): Verdict {
  if (SKIP.has(flag)) return 'skip';
  if (GATEWAY_BAD.has(flag)) return 'bad';
  if (UPSTREAM_BAD.has(flag)) return role === 'api' || role === 'chat' ? 'good' : 'bad';
  return 'good';
}

/**
 * Slow against the latency SLO: time to first token of a successful stream. A unary answer's latency
 * includes its whole length, which says more about the prompt than about us, so it is not judged.
 */
export function isSlow(rec: OutcomeRecord, latencyMs: number): boolean {
  return rec.ok && rec.stream && rec.ttftMs !== undefined && rec.ttftMs > latencyMs;
}

/** The latency a request contributes to the response-time chart. */
export function chartLatency(rec: OutcomeRecord): number | undefined {
  if (!rec.ok) return undefined;
  return rec.ttftMs ?? rec.latencyMs;
}

/** Request ids the chat app gives its own gateway calls (src/chat/generation/runner.ts). */
export const CHAT_REQUEST_PREFIX = 'chat_';
/** Request ids of the status system's own probes. */
export const PROBE_REQUEST_PREFIX = 'hfprobe_';
