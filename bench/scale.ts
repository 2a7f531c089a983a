import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { openDatabase } from '../src/stores/database.ts';
import { createSqlKeyStore } from '../src/stores/keys.ts';
import { deletePrefix, redisAvailable, SHARED_REDIS_URL, uniquePrefix } from '../test/helpers/redis.ts';
import {
  freePort,
  pgAvailable,
  pgSchema,
  type Replica,
  startReplica,
  TEST_PG,
} from '../test/helpers/replica.ts';
import { type ChildServer, startChild } from './lib/child.ts';
import { carriesContent, type LoadResult, type LoadRun, mergeRuns, probe, runLoad } from './lib/load.ts';
import { cpuMs, cpuMsOf, memoryMb } from './lib/proc.ts';
import { benchScenario, benchScenarios } from './lib/progress.ts';
import { runInfo } from './lib/run-info.ts';
import { type Column, fmt, renderTable } from './lib/table.ts';

/**
 * `npm run bench -- scale`: Holdfast as 1, 2 and 3 replica processes sharing PostgreSQL (and Redis when
 * there is one) behind the test load balancer (test/helpers/balancer.ts, its own process): throughput,
 * p99 and CPU per request against one replica behind the same balancer, measured in the same run; a
 * cluster-wide rate limit's accuracy across three replicas; and a replica's memory holding 1,000 slow
 * streams. Loopback only; every process it starts is stopped at the end. See bench/README.md.
 */

const ADMIN = 'hf-admin-scale-bench-0123456789';
const MODEL = 'bench';
const ANSWER_TOKENS = 20;
const REPLICAS = 3;

type Target = 'direct' | 'lb1' | 'lb2' | 'lb3';
type Workload = 'unary' | 'sse';
const TARGET_ORDER: Target[] = ['direct', 'lb1', 'lb2', 'lb3'];
const WORKLOADS: Workload[] = ['unary', 'sse'];
const BASELINE: Target = 'lb1';
const LABEL: Record<Target, string> = {
  direct: '1 replica, no balancer',
  lb1: '1 replica',
  lb2: '2 replicas',
  lb3: '3 replicas',
};

const TARGETS = {
  /** Errors in any throughput cell. */
  maxErrors: 0,
  /** Requests a 3-replica cluster allows under one key's rpm, against what the limit allows. */
  limitAccuracy: 0.05,
  /** A replica's resident memory with 1,000 slow streams open. */
  rssMb: 150,
};

interface Settings {
  warmupMs: number;
  durationMs: number;
  rounds: number;
  concurrency: number;
  streams: number;
  limitMs: number;
  limitRpm: number;
  workloads: Workload[];
}

function readSettings(): Settings {
  const num = (name: string, fallback: number): number => {
    const raw = process.env[name];
    if (raw === undefined || raw === '') return fallback;
    const v = Number(raw);
    if (!Number.isFinite(v) || v < 0) throw new Error(`${name} must be a non-negative number, got ${raw}`);
    return v;
  };
  const workloads = (process.env.BENCH_SCALE_WORKLOADS ?? WORKLOADS.join(',')).split(',').map((w) => {
    if (!WORKLOADS.includes(w.trim() as Workload)) throw new Error(`BENCH_SCALE_WORKLOADS: unknown ${w}`);
    return w.trim() as Workload;
  });
  return {
    warmupMs: Math.round(num('BENCH_SCALE_WARMUP_SECONDS', 1) * 1000),
    durationMs: Math.round(num('BENCH_SCALE_SECONDS', 5) * 1000),
    rounds: Math.max(1, Math.round(num('BENCH_SCALE_ROUNDS', 2))),
    concurrency: Math.max(1, Math.round(num('BENCH_SCALE_CONCURRENCY', 32))),
    streams: Math.round(num('BENCH_SCALE_STREAMS', 1000)),
    limitMs: Math.round(num('BENCH_SCALE_LIMIT_SECONDS', 10) * 1000),
    limitRpm: Math.max(1, Math.round(num('BENCH_SCALE_LIMIT_RPM', 120))),
    workloads,
  };
}

