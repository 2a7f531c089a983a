import { parseArgs } from 'node:util';
import { type ChaosFault, describeFault } from '../chaos/faults.ts';

const USAGE = `usage:
  holdfast chaos list [DEPLOYMENT] [--json]
  holdfast chaos inject DEPLOYMENT --kind KIND --for DURATION [options] [--json]
      --kind      latency | error | rate_limit | overloaded | refuse | blackhole | cut | stall
      --for       how long the fault lasts: 500ms, 30s, 2m, 1h (at most 1h)
      --rate R    share of requests struck, 0..1 (default 1)
      --delay D   latency: extra delay before the upstream is called (e.g. 800ms)
      --status N  error: 500, 502 or 503 (default 500)
      --retry-after D   rate_limit / overloaded: the retry-after the upstream sends (e.g. 2s)
      --after N   cut / stall: tokens delivered before the stream breaks
  holdfast chaos clear DEPLOYMENT [FAULT_ID]
  holdfast chaos clear --all
common: --url URL (default http://127.0.0.1:8080), --key KEY (default $HOLDFAST_ADMIN_KEY)
`;

export interface ChaosIo {
  env: NodeJS.ProcessEnv;
  out: (text: string) => void;
  err: (text: string) => void;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `30s`, `2m`, `500ms`, `1.5h`; a bare number is seconds. Returns milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * UNITS[m[2] ?? 's']!;
}

function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

function row(f: ChaosFault, now: number): string {
  return `${f.deployment}  ${f.id}  ${describeFault(f)}  ends in ${formatMs(f.ends - now)}  hits=${f.hits}`;
}

class UsageError extends Error {}

function number(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name}: not a number: '${raw}'`);
  return n;
}

function duration(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const ms = parseDuration(raw);
  if (ms === undefined) throw new UsageError(`--${name}: not a duration (like 500ms, 30s, 2m): '${raw}'`);
  return ms;
}

type Values = Record<string, string | boolean | undefined>;
const str = (v: Values, k: string): string | undefined => (typeof v[k] === 'string' ? v[k] : undefined);

/** The JSON body the admin API takes, from the command-line flags. */
function specFromFlags(v: Values): Record<string, unknown> {
  const kind = str(v, 'kind');
  if (!kind) throw new UsageError('inject: --kind is required');
  const forMs = duration('for', str(v, 'for'));
  if (forMs === undefined) throw new UsageError('inject: --for is required (e.g. --for 30s)');
  const spec: Record<string, unknown> = { kind, duration_s: forMs / 1000 };
  const rate = number('rate', str(v, 'rate'));
  if (rate !== undefined) spec.rate = rate;
  const delay = duration('delay', str(v, 'delay'));
  if (delay !== undefined) spec.ms = Math.round(delay);
  const status = number('status', str(v, 'status'));
  if (status !== undefined) spec.status = status;
  const retryAfter = duration('retry-after', str(v, 'retry-after'));
  if (retryAfter !== undefined) spec.retry_after_s = retryAfter / 1000;
  const after = number('after', str(v, 'after'));
  if (after !== undefined) spec.after_tokens = after;
  return spec;
}

interface Reply {
  status: number;
  json: unknown;
}

async function call(url: string, key: string, method: string, path: string, body?: unknown): Promise<Reply> {
  const res = await fetch(new URL(path, url), {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json };
}

function errorText(r: Reply): string {
  const e = (r.json as { error?: { message?: string; param?: string | null } } | undefined)?.error;
  if (!e?.message) return `HTTP ${r.status}`;
  return `${e.message}${e.param ? ` (field: ${e.param})` : ''}`;
}

/** `holdfast chaos list|inject|clear`, against a running gateway's admin API. */
export async function runChaos(args: string[], io: ChaosIo): Promise<number> {
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        url: { type: 'string' },
        key: { type: 'string' },
        json: { type: 'boolean' },
        all: { type: 'boolean' },
        kind: { type: 'string' },
        for: { type: 'string' },
        rate: { type: 'string' },
        delay: { type: 'string' },
        status: { type: 'string' },
        'retry-after': { type: 'string' },
        after: { type: 'string' },
      },
    }));
  } catch (err) {
    io.err(`chaos: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const [action, deployment, faultId] = positionals;
  const url = str(values, 'url') ?? 'http://127.0.0.1:8080';
  const key = str(values, 'key') ?? (io.env.HOLDFAST_ADMIN_KEY || undefined);
  const json = values.json === true;

  let request: { method: string; path: string; body?: unknown };
  try {
    const dep = deployment === undefined ? '' : `/${encodeURIComponent(deployment)}`;
    switch (action) {
      case 'list':
        request = { method: 'GET', path: `/admin/chaos${dep}` };
        break;
      case 'inject':
        if (!deployment) throw new UsageError('inject: give the deployment id');
        request = { method: 'POST', path: `/admin/chaos${dep}`, body: specFromFlags(values) };
        break;
      case 'clear':
        if (!deployment && values.all !== true)
          throw new UsageError('clear: give the deployment id, or --all to clear every fault');
        request = {
          method: 'DELETE',
          path: `/admin/chaos${dep}${faultId ? `/${encodeURIComponent(faultId)}` : ''}`,
        };
        break;
      default:
        throw new UsageError(action === undefined ? 'give a subcommand' : `unknown subcommand '${action}'`);
    }
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`chaos: ${err.message}\n${USAGE}`);
    return 2;
  }
  if (!key) {
    io.err('chaos: the admin key is needed: --key KEY or HOLDFAST_ADMIN_KEY\n');
    return 2;
  }

  let reply: Reply;
  try {
    reply = await call(url, key, request.method, request.path, request.body);
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    io.err(`chaos: cannot reach the gateway at ${url}: ${cause?.code ?? cause?.message ?? String(err)}\n`);
    return 1;
  }
  if (reply.status >= 400) {
    io.err(`chaos ${action}: ${errorText(reply)}\n`);
    return 1;
  }
  if (json) {
    io.out(`${JSON.stringify(reply.json)}\n`);
    return 0;
  }
  if (action === 'list') {
    const { now, faults } = reply.json as { now: number; faults: ChaosFault[] };
    io.out(faults.length ? `${faults.map((f) => row(f, now)).join('\n')}\n` : 'no active faults\n');
  } else if (action === 'inject') {
    const { now, fault } = reply.json as { now: number; fault: ChaosFault };
    io.out(`${row(fault, now)}\n`);
  } else {
    const { cleared } = reply.json as { cleared: number };
    io.out(`cleared ${cleared} fault${cleared === 1 ? '' : 's'}\n`);
  }
  return 0;
}

export function chaosCommand(args: string[]): Promise<number> {
  return runChaos(args, {
    env: process.env,
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
  });
}
