import type { Registry } from 'prom-client';
import type { AttemptRecord, OutcomeRecord } from '../outcome.ts';
import { type LabelSpaces, NO_DEPLOYMENT } from './labels.ts';
import { type CounterSeries, FastCounter, FastHistogram, type HistogramSeries } from './series.ts';

/** Whole-request and upstream-attempt durations (seconds): fast refusals up to long generations. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
/** Time to first token (seconds). The status latency SLO's threshold is added as a bucket bound. */
const TTFT_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60];
/** Mean gap between output tokens of one answer (seconds). */
const TPOT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1];

/** Mid-stream failure ids kept at most, waiting for their request's outcome (it always comes). */
const MAX_PENDING_MID_STREAM = 10_000;

interface OutcomeRow {
  requests: CounterSeries;
  duration: HistogramSeries;
  tokensIn: CounterSeries;
  tokensOut: CounterSeries;
  /** Successful requests only. */
  ttft: HistogramSeries | undefined;
  tpot: HistogramSeries | undefined;
}

interface ModelRow {
  failovers: CounterSeries;
  retries: CounterSeries;
  hedges: CounterSeries;
  midContinued: CounterSeries;
  midFailed: CounterSeries;
}

interface AttemptRow {
  attempts: CounterSeries;
  duration: HistogramSeries;
  ttft: HistogramSeries;
  midStream: CounterSeries;
}

/**
 * Request and attempt metrics, fed by the outcome and attempt records (src/telemetry/outcome.ts). The
 * series a record touches are looked up once per label combination and kept in a row, so recording a
 * request costs one map lookup and a few additions.
 */
export class TrafficMetrics {
  readonly #labels: LabelSpaces;
  readonly #rows = new Map<string, OutcomeRow>();
  readonly #modelRows = new Map<string, ModelRow>();
  readonly #attemptRows = new Map<string, AttemptRow>();
  /** Requests that lost an attempt after output had started, until their outcome arrives. */
  readonly #midStream = new Set<string>();

  readonly requests: FastCounter;
  readonly duration: FastHistogram;
  readonly ttft: FastHistogram;
  readonly tpot: FastHistogram;
  readonly tokens: FastCounter;
  readonly failovers: FastCounter;
  readonly retries: FastCounter;
  readonly hedges: FastCounter;
  readonly midStreamFailovers: FastCounter;
  readonly attempts: FastCounter;
  readonly attemptDuration: FastHistogram;
  readonly attemptTtft: FastHistogram;
  readonly attemptMidStream: FastCounter;

  constructor(registry: Registry, labels: LabelSpaces, opts: { sloLatencySeconds: number }) {
    this.#labels = labels;
    const ttftBuckets = [...TTFT_BUCKETS, opts.sloLatencySeconds];
    this.requests = new FastCounter(
      registry,
      'holdfast_requests_total',
      'Chat requests finished, by public model group, the deployment that answered (or last tried), wire dialect, streaming, outcome class and outcome flag.',
      ['model', 'deployment', 'dialect', 'stream', 'outcome', 'flag'],
    );
    this.duration = new FastHistogram(
      registry,
      'holdfast_request_duration_seconds',
      'Whole-request latency as the caller saw it, from arrival to the last byte.',
      ['model', 'deployment', 'stream', 'outcome'],
      DURATION_BUCKETS,
    );
    this.ttft = new FastHistogram(
      registry,
      'holdfast_time_to_first_token_seconds',
      'Time from arrival to the first token relayed to the caller, successful requests only (a unary answer arrives whole, so its TTFT is its latency).',
      ['model', 'deployment', 'stream'],
      ttftBuckets,
    );
    this.tpot = new FastHistogram(
      registry,
      'holdfast_time_per_output_token_seconds',
      'Inter-token latency: mean gap between output tokens after the first, per successful streamed answer of at least two tokens.',
      ['model', 'deployment'],
      TPOT_BUCKETS,
    );
    this.tokens = new FastCounter(
      registry,
      'holdfast_tokens_total',
      'Tokens used, as reported by the upstream, by type (input or output).',
      ['model', 'deployment', 'type'],
    );
    this.failovers = new FastCounter(
      registry,
      'holdfast_failovers_total',
      'Moves of a request to another deployment: retries, fallback groups, mid-stream continuations and hedges.',
      ['model'],
    );
    this.retries = new FastCounter(
      registry,
      'holdfast_retries_total',
      'Attempts made after a failed attempt (same group, fallback group or mid-stream continuation): failovers that were not hedges.',
      ['model'],
    );
    this.hedges = new FastCounter(
      registry,
      'holdfast_hedges_total',
      'Requests for which a hedged second attempt was started.',
      ['model'],
    );
    this.midStreamFailovers = new FastCounter(
      registry,
      'holdfast_mid_stream_failovers_total',
      'Requests that lost an upstream after output had started: continued elsewhere and succeeded, or failed.',
      ['model', 'result'],
    );
    this.attempts = new FastCounter(
      registry,
      'holdfast_upstream_attempts_total',
      'Upstream attempts, by result: ok, the failure kind (timeout, server, rate_limited, …), or cancelled (lost a hedge race).',
      ['model', 'deployment', 'provider', 'result'],
    );
    this.attemptDuration = new FastHistogram(
      registry,
      'holdfast_upstream_attempt_duration_seconds',
      'Duration of upstream attempts, from sending the request to the end of the answer or the failure.',
      ['model', 'deployment'],
      DURATION_BUCKETS,
    );
    this.attemptTtft = new FastHistogram(
      registry,
      'holdfast_upstream_time_to_first_token_seconds',
      'Time from sending an upstream attempt to its first content (text or tool call); what adaptive limits steer on.',
      ['model', 'deployment'],
      ttftBuckets,
    );
    this.attemptMidStream = new FastCounter(
      registry,
      'holdfast_upstream_mid_stream_failures_total',
      'Upstream attempts that failed after their answer had started streaming.',
      ['model', 'deployment'],
    );
  }

