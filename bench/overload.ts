import { mkdirSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startChild } from './lib/child.ts';
import { type ClassShot, type ClassShotSpec, classLoop } from './lib/classloop.ts';
import {
  type GatewayChild,
  type GatewaySample,
  type OutcomeLite,
  startGatewayChild,
} from './lib/overload-gateway.ts';
import { benchScenario, benchScenarios } from './lib/progress.ts';
import { runInfo } from './lib/run-info.ts';
import { summarize } from './lib/stats.ts';
import { type Column, fmt, renderTable } from './lib/table.ts';

/**
 * `npm run bench -- overload`: what Holdfast does with more traffic than its upstreams can take. Two
 * simulated deployments of known capacity (one per wire, so upstream overload shows as 429 and as 529),
 * open-loop streamed arrivals at 1x, 3x and 10x that capacity with a class mix, each run with admission
 * control on and (as the baseline) off; then a fairness scenario with one flooding tenant. The gateway
 * runs in its own process so its CPU time and memory are its own. See bench/README.md.
 */

const MODEL = 'chat';
const PER_DEPLOYMENT_CAPACITY = 16;
const SIM = {
  ttft_ms: 200,
  tokens_per_sec: 50,
  answer_tokens: 20,
  capacity: PER_DEPLOYMENT_CAPACITY,
  queue: 8,
};
const DEPLOYMENTS = 2;
/** Concurrent answers the upstreams serve at full speed, all deployments together. */
const UPSTREAM_CONCURRENCY = DEPLOYMENTS * PER_DEPLOYMENT_CAPACITY;
const ADMIN_KEY = 'overload-bench-admin-key-0000000000';

type Cls = 'critical' | 'interactive' | 'batch';
const CLASSES: readonly Cls[] = ['critical', 'interactive', 'batch'];

/** Time-to-first-token SLOs, counted from the arrival (the scheduled send time). */
const SLO_MS: Record<Cls, number> = { critical: 2_000, interactive: 2_000, batch: 30_000 };
/**
 * Share of arrivals per class. Critical is 5%, not 10%: at 10x a 10% critical share would alone equal
 * the whole upstream capacity, and the 99% target would measure the simulator rather than the gateway.
 */
const MIX: ReadonlyArray<[Cls, number]> = [
  ['critical', 0.05],
  ['interactive', 0.6],
  ['batch', 0.35],
];
/** A client waits for its first token this long past its SLO (so late answers are still seen), then gives up. */
const TTFT_GRACE_MS: Record<Cls, number> = { critical: 2_000, interactive: 2_000, batch: 5_000 };
/** And for the rest of the answer this long after that. */
const BODY_GRACE_MS = 20_000;
const LAG_WARN_MS = 50;

const TARGETS = {
  goodputRatio: 0.9,
  criticalSuccess: 0.99,
  ttftP99VsUnloaded: 1.5,
  /** Memory bounded: peak RSS at the top level within this factor of the peak at the lowest level… */
  rssGrowth: 2,
  /** …and the live heap after the run (after a full GC) within this many MB of the calibration run's. */
  heapLeakMb: 32,
  fairness: 0.9,
};

type Mode = 'holdfast' | 'no_admission';

/** BENCH_OVERLOAD_INITIAL_LIMIT: start each deployment's adaptive limit here instead of the default. */
const INITIAL_LIMIT = Number(process.env.BENCH_OVERLOAD_INITIAL_LIMIT ?? '') || undefined;

interface Settings {
  durationMs: number;
  warmupMs: number;
  calibrationMs: number;
  fairnessMs: number;
  levels: number[];
}

function readSettings(): Settings {
  const num = (name: string, fallback: number): number => {
    const raw = process.env[name];
    if (raw === undefined || raw === '') return fallback;
    const v = Number(raw);
    if (!Number.isFinite(v) || v < 0) throw new Error(`${name} must be a non-negative number, got ${raw}`);
    return v;
  };
  const durationMs = Math.round(num('BENCH_OVERLOAD_SECONDS', 20) * 1000);
  const levels = (process.env.BENCH_OVERLOAD_LEVELS ?? '1,3,10')
    .split(',')
    .map((s) => Number(s.trim()))
    .filter((v) => Number.isFinite(v) && v > 0);
  if (durationMs <= 0 || levels.length === 0) throw new Error('duration and levels must be positive');
  return {
    durationMs,
    warmupMs: Math.round(num('BENCH_OVERLOAD_WARMUP_SECONDS', 2) * 1000),
    calibrationMs: Math.round(num('BENCH_OVERLOAD_CALIBRATION_SECONDS', 8) * 1000),
    fairnessMs: Math.round(num('BENCH_OVERLOAD_FAIRNESS_SECONDS', durationMs / 1000) * 1000),
    levels,
  };
}

