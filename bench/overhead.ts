import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type ChildServer, startChild } from './lib/child.ts';
import { carriesContent, type LoadResult, type LoadRun, mergeRuns, probe, runLoad } from './lib/load.ts';
import { benchScenario, benchScenarios } from './lib/progress.ts';
import { runInfo } from './lib/run-info.ts';
import { type Column, fmt, fmtSigned, renderTable } from './lib/table.ts';

type Target = 'direct' | 'proxy' | 'holdfast';
type Workload = 'unary' | 'sse';

const ALL_TARGETS: Target[] = ['direct', 'proxy', 'holdfast'];
const WORKLOADS: Workload[] = ['unary', 'sse'];
const ANSWER_TOKENS = 20;
/**
 * The simulator is configured to answer instantly; if going straight to it is slower than this at one
 * connection, upstream latency (not the gateway) dominates every row and the comparisons mean little.
 */
const DIRECT_SANITY_MS = 5;

/** The targets this benchmark exists to enforce (see bench/README.md). */
const TARGETS = {
  minRpsRatio: 0.8,
  maxAddedP50Ms: 0.3,
  maxAddedTtftMs: 0.5,
};

interface Settings {
  /** Before each round. */
  warmupMs: number;
  /** Measured time per cell, split evenly across its rounds. */
  durationMs: number;
  rounds: number;
  concurrency: number[];
  targets: Target[];
}

interface Cell {
  target: Target;
  workload: Workload;
  concurrency: number;
  result: LoadResult;
}

interface Comparison {
  target: Target;
  workload: Workload;
  concurrency: number;
  /** target req/s ÷ proxy req/s */
  rpsRatio: number;
  addedP50Ms: number;
  addedP99Ms: number;
  addedTtftP50Ms?: number;
}

interface Check {
  name: string;
  workload: Workload;
  concurrency: number;
  value: number;
  limit: string;
  pass: boolean;
}