interface Cell {
  workload: Workload;
  target: Target;
  replicas: number;
  result: LoadResult;
  /** CPU milliseconds per measured request: all replicas, the balancer, everything we started + the generator. */
  replicaCpuMsPerReq?: number;
  balancerCpuMsPerReq?: number;
  /** Average cores busy over the measured windows (replicas, balancer, simulator, load generator). */
  coresBusy?: number;
}

interface LimitResult {
  rpm: number;
  allowed: number;
  limited: number;
  other: number;
  elapsedMs: number;
  expected: number;
  /** allowed ÷ expected − 1 */
  error: number;
  perReplica: Record<string, number>;
}

interface StreamsResult {
  streams: number;
  started: number;
  idleRssMb: number;
  peakRssMb: number;
  perStreamKb: number;
  /** Where the memory is, from the replica's own /metrics while the streams are open. */
  heapUsedMb: number;
  heapTotalMb: number;
  externalMb: number;
}

interface Check {
  name: string;
  value: string;
  limit: string;
  pass: boolean;
}

function body(workload: Workload, model = MODEL): string {
  return JSON.stringify({
    model,
    messages: [{ role: 'user', content: 'hello' }],
    ...(workload === 'sse' ? { stream: true } : {}),
  });
}

async function verify(target: Target, url: string, key: string, workload: Workload): Promise<void> {
  const res = await probe(`${url}/v1/chat/completions`, body(workload), { authorization: `Bearer ${key}` });
  const fail = (why: string): never => {
    throw new Error(`${target} ${workload} probe: ${why}\n${res.text.slice(-800)}`);
  };
  if (res.status !== 200) fail(`HTTP ${res.status}`);
  if (workload === 'sse') {
    const lines = res.text.split('\n');
    if (!lines.some(carriesContent)) fail('no content in stream');
    if (!lines.some((l) => l.trim() === 'data: [DONE]')) fail('stream did not end with [DONE]');
  } else if (!(JSON.parse(res.text) as { choices?: unknown[] }).choices?.length) fail('no choices');
}

function replicaConfig(opts: {
  storeUrl: string;
  upstream: string;
  redis?: { url: string; prefix: string };
  extra?: string;
}): string {
  return `server: { host: 127.0.0.1, drain_delay_ms: 0, shutdown_grace_ms: 5000 }
auth: { admin_key: ${ADMIN} }
store: { url: "${opts.storeUrl}" }
${opts.redis ? `shared_state: { redis_url: "${opts.redis.url}", key_prefix: "${opts.redis.prefix}", replica_id: \${HOLDFAST_REPLICA} }\n` : ''}log: { level: warn }
${opts.extra ?? ''}models:
  - name: ${MODEL}
    deployments:
      - { id: up, provider: openai, base_url: "${opts.upstream}", api_key: x, model: bench-model }
`;
}

/** One key's requests-per-minute limit across the three replicas, through the balancer. */
async function measureLimit(
  url: string,
  key: string,
  s: Settings,
  lbServed: () => Promise<Record<string, number>>,
): Promise<LimitResult> {
  const pool = new Pool(url, { connections: 8 });
  let allowed = 0;
  let limited = 0;
  let other = 0;
  let first = 0;
  let last = 0;
  const before = await lbServed();
  const t0 = Date.now();
  try {
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (Date.now() - t0 < s.limitMs) {
          const at = Date.now();
          first ||= at;
          last = at;
          const r = await pool.request({
            path: '/v1/chat/completions',
            method: 'POST',
            headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
            body: body('unary'),
          });
          await r.body.dump();
          if (r.statusCode === 200) allowed++;
          else if (r.statusCode === 429) limited++;
          else other++;
        }
      }),
    );
  } finally {
    await pool.close();
  }
  const after = await lbServed();
  const perReplica: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) perReplica[k] = v - (before[k] ?? 0);
  const elapsedMs = last - first;
  // GCRA with the default burst: a minute's allowance at once, then one request every 60 s / rpm.
  const expected = s.limitRpm + (elapsedMs / 60_000) * s.limitRpm;
  return {
    rpm: s.limitRpm,
    allowed,
    limited,
    other,
    elapsedMs,
    expected,
    error: allowed / expected - 1,
    perReplica,
  };
}