function gatewayConfig(mode: Mode, sims: { openai: string; anthropic: string }): unknown {
  const timeouts = { first_byte_ms: 60_000 };
  return {
    server: { host: '127.0.0.1', port: 0, open_mode: false },
    auth: { admin_key: ADMIN_KEY },
    log: { level: 'silent' },
    store: { data_dir: 'memory://' },
    admission: {
      enabled: mode === 'holdfast',
      // Default: the gateway's own default (16 per deployment, then slow start).
      ...(INITIAL_LIMIT ? { initial_limit: INITIAL_LIMIT } : {}),
    },
    models: [
      {
        name: MODEL,
        deployments: [
          { id: 'sim-openai', provider: 'openai', base_url: sims.openai, api_key: 'x', model: 'm', timeouts },
          {
            id: 'sim-anthropic',
            provider: 'anthropic',
            base_url: sims.anthropic,
            api_key: 'x',
            model: 'm',
            timeouts,
          },
        ],
      },
    ],
  };
}

/** A low-discrepancy sequence in [0, 1): classes are interleaved evenly and the same in every run. */
function unit(i: number): number {
  const x = (i + 1) * 0.618033988749895;
  return x - Math.floor(x);
}

function classOf(i: number): Cls {
  let u = unit(i);
  for (const [c, share] of MIX) {
    if (u < share) return c;
    u -= share;
  }
  return 'batch';
}

function shotSpec(runKey: string, i: number, cls: Cls, tenant: string, secret: string): ClassShotSpec {
  return {
    id: `ov-${runKey}-${i}`,
    cls,
    tenant,
    headers: { authorization: `Bearer ${secret}`, 'x-holdfast-priority': cls },
    body: JSON.stringify({
      model: MODEL,
      stream: true,
      messages: [
        { role: 'user', content: `Overload benchmark ${runKey}, request ${i}: what is the tide doing?` },
      ],
    }),
    ttftDeadlineMs: SLO_MS[cls] + TTFT_GRACE_MS[cls],
    totalDeadlineMs: SLO_MS[cls] + TTFT_GRACE_MS[cls] + BODY_GRACE_MS,
  };
}

interface RawRun {
  key: string;
  mode: Mode;
  ratePerSec: number;
  /** Shots due in the measured window (after the warm-up). */
  measured: ClassShot[];
  all: ClassShot[];
  outcomes: Map<string, OutcomeLite>;
  /** Gateway CPU over the load and its drain, idle rate subtracted (ms). */
  cpuMs: number;
  /** Gateway CPU while idle, per second (ms), measured just before the load. */
  idleCpuMsPerSec: number;
  rssMaxMb: number;
  heapUsedMaxMb: number;
  heapAfterGcMb: number;
  queueMax: number;
  capacityRange: [number, number];
  maxLagMs: number;
  measuredMs: number;
  /** performance.now() bounds of the measured window. */
  windowStart: number;
  windowEnd: number;
}

const MB = 1024 * 1024;
const cpuUs = (s: GatewaySample): number => s.cpu.user + s.cpu.system;

