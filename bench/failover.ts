import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdirSync, writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { type Gateway, startGateway } from '../src/app.ts';
import { type ConfigInput, configSchema } from '../src/config/schema.ts';
import { startSimulator } from '../src/providers/simulator/index.ts';
import {
  ATTEMPT_CHANNEL,
  type AttemptRecord,
  OUTCOME_CHANNEL,
  type OutcomeRecord,
} from '../src/telemetry/outcome.ts';
import { openLoop } from './lib/openloop.ts';
import { benchScenario, benchScenarios } from './lib/progress.ts';
import { runInfo } from './lib/run-info.ts';
import { type Summary, summarize } from './lib/stats.ts';
import { type Column, fmt, fmtSigned, renderTable } from './lib/table.ts';

/**
 * `npm run bench -- failover`: what callers see while one deployment (or a whole provider) is broken.
 * Every scenario gets a fresh gateway, in process (this measures client-visible behaviour, not CPU
 * overhead, and the engine's outlier state and diagnostics channels are read directly), with simulated
 * deployments on loopback. See bench/README.md.
 */

const SIM = { ttft_ms: 20, tokens_per_sec: 200, answer_tokens: 30 };
const TIMEOUTS = { first_byte_ms: 3_000, idle_ms: 1_000 };
/** Client-side deadline per request: far above anything the gateway should take. */
const CLIENT_TIMEOUT_MS = 30_000;
/** How often the faulted deployments' outlier state is sampled. */
const POLL_MS = 50;
/** A faulted deployment that gets no attempt for this long counts as drained of traffic. */
const QUIET_MS = 2_000;
/** Generator lag worth a warning (it is inside the latencies, since they count from the schedule). */
const MAX_LAG_MS = 50;
/** Faults outlast the measured window and the drain after it; the gateway is closed long before. */
const FAULT_MARGIN_MS = 120_000;

const LIMITS = {
  /** Client-visible errors allowed when one deployment of three is broken. */
  maxSingleFaultErrors: 0,
  /** Answers (streamed or not) that differ from the simulator's uninterrupted answer. */
  maxMismatches: 0,
  /** Upstream attempts per request during a full-provider outage with a healthy fallback group. */
  maxOutageAmplification: 1.2,
};

type Kind = 'baseline' | 'single' | 'outage';

interface Scenario {
  key: string;
  label: string;
  kind: Kind;
  /** Public model name the traffic asks for. */
  model: string;
  /** Deployment id → fault patch applied through its control URL. */
  faults: Record<string, Record<string, unknown>>;
  /** Deployments whose outlier state is followed (the faulted ones; d1 in the baseline). */
  watch: string[];
}

const SINGLE: Array<[string, string, Record<string, unknown>]> = [
  ['refuse', 'refuse (ECONNREFUSED)', { refuse: true }],
  ['blackhole', 'blackhole', { blackhole: true }],
  ['500s', '500s', { error_rate: 1, error_statuses: [500] }],
  ['429-storm', '429 storm, retry-after 5 s', { rate_limit_rate: 1, retry_after_s: 5 }],
  ['529', '529 overloaded', { overloaded_rate: 1 }],
  ['cut', 'cut after 10 tokens', { cut_after_tokens: 10 }],
  ['stall', 'stall after 10 tokens', { stall_after_tokens: 10 }],
  ['malformed', 'malformed chunk after 10', { malformed_after_tokens: 10 }],
];

const SCENARIOS: Scenario[] = [
  {
    key: 'baseline',
    label: 'baseline (no fault)',
    kind: 'baseline',
    model: 'chat',
    faults: {},
    watch: ['d1'],
  },
  ...SINGLE.map(
    ([key, label, fault]): Scenario => ({
      key,
      label,
      kind: 'single',
      model: 'chat',
      faults: { d1: fault },
      watch: ['d1'],
    }),
  ),
  {
    key: 'outage',
    label: 'provider outage -> fallback',
    kind: 'outage',
    model: 'chat',
    faults: { p1: { refuse: true }, p2: { refuse: true } },
    watch: ['p1', 'p2'],
  },
];

