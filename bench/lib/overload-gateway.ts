import { type ChildProcess, spawn } from 'node:child_process';
import { subscribe } from 'node:diagnostics_channel';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/**
 * A Holdfast gateway in its own process, for the overload benchmark: its CPU time and memory are then
 * its own (the load generator and the simulators run elsewhere). Run as a script it is the child: it
 * starts the gateway from a JSON config, creates the asked-for virtual keys, and serves a small control
 * endpoint on loopback that reports CPU time, peak memory and the outcome record of every finished
 * request. It exits when its stdin closes (so it dies with the parent).
 */

const READY = 'READY ';
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;
const MEMORY_SAMPLE_MS = 100;

export interface OutcomeLite {
  id: string;
  flag: string;
  status: number;
  attempts: number;
}

export interface GatewaySample {
  /** process.cpuUsage() of the gateway process, microseconds. */
  cpu: { user: number; system: number };
  /** Peaks since the previous sample (sampled every 100 ms). */
  rssMax: number;
  heapUsedMax: number;
  rss: number;
  heapUsed: number;
  /** Outcomes published since the previous sample. */
  outcomes: OutcomeLite[];
}

export interface GatewayChild {
  url: string;
  /** Virtual key name → secret. */
  keys: Record<string, string>;
  /** Reads (and resets) the counters; with gc, runs a full GC first so heapUsed is what is live. */
  sample(gc?: boolean): Promise<GatewaySample>;
  close(): Promise<void>;
}

const SELF = fileURLToPath(import.meta.url);

