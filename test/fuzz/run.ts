import fc from 'fast-check';
import {
  chaosCases,
  chatApiCases,
  modelsCases,
  pathCases,
  statusAdminCases,
  statusApiCases,
} from './gen-apis.ts';
import { anthropicCases, type FuzzCase, openaiCases } from './gen-doors.ts';
import { rawRequests } from './gen-raw.ts';
import { type FuzzTarget, Hang, sendRaw, type TargetName } from './harness.ts';
import { judge, judgeRaw } from './oracle.ts';

/** Every surface the fuzzer covers, and which gateway it runs against. */
export const SURFACES: ReadonlyArray<{ name: string; target: TargetName; arb: fc.Arbitrary<FuzzCase> }> = [
  { name: 'openai', target: 'front', arb: openaiCases },
  { name: 'anthropic', target: 'front', arb: anthropicCases },
  { name: 'models', target: 'front', arb: modelsCases },
  { name: 'chat-api', target: 'front', arb: chatApiCases },
  { name: 'status-api', target: 'front', arb: statusApiCases },
  { name: 'paths', target: 'front', arb: pathCases },
  { name: 'chaos', target: 'ops', arb: chaosCases },
  { name: 'status-admin', target: 'ops', arb: statusAdminCases },
];

export interface SurfaceResult {
  surface: string;
  /** Cases sent, shrinking runs included. */
  cases: number;
  /** Answers by status (and error code), for the report. */
  labels: Map<string, number>;
  ms: number;
  /** fast-check's report with the shrunk counterexample and the seed to replay it. */
  failure?: string;
}

export interface RunOptions {
  seed: number;
  numRuns: number;
  /** Stop generating after this long (the run still counts as passed). */
  timeLimitMs?: number;
  /** Called after every case. */
  onCase?: (label: string) => void;
}

function polluted(): boolean {
  const probe = {} as Record<string, unknown>;
  return (
    probe.hfPolluted !== undefined || ([] as unknown as Record<string, unknown>).hfPolluted !== undefined
  );
}

function params(opts: RunOptions): fc.Parameters<unknown> {
  return {
    seed: opts.seed,
    numRuns: opts.numRuns,
    ...(opts.timeLimitMs ? { interruptAfterTimeLimit: opts.timeLimitMs, markInterruptAsFailure: false } : {}),
  } as fc.Parameters<unknown>;
}

/** Runs one surface's property against a target; never throws for a property failure. */
export async function fuzzSurface(
  target: FuzzTarget,
  surface: string,
  arb: fc.Arbitrary<FuzzCase>,
  opts: RunOptions,
): Promise<SurfaceResult> {
  const labels = new Map<string, number>();
  let cases = 0;
  const started = performance.now();
  const property = fc.asyncProperty(arb, async (c) => {
    cases++;
    let label = 'exception';
    try {
      const res = await target.send(c.req);
      const v = judge(c, res, target.fill);
      label = v.label;
      await target.restore(c.req, res);
      if (!v.ok) throw new Error(v.reason);
      if (polluted()) throw new Error('Object.prototype was polluted');
    } catch (err) {
      if (err instanceof Hang) {
        label = 'hang';
        throw new Error(`hang: ${err.message}`);
      }
      throw err;
    } finally {
      labels.set(label, (labels.get(label) ?? 0) + 1);
      opts.onCase?.(label);
    }
  });
  const out = await fc.check(property, params(opts));
  const result: SurfaceResult = { surface, cases, labels, ms: performance.now() - started };
  if (out.failed) result.failure = report(out);
  return result;
}

/** Sends raw bytes over real sockets; the server must answer in HTTP or close, never 5xx, never hang. */
export async function fuzzRaw(
  url: string,
  opts: RunOptions & { timeoutMs?: number },
): Promise<SurfaceResult> {
  const labels = new Map<string, number>();
  let cases = 0;
  const started = performance.now();
  const property = fc.asyncProperty(rawRequests, async (bytes) => {
    cases++;
    const r = await sendRaw(url, bytes, opts.timeoutMs ?? 5_000);
    const v = judgeRaw(bytes, r);
    labels.set(v.label, (labels.get(v.label) ?? 0) + 1);
    opts.onCase?.(v.label);
    if (!v.ok) throw new Error(v.reason);
  });
  const out = await fc.check(property, params(opts));
  const result: SurfaceResult = { surface: 'raw', cases, labels, ms: performance.now() - started };
  if (out.failed) result.failure = report(out);
  return result;
}

/** Long runs of one character (deep nesting, padding) would bury the report: they are abbreviated. */
function abbreviate(s: string): string {
  return s.replace(
    /((.{1,8}?)\2{20,})/gs,
    (run: string, _all: string, unit: string) => `${unit}…(×${run.length / unit.length})…`,
  );
}

function report(out: fc.RunDetails<unknown>): string {
  const why = out.errorInstance instanceof Error ? out.errorInstance.message : String(out.errorInstance);
  return abbreviate(`${fc.defaultReportMessage(out) ?? 'failed'}\nWhy: ${why}`);
}

export function formatLabels(labels: Map<string, number>): string {
  return [...labels.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k}: ${n}`)
    .join(', ');
}