function deployment(id: string, dialect: 'openai' | 'anthropic') {
  return {
    id,
    provider: 'simulator' as const,
    model: 'm',
    region: id,
    timeouts: TIMEOUTS,
    simulator: { ...SIM, dialect },
  };
}

/** Three deployments behind one model, both wires, as in test/e2e/resilience.test.ts. */
function trio(): ConfigInput['models'] {
  return [
    {
      name: 'chat',
      deployments: [deployment('d1', 'openai'), deployment('d2', 'anthropic'), deployment('d3', 'openai')],
    },
  ];
}

/** A two-deployment provider with a one-deployment fallback group. */
function withFallback(): ConfigInput['models'] {
  return [
    {
      name: 'chat',
      fallbacks: ['backup'],
      deployments: [deployment('p1', 'openai'), deployment('p2', 'anthropic')],
    },
    { name: 'backup', deployments: [deployment('b1', 'openai')] },
  ];
}

interface Settings {
  durationMs: number;
  warmupMs: number;
  ratePerSec: number;
  scenarios: Scenario[];
}

function readSettings(): Settings {
  const num = (name: string, fallback: number): number => {
    const raw = process.env[name];
    if (raw === undefined || raw === '') return fallback;
    const v = Number(raw);
    if (!Number.isFinite(v) || v < 0) throw new Error(`${name} must be a non-negative number, got ${raw}`);
    return v;
  };
  const keys = SCENARIOS.map((s) => s.key);
  const asked = (process.env.BENCH_FAILOVER_MODES ?? '').split(',').map((s) => s.trim());
  for (const k of asked)
    if (k !== '' && !keys.includes(k)) throw new Error(`BENCH_FAILOVER_MODES: unknown ${k}`);
  const chosen = asked.some((k) => k !== '') ? SCENARIOS.filter((s) => asked.includes(s.key)) : SCENARIOS;
  const durationMs = Math.round(num('BENCH_FAILOVER_SECONDS', 25) * 1000);
  const ratePerSec = num('BENCH_FAILOVER_RATE', 20);
  if (durationMs <= 0 || ratePerSec <= 0) throw new Error('duration and rate must be positive');
  return {
    durationMs,
    warmupMs: Math.round(num('BENCH_FAILOVER_WARMUP_SECONDS', 2) * 1000),
    ratePerSec,
    // The baseline always runs: every other row is read against it.
    scenarios: chosen.some((s) => s.kind === 'baseline') ? chosen : [SCENARIOS[0]!, ...chosen],
  };
}

interface Ejection {
  deployment: string;
  /** Fault applied → first attempt sent to this deployment (ms). */
  firstAttemptMs?: number;
  /** Fault applied → first poll that saw the deployment not healthy (ms). */
  leftHealthyMs?: number;
  /** First attempt → not healthy: the time to eject (ms, ±POLL_MS). */
  ejectMs?: number;
  /** The state it was first seen in (ejected, or blocked by retry-after). */
  state?: string;
  /** Attempts it was sent between the fault and that moment. */
  attemptsBefore: number;
  /** Attempts it was sent afterwards (trial requests once the ejection ran out, or a leak). */
  attemptsAfter: number;
  /**
   * First attempt → start of the last attempt before its first quiet spell (no attempt for QUIET_MS,
   * or none until the window ended): how long it took for traffic to stop reaching it, whether the
   * detector ejected it or the balancer steered away from it. Unset if it never went quiet.
   */
  quietAfterMs?: number;
  /** Every state change seen by the poller, ms after the fault. */
  timeline: Array<{ atMs: number; state: string }>;
}

interface Exactness {
  /** Successful answers compared with the simulator's uninterrupted answer. */
  checked: number;
  streamsChecked: number;
  /** Successful streams whose answer was continued on another deployment after a mid-stream failure. */
  continued: number;
  mismatches: number;
  streamMismatches: number;
  continuedMismatches: number;
  examples: string[];
}