function readSettings(): Settings {
  const num = (name: string, fallback: number): number => {
    const raw = process.env[name];
    if (raw === undefined || raw === '') return fallback;
    const v = Number(raw);
    if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number, got ${raw}`);
    return v;
  };
  const concurrency = (process.env.BENCH_CONCURRENCY ?? '1,16,64').split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 1) throw new Error(`BENCH_CONCURRENCY: bad value ${s}`);
    return n;
  });
  const targets = (process.env.BENCH_TARGETS ?? ALL_TARGETS.join(',')).split(',').map((s) => {
    const t = s.trim();
    if (!ALL_TARGETS.includes(t as Target)) throw new Error(`BENCH_TARGETS: unknown target ${t}`);
    return t as Target;
  });
  const rounds = num('BENCH_ROUNDS', 2);
  if (!Number.isInteger(rounds)) throw new Error(`BENCH_ROUNDS must be an integer, got ${rounds}`);
  return {
    warmupMs: Math.round(num('BENCH_WARMUP_SECONDS', 0.5) * 1000),
    durationMs: Math.round(num('BENCH_SECONDS', 4) * 1000),
    rounds,
    concurrency,
    targets: ALL_TARGETS.filter((t) => targets.includes(t)),
  };
}

function requestBody(model: string, workload: Workload): string {
  return JSON.stringify({
    model,
    messages: [{ role: 'user', content: 'hello' }],
    ...(workload === 'sse' ? { stream: true } : {}),
  });
}

interface Endpoint {
  url: string;
  model: string;
}

/** Fails loudly before measuring if a target does not give a real answer, so a fast error page is never benchmarked. */
async function verify(target: Target, ep: Endpoint, workload: Workload): Promise<void> {
  const res = await probe(ep.url, requestBody(ep.model, workload), {});
  const fail = (why: string): never => {
    throw new Error(`${target} ${workload} probe: ${why}\n${res.text.slice(-800)}`);
  };
  if (res.status !== 200) fail(`HTTP ${res.status}`);
  if (workload === 'sse') {
    const lines = res.text.split('\n');
    if (!lines.some(carriesContent)) fail('no content in stream');
    if (!lines.some((l) => l.trim() === 'data: [DONE]')) fail('stream did not end with [DONE]');
    return;
  }
  let content: unknown;
  try {
    const json = JSON.parse(res.text) as { choices?: Array<{ message?: { content?: unknown } }> };
    content = json.choices?.[0]?.message?.content;
  } catch {
    fail('body is not JSON');
  }
  if (typeof content !== 'string' || content.length === 0) fail('no message content');
}

function compare(cells: Cell[]): Comparison[] {
  const out: Comparison[] = [];
  for (const c of cells) {
    if (c.target === 'proxy') continue;
    const base = cells.find(
      (b) => b.target === 'proxy' && b.workload === c.workload && b.concurrency === c.concurrency,
    );
    if (!base) continue;
    const cmp: Comparison = {
      target: c.target,
      workload: c.workload,
      concurrency: c.concurrency,
      rpsRatio: c.result.rps / base.result.rps,
      addedP50Ms: c.result.latency.p50 - base.result.latency.p50,
      addedP99Ms: c.result.latency.p99 - base.result.latency.p99,
    };
    if (c.result.ttft && base.result.ttft) cmp.addedTtftP50Ms = c.result.ttft.p50 - base.result.ttft.p50;
    out.push(cmp);
  }
  return out;
}

/**
 * Throughput is judged at every concurrency; latency only at one connection, where it is the gateway's
 * own per-request cost rather than queueing behind other requests.
 */
function check(comparisons: Comparison[]): Check[] {
  const out: Check[] = [];
  for (const c of comparisons) {
    if (c.target !== 'holdfast') continue;
    if (c.workload === 'unary') {
      out.push({
        name: 'req/s vs proxy',
        workload: c.workload,
        concurrency: c.concurrency,
        value: c.rpsRatio,
        limit: `>= ${TARGETS.minRpsRatio}x`,
        pass: c.rpsRatio >= TARGETS.minRpsRatio,
      });
      if (c.concurrency === 1) {
        out.push({
          name: 'added p50 ms',
          workload: c.workload,
          concurrency: 1,
          value: c.addedP50Ms,
          limit: `<= ${TARGETS.maxAddedP50Ms} ms`,
          pass: c.addedP50Ms <= TARGETS.maxAddedP50Ms,
        });
      }
    }
    if (c.workload === 'sse' && c.concurrency === 1 && c.addedTtftP50Ms !== undefined) {
      out.push({
        name: 'added TTFT p50 ms',
        workload: c.workload,
        concurrency: 1,
        value: c.addedTtftP50Ms,
        limit: `<= ${TARGETS.maxAddedTtftMs} ms`,
        pass: c.addedTtftP50Ms <= TARGETS.maxAddedTtftMs,
      });
    }
  }
  return out;
}

function report(cells: Cell[], comparisons: Comparison[], checks: Check[]): string {
  const columns: Column[] = [
    { header: 'workload', align: 'left' },
    { header: 'conns' },
    { header: 'target', align: 'left' },
    { header: 'req/s' },
    { header: 'p50 ms' },
    { header: 'p99 ms' },
    { header: 'ttft p50' },
    { header: 'x proxy' },
    { header: '+p50 ms' },
    { header: '+p99 ms' },
    { header: '+ttft ms' },
    { header: 'errors' },
    { header: 'verdict', align: 'left' },
  ];
  const rows = cells.map((c) => {
    const cmp = comparisons.find(
      (x) => x.target === c.target && x.workload === c.workload && x.concurrency === c.concurrency,
    );
    const own = checks.filter(
      (k) => c.target === 'holdfast' && k.workload === c.workload && k.concurrency === c.concurrency,
    );
    const failed = own.filter((k) => !k.pass);
    let verdict = '';
    if (own.length > 0)
      verdict = failed.length === 0 ? 'pass' : `FAIL ${failed.map((k) => k.name).join(', ')}`;
    return [
      c.workload,
      String(c.concurrency),
      c.target,
      fmt(c.result.rps, 0),
      fmt(c.result.latency.p50, 3),
      fmt(c.result.latency.p99, 3),
      fmt(c.result.ttft?.p50, 3),
      cmp ? `${cmp.rpsRatio.toFixed(2)}x` : '',
      cmp ? fmtSigned(cmp.addedP50Ms, 3) : '',
      cmp ? fmtSigned(cmp.addedP99Ms, 3) : '',
      cmp ? fmtSigned(cmp.addedTtftP50Ms, 3) : '',
      String(c.result.errors),
      verdict,
    ];
  });
  const lines = [renderTable(columns, rows), ''];
  for (const c of cells) {
    if (c.target !== 'direct' || c.concurrency !== 1) continue;
    const slowest = Math.max(c.result.latency.p50, c.result.ttft?.p50 ?? 0);
    if (slowest > DIRECT_SANITY_MS) {
      lines.push(
        `WARNING: direct ${c.workload} at 1 connection takes ${slowest.toFixed(1)} ms although the simulator ` +
          'should answer at once; upstream latency hides the overhead being measured. Check the simulator.',
        '',
      );
    }
  }
  if (checks.length === 0) {
    lines.push('Targets: not evaluated (needs holdfast and proxy in the same run).');
  } else {
    lines.push('Targets (holdfast vs proxy, same run):');
    for (const k of checks) {
      const v = k.name.startsWith('req/s') ? `${k.value.toFixed(2)}x` : `${fmtSigned(k.value, 3)} ms`;
      lines.push(
        `  ${k.pass ? 'PASS' : 'FAIL'}  ${k.workload} ${k.concurrency} conn  ${k.name}: ${v} (target ${k.limit})`,
      );
    }
    const failed = checks.filter((k) => !k.pass).length;
    lines.push(failed === 0 ? 'All targets met.' : `${failed} of ${checks.length} targets missed.`);
  }
  return lines.join('\n');
}

export async function main(): Promise<void> {
  const settings = readSettings();
  const cells = settings.concurrency.length * WORKLOADS.length * settings.targets.length;
  const estimate = Math.ceil((cells * (settings.rounds * settings.warmupMs + settings.durationMs)) / 1000);
  console.log(
    `overhead: ${settings.targets.join(', ')} x ${WORKLOADS.join(', ')} x ${settings.concurrency.join('/')} conns; ` +
      `per cell ${settings.durationMs / 1000}s measured in ${settings.rounds} rounds, ` +
      `each after ${settings.warmupMs / 1000}s warm-up (~${estimate}s of load)`,
  );

  const children: ChildServer[] = [];
  const results: Cell[] = [];
  try {
    const sim = await startChild('sim', {
      options: {
        ttft_ms: 0,
        tokens_per_sec: 0,
        answer_tokens: ANSWER_TOKENS,
        // Well above the highest concurrency so the simulator never queues or sheds load itself.
        capacity: 1024,
        queue: 1024,
      },
    });
    children.push(sim);
    const openaiBase = sim.info.openaiBaseUrl ?? `${sim.url}/v1`;
    const chatPath = `${new URL(openaiBase).pathname.replace(/\/$/, '')}/chat/completions`;

    const endpoints = new Map<Target, Endpoint>();
    for (const t of settings.targets) {
      if (t === 'direct') endpoints.set(t, { url: `${sim.url}${chatPath}`, model: 'bench-model' });
      if (t === 'proxy') {
        const proxy = await startChild('proxy', { upstream: sim.url });
        children.push(proxy);
        endpoints.set(t, { url: `${proxy.url}${chatPath}`, model: 'bench-model' });
      }
      if (t === 'holdfast') {
        const gw = await startChild('holdfast', { upstream: openaiBase });
        children.push(gw);
        endpoints.set(t, { url: `${gw.url}/v1/chat/completions`, model: 'bench' });
      }
    }

    for (const [t, ep] of endpoints) for (const w of WORKLOADS) await verify(t, ep, w);

    // The targets of one (workload, concurrency) take turns in short rounds, in alternating order, so
    // that the ratios compare measurements seconds apart and a burst of noise from elsewhere on the
    // machine lands on all of them rather than on whichever target happened to be running.
    const roundMs = Math.max(1, Math.round(settings.durationMs / settings.rounds));
    benchScenarios(
      WORKLOADS.length * settings.concurrency.length * settings.rounds * settings.targets.length,
    );
    for (const workload of WORKLOADS) {
      for (const concurrency of settings.concurrency) {
        const runs = new Map<Target, LoadRun[]>(settings.targets.map((t) => [t, []]));
        for (let round = 0; round < settings.rounds; round++) {
          const order = round % 2 === 0 ? settings.targets : [...settings.targets].reverse();
          for (const target of order) {
            benchScenario(`${workload} ${concurrency} conns ${target} (round ${round + 1})`);
            const ep = endpoints.get(target)!;
            const run = await runLoad({
              url: ep.url,
              body: requestBody(ep.model, workload),
              headers: {},
              stream: workload === 'sse',
              concurrency,
              warmupMs: settings.warmupMs,
              durationMs: roundMs,
            });
            runs.get(target)!.push(run);
          }
        }
        for (const target of settings.targets) {
          const result = mergeRuns(runs.get(target)!);
          results.push({ target, workload, concurrency, result });
          const ttft = result.ttft ? `  ttft p50 ${fmt(result.ttft.p50, 3)} ms` : '';
          const err = result.errors > 0 ? `  errors ${result.errors} (${result.firstError})` : '';
          console.log(
            `  ${workload.padEnd(5)} ${String(concurrency).padStart(3)} conns  ${target.padEnd(8)} ` +
              `${fmt(result.rps, 0).padStart(7)} req/s  p50 ${fmt(result.latency.p50, 3)} ms  ` +
              `p99 ${fmt(result.latency.p99, 3)} ms${ttft}${err}`,
          );
        }
      }
    }
  } finally {
    await Promise.all(children.map((c) => c.close()));
  }

  const comparisons = compare(results);
  const checks = check(comparisons);
  console.log(`\n${report(results, comparisons, checks)}`);

  const outDir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(outDir, { recursive: true });
  const outFile = `${outDir}overhead.json`;
  const json = {
    ...runInfo('overhead'),
    settings: { ...settings, answerTokens: ANSWER_TOKENS },
    limits: TARGETS,
    cells: results.map((c) => ({
      target: c.target,
      workload: c.workload,
      concurrency: c.concurrency,
      ...c.result,
    })),
    comparisons,
    checks,
    allTargetsMet: checks.length > 0 && checks.every((k) => k.pass),
  };
  writeFileSync(outFile, `${JSON.stringify(json, null, 2)}\n`);
  console.log(`\nResults written to ${outFile}`);
}