async function runLoad(opts: {
  key: string;
  mode: Mode;
  sims: { openai: string; anthropic: string };
  ratePerSec: number;
  warmupMs: number;
  durationMs: number;
  keyNames: string[];
  make(i: number, keys: Record<string, string>): ClassShotSpec;
}): Promise<RawRun> {
  const gw: GatewayChild = await startGatewayChild(gatewayConfig(opts.mode, opts.sims), opts.keyNames);
  const outcomes = new Map<string, OutcomeLite>();
  const take = (s: GatewaySample): void => {
    for (const o of s.outcomes) outcomes.set(o.id, o);
  };
  let queueMax = 0;
  let capMin = Number.POSITIVE_INFINITY;
  let capMax = 0;
  let poller: NodeJS.Timeout | undefined;
  try {
    await sleep(300);
    const s0 = await gw.sample(true);
    const tIdle = performance.now();
    await sleep(1_000);
    const s1 = await gw.sample();
    const idleCpuMsPerSec = (cpuUs(s1) - cpuUs(s0)) / 1000 / ((performance.now() - tIdle) / 1000);
    const poll = async (): Promise<void> => {
      try {
        const res = await fetch(`${gw.url}/holdfast/queue`, {
          headers: { authorization: `Bearer ${ADMIN_KEY}` },
        });
        if (res.status !== 200) return;
        const body = (await res.json()) as {
          models?: Array<{ model: string; queued: number; capacity: number }>;
        };
        const m = body.models?.find((x) => x.model === MODEL);
        if (!m) return;
        queueMax = Math.max(queueMax, m.queued);
        capMin = Math.min(capMin, m.capacity);
        capMax = Math.max(capMax, m.capacity);
      } catch {
        // a missed poll only loses a sample
      }
    };
    if (opts.mode === 'holdfast') poller = setInterval(() => void poll(), 250);
    const t0 = performance.now();
    const all = await classLoop({
      url: `${gw.url}/v1/chat/completions`,
      ratePerSec: opts.ratePerSec,
      durationMs: opts.warmupMs + opts.durationMs,
      make: (i) => opts.make(i, gw.keys),
    });
    clearInterval(poller);
    await sleep(100);
    const s2 = await gw.sample();
    const elapsedMs = performance.now() - t0;
    take(s2);
    const s3 = await gw.sample(true);
    take(s3);
    const measured = all.filter((x) => x.dueAt - t0 >= opts.warmupMs);
    return {
      key: opts.key,
      mode: opts.mode,
      ratePerSec: opts.ratePerSec,
      measured,
      all,
      outcomes,
      cpuMs: Math.max(0, (cpuUs(s2) - cpuUs(s1)) / 1000 - (idleCpuMsPerSec * elapsedMs) / 1000),
      idleCpuMsPerSec,
      rssMaxMb: Math.max(s2.rssMax, s3.rssMax) / MB,
      heapUsedMaxMb: Math.max(s2.heapUsedMax, s3.heapUsedMax) / MB,
      heapAfterGcMb: s3.heapUsed / MB,
      queueMax,
      capacityRange: [Number.isFinite(capMin) ? capMin : 0, capMax],
      maxLagMs: measured.reduce((m, x) => Math.max(m, x.lagMs), 0),
      measuredMs: opts.durationMs,
      windowStart: t0 + opts.warmupMs,
      windowEnd: t0 + opts.warmupMs + opts.durationMs,
    };
  } finally {
    clearInterval(poller);
    await gw.close();
    // Let the simulators finish whatever the closed gateway abandoned.
    await sleep(300);
  }
}

const inc = (m: Record<string, number>, k: string): void => {
  m[k] = (m[k] ?? 0) + 1;
};

/** Refusals made by the gateway itself, without an upstream attempt. */
const LOCAL_REFUSALS = new Set(['SHED', 'QUEUE_TIMEOUT', 'RATE_LIMITED']);

interface ClassStats {
  offered: number;
  /** Complete answers (whatever their TTFT). */
  ok: number;
  /** Complete answers whose TTFT met the class SLO. */
  good: number;
  success: number;
  goodShare: number;
}

interface RunStats {
  mode: Mode;
  offered_rps: number;
  sent: number;
  goodput: number;
  goodput_ratio: number;
  completed_rps: number;
  classes: Record<Cls, ClassStats>;
  /** TTFT of admitted interactive requests (those that got a first token), from arrival. */
  interactive_ttft_ms: { count: number; p50: number; p99: number; max: number };
  ttft_p99_vs_unloaded: number;
  flags: Record<string, number>;
  client_errors: Record<string, number>;
  /** Every request of the run (warm-up included), as the gateway's outcome records counted them. */
  gateway: { proxied: number; refused: number; other: number };
  cpu_ms: number;
  cpu_ms_per_request: number;
  idle_cpu_ms_per_sec: number;
  rss_max_mb: number;
  heap_used_max_mb: number;
  heap_after_gc_mb: number;
  queue_max: number;
  admission_capacity: [number, number];
  max_lag_ms: number;
}

function inWindow(r: RawRun, x: ClassShot): boolean {
  const end = x.dueAt + x.latencyMs;
  return end >= r.windowStart && end < r.windowEnd;
}

function goodInWindow(r: RawRun, x: ClassShot): boolean {
  return x.ok && inWindow(r, x) && (x.ttftMs ?? Number.POSITIVE_INFINITY) <= SLO_MS[x.cls as Cls];
}