interface ScenarioResult {
  key: string;
  label: string;
  kind: Kind;
  faults: Record<string, Record<string, unknown>>;
  /** Requests sent (due) after the fault was applied; only these are measured. */
  sent: number;
  ok: number;
  errors: number;
  errorRate: number;
  errorsByReason: Record<string, number>;
  streams: number;
  /** Successful requests, due time → last byte. */
  latency: Summary;
  /** Successful streams, due time → first content. */
  ttft: Summary;
  /** Upstream attempts per measured request, counted from the attempt channel (hedges included). */
  attemptsPerRequest: number;
  maxAttempts: number;
  attemptHistogram: Record<string, number>;
  /** The same from the outcome channel's `attempts`, as a cross-check. */
  outcomeAttemptsPerRequest: number;
  flags: Record<string, number>;
  /** Attempts sent to the faulted deployment(s) after the fault, and how many of them failed. */
  faultedAttempts: number;
  faultedFailures: number;
  ejections: Ejection[];
  exactness: Exactness;
  /** Largest lag of the load generator behind its schedule, over the measured requests. */
  maxLagMs: number;
  /** Event-loop delay over the measured window (gateway, simulators and generator share one loop). */
  eventLoopDelayMs: { p99: number; max: number };
}

function buildConfig(sc: Scenario) {
  return configSchema.parse({
    server: { host: '127.0.0.1', port: 0, open_mode: true },
    log: { level: 'silent' },
    store: { data_dir: 'memory://' },
    models: sc.kind === 'outage' ? withFallback() : trio(),
  });
}

function question(sc: Scenario, i: number): string {
  return `Failover benchmark ${sc.key}, conversation ${i}: how are the harbour lights tonight?`;
}

async function applyFault(
  gw: Gateway,
  id: string,
  fault: Record<string, unknown>,
  forMs: number,
): Promise<void> {
  const dep = gw.deployments.find((d) => d.config.id === id);
  if (!dep?.controlUrl) throw new Error(`deployment ${id} has no simulator control URL`);
  const res = await fetch(`${dep.controlUrl}?for_ms=${forMs}`, {
    method: 'POST',
    body: JSON.stringify(fault),
  });
  if (res.status !== 200) throw new Error(`fault on ${id}: HTTP ${res.status} ${await res.text()}`);
}

/** The simulator's uninterrupted answer for each question, from a fault-free instance. */
async function expectedAnswers(referenceUrl: string, questions: string[]): Promise<Map<string, string>> {
  const u = new URL(referenceUrl);
  const pool = new Pool(u.origin, { connections: 8 });
  const out = new Map<string, string>();
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < questions.length) {
          const q = questions[next++]!;
          const res = await pool.request({
            path: u.pathname,
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: q }] }),
          });
          const json = (await res.body.json()) as { choices?: Array<{ message?: { content?: string } }> };
          const text = json.choices?.[0]?.message?.content;
          if (res.statusCode !== 200 || typeof text !== 'string')
            throw new Error(`reference simulator: HTTP ${res.statusCode}`);
          out.set(q, text);
        }
      }),
    );
  } finally {
    await pool.close();
  }
  return out;
}

const inc = (m: Record<string, number>, k: string): void => {
  m[k] = (m[k] ?? 0) + 1;
};