  onOutcome(rec: OutcomeRecord): void {
    const space = this.#labels.get();
    // Diagnostics channels are process-wide: a deployment this config does not have is another
    // gateway's in the same process (tests).
    if (rec.deployment !== undefined && !space.groupOf.has(rec.deployment)) return;
    const model = space.model(rec.model);
    const deployment = rec.deployment ?? NO_DEPLOYMENT;
    const stream = rec.stream ? 'true' : 'false';
    const key = `${model}\u0001${deployment}\u0001${rec.dialect}\u0001${stream}\u0001${rec.flag}\u0001${rec.outcome}`;
    let row = this.#rows.get(key);
    if (!row) {
      row = {
        requests: this.requests.with(model, deployment, rec.dialect, stream, rec.outcome, rec.flag),
        duration: this.duration.with(model, deployment, stream, rec.outcome),
        tokensIn: this.tokens.with(model, deployment, 'input'),
        tokensOut: this.tokens.with(model, deployment, 'output'),
        ttft: rec.ok ? this.ttft.with(model, deployment, stream) : undefined,
        tpot: rec.ok && rec.stream ? this.tpot.with(model, deployment) : undefined,
      };
      this.#rows.set(key, row);
    }
    row.requests.inc();
    row.duration.observe(rec.latencyMs / 1000);
    if (rec.inputTokens > 0) row.tokensIn.inc(rec.inputTokens);
    if (rec.outputTokens > 0) row.tokensOut.inc(rec.outputTokens);
    if (row.ttft && rec.ttftMs !== undefined) {
      row.ttft.observe(rec.ttftMs / 1000);
      if (row.tpot && rec.outputTokens >= 2)
        row.tpot.observe((rec.latencyMs - rec.ttftMs) / 1000 / (rec.outputTokens - 1));
    }
    const mid = this.#midStream.size > 0 && this.#midStream.delete(rec.requestId);
    if (rec.failovers === 0 && !mid) return;
    const m = this.#model(model);
    const hedges = rec.hedged ? 1 : 0;
    m.failovers.inc(rec.failovers);
    if (rec.failovers > hedges) m.retries.inc(rec.failovers - hedges);
    if (hedges) m.hedges.inc();
    if (mid) (rec.ok ? m.midContinued : m.midFailed).inc();
  }

  onAttempt(rec: AttemptRecord): void {
    const space = this.#labels.get();
    const model = space.groupOf.get(rec.deployment);
    if (model === undefined) return;
    const result = rec.ok ? 'ok' : (rec.errorKind ?? 'cancelled');
    const key = `${rec.deployment}\u0001${result}`;
    let row = this.#attemptRows.get(key);
    if (!row) {
      row = {
        attempts: this.attempts.with(model, rec.deployment, rec.provider, result),
        duration: this.attemptDuration.with(model, rec.deployment),
        ttft: this.attemptTtft.with(model, rec.deployment),
        midStream: this.attemptMidStream.with(model, rec.deployment),
      };
      this.#attemptRows.set(key, row);
    }
    row.attempts.inc();
    row.duration.observe(rec.latencyMs / 1000);
    if (rec.firstTokenMs !== undefined) row.ttft.observe(rec.firstTokenMs / 1000);
    if (rec.errorKind !== undefined && rec.midStream) {
      row.midStream.inc();
      if (this.#midStream.size >= MAX_PENDING_MID_STREAM) this.#midStream.clear();
      this.#midStream.add(rec.requestId);
    }
  }

  #model(model: string): ModelRow {
    let m = this.#modelRows.get(model);
    if (!m) {
      m = {
        failovers: this.failovers.with(model),
        retries: this.retries.with(model),
        hedges: this.hedges.with(model),
        midContinued: this.midStreamFailovers.with(model, 'continued'),
        midFailed: this.midStreamFailovers.with(model, 'failed'),
      };
      this.#modelRows.set(model, m);
    }
    return m;
  }
}