function stats(r: RawRun, capacityRps: number, unloadedP99: number): RunStats {
  const sec = r.measuredMs / 1000;
  const classes = {} as Record<Cls, ClassStats>;
  for (const c of CLASSES) {
    const mine = r.measured.filter((x) => x.cls === c);
    const ok = mine.filter((x) => x.ok);
    const good = ok.filter((x) => (x.ttftMs ?? Number.POSITIVE_INFINITY) <= SLO_MS[c]);
    classes[c] = {
      offered: mine.length,
      ok: ok.length,
      good: good.length,
      success: mine.length ? ok.length / mine.length : Number.NaN,
      goodShare: mine.length ? good.length / mine.length : Number.NaN,
    };
  }
  // Goodput is a rate of good answers finished inside the measured window, whenever they arrived. Counting
  // the window's arrivals instead would credit the backlog a queue serves after the window closes (batch
  // requests may wait 30 s), and report more than the upstreams can possibly deliver.
  const good = r.all.filter((x) => goodInWindow(r, x)).length;
  const okAll = r.all.filter((x) => x.ok && inWindow(r, x)).length;
  const ttft = summarize(
    r.measured.filter((x) => x.cls === 'interactive' && x.ttftMs !== undefined).map((x) => x.ttftMs!),
  );
  const flags: Record<string, number> = {};
  const errors: Record<string, number> = {};
  for (const x of r.measured) {
    inc(flags, r.outcomes.get(x.id)?.flag ?? 'NO_OUTCOME');
    if (!x.ok) inc(errors, x.error ?? (x.ttftMs === undefined ? 'no content' : 'unknown'));
  }
  const gateway = { proxied: 0, refused: 0, other: 0 };
  for (const x of r.all) {
    const o = r.outcomes.get(x.id);
    if (!o) continue;
    if (o.attempts > 0) gateway.proxied += 1;
    else if (LOCAL_REFUSALS.has(o.flag)) gateway.refused += 1;
    else gateway.other += 1;
  }
  return {
    mode: r.mode,
    offered_rps: r.ratePerSec,
    sent: r.measured.length,
    goodput: good / sec,
    goodput_ratio: good / sec / capacityRps,
    completed_rps: okAll / sec,
    classes,
    interactive_ttft_ms: { count: ttft.count, p50: ttft.p50, p99: ttft.p99, max: ttft.max },
    ttft_p99_vs_unloaded: ttft.p99 / unloadedP99,
    flags,
    client_errors: errors,
    gateway,
    cpu_ms: r.cpuMs,
    cpu_ms_per_request: r.all.length ? r.cpuMs / r.all.length : Number.NaN,
    idle_cpu_ms_per_sec: r.idleCpuMsPerSec,
    rss_max_mb: r.rssMaxMb,
    heap_used_max_mb: r.heapUsedMaxMb,
    heap_after_gc_mb: r.heapAfterGcMb,
    queue_max: r.queueMax,
    admission_capacity: r.capacityRange,
    max_lag_ms: r.maxLagMs,
  };
}

/**
 * CPU per proxied request and per local refusal, by least squares over the admission-on runs:
 * cpu_ms = a × proxied + b × refused (+ other, counted as refused: requests the client abandoned in the
 * queue also never reached an upstream). The runs mix the two in very different proportions (1x is
 * almost all proxied, 10x mostly refused), which is what makes the two unknowns separable.
 */
function cpuSplit(runs: RunStats[]): { perProxiedMs: number; perRefusalMs: number; points: number } {
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  let sxc = 0;
  let syc = 0;
  for (const r of runs) {
    const x = r.gateway.proxied;
    const y = r.gateway.refused + r.gateway.other;
    sxx += x * x;
    sxy += x * y;
    syy += y * y;
    sxc += x * r.cpu_ms;
    syc += y * r.cpu_ms;
  }
  const det = sxx * syy - sxy * sxy;
  if (runs.length < 2 || Math.abs(det) < 1e-9) {
    const total = runs.reduce((n, r) => n + r.gateway.proxied, 0);
    return {
      perProxiedMs: total ? runs.reduce((n, r) => n + r.cpu_ms, 0) / total : Number.NaN,
      perRefusalMs: Number.NaN,
      points: runs.length,
    };
  }
  return {
    perProxiedMs: (sxc * syy - syc * sxy) / det,
    perRefusalMs: (syc * sxx - sxc * sxy) / det,
    points: runs.length,
  };
}

interface Check {
  name: string;
  value: string;
  limit: string;
  pass: boolean;
}

const pct = (v: number): string => fmt(v * 100, 1);