async function runScenario(sc: Scenario, s: Settings, referenceUrl: string): Promise<ScenarioResult> {
  const gw = await startGateway(buildConfig(sc), { logLevel: 'silent', env: {} });
  const attempts: AttemptRecord[] = [];
  const outcomes = new Map<string, OutcomeRecord>();
  const onAttempt = (m: unknown): void => {
    attempts.push(m as AttemptRecord);
  };
  const onOutcome = (m: unknown): void => {
    const o = m as OutcomeRecord;
    outcomes.set(o.requestId, o);
  };
  subscribe(ATTEMPT_CHANNEL, onAttempt);
  subscribe(OUTCOME_CHANNEL, onOutcome);

  let tFault = Number.POSITIVE_INFINITY;
  const timelines = new Map<string, Array<{ atMs: number; state: string }>>(sc.watch.map((id) => [id, []]));
  const lastState = new Map<string, string>(sc.watch.map((id) => [id, 'healthy']));
  let poller: NodeJS.Timeout | undefined;
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  let shots: Awaited<ReturnType<typeof openLoop>>;
  try {
    const load = openLoop({
      url: `${gw.url}/v1/chat/completions`,
      ratePerSec: s.ratePerSec,
      durationMs: s.warmupMs + s.durationMs,
      timeoutMs: CLIENT_TIMEOUT_MS,
      make: (i) => {
        const stream = i % 2 === 0;
        return {
          id: `fo-${sc.key}-${i}`,
          stream,
          body: JSON.stringify({
            model: sc.model,
            messages: [{ role: 'user', content: question(sc, i) }],
            ...(stream ? { stream: true } : {}),
          }),
        };
      },
    });
    // Traffic first, so the group has a TTFT history (hedge delay, first-byte timeout) when the fault hits.
    await sleep(s.warmupMs);
    // Taken before the control request, so no attempt that could have met the fault starts before it.
    tFault = performance.now();
    await Promise.all(
      Object.entries(sc.faults).map(([id, f]) => applyFault(gw, id, f, s.durationMs + FAULT_MARGIN_MS)),
    );
    const poll = (): void => {
      const now = performance.now();
      for (const id of sc.watch) {
        const st = gw.engine.outlier.state(id);
        if (st !== lastState.get(id)) {
          lastState.set(id, st);
          timelines.get(id)!.push({ atMs: now - tFault, state: st });
        }
      }
    };
    poll();
    poller = setInterval(poll, POLL_MS);
    loopDelay.enable();
    shots = await load;
  } finally {
    loopDelay.disable();
    clearInterval(poller);
    // Outcomes are published as requests finish; give the last ones a moment to land.
    await sleep(50);
    unsubscribe(ATTEMPT_CHANNEL, onAttempt);
    unsubscribe(OUTCOME_CHANNEL, onOutcome);
    await gw.close(2_000);
  }

  const measured = shots.filter((x) => x.dueAt >= tFault);
  const byRequest = new Map<string, AttemptRecord[]>();
  for (const a of attempts) {
    const list = byRequest.get(a.requestId);
    if (list) list.push(a);
    else byRequest.set(a.requestId, [a]);
  }

  const ok = measured.filter((x) => x.ok);
  const errorsByReason: Record<string, number> = {};
  for (const x of measured) if (!x.ok) inc(errorsByReason, x.error ?? 'unknown');

  const attemptHistogram: Record<string, number> = {};
  const flags: Record<string, number> = {};
  let attemptTotal = 0;
  let outcomeAttempts = 0;
  let maxAttempts = 0;
  for (const x of measured) {
    const n = byRequest.get(x.id)?.length ?? 0;
    attemptTotal += n;
    maxAttempts = Math.max(maxAttempts, n);
    inc(attemptHistogram, String(n));
    const o = outcomes.get(x.id);
    outcomeAttempts += o?.attempts ?? 0;
    inc(flags, o?.flag ?? 'NO_OUTCOME');
  }

  const watched = new Set(sc.watch);
  const toFaulted = attempts.filter((a) => watched.has(a.deployment) && a.startedAt >= tFault);
  const ejections: Ejection[] = sc.watch.map((id) => {
    const mine = toFaulted.filter((a) => a.deployment === id);
    const first = mine.length > 0 ? Math.min(...mine.map((a) => a.startedAt)) : undefined;
    const left = timelines.get(id)!.find((t) => t.state !== 'healthy');
    const leftAt = left === undefined ? undefined : tFault + left.atMs;
    const e: Ejection = {
      deployment: id,
      attemptsBefore: mine.filter((a) => leftAt === undefined || a.startedAt < leftAt).length,
      attemptsAfter: leftAt === undefined ? 0 : mine.filter((a) => a.startedAt >= leftAt).length,
      timeline: timelines.get(id)!,
    };
    if (first !== undefined) {
      e.firstAttemptMs = first - tFault;
      const starts = mine.map((a) => a.startedAt).sort((a, b) => a - b);
      const windowEnd = tFault + s.durationMs;
      for (let i = 0; i < starts.length; i++) {
        const next = starts[i + 1] ?? windowEnd;
        if (next - starts[i]! >= QUIET_MS) {
          e.quietAfterMs = starts[i]! - first;
          break;
        }
      }
    }
    if (left !== undefined) {
      e.leftHealthyMs = left.atMs;
      e.state = left.state;
      // A deployment already out when the first poll ran (at the fault) is 0, not negative.
      if (first !== undefined) e.ejectMs = Math.max(0, left.atMs - (first - tFault));
    }
    return e;
  });

  const want = await expectedAnswers(
    referenceUrl,
    ok.map((x) => question(sc, x.index)),
  );
  const exactness: Exactness = {
    checked: 0,
    streamsChecked: 0,
    continued: 0,
    mismatches: 0,
    streamMismatches: 0,
    continuedMismatches: 0,
    examples: [],
  };
  for (const x of ok) {
    const expected = want.get(question(sc, x.index))!;
    const continued = x.stream && (byRequest.get(x.id) ?? []).some((a) => !a.ok && a.midStream === true);
    exactness.checked += 1;
    if (x.stream) exactness.streamsChecked += 1;
    if (continued) exactness.continued += 1;
    if (x.text === expected) continue;
    exactness.mismatches += 1;
    if (x.stream) exactness.streamMismatches += 1;
    if (continued) exactness.continuedMismatches += 1;
    if (exactness.examples.length < 5)
      exactness.examples.push(`${x.id}: got ${JSON.stringify(x.text)} want ${JSON.stringify(expected)}`);
  }

  const streamsOk = ok.filter((x) => x.stream);
  return {
    key: sc.key,
    label: sc.label,
    kind: sc.kind,
    faults: sc.faults,
    sent: measured.length,
    ok: ok.length,
    errors: measured.length - ok.length,
    errorRate: measured.length > 0 ? (measured.length - ok.length) / measured.length : 0,
    errorsByReason,
    streams: measured.filter((x) => x.stream).length,
    latency: summarize(ok.map((x) => x.latencyMs)),
    ttft: summarize(streamsOk.flatMap((x) => (x.ttftMs === undefined ? [] : [x.ttftMs]))),
    attemptsPerRequest: measured.length > 0 ? attemptTotal / measured.length : 0,
    maxAttempts,
    attemptHistogram,
    outcomeAttemptsPerRequest: measured.length > 0 ? outcomeAttempts / measured.length : 0,
    flags,
    faultedAttempts: toFaulted.length,
    faultedFailures: toFaulted.filter((a) => !a.ok).length,
    ejections,
    exactness,
    maxLagMs: measured.reduce((m, x) => Math.max(m, x.lagMs), 0),
    eventLoopDelayMs: {
      p99: loopDelay.percentile(99) / 1e6,
      max: loopDelay.max / 1e6,
    },
  };
}