/** Opens `n` slow streams on one replica and reads its memory while they are all open. */
async function measureStreams(replica: Replica, n: number): Promise<StreamsResult> {
  const pid = replica.child.pid!;
  await sleep(1_000);
  const idle = memoryMb(pid)?.rss ?? Number.NaN;
  const idleHeap = await heapOf(replica.url);
  console.log(
    `  idle: V8 heap ${fmt(idleHeap.heapUsedMb, 0)} MB used of ${fmt(idleHeap.heapTotalMb, 0)} MB, external ${fmt(idleHeap.externalMb, 0)} MB`,
  );
  const pool = new Pool(replica.url, { connections: n, headersTimeout: 60_000, bodyTimeout: 60_000 });
  let started = 0;
  const ac = new AbortController();
  const streams = Array.from({ length: n }, async () => {
    try {
      const r = await pool.request({
        path: '/v1/chat/completions',
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: body('sse', 'slow'),
        signal: ac.signal,
      });
      let counted = false;
      for await (const chunk of r.body) {
        // A line split across two chunks is missed; the next token's line counts instead.
        if (!counted && String(chunk).split('\n').some(carriesContent)) {
          counted = true;
          started++;
        }
      }
    } catch {
      // aborted at the end of the measurement
    }
  });
  let peak = 0;
  const deadline = Date.now() + 30_000;
  while (started < n && Date.now() < deadline) {
    peak = Math.max(peak, memoryMb(pid)?.rss ?? 0);
    await sleep(200);
  }
  // All open (or as many as got through in 30 s): sample a few seconds of steady streaming.
  for (let i = 0; i < 15; i++) {
    peak = Math.max(peak, memoryMb(pid)?.rss ?? 0);
    await sleep(200);
  }
  const heap = await heapOf(replica.url);
  const counted = started;
  ac.abort();
  await Promise.all(streams);
  await pool.destroy();
  return {
    streams: n,
    started: counted,
    idleRssMb: idle,
    ...heap,
    peakRssMb: peak,
    perStreamKb: ((peak - idle) * 1024) / Math.max(1, counted),
  };
}

function report(cells: Cell[], cores: number): string {
  const columns: Column[] = [
    { header: 'workload', align: 'left' },
    { header: 'target', align: 'left' },
    { header: 'req/s' },
    { header: `x ${BASELINE}` },
    { header: 'req/s/core' },
    { header: 'p50 ms' },
    { header: 'p99 ms' },
    { header: 'p99 x' },
    { header: 'replica cpu ms/req' },
    { header: 'lb cpu ms/req' },
    { header: 'cores busy' },
    { header: 'errors' },
  ];
  const rows = cells.map((c) => {
    const base = cells.find((b) => b.workload === c.workload && b.target === BASELINE);
    return [
      c.workload,
      `${c.target} (${LABEL[c.target]})`,
      fmt(c.result.rps, 0),
      base ? `${(c.result.rps / base.result.rps).toFixed(2)}x` : '',
      fmt(c.result.rps / cores, 0),
      fmt(c.result.latency.p50, 2),
      fmt(c.result.latency.p99, 2),
      base ? `${(c.result.latency.p99 / base.result.latency.p99).toFixed(2)}x` : '',
      fmt(c.replicaCpuMsPerReq, 3),
      fmt(c.balancerCpuMsPerReq, 3),
      fmt(c.coresBusy, 2),
      String(c.result.errors),
    ];
  });
  return renderTable(columns, rows);
}