function flagCell(flags: Record<string, number>): string {
  return Object.entries(flags)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k}:${n}`)
    .join(' ');
}

export async function main(): Promise<void> {
  const s = readSettings();
  const runs = s.levels.length * 2 + 3;
  console.log(
    `overload: calibration ${s.calibrationMs / 1000}s, levels ${s.levels.map((l) => `${l}x`).join(', ')} x ` +
      `(holdfast, no_admission) x (${s.warmupMs / 1000}s warm-up + ${s.durationMs / 1000}s), fairness 2 x ` +
      `${s.fairnessMs / 1000}s: ${runs} gateway runs, ~${Math.ceil(
        (s.calibrationMs +
          s.levels.length * 2 * (s.warmupMs + s.durationMs) +
          2 * (s.warmupMs + s.fairnessMs)) /
          1000,
      )}s of load plus drains`,
  );
  console.log(
    `  upstream: ${DEPLOYMENTS} simulators (openai + anthropic wire), ${JSON.stringify(SIM)}; ` +
      `SLOs (TTFT from arrival): ${CLASSES.map((c) => `${c} ${SLO_MS[c]} ms`).join(', ')}; ` +
      `mix ${MIX.map(([c, p]) => `${c} ${p * 100}%`).join(', ')}`,
  );

  const simOpenai = await startChild('sim', { options: { ...SIM, dialect: 'openai' } });
  const simAnthropic = await startChild('sim', { options: { ...SIM, dialect: 'anthropic' } });
  const sims = { openai: simOpenai.info.openaiBaseUrl ?? `${simOpenai.url}/v1`, anthropic: simAnthropic.url };
  const keyNames = ['app', 'A', 'B', 'C'];
  const mixed =
    (runKey: string) =>
    (i: number, keys: Record<string, string>): ClassShotSpec => {
      const cls = classOf(i);
      // Only the operator may send critical traffic; the rest comes from one application key.
      return cls === 'critical'
        ? shotSpec(runKey, i, cls, 'admin', ADMIN_KEY)
        : shotSpec(runKey, i, cls, 'app', keys.app!);
    };

  benchScenarios(runs);
  try {
    // Calibration: interactive only, well below the nominal capacity, through the gateway.
    benchScenario('calibration');
    const nominalService = SIM.ttft_ms + ((SIM.answer_tokens - 1) * 1000) / SIM.tokens_per_sec;
    const nominalCapacity = UPSTREAM_CONCURRENCY / (nominalService / 1000);
    const calRate = Math.max(2, Math.round(nominalCapacity * 0.2));
    const cal = await runLoad({
      key: 'calibration',
      mode: 'holdfast',
      sims,
      ratePerSec: calRate,
      warmupMs: 1_000,
      durationMs: s.calibrationMs,
      keyNames,
      make: (i, keys) => shotSpec('cal', i, 'interactive', 'app', keys.app!),
    });
    const calOk = cal.measured.filter((x) => x.ok);
    const serviceMs = summarize(calOk.map((x) => x.latencyMs));
    const calTtft = summarize(calOk.map((x) => x.ttftMs!));
    if (calOk.length < cal.measured.length * 0.99 || calOk.length === 0)
      throw new Error(`calibration: ${cal.measured.length - calOk.length} of ${cal.measured.length} failed`);
    const capacityRps = UPSTREAM_CONCURRENCY / (serviceMs.mean / 1000);
    const unloadedP99 = calTtft.p99;
    console.log(
      `  calibration at ${calRate} req/s: service time mean ${fmt(serviceMs.mean, 0)} ms ` +
        `(nominal ${nominalService} ms), TTFT p50 ${fmt(calTtft.p50, 0)} / p99 ${fmt(unloadedP99, 0)} ms ` +
        `-> capacity ${UPSTREAM_CONCURRENCY} / ${fmt(serviceMs.mean / 1000, 3)} s = ${fmt(capacityRps, 1)} req/s`,
    );
    const calStats = stats(cal, capacityRps, unloadedP99);

    const levels: Array<{ offered_x: number; offered_rps: number } & Record<Mode, RunStats>> = [];
    for (const x of s.levels) {
      const rate = x * capacityRps;
      const row = { offered_x: x, offered_rps: rate } as { offered_x: number; offered_rps: number } & Record<
        Mode,
        RunStats
      >;
      for (const mode of ['holdfast', 'no_admission'] as const) {
        benchScenario(`${x}x ${mode}`);
        const raw = await runLoad({
          key: `${x}x-${mode}`,
          mode,
          sims,
          ratePerSec: rate,
          warmupMs: s.warmupMs,
          durationMs: s.durationMs,
          keyNames,
          make: mixed(`${x}x-${mode}`),
        });
        const st = stats(raw, capacityRps, unloadedP99);
        row[mode] = st;
        console.log(
          `  ${`${x}x`.padStart(4)} ${mode.padEnd(12)} sent ${String(st.sent).padStart(5)}  goodput ` +
            `${fmt(st.goodput, 1)} req/s (${pct(st.goodput_ratio)}%)  critical ${pct(st.classes.critical.success)}%  ` +
            `int p99 ${fmt(st.interactive_ttft_ms.p99, 0)} ms  cpu ${fmt(st.cpu_ms, 0)} ms  rss ${fmt(st.rss_max_mb, 0)} MB  ` +
            `${flagCell(st.flags)}`,
        );
      }
      levels.push(row);
    }

    // Fairness: three tenants (virtual keys, which is what the admission queue's tenant logic keys on
    // first), interactive only. Fair share = capacity / 3. A offers 10x its share, B and C 1x each.
    const fair = capacityRps / 3;
    const tenantRun = async (withA: boolean): Promise<RawRun> => {
      const pattern = withA ? [...Array<string>(10).fill('A'), 'B', 'C'] : ['B', 'C'];
      const key = withA ? 'fair-with-A' : 'fair-without-A';
      benchScenario(`fairness ${withA ? 'with' : 'without'} A`);
      return runLoad({
        key,
        mode: 'holdfast',
        sims,
        ratePerSec: fair * pattern.length,
        warmupMs: s.warmupMs,
        durationMs: s.fairnessMs,
        keyNames,
        make: (i, keys) => {
          // Spread A's requests between B's and C's rather than in a block.
          const tenant = pattern[(i * 5) % pattern.length]!;
          return shotSpec(key, i, 'interactive', tenant, keys[tenant]!);
        },
      });
    };
    const tenantGoodput = (r: RawRun, t: string): number =>
      r.all.filter((x) => x.tenant === t && goodInWindow(r, x)).length / (r.measuredMs / 1000);
    const without = await tenantRun(false);
    const withA = await tenantRun(true);
    const fairness = {
      fair_share_rps: fair,
      tenants: Object.fromEntries(
        ['A', 'B', 'C'].map((t) => [
          t,
          {
            offered_rps_without_A: t === 'A' ? 0 : fair,
            offered_rps_with_A: t === 'A' ? fair * 10 : fair,
            goodput_without_A: t === 'A' ? 0 : tenantGoodput(without, t),
            goodput_with_A: tenantGoodput(withA, t),
            // Why a tenant's requests were not good with A flooding: what the client saw, per kind.
            failures_with_A: withA.measured
              .filter(
                (x) =>
                  x.tenant === t && !(x.ok && (x.ttftMs ?? Number.POSITIVE_INFINITY) <= SLO_MS.interactive),
              )
              .reduce<Record<string, number>>((m, x) => {
                const k = x.ok ? 'slow' : (x.error ?? 'unknown');
                m[k] = (m[k] ?? 0) + 1;
                return m;
              }, {}),
            ttft_ms_with_A: summarize(
              withA.measured.filter((x) => x.tenant === t && x.ttftMs !== undefined).map((x) => x.ttftMs!),
            ),
          },
        ]),
      ) as Record<string, { goodput_without_A: number; goodput_with_A: number }>,
      kept: {} as Record<string, number>,
      with_A: stats(withA, capacityRps, unloadedP99),
      without_A: stats(without, capacityRps, unloadedP99),
    };
    for (const t of ['B', 'C']) {
      const v = fairness.tenants[t]!;
      fairness.kept[t] = v.goodput_with_A / v.goodput_without_A;
    }
    console.log(
      `  fairness: fair share ${fmt(fair, 1)} req/s; B ${fmt(fairness.tenants.B!.goodput_with_A, 1)} vs ` +
        `${fmt(fairness.tenants.B!.goodput_without_A, 1)}, C ${fmt(fairness.tenants.C!.goodput_with_A, 1)} vs ` +
        `${fmt(fairness.tenants.C!.goodput_without_A, 1)} good req/s with vs without A; A ` +
        `${fmt(fairness.tenants.A!.goodput_with_A, 1)}`,
    );

    // CPU: per proxied request vs per local refusal (admission-on runs, calibration included).
    const hfRuns = [calStats, ...levels.map((l) => l.holdfast), fairness.with_A, fairness.without_A];
    const split = cpuSplit(hfRuns);

    // Checks.
    const checks: Check[] = [];
    for (const l of levels) {
      if (l.offered_x >= 3)
        checks.push({
          name: `goodput >= ${TARGETS.goodputRatio * 100}% of capacity at ${l.offered_x}x`,
          value: `${pct(l.holdfast.goodput_ratio)}%`,
          limit: `>= ${TARGETS.goodputRatio * 100}%`,
          pass: l.holdfast.goodput_ratio >= TARGETS.goodputRatio,
        });
    }
    for (const l of levels)
      checks.push({
        name: `critical success >= ${TARGETS.criticalSuccess * 100}% at ${l.offered_x}x`,
        value: `${pct(l.holdfast.classes.critical.success)}%`,
        limit: `>= ${TARGETS.criticalSuccess * 100}%`,
        pass: l.holdfast.classes.critical.success >= TARGETS.criticalSuccess,
      });
    for (const l of levels)
      checks.push({
        name: `admitted interactive p99 TTFT <= ${TARGETS.ttftP99VsUnloaded}x unloaded at ${l.offered_x}x`,
        value: `${fmt(l.holdfast.interactive_ttft_ms.p99, 0)} ms (${fmt(l.holdfast.ttft_p99_vs_unloaded, 2)}x)`,
        limit: `<= ${fmt(unloadedP99 * TARGETS.ttftP99VsUnloaded, 0)} ms`,
        pass: l.holdfast.ttft_p99_vs_unloaded <= TARGETS.ttftP99VsUnloaded,
      });
    const lo = levels[0]!.holdfast;
    const hi = levels[levels.length - 1]!.holdfast;
    checks.push({
      name: `memory bounded: peak RSS at ${levels[levels.length - 1]!.offered_x}x <= ${TARGETS.rssGrowth}x peak at ${levels[0]!.offered_x}x`,
      value: `${fmt(hi.rss_max_mb, 0)} MB vs ${fmt(lo.rss_max_mb, 0)} MB`,
      limit: `<= ${fmt(lo.rss_max_mb * TARGETS.rssGrowth, 0)} MB`,
      pass: hi.rss_max_mb <= lo.rss_max_mb * TARGETS.rssGrowth,
    });
    const worstHeap = Math.max(
      ...levels.map((l) => l.holdfast.heap_after_gc_mb),
      fairness.with_A.heap_after_gc_mb,
    );
    checks.push({
      name: `memory bounded: live heap after each run (GC) <= calibration + ${TARGETS.heapLeakMb} MB`,
      value: `${fmt(worstHeap, 1)} MB vs ${fmt(calStats.heap_after_gc_mb, 1)} MB`,
      limit: `<= ${fmt(calStats.heap_after_gc_mb + TARGETS.heapLeakMb, 1)} MB`,
      pass: worstHeap <= calStats.heap_after_gc_mb + TARGETS.heapLeakMb,
    });
    for (const t of ['B', 'C'])
      checks.push({
        name: `fairness: tenant ${t} keeps >= ${TARGETS.fairness * 100}% of its goodput with A flooding`,
        value: `${pct(fairness.kept[t]!)}%`,
        limit: `>= ${TARGETS.fairness * 100}%`,
        pass: fairness.kept[t]! >= TARGETS.fairness,
      });

    // Table.
    const columns: Column[] = [
      { header: 'load', align: 'left' },
      { header: 'mode', align: 'left' },
      { header: 'req/s' },
      { header: 'sent' },
      { header: 'goodput' },
      { header: 'ratio %' },
      { header: 'crit ok%' },
      { header: 'int ok%' },
      { header: 'int good%' },
      { header: 'batch ok%' },
      { header: 'batch good%' },
      { header: 'int ttft p50' },
      { header: 'int ttft p99' },
      { header: 'vs unl' },
      { header: 'cpu ms/req' },
      { header: 'rss MB' },
      { header: 'heap MB' },
      { header: 'max q' },
      { header: 'flags', align: 'left' },
    ];
    const row = (label: string, st: RunStats): string[] => [
      label,
      st.mode,
      fmt(st.offered_rps, 1),
      String(st.sent),
      fmt(st.goodput, 1),
      pct(st.goodput_ratio),
      pct(st.classes.critical.success),
      pct(st.classes.interactive.success),
      pct(st.classes.interactive.goodShare),
      pct(st.classes.batch.success),
      pct(st.classes.batch.goodShare),
      fmt(st.interactive_ttft_ms.p50, 0),
      fmt(st.interactive_ttft_ms.p99, 0),
      fmt(st.ttft_p99_vs_unloaded, 2),
      fmt(st.cpu_ms_per_request, 3),
      fmt(st.rss_max_mb, 0),
      fmt(st.heap_used_max_mb, 0),
      st.mode === 'holdfast' ? String(st.queue_max) : '-',
      flagCell(st.flags),
    ];
    const rows = [row('calibration', calStats)];
    for (const l of levels) {
      rows.push(row(`${l.offered_x}x`, l.holdfast));
      rows.push(row(`${l.offered_x}x`, l.no_admission));
    }
    const lines: string[] = ['', renderTable(columns, rows), ''];
    lines.push(
      `capacity ${fmt(capacityRps, 1)} req/s (${UPSTREAM_CONCURRENCY} concurrent / ${fmt(serviceMs.mean, 0)} ms mean ` +
        `service time at ${calRate} req/s); unloaded interactive TTFT p99 ${fmt(unloadedP99, 0)} ms.`,
    );
    lines.push(
      `gateway CPU (least squares over ${split.points} admission-on runs): ${fmt(split.perProxiedMs * 1000, 0)} us per ` +
        `proxied request, ${fmt(split.perRefusalMs * 1000, 0)} us per local refusal ` +
        `(ratio ${fmt(split.perRefusalMs / split.perProxiedMs, 2)}).`,
    );
    lines.push('');
    lines.push(
      renderTable(
        [
          { header: 'fairness', align: 'left' },
          { header: 'offered with A' },
          { header: 'good/s without A' },
          { header: 'good/s with A' },
          { header: 'kept %' },
        ],
        ['A', 'B', 'C'].map((t) => {
          const v = fairness.tenants[t]!;
          return [
            `tenant ${t}`,
            fmt(t === 'A' ? fair * 10 : fair, 1),
            t === 'A' ? '-' : fmt(v.goodput_without_A, 1),
            fmt(v.goodput_with_A, 1),
            t === 'A' ? '-' : pct(fairness.kept[t]!),
          ];
        }),
      ),
    );
    const allRuns: Array<[string, RunStats]> = [
      ['calibration', calStats],
      ...levels.flatMap(
        (l): Array<[string, RunStats]> => [
          [`${l.offered_x}x holdfast`, l.holdfast],
          [`${l.offered_x}x no_admission`, l.no_admission],
        ],
      ),
      ['fairness without A', fairness.without_A],
      ['fairness with A', fairness.with_A],
    ];
    lines.push('');
    for (const [label, st] of allRuns) {
      const errs = Object.entries(st.client_errors).sort((a, b) => b[1] - a[1]);
      if (errs.length) lines.push(`${label}: client errors ${errs.map(([k, n]) => `${n}x ${k}`).join('; ')}`);
      if (st.max_lag_ms > LAG_WARN_MS)
        lines.push(
          `WARNING ${label}: the load generator fell ${fmt(st.max_lag_ms, 0)} ms behind schedule (in the TTFTs).`,
        );
    }
    lines.push('', 'Targets:');
    for (const c of checks) lines.push(`  ${c.pass ? 'PASS' : 'FAIL'}  ${c.name}: ${c.value} (${c.limit})`);
    const missed = checks.filter((c) => !c.pass).length;
    lines.push(missed === 0 ? 'All targets met.' : `${missed} of ${checks.length} checks missed.`);
    console.log(lines.join('\n'));

    const outDir = fileURLToPath(new URL('./results/', import.meta.url));
    mkdirSync(outDir, { recursive: true });
    const outFile = `${outDir}overload.json`;
    const json = {
      ...runInfo('overload', { srcDirty: true }),
      settings: {
        ...s,
        admission_initial_limit: INITIAL_LIMIT ?? 'default',
        simulator: SIM,
        deployments: DEPLOYMENTS,
        slo_ms: SLO_MS,
        mix: Object.fromEntries(MIX),
        ttft_grace_ms: TTFT_GRACE_MS,
        body_grace_ms: BODY_GRACE_MS,
      },
      capacity: {
        req_per_sec: capacityRps,
        concurrency: UPSTREAM_CONCURRENCY,
        service_ms: serviceMs,
        calibration_rps: calRate,
        unloaded_interactive_ttft_ms: calTtft,
      },
      calibration: calStats,
      levels,
      fairness,
      cpu: {
        per_proxied_us: split.perProxiedMs * 1000,
        per_refusal_us: split.perRefusalMs * 1000,
        runs: split.points,
      },
      targets: TARGETS,
      checks,
      allTargetsMet: missed === 0,
    };
    writeFileSync(outFile, `${JSON.stringify(json, null, 2)}\n`);
    console.log(`\nResults written to ${outFile}`);
  } finally {
    await simOpenai.close();
    await simAnthropic.close();
  }
}