interface Check {
  name: string;
  scenario: string;
  value: number;
  limit: string;
  pass: boolean;
}

function check(results: ScenarioResult[]): Check[] {
  const out: Check[] = [];
  for (const r of results) {
    if (r.kind !== 'outage') {
      out.push({
        name: 'client errors',
        scenario: r.key,
        value: r.errors,
        limit: `<= ${LIMITS.maxSingleFaultErrors}`,
        pass: r.errors <= LIMITS.maxSingleFaultErrors,
      });
    }
    out.push({
      name: 'answer mismatches',
      scenario: r.key,
      value: r.exactness.mismatches,
      limit: `<= ${LIMITS.maxMismatches}`,
      pass: r.exactness.mismatches <= LIMITS.maxMismatches,
    });
    if (r.kind === 'outage') {
      // The fallback group is healthy, so a caller should never notice the outage.
      out.push({
        name: 'outage client errors',
        scenario: r.key,
        value: r.errors,
        limit: '<= 0',
        pass: r.errors === 0,
      });
      out.push({
        name: 'attempts per request',
        scenario: r.key,
        value: r.attemptsPerRequest,
        limit: `<= ${LIMITS.maxOutageAmplification}`,
        pass: r.attemptsPerRequest <= LIMITS.maxOutageAmplification,
      });
    }
  }
  return out;
}

/** The slowest of the watched deployments to leave `healthy`, as shown in the table. */
function ejectCell(r: ScenarioResult): string {
  if (r.kind === 'baseline') {
    const e = r.ejections[0];
    return e?.state ? `${e.state}!` : '-';
  }
  const out = r.ejections.filter((e) => e.ejectMs !== undefined).length;
  if (out < r.ejections.length)
    return r.ejections.length === 1 ? 'never' : `never (${out}/${r.ejections.length})`;
  const slowest = r.ejections.reduce((a, b) => ((b.ejectMs ?? 0) > (a.ejectMs ?? 0) ? b : a));
  return `${fmt(slowest.ejectMs, 0)} ${slowest.state === 'blocked' ? 'blk' : 'ej'}`;
}