export async function main(): Promise<void> {
  const s = readSettings();
  const cores = cpus().length;
  if (!(await pgAvailable())) {
    console.error(`scale: needs PostgreSQL at ${TEST_PG} (the replicas share it); none answered.`);
    process.exitCode = 2;
    return;
  }
  const redis = (await redisAvailable())
    ? { url: SHARED_REDIS_URL, prefix: uniquePrefix('bench-scale') }
    : undefined;
  const perCell = s.warmupMs * s.rounds + s.durationMs;
  const estimate = Math.ceil(
    (s.workloads.length * TARGET_ORDER.length * perCell + (redis ? s.limitMs : 0) + 15_000) / 1000 + 25,
  );
  console.log(
    `scale: ${TARGET_ORDER.map((t) => LABEL[t]).join(' / ')} x ${s.workloads.join(', ')} at ${s.concurrency} connections; ` +
      `per cell ${s.durationMs / 1000}s measured in ${s.rounds} rounds after ${s.warmupMs / 1000}s warm-up each (~${estimate}s in all)`,
  );
  console.log(
    `NOTE: this machine has ${cores} cores, shared by every replica, the balancer, the simulator and the load ` +
      'generator: adding replicas cannot add CPU here. The point is what scale-out costs (balancer hop, ' +
      'shared state, more processes) and that it stays correct, not speed-up.',
  );
  console.log(
    `Replicas share PostgreSQL (one schema${redis ? ') and Redis (shared rate limits, membership, ejections' : '; no Redis found, so no shared fast state'}).`,
  );

  const loadBefore = loadavg()[0]!;
  if (loadBefore > cores)
    console.log(
      `WARNING: load average ${loadBefore.toFixed(1)} on ${cores} cores before starting: other work is using ` +
        'this machine, so absolute figures are low and noisy; the ratios (same run, alternating rounds) hold better.',
    );

  const dir = mkdtempSync(join(tmpdir(), 'holdfast-bench-scale-'));
  const schema = await pgSchema(`hf_bench_scale_${randomBytes(4).toString('hex')}`);
  const children: ChildServer[] = [];
  const replicas: Replica[] = [];
  const killAll = (): void => {
    for (const r of replicas) if (r.child.exitCode === null) r.child.kill('SIGKILL');
  };
  process.once('exit', killAll);
  const cells: Cell[] = [];
  let limit: LimitResult | undefined;
  let streams: StreamsResult | undefined;
  try {
    const sim = await startChild('sim', {
      options: { ttft_ms: 0, tokens_per_sec: 0, answer_tokens: ANSWER_TOKENS, capacity: 4096, queue: 4096 },
    });
    children.push(sim);
    const upstream = sim.info.openaiBaseUrl ?? `${sim.url}/v1`;
    const cfg = join(dir, 'holdfast.yaml');
    writeFileSync(cfg, replicaConfig({ storeUrl: schema.url, upstream, ...(redis ? { redis } : {}) }));
    const ports = await Promise.all(Array.from({ length: REPLICAS }, () => freePort()));
    // The first one creates the tables; the others start on a migrated schema.
    replicas.push(await startReplica({ name: 'r1', config: cfg, port: ports[0]! }));
    replicas.push(
      ...(await Promise.all(
        ports.slice(1).map((port, i) => startReplica({ name: `r${i + 2}`, config: cfg, port })),
      )),
    );

    const db = await openDatabase({ url: schema.url, data_dir: dir });
    let key: string;
    let limitedKey: string;
    try {
      const keys = createSqlKeyStore(db.kysely);
      // With Redis, every request checks this (never reached) limit there: what a keyed cluster does.
      key = (
        await keys.createKey({
          name: 'bench',
          models: ['*'],
          ...(redis ? { limits: { rpm: 1_000_000_000 } } : {}),
        })
      ).secret;
      limitedKey = (await keys.createKey({ name: 'limited', models: ['*'], limits: { rpm: s.limitRpm } }))
        .secret;
    } finally {
      await db.close();
    }

    const balancers = new Map<Target, ChildServer>();
    for (const n of [1, 2, 3]) {
      const lb = await startChild('balancer', { backends: replicas.slice(0, n).map((r) => r.url) });
      children.push(lb);
      if (Number(lb.info.healthy) !== n) throw new Error(`balancer over ${n} sees ${lb.info.healthy} ready`);
      balancers.set(`lb${n}` as Target, lb);
    }
    const urlOf = (t: Target): string => (t === 'direct' ? replicas[0]!.url : balancers.get(t)!.url);
    for (const t of TARGET_ORDER) for (const w of s.workloads) await verify(t, urlOf(t), key, w);

    const replicaPids = replicas.map((r) => r.child.pid!);
    const allPids = (t: Target): number[] => [
      ...replicaPids,
      sim.pid,
      ...(t === 'direct' ? [] : [balancers.get(t)!.pid]),
    ];
    const roundMs = Math.max(1, Math.round(s.durationMs / s.rounds));
    benchScenarios(
      s.workloads.length * TARGET_ORDER.length * s.rounds + (redis ? 1 : 0) + (s.streams > 0 ? 1 : 0),
    );
    for (const workload of s.workloads) {
      const runs = new Map<Target, LoadRun[]>(TARGET_ORDER.map((t) => [t, []]));
      const cpu = new Map<Target, { replica: number; lb: number; all: number; windowMs: number }>(
        TARGET_ORDER.map((t) => [t, { replica: 0, lb: 0, all: 0, windowMs: 0 }]),
      );
      for (let round = 0; round < s.rounds; round++) {
        // Alternating order, so a burst of noise from elsewhere lands on every target, not one.
        const order = round % 2 === 0 ? TARGET_ORDER : [...TARGET_ORDER].reverse();
        for (const target of order) {
          benchScenario(`${workload} ${LABEL[target]} (round ${round + 1})`);
          const lbPid = target === 'direct' ? undefined : balancers.get(target)!.pid;
          // CPU is read at the measured window's edges, on timers set beside the generator's own.
          let start: { r?: number; lb?: number; all?: number; self: NodeJS.CpuUsage; at: number } | undefined;
          const c = cpu.get(target)!;
          const t1 = setTimeout(() => {
            start = {
              r: cpuMsOf(replicaPids),
              lb: lbPid ? cpuMs(lbPid) : 0,
              all: cpuMsOf(allPids(target)),
              self: process.cpuUsage(),
              at: performance.now(),
            };
          }, s.warmupMs);
          const t2 = setTimeout(() => {
            if (!start) return;
            const self = process.cpuUsage(start.self);
            const r = cpuMsOf(replicaPids);
            const lb = lbPid ? cpuMs(lbPid) : 0;
            const all = cpuMsOf(allPids(target));
            if (start.r === undefined || r === undefined || start.all === undefined || all === undefined)
              return;
            c.replica += r - start.r;
            c.lb += (lb ?? 0) - (start.lb ?? 0);
            c.all += all - start.all + (self.user + self.system) / 1000;
            c.windowMs += performance.now() - start.at;
          }, s.warmupMs + roundMs);
          const run = await runLoad({
            url: `${urlOf(target)}/v1/chat/completions`,
            body: body(workload),
            headers: { authorization: `Bearer ${key}` },
            stream: workload === 'sse',
            concurrency: s.concurrency,
            warmupMs: s.warmupMs,
            durationMs: roundMs,
          });
          clearTimeout(t1);
          clearTimeout(t2);
          runs.get(target)!.push(run);
        }
      }
      for (const target of TARGET_ORDER) {
        const result = mergeRuns(runs.get(target)!);
        const c = cpu.get(target)!;
        const measured = c.windowMs > 0 && result.requests > 0;
        cells.push({
          workload,
          target,
          replicas: target === 'direct' ? 1 : Number(target.slice(2)),
          result,
          ...(measured
            ? {
                replicaCpuMsPerReq: c.replica / result.requests,
                ...(target === 'direct' ? {} : { balancerCpuMsPerReq: c.lb / result.requests }),
                coresBusy: c.all / c.windowMs,
              }
            : {}),
        });
        const err = result.errors > 0 ? `  errors ${result.errors} (${result.firstError})` : '';
        console.log(
          `  ${workload.padEnd(5)} ${LABEL[target].padEnd(22)} ${fmt(result.rps, 0).padStart(6)} req/s  ` +
            `p50 ${fmt(result.latency.p50, 2)} ms  p99 ${fmt(result.latency.p99, 2)} ms${err}`,
        );
      }
    }

    if (redis) {
      benchScenario(`rate limit ${s.limitRpm}/min across ${REPLICAS} replicas`);
      const lb = balancers.get('lb3')!;
      // Each replica's own count of answered requests (its /metrics), to show the traffic was spread.
      const served = async (): Promise<Record<string, number>> => {
        const out: Record<string, number> = {};
        for (const r of replicas) out[r.name] = await requestsServed(r.url);
        return out;
      };
      limit = await measureLimit(lb.url, limitedKey, s, served);
      console.log(
        `  rate limit ${limit.rpm}/min over ${(limit.elapsedMs / 1000).toFixed(1)} s through ${REPLICAS} replicas: ` +
          `${limit.allowed} allowed (expected ${limit.expected.toFixed(1)}, ${(limit.error * 100).toFixed(2)}%), ` +
          `${limit.limited} limited, ${limit.other} other; requests per replica ${JSON.stringify(limit.perReplica)}`,
      );
    }

    if (s.streams > 0) {
      benchScenario(`${s.streams} slow streams on one replica`);
      const slow = await startChild('sim', {
        options: { ttft_ms: 100, tokens_per_sec: 4, answer_tokens: 400, capacity: 8192, queue: 8192 },
      });
      children.push(slow);
      const slowCfg = join(dir, 'slow.yaml');
      writeFileSync(
        slowCfg,
        replicaConfig({
          storeUrl: schema.url,
          upstream,
          extra: `admission: { initial_limit: ${Math.max(16, s.streams * 2)}, max_limit: ${Math.max(512, s.streams * 4)} }
`,
        }).replace(
          'models:\n',
          `models:\n  - name: slow\n    deployments:\n      - { id: slow, provider: openai, base_url: "${slow.info.openaiBaseUrl ?? `${slow.url}/v1`}", api_key: x, model: slow-model, max_connections: ${Math.max(256, s.streams * 2)} }\n`,
        ),
      );
      const one = await startReplica({ name: 'streams', config: slowCfg, port: await freePort() });
      replicas.push(one);
      streams = await measureStreams(one, s.streams);
      console.log(
        `  ${streams.started} of ${streams.streams} slow streams open on one replica: RSS ${fmt(streams.idleRssMb, 0)} MB idle, ` +
          `${fmt(streams.peakRssMb, 0)} MB peak (${fmt(streams.perStreamKb, 1)} KB per stream); V8 heap ` +
          `${fmt(streams.heapUsedMb, 0)} MB used of ${fmt(streams.heapTotalMb, 0)} MB, external ${fmt(streams.externalMb, 0)} MB`,
      );
    }
  } finally {
    await Promise.all(
      replicas.map(async (r) => {
        const late = setTimeout(() => r.child.kill('SIGKILL'), 10_000);
        await r.stop('SIGTERM');
        clearTimeout(late);
      }),
    );
    await Promise.all(children.map((c) => c.close()));
    await schema.drop().catch(() => {});
    if (redis) await deletePrefix(redis.url, redis.prefix).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    process.removeListener('exit', killAll);
  }

  const checks: Check[] = [];
  const errors = cells.reduce((n, c) => n + c.result.errors, 0);
  checks.push({
    name: 'errors in throughput cells',
    value: String(errors),
    limit: `<= ${TARGETS.maxErrors}`,
    pass: errors <= TARGETS.maxErrors,
  });
  if (limit)
    checks.push({
      name: `rate limit across ${REPLICAS} replicas`,
      value: `${(limit.error * 100).toFixed(2)}%`,
      limit: `within ${TARGETS.limitAccuracy * 100}%`,
      // Only a limit that was reached says anything about accuracy.
      pass: Math.abs(limit.error) <= TARGETS.limitAccuracy && limit.limited > 0 && limit.other === 0,
    });
  if (streams)
    checks.push({
      name: `RSS with ${streams.streams} slow streams`,
      value: `${fmt(streams.peakRssMb, 0)} MB (${streams.started} open)`,
      limit: `<= ${TARGETS.rssMb} MB, all open`,
      pass: streams.peakRssMb <= TARGETS.rssMb && streams.started === streams.streams,
    });

  const table = report(cells, cores);
  const lines = [
    '',
    table,
    '',
    `Baseline: ${BASELINE} (${LABEL[BASELINE]} behind the same balancer), same run. req/s/core divides by all ${cores} cores of the machine.`,
    'replica cpu ms/req counts all three replicas (idle ones too); cores busy counts every process of the run.',
    `Load average (1 min): ${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after, on ${cores} cores.`,
    ...(streams
      ? [
          `Slow streams: RSS ${fmt(streams.idleRssMb, 0)} MB idle, ${fmt(streams.peakRssMb, 0)} MB with ${streams.started} open ` +
            `(${fmt(streams.perStreamKb, 1)} KB each).`,
        ]
      : []),
    ...(limit
      ? [
          `Rate limit ${limit.rpm}/min through ${REPLICAS} replicas for ${(limit.elapsedMs / 1000).toFixed(1)} s: ` +
            `${limit.allowed} allowed, ${limit.expected.toFixed(1)} expected (${(limit.error * 100).toFixed(2)}%), ${limit.limited} limited.`,
        ]
      : ['Rate limit accuracy: not measured (no Redis at 127.0.0.1:6379, so limits are per replica).']),
    '',
    'Targets:',
    ...checks.map((k) => `  ${k.pass ? 'PASS' : 'FAIL'}  ${k.name}: ${k.value} (target ${k.limit})`),
    checks.every((k) => k.pass)
      ? 'All targets met.'
      : `${checks.filter((k) => !k.pass).length} of ${checks.length} targets missed.`,
  ];
  console.log(lines.join('\n'));

  const outDir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(outDir, { recursive: true });
  const json = {
    ...runInfo('scale'),
    redis: Boolean(redis),
    loadAverage: { before: loadBefore, after: loadavg()[0] },
    settings: { ...s, answerTokens: ANSWER_TOKENS },
    limits: TARGETS,
    baseline: BASELINE,
    cells: cells.map((c) => ({
      workload: c.workload,
      target: c.target,
      replicas: c.replicas,
      viaBalancer: c.target !== 'direct',
      ...c.result,
      rpsPerCore: c.result.rps / cores,
      rpsVsBaseline:
        c.result.rps /
        (cells.find((b) => b.workload === c.workload && b.target === BASELINE)?.result.rps ?? Number.NaN),
      replicaCpuMsPerReq: c.replicaCpuMsPerReq,
      balancerCpuMsPerReq: c.balancerCpuMsPerReq,
      coresBusy: c.coresBusy,
    })),
    limit,
    streams,
    checks,
    allTargetsMet: checks.every((k) => k.pass),
  };
  writeFileSync(`${outDir}scale.json`, `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(`${outDir}scale.txt`, `${lines.join('\n').trimStart()}\n`);
  console.log(`\nResults written to ${outDir}scale.json and scale.txt`);
}

/** The V8 heap and external memory of a replica, from its /metrics (prom-client's process metrics). */
async function heapOf(url: string): Promise<{ heapUsedMb: number; heapTotalMb: number; externalMb: number }> {
  const r = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } });
  const text = await r.text();
  const mb = (name: string): number => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(text);
    return m ? Number(m[1]) / 2 ** 20 : Number.NaN;
  };
  return {
    heapUsedMb: mb('nodejs_heap_size_used_bytes'),
    heapTotalMb: mb('nodejs_heap_size_total_bytes'),
    externalMb: mb('nodejs_external_memory_bytes'),
  };
}

/** Model API requests a replica has answered, from its /metrics (admin key). */
async function requestsServed(url: string): Promise<number> {
  const r = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } });
  const text = await r.text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('holdfast_requests_total{')) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
  }
  return sum;
}
