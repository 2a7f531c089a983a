import { Pool } from 'undici';
import { Samples, type Summary, summarize } from './stats.ts';

export interface LoadSpec {
  /** Full URL of the endpoint; every request is a POST of `body` to it. */
  url: string;
  body: string;
  headers: Record<string, string>;
  /** Read the answer as SSE and time the first content-carrying `data:` line. */
  stream: boolean;
  /** Connections, each running one request at a time (closed loop). */
  concurrency: number;
  warmupMs: number;
  durationMs: number;
}

/** One run's raw samples; runs of the same cell are merged with `mergeRuns`. */
export interface LoadRun {
  /** Requests that completed successfully inside the measured window. */
  requests: number;
  /** Failed requests (transport error or non-2xx) inside the measured window. */
  errors: number;
  firstError?: string;
  /** Actual measured window; timers can fire late on a busy loop. */
  elapsedMs: number;
  latency: Float64Array;
  ttft?: Float64Array;
}

export interface LoadResult {
  requests: number;
  errors: number;
  firstError?: string;
  elapsedMs: number;
  rps: number;
  latency: Summary;
  /** Only for stream workloads. */
  ttft?: Summary;
}

/** Gives up on a cell that cannot get a single request through rather than spinning for its whole window. */
const MAX_ERRORS_WITHOUT_SUCCESS = 200;

/**
 * A closed-loop load generator: `concurrency` workers, each on its own pooled keep-alive connection, send
 * the next request as soon as the previous answer is fully read. Samples are kept for requests that
 * complete inside the measured window, whenever they started, so the window's throughput is not biased
 * by in-flight requests at either edge. Written here rather than using autocannon because autocannon
 * cannot time the first streamed token.
 */
export async function runLoad(spec: LoadSpec): Promise<LoadRun> {
  const url = new URL(spec.url);
  const path = `${url.pathname}${url.search}`;
  const pool = new Pool(url.origin, { connections: spec.concurrency, pipelining: 1 });
  const headers = { 'content-type': 'application/json', ...spec.headers };

  const latency = new Samples();
  const ttft = new Samples();
  let measuring = false;
  let stopped = false;
  let ok = 0;
  let errors = 0;
  let totalErrors = 0;
  let anySuccess = false;
  let firstError: string | undefined;
  let windowStart = 0;
  let windowEnd = 0;

  const one = async (): Promise<void> => {
    const t0 = performance.now();
    let firstToken = 0;
    try {
      const res = await pool.request({ path, method: 'POST', headers, body: spec.body });
      if (spec.stream && res.statusCode < 300) {
        firstToken = await readStream(res.body);
      } else {
        for await (const _ of res.body) {
          // Drained only: the full response is part of what is timed.
        }
      }
      if (res.statusCode >= 300) throw new Error(`HTTP ${res.statusCode}`);
      if (spec.stream && firstToken === 0) throw new Error('stream carried no content');
    } catch (err) {
      totalErrors++;
      firstError ??= err instanceof Error ? err.message : String(err);
      if (measuring) errors++;
      if (!anySuccess && totalErrors >= MAX_ERRORS_WITHOUT_SUCCESS) stopped = true;
      return;
    }
    anySuccess = true;
    if (!measuring) return;
    ok++;
    latency.push(performance.now() - t0);
    if (spec.stream) ttft.push(firstToken - t0);
  };

  const worker = async (): Promise<void> => {
    while (!stopped) await one();
  };

  const warm = setTimeout(() => {
    measuring = true;
    windowStart = performance.now();
  }, spec.warmupMs);
  const stop = setTimeout(() => {
    measuring = false;
    stopped = true;
    windowEnd = performance.now();
  }, spec.warmupMs + spec.durationMs);

  try {
    await Promise.all(Array.from({ length: spec.concurrency }, worker));
  } finally {
    clearTimeout(warm);
    clearTimeout(stop);
    await pool.close();
  }

  const run: LoadRun = {
    requests: ok,
    errors,
    elapsedMs: windowEnd > windowStart ? windowEnd - windowStart : 0,
    latency: latency.values(),
  };
  if (firstError !== undefined) run.firstError = firstError;
  if (spec.stream) run.ttft = ttft.values();
  return run;
}

/** Pools the samples of several runs of one cell, as if they were one window. */
export function mergeRuns(runs: LoadRun[]): LoadResult {
  const requests = runs.reduce((n, r) => n + r.requests, 0);
  const elapsedMs = runs.reduce((n, r) => n + r.elapsedMs, 0);
  const concat = (parts: Float64Array[]): Float64Array => {
    const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  };
  const result: LoadResult = {
    requests,
    errors: runs.reduce((n, r) => n + r.errors, 0),
    elapsedMs,
    rps: elapsedMs > 0 ? (requests * 1000) / elapsedMs : 0,
    latency: summarize(concat(runs.map((r) => r.latency))),
  };
  const firstError = runs.find((r) => r.firstError !== undefined)?.firstError;
  if (firstError !== undefined) result.firstError = firstError;
  const ttfts = runs.flatMap((r) => (r.ttft ? [r.ttft] : []));
  if (ttfts.length > 0) result.ttft = summarize(concat(ttfts));
  return result;
}

/**
 * Reads an SSE body to the end; returns the time the first content-carrying `data:` line arrived (0 if
 * none did). Lines are only parsed until that point, so the generator's own cost stays flat afterwards.
 */
async function readStream(body: AsyncIterable<Buffer>): Promise<number> {
  let firstToken = 0;
  let pending = '';
  for await (const chunk of body) {
    if (firstToken !== 0) continue;
    pending += chunk.toString('utf8');
    let nl = pending.indexOf('\n');
    while (nl >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (carriesContent(line)) {
        firstToken = performance.now();
        break;
      }
      nl = pending.indexOf('\n');
    }
  }
  return firstToken;
}

/** An OpenAI chunk whose delta has text; the role-only opening chunk and `[DONE]` do not count. */
export function carriesContent(line: string): boolean {
  if (!line.startsWith('data:')) return false;
  const payload = line.slice(5).trim();
  if (payload === '' || payload === '[DONE]') return false;
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    return false;
  }
  const choices = field(parsed, 'choices');
  const first = Array.isArray(choices) ? (choices[0] as unknown) : undefined;
  const content = field(field(first, 'delta'), 'content');
  return typeof content === 'string' && content.length > 0;
}

function field(v: unknown, key: string): unknown {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[key] : undefined;
}

export interface ProbeResult {
  status: number;
  text: string;
}

/** One request read in full, to check a target answers correctly before it is measured. */
export async function probe(
  url: string,
  body: string,
  headers: Record<string, string>,
): Promise<ProbeResult> {
  const u = new URL(url);
  const pool = new Pool(u.origin, { connections: 1 });
  try {
    const res = await pool.request({
      path: `${u.pathname}${u.search}`,
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });
    return { status: res.statusCode, text: await res.body.text() };
  } finally {
    await pool.close();
  }
}