/** The slowest of the watched deployments to stop getting traffic. */
function quietCell(r: ScenarioResult): string {
  if (r.kind === 'baseline') return '-';
  const quiet = r.ejections.filter((e) => e.quietAfterMs !== undefined);
  if (quiet.length < r.ejections.length)
    return r.ejections.length === 1 ? 'never' : `never (${quiet.length}/${r.ejections.length})`;
  return fmt(Math.max(...quiet.map((e) => e.quietAfterMs!)), 0);
}

function report(results: ScenarioResult[], checks: Check[]): string {
  const base = results.find((r) => r.kind === 'baseline');
  const columns: Column[] = [
    { header: 'scenario', align: 'left' },
    { header: 'sent' },
    { header: 'errors' },
    { header: 'err %' },
    { header: 'p50 ms' },
    { header: 'p99 ms' },
    { header: '+p99' },
    { header: 'ttft p50' },
    { header: 'ttft p99' },
    { header: '+ttft p99' },
    { header: 'att/req' },
    { header: 'max att' },
    { header: 'bad att' },
    { header: 'quiet ms' },
    { header: 'eject ms' },
    { header: 'continued' },
    { header: 'mismatch' },
    { header: 'verdict', align: 'left' },
  ];
  const rows = results.map((r) => {
    const own = checks.filter((c) => c.scenario === r.key);
    const failed = own.filter((c) => !c.pass);
    const delta = (v: number, b: number | undefined): string =>
      r.kind === 'baseline' || b === undefined ? '' : fmtSigned(v - b, 0);
    return [
      r.label,
      String(r.sent),
      String(r.errors),
      fmt(r.errorRate * 100, 1),
      fmt(r.latency.p50, 0),
      fmt(r.latency.p99, 0),
      delta(r.latency.p99, base?.latency.p99),
      fmt(r.ttft.p50, 0),
      fmt(r.ttft.p99, 0),
      delta(r.ttft.p99, base?.ttft.p99),
      r.attemptsPerRequest.toFixed(3),
      String(r.maxAttempts),
      r.kind === 'baseline' ? '-' : String(r.faultedAttempts),
      quietCell(r),
      ejectCell(r),
      `${r.exactness.continued}/${r.exactness.streamsChecked}`,
      String(r.exactness.mismatches),
      failed.length === 0 ? 'pass' : `FAIL ${failed.map((c) => c.name).join(', ')}`,
    ];
  });
  const lines = [renderTable(columns, rows), ''];

  for (const r of results) {
    const reasons = Object.entries(r.errorsByReason).sort((a, b) => b[1] - a[1]);
    if (reasons.length > 0)
      lines.push(`${r.key}: errors ${reasons.map(([k, n]) => `${n}x ${k}`).join('; ')}`);
    for (const ex of r.exactness.examples) lines.push(`${r.key}: mismatch ${ex}`);
    if (r.kind !== 'baseline' && r.faultedFailures === 0)
      lines.push(`WARNING ${r.key}: no failed attempt on the faulted deployment; the fault was never met.`);
    if (['cut', 'stall', 'malformed'].includes(r.key) && r.exactness.continued === 0)
      lines.push(`WARNING ${r.key}: no stream was continued mid-way; continuation was not exercised.`);
    if (r.kind === 'baseline' && r.ejections.some((e) => e.state !== undefined))
      lines.push(`WARNING baseline: a healthy deployment left 'healthy' (${JSON.stringify(r.ejections)}).`);
    if (r.maxLagMs > MAX_LAG_MS)
      lines.push(
        `WARNING ${r.key}: the load generator fell ${r.maxLagMs.toFixed(0)} ms behind schedule ` +
          `(event-loop delay p99 ${r.eventLoopDelayMs.p99.toFixed(0)} ms, max ${r.eventLoopDelayMs.max.toFixed(0)} ms); ` +
          'latencies include it.',
      );
  }
  const outage = results.find((r) => r.kind === 'outage');
  if (outage)
    lines.push(
      `outage: ${outage.errors}/${outage.sent} client errors (${fmt(outage.errorRate * 100, 2)}%), ` +
        `${outage.attemptsPerRequest.toFixed(3)} upstream attempts per request, ` +
        `attempts histogram ${JSON.stringify(outage.attemptHistogram)}`,
    );
  lines.push('');
  lines.push('Targets:');
  const summary: Array<[string, Check[]]> = [
    [
      'zero client errors with one deployment of three broken',
      checks.filter((c) => c.name === 'client errors'),
    ],
    ['every answer exact (continuations included)', checks.filter((c) => c.name === 'answer mismatches')],
    [
      `full outage amplification <= ${LIMITS.maxOutageAmplification} attempts/request`,
      checks.filter((c) => c.name === 'attempts per request'),
    ],
    [
      'full outage served by the fallback with zero client errors',
      checks.filter((c) => c.name === 'outage client errors'),
    ],
  ];
  for (const [name, cs] of summary) {
    if (cs.length === 0) {
      lines.push(`  n/a   ${name} (not run)`);
      continue;
    }
    const failed = cs.filter((c) => !c.pass);
    const detail = failed.map(
      (c) => `${c.scenario}: ${Number.isInteger(c.value) ? c.value : c.value.toFixed(3)}`,
    );
    lines.push(
      `  ${failed.length === 0 ? 'PASS' : 'FAIL'}  ${name}${detail.length ? ` (${detail.join(', ')})` : ''}`,
    );
  }
  const missed = summary.filter(([, cs]) => cs.some((c) => !c.pass)).length;
  lines.push(missed === 0 ? 'All targets met.' : `${missed} of ${summary.length} targets missed.`);
  return lines.join('\n');
}

