import { readFileSync } from 'node:fs';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/app.ts';
import { dashboardExprs, dashboardFiles, ruleExprs, ruleFiles } from './deploy-files.ts';
import { families, samples as parse, type Sample, select, total as sumOf } from './exposition.ts';
import { ADMIN_KEY, scrape, simDeployment, startMetricsGateway } from './gateway.ts';
import { metricNames, unknownMetrics } from './promql.ts';

/**
 * Scripted traffic through the official SDKs against a real gateway on the simulator; every request is
 * written down as the caller saw it (status, the deployment header, usage), and /metrics must say the
 * same. Deployment `mx-a` (tier 0) takes traffic while healthy, `mx-b` (tier 1) only on failover, so
 * where each request goes is known.
 */

const MODEL = 'mx-chat';

interface Sent {
  model: string;
  deployment: string;
  dialect: 'openai' | 'anthropic';
  stream: boolean;
  flag: string;
  outcome: string;
  input: number;
  output: number;
}

let gw: Gateway;
const sent: Sent[] = [];
let all: Sample[];
let text: string;

const question = [{ role: 'user' as const, content: 'How do lighthouses keep their lamps lit?' }];

async function chaos(method: 'POST' | 'DELETE', deployment: string, body?: unknown): Promise<void> {
  const res = await fetch(`${gw.url}/admin/chaos/${deployment}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  expect(res.status).toBeLessThan(300);
}

function flagOf(headers: Headers): { flag: string; deployment: string } {
  return {
    flag: headers.get('x-holdfast-failover') === 'true' ? 'FAILED_OVER' : 'OK',
    deployment: headers.get('x-holdfast-deployment') ?? 'none',
  };
}

async function openaiUnary(client: OpenAI, model = MODEL): Promise<void> {
  const { data, response } = await client.chat.completions
    .create({ model, messages: question })
    .withResponse();
  sent.push({
    model,
    dialect: 'openai',
    stream: false,
    outcome: 'success',
    ...flagOf(response.headers),
    input: data.usage!.prompt_tokens,
    output: data.usage!.completion_tokens,
  });
}

/**
 * `known`: what the gateway's record says when the caller cannot tell (a stream continued elsewhere
 * after its headers went out still names the first deployment and no failover).
 */
async function openaiStream(client: OpenAI, known?: { flag: string; deployment: string }): Promise<void> {
  const { data, response } = await client.chat.completions
    .create({ model: MODEL, messages: question, stream: true, stream_options: { include_usage: true } })
    .withResponse();
  let input = 0;
  let output = 0;
  for await (const chunk of data)
    if (chunk.usage) {
      input = chunk.usage.prompt_tokens;
      output = chunk.usage.completion_tokens;
    }
  sent.push({
    model: MODEL,
    dialect: 'openai',
    stream: true,
    outcome: 'success',
    ...(known ?? flagOf(response.headers)),
    input,
    output,
  });
}

async function anthropicUnary(client: Anthropic): Promise<void> {
  const { data, response } = await client.messages
    .create({ model: MODEL, max_tokens: 300, messages: question })
    .withResponse();
  sent.push({
    model: MODEL,
    dialect: 'anthropic',
    stream: false,
    outcome: 'success',
    ...flagOf(response.headers),
    input: data.usage.input_tokens,
    output: data.usage.output_tokens,
  });
}

async function anthropicStream(client: Anthropic): Promise<void> {
  const { data, response } = await client.messages
    .create({ model: MODEL, max_tokens: 300, messages: question, stream: true })
    .withResponse();
  let input = 0;
  let output = 0;
  for await (const ev of data) {
    if (ev.type === 'message_start') input = ev.message.usage.input_tokens;
    if (ev.type === 'message_delta') output = ev.usage.output_tokens;
  }
  sent.push({
    model: MODEL,
    dialect: 'anthropic',
    stream: true,
    outcome: 'success',
    ...flagOf(response.headers),
    input,
    output,
  });
}

/** Runs a call that must fail with `status`; records it with `flag`. */
async function refused(
  call: () => Promise<unknown>,
  status: number,
  rec: Omit<Sent, 'deployment' | 'input' | 'output'>,
): Promise<void> {
  const err = await call().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  expect((err as { status?: number }).status).toBe(status);
  sent.push({ ...rec, deployment: 'none', input: 0, output: 0 });
}

beforeAll(async () => {
  const timeouts = { first_byte_ms: 5_000, idle_ms: 2_000 };
  gw = await startMetricsGateway({
    models: [
      {
        name: MODEL,
        deployments: [
          simDeployment('mx-a', 'openai', { tier: 0, timeouts }),
          simDeployment('mx-b', 'anthropic', { tier: 1, timeouts }),
        ],
      },
    ],
    resilience: { outlier: { consecutive_failures: 50 } },
  });

  const openai = new OpenAI({ apiKey: ADMIN_KEY, baseURL: `${gw.url}/v1`, maxRetries: 0 });
  const anthropic = new Anthropic({ apiKey: ADMIN_KEY, baseURL: gw.url, maxRetries: 0 });

  await openaiUnary(openai);
  await openaiUnary(openai);
  await openaiStream(openai);
  await openaiStream(openai);
  await anthropicUnary(anthropic);
  await anthropicUnary(anthropic);
  await anthropicStream(anthropic);

  // Client errors: a model this gateway does not have (labelled `unknown`), and a body the door rejects.
  await refused(() => openai.chat.completions.create({ model: 'no-such-model', messages: question }), 404, {
    model: 'unknown',
    dialect: 'openai',
    stream: false,
    flag: 'CLIENT_ERROR',
    outcome: 'client_error',
  });
  await refused(() => anthropic.messages.create({ model: MODEL, max_tokens: 300, messages: [] }), 400, {
    model: 'unknown',
    dialect: 'anthropic',
    stream: false,
    flag: 'CLIENT_ERROR',
    outcome: 'client_error',
  });

  // A virtual key allowed one request a minute: the second is rate limited.
  const { secret } = await gw.keys.createKey({ name: 'metrics-rpm', models: ['*'], limits: { rpm: 1 } });
  const limited = new OpenAI({ apiKey: secret, baseURL: `${gw.url}/v1`, maxRetries: 0 });
  await openaiUnary(limited);
  await refused(() => limited.chat.completions.create({ model: MODEL, messages: question }), 429, {
    model: MODEL,
    dialect: 'openai',
    stream: false,
    flag: 'RATE_LIMITED',
    outcome: 'client_error',
  });

  // Failover: mx-a answers 500, the retry goes to mx-b.
  await chaos('POST', 'mx-a', { kind: 'error', status: 500, duration_s: 60 });
  await openaiUnary(openai);
  await chaos('DELETE', 'mx-a');

  // Mid-stream failover: mx-a drops the stream after 3 tokens, mx-b continues the answer.
  await chaos('POST', 'mx-a', { kind: 'cut', after_tokens: 3, duration_s: 60 });
  await openaiStream(openai, { flag: 'FAILED_OVER', deployment: 'mx-b' });
  await chaos('DELETE', 'mx-a');

  text = await scrape(gw);
  all = parse(text);
});

afterAll(async () => {
  await gw?.close(1_000);
});

const label = (b: boolean): string => (b ? 'true' : 'false');

describe('metrics after scripted SDK traffic', () => {
  it('the script produced the mix it is meant to', () => {
    const flags = sent.map((s) => s.flag);
    expect(flags.filter((f) => f === 'OK')).toHaveLength(8);
    expect(flags.filter((f) => f === 'FAILED_OVER')).toHaveLength(2);
    expect(flags.filter((f) => f === 'CLIENT_ERROR')).toHaveLength(2);
    expect(flags.filter((f) => f === 'RATE_LIMITED')).toHaveLength(1);
    expect(sent.filter((s) => s.flag === 'FAILED_OVER').every((s) => s.deployment === 'mx-b')).toBe(true);
    expect(sent.filter((s) => s.flag === 'OK').every((s) => s.deployment === 'mx-a')).toBe(true);
  });

  it('counts every request once, by model, deployment, dialect, stream, outcome and flag', () => {
    const want = new Map<string, number>();
    for (const s of sent) {
      const key = [s.model, s.deployment, s.dialect, label(s.stream), s.outcome, s.flag].join(' ');
      want.set(key, (want.get(key) ?? 0) + 1);
    }
    const got = new Map<string, number>();
    for (const s of select(all, 'holdfast_requests_total')) {
      const l = s.labels;
      got.set([l.model, l.deployment, l.dialect, l.stream, l.outcome, l.flag].join(' '), s.value);
    }
    expect(got).toEqual(want);
    expect(sumOf(all, 'holdfast_requests_total')).toBe(sent.length);
  });

  it('has one latency observation per request and one TTFT observation per success', () => {
    const byKey = (rows: Sent[], key: (s: Sent) => string): Map<string, number> => {
      const m = new Map<string, number>();
      for (const s of rows) m.set(key(s), (m.get(key(s)) ?? 0) + 1);
      return m;
    };
    const counts = (name: string, key: (l: Record<string, string>) => string): Map<string, number> =>
      new Map(select(all, name).map((s) => [key(s.labels), s.value]));

    expect(
      counts(
        'holdfast_request_duration_seconds_count',
        (l) => `${l.model} ${l.deployment} ${l.stream} ${l.outcome}`,
      ),
    ).toEqual(byKey(sent, (s) => `${s.model} ${s.deployment} ${label(s.stream)} ${s.outcome}`));
    const ok = sent.filter((s) => s.outcome === 'success');
    expect(
      counts('holdfast_time_to_first_token_seconds_count', (l) => `${l.deployment} ${l.stream}`),
    ).toEqual(byKey(ok, (s) => `${s.deployment} ${label(s.stream)}`));
    // Inter-token latency: successful streams of at least two tokens.
    const streams = ok.filter((s) => s.stream && s.output >= 2);
    expect(streams.length).toBe(4);
    expect(counts('holdfast_time_per_output_token_seconds_count', (l) => `${l.deployment}`)).toEqual(
      byKey(streams, (s) => s.deployment),
    );
    // The +Inf bucket of a histogram is its count; the buckets never decrease.
    for (const s of select(all, 'holdfast_request_duration_seconds_count')) {
      const buckets = select(all, 'holdfast_request_duration_seconds_bucket').filter(
        (b) =>
          b.labels.deployment === s.labels.deployment &&
          b.labels.stream === s.labels.stream &&
          b.labels.outcome === s.labels.outcome &&
          b.labels.model === s.labels.model,
      );
      expect(buckets.at(-1)!.labels.le).toBe('+Inf');
      expect(buckets.at(-1)!.value).toBe(s.value);
      for (let i = 1; i < buckets.length; i++)
        expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
    }
    // The status latency SLO (5 s) is a bucket bound, so the alert rules can count slow streams.
    expect(select(all, 'holdfast_time_to_first_token_seconds_bucket', { le: '5' }).length).toBeGreaterThan(0);
  });

  it('counts the tokens the callers were told they used', () => {
    for (const deployment of ['mx-a', 'mx-b']) {
      const mine = sent.filter((s) => s.deployment === deployment);
      const input = mine.reduce((n, s) => n + s.input, 0);
      const output = mine.reduce((n, s) => n + s.output, 0);
      expect(input).toBeGreaterThan(0);
      expect(sumOf(all, 'holdfast_tokens_total', { deployment, type: 'input' })).toBe(input);
      expect(sumOf(all, 'holdfast_tokens_total', { deployment, type: 'output' })).toBe(output);
    }
  });

  it('counts the failover, the mid-stream continuation and the attempts behind them', () => {
    expect(sumOf(all, 'holdfast_failovers_total', { model: MODEL })).toBe(2);
    expect(sumOf(all, 'holdfast_retries_total', { model: MODEL })).toBe(2);
    expect(sumOf(all, 'holdfast_hedges_total')).toBe(0);
    expect(sumOf(all, 'holdfast_mid_stream_failovers_total', { model: MODEL, result: 'continued' })).toBe(1);
    expect(sumOf(all, 'holdfast_mid_stream_failovers_total', { result: 'failed' })).toBe(0);
    expect(sumOf(all, 'holdfast_upstream_mid_stream_failures_total', { deployment: 'mx-a' })).toBe(1);
    // mx-a: every OK request and one failure of each kind; mx-b: the two it took over.
    expect(sumOf(all, 'holdfast_upstream_attempts_total', { deployment: 'mx-a', result: 'ok' })).toBe(8);
    expect(sumOf(all, 'holdfast_upstream_attempts_total', { deployment: 'mx-a', result: 'server' })).toBe(1);
    expect(sumOf(all, 'holdfast_upstream_attempts_total', { deployment: 'mx-a', result: 'connection' })).toBe(
      1,
    );
    expect(sumOf(all, 'holdfast_upstream_attempts_total', { deployment: 'mx-b', result: 'ok' })).toBe(2);
    expect(sumOf(all, 'holdfast_upstream_attempts_total', { deployment: 'mx-b' })).toBe(2);
    expect(sumOf(all, 'holdfast_upstream_attempt_duration_seconds_count')).toBe(12);
  });

  it('counts the rate-limited request and admission waits for every admitted request', () => {
    expect(sumOf(all, 'holdfast_requests_total', { flag: 'RATE_LIMITED', model: MODEL })).toBe(1);
    const admitted = sent.filter((s) => s.outcome === 'success').length;
    expect(sumOf(all, 'holdfast_queue_wait_seconds_count', { model: MODEL, priority: 'interactive' })).toBe(
      admitted,
    );
    expect(sumOf(all, 'holdfast_queue_dropped_total')).toBe(0);
    expect(sumOf(all, 'holdfast_queue_length', { model: MODEL })).toBe(0);
    expect(sumOf(all, 'holdfast_admission_in_flight', { model: MODEL })).toBe(0);
  });

  it('reports live deployment health, limits and the store', () => {
    // mx-a failed last (the cut) after its last success: suspect, not ejected.
    expect(sumOf(all, 'holdfast_deployment_health', { deployment: 'mx-a', state: 'suspect' })).toBe(1);
    expect(sumOf(all, 'holdfast_deployment_health', { deployment: 'mx-a' })).toBe(1);
    expect(sumOf(all, 'holdfast_deployment_health', { deployment: 'mx-b', state: 'healthy' })).toBe(1);
    expect(sumOf(all, 'holdfast_deployment_ejections_total', { deployment: 'mx-a' })).toBe(0);
    for (const deployment of ['mx-a', 'mx-b']) {
      expect(sumOf(all, 'holdfast_deployment_concurrency_limit', { deployment })).toBeGreaterThanOrEqual(1);
      expect(sumOf(all, 'holdfast_deployment_in_flight', { deployment })).toBe(0);
    }
    expect(sumOf(all, 'holdfast_admission_capacity', { model: MODEL })).toBeGreaterThan(0);
    expect(sumOf(all, 'holdfast_store_up', { engine: 'pglite' })).toBe(1);
    expect(select(all, 'holdfast_build_info')).toHaveLength(1);
    // prom-client's process metrics, once per process.
    expect(select(all, 'process_cpu_seconds_total')).toHaveLength(1);
    expect(select(all, 'nodejs_eventloop_lag_p99_seconds')).toHaveLength(1);
  });

  it('never labels by key, user or request id', () => {
    const allowed = new Set([
      'model',
      'deployment',
      'dialect',
      'stream',
      'outcome',
      'flag',
      'type',
      'result',
      'provider',
      'priority',
      'reason',
      'state',
      'engine',
      'component',
      'status',
      'change',
      'le',
      'version',
      'node_version',
    ]);
    for (const s of all.filter((x) => x.name.startsWith('holdfast_')))
      for (const l of Object.keys(s.labels)) expect(allowed, `${s.name} label ${l}`).toContain(l);
  });
});

describe('deploy/ dashboards and alert rules', () => {
  it('use only metrics this gateway exposes after traffic (histogram series by their family)', () => {
    const exposed = families(text);
    const { exprs, recorded } = ruleExprs(ruleFiles());
    const used = new Set<string>();
    for (const file of dashboardFiles()) {
      const dashboard = dashboardExprs(JSON.parse(readFileSync(file, 'utf8')));
      for (const e of dashboard) for (const name of metricNames(e)) used.add(name);
      expect(unknownMetrics(dashboard, exposed), file).toEqual([]);
    }
    expect(unknownMetrics(exprs, exposed, recorded)).toEqual([]);
    for (const e of exprs) for (const name of metricNames(e)) used.add(name);
    // The check has something to check: the dashboard and rules use most of the metrics.
    expect(used.size).toBeGreaterThan(25);
  });
});