export async function startGatewayChild(config: unknown, keyNames: string[]): Promise<GatewayChild> {
  const child = spawn(process.execPath, ['--expose-gc', SELF, JSON.stringify({ config, keyNames })], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    if (stderr.length < 64_000) stderr += d;
  });
  const info = await new Promise<{ url: string; control: string; keys: Record<string, string> }>(
    (resolve, reject) => {
      const lines = createInterface({ input: child.stdout });
      const fail = (why: string): void => {
        clearTimeout(timer);
        lines.close();
        kill(child);
        reject(new Error(`gateway child ${why}${stderr ? `:\n${stderr.trim()}` : ''}`));
      };
      const timer = setTimeout(() => fail(`did not start within ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
      child.once('exit', (code, signal) => fail(`exited during startup (${signal ?? code})`));
      child.once('error', (err) => fail(`could not be spawned (${err.message})`));
      lines.on('line', (line) => {
        if (!line.startsWith(READY)) return;
        clearTimeout(timer);
        child.removeAllListeners('exit');
        child.removeAllListeners('error');
        resolve(
          JSON.parse(line.slice(READY.length)) as {
            url: string;
            control: string;
            keys: Record<string, string>;
          },
        );
      });
    },
  );
  child.stdout.resume();
  return {
    url: info.url,
    keys: info.keys,
    async sample(gc = false): Promise<GatewaySample> {
      const res = await fetch(`${info.control}/sample${gc ? '?gc=1' : ''}`);
      if (res.status !== 200) throw new Error(`gateway control: HTTP ${res.status}`);
      return (await res.json()) as GatewaySample;
    },
    async close(): Promise<void> {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.stdin?.end();
      const timer = setTimeout(() => kill(child), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

function kill(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

// ---------------------------------------------------------------------------------------------------
// Child side.

async function childMain(): Promise<void> {
  const arg = JSON.parse(process.argv[2] ?? '{}') as { config: unknown; keyNames: string[] };
  const { configSchema } = await import('../../src/config/schema.ts');
  const { startGateway } = await import('../../src/app.ts');
  const { OUTCOME_CHANNEL } = await import('../../src/telemetry/outcome.ts');

  let outcomes: OutcomeLite[] = [];
  subscribe(OUTCOME_CHANNEL, (m: unknown) => {
    const o = m as { requestId: string; flag: string; status: number; attempts: number };
    outcomes.push({ id: o.requestId, flag: o.flag, status: o.status, attempts: o.attempts });
  });

  const trace = process.env.HOLDFAST_BENCH_TRACE;
  if (trace) {
    // Debugging aid: every adaptive-limit move and the event loop's utilisation, appended to a file.
    const { appendFileSync } = await import('node:fs');
    const t0 = performance.now();
    const at = (): string => ((performance.now() - t0) / 1000).toFixed(2);
    subscribe('holdfast:admission:event', (m: unknown) => {
      const e = m as { type: string; deployment?: string; previous?: number; limit?: number };
      if (e.type === 'limit')
        appendFileSync(trace, `${at()} limit ${e.deployment} ${e.previous}->${e.limit}\n`);
    });
    const ttfts: Record<string, number[]> = {};
    subscribe('holdfast:upstream:attempt', (m: unknown) => {
      const a = m as { deployment: string; firstTokenMs?: number; ok: boolean; errorKind?: string };
      const list = ttfts[a.deployment] ?? [];
      ttfts[a.deployment] = list;
      list.push(a.firstTokenMs ?? (a.ok ? -1 : -2));
    });
    let elu = performance.eventLoopUtilization();
    setInterval(() => {
      const now = performance.eventLoopUtilization();
      const summary = Object.entries(ttfts)
        .map(([d, xs]) => {
          const ok = xs.filter((x) => x >= 0);
          const mean = ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : 0;
          return `${d}:n=${xs.length},fail=${xs.length - ok.length},ttft=${mean.toFixed(0)}`;
        })
        .join(' ');
      for (const k of Object.keys(ttfts)) ttfts[k] = [];
      appendFileSync(
        trace,
        `${at()} elu ${performance.eventLoopUtilization(now, elu).utilization.toFixed(2)} ${summary}\n`,
      );
      elu = now;
    }, 1_000).unref();
  }
  const gw = await startGateway(configSchema.parse(arg.config), { logLevel: 'silent', env: {} });
  const keys: Record<string, string> = {};
  for (const name of arg.keyNames) keys[name] = (await gw.keys.createKey({ name, models: ['chat'] })).secret;

  let rssMax = 0;
  let heapUsedMax = 0;
  const memTick = (): void => {
    const m = process.memoryUsage();
    rssMax = Math.max(rssMax, m.rss);
    heapUsedMax = Math.max(heapUsedMax, m.heapUsed);
  };
  memTick();
  const memTimer = setInterval(memTick, MEMORY_SAMPLE_MS);
  memTimer.unref();

  const control = createServer((req, res) => {
    if (!req.url?.startsWith('/sample')) {
      res.writeHead(404).end();
      return;
    }
    const gcFn = (globalThis as { gc?: () => void }).gc;
    if (req.url.includes('gc=1') && gcFn) gcFn();
    memTick();
    const m = process.memoryUsage();
    const body: GatewaySample = {
      cpu: process.cpuUsage(),
      rssMax,
      heapUsedMax,
      rss: m.rss,
      heapUsed: m.heapUsed,
      outcomes,
    };
    outcomes = [];
    rssMax = m.rss;
    heapUsedMax = m.heapUsed;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  control.listen(0, '127.0.0.1');
  await once(control, 'listening');
  const port = (control.address() as AddressInfo).port;

  let closing = false;
  const shutdown = async (): Promise<void> => {
    if (closing) return;
    closing = true;
    try {
      control.close();
      await gw.close(1_000);
    } finally {
      process.exit(0);
    }
  };
  process.stdin.on('end', shutdown);
  process.stdin.on('close', shutdown);
  process.stdin.resume();
  process.on('SIGTERM', shutdown);
  process.stdout.write(
    `${READY}${JSON.stringify({ url: gw.url, control: `http://127.0.0.1:${port}`, keys })}\n`,
  );
}

if (process.argv[1] === SELF) {
  childMain().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