export async function main(): Promise<void> {
  const settings = readSettings();
  const perScenario = settings.warmupMs + settings.durationMs;
  console.log(
    `failover: ${settings.scenarios.length} scenarios x (${settings.warmupMs / 1000}s warm-up + ` +
      `${settings.durationMs / 1000}s measured) at ${settings.ratePerSec} req/s, half streamed ` +
      `(~${Math.ceil((settings.scenarios.length * perScenario) / 1000)}s of load)`,
  );

  // Fault-free and instant: only its text is used (the answer does not depend on pacing).
  const reference = await startSimulator({
    options: { ttft_ms: 0, tokens_per_sec: 0, answer_tokens: SIM.answer_tokens },
  });
  const results: ScenarioResult[] = [];
  benchScenarios(settings.scenarios.length);
  try {
    for (const sc of settings.scenarios) {
      benchScenario(sc.key);
      const r = await runScenario(sc, settings, `${reference.openaiBaseUrl}/chat/completions`);
      results.push(r);
      console.log(
        `  ${r.key.padEnd(10)} sent ${String(r.sent).padStart(4)}  errors ${String(r.errors).padStart(3)}  ` +
          `p50 ${fmt(r.latency.p50, 0)} ms  p99 ${fmt(r.latency.p99, 0)} ms  ` +
          `ttft p99 ${fmt(r.ttft.p99, 0)} ms  ${r.attemptsPerRequest.toFixed(3)} att/req  ` +
          `quiet ${quietCell(r)}  eject ${ejectCell(r)}  continued ${r.exactness.continued}  mismatches ${r.exactness.mismatches}`,
      );
    }
  } finally {
    await reference.close();
  }

  const checks = check(results);
  console.log(`\n${report(results, checks)}`);

  const outDir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(outDir, { recursive: true });
  const outFile = `${outDir}failover.json`;
  const json = {
    ...runInfo('failover', { srcDirty: true }),
    settings: {
      durationMs: settings.durationMs,
      warmupMs: settings.warmupMs,
      ratePerSec: settings.ratePerSec,
      scenarios: settings.scenarios.map((s) => s.key),
      simulator: SIM,
      timeouts: TIMEOUTS,
      clientTimeoutMs: CLIENT_TIMEOUT_MS,
      pollMs: POLL_MS,
    },
    limits: LIMITS,
    scenarios: results,
    checks,
    allTargetsMet: checks.every((c) => c.pass),
  };
  writeFileSync(outFile, `${JSON.stringify(json, null, 2)}\n`);
  console.log(`\nResults written to ${outFile}`);
}
