import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small HTTP load balancer for tests and benchmarks, behaving the way nginx or Envoy are set up in
 * front of Holdfast (docs/operations.md): round-robin over the backends whose readiness check answers
 * 200 (polled), kept-alive upstream connections, streaming answers passed through unbuffered, and a
 * request retried on another backend only when it failed before being sent (connection refused, a
 * pooled connection found dead before writing): a request that may have reached a backend is never sent
 * twice, so a replica that drops one shows up as a failed request.
 */

export interface BalancerOptions {
  /** Backend origins (http://127.0.0.1:port). */
  backends: readonly string[];
  /** How often each backend's readiness is asked. */
  pollMs?: number;
  readyPath?: string;
}

export interface BalancerStats {
  /** Requests answered, by backend origin (the backend whose answer was passed on). */
  served: Record<string, number>;
  /** Requests passed to another backend because the first could not be sent to. */
  retried: number;
  /** Requests answered 502 by the balancer itself (no backend, or one failed after receiving it). */
  failed: number;
  /** Why, for each failure. */
  errors: string[];
}

export interface Balancer {
  url: string;
  stats: BalancerStats;
  /** Backends currently passing their readiness check. */
  healthy(): string[];
  /** Resolves once `origin`'s readiness is `ready` (true: 200; false: anything else) as the balancer sees it. */
  waitFor(origin: string, ready: boolean, timeoutMs?: number): Promise<void>;
  /** Which backend served the request that carried this `x-test-trace` header value. */
  servedBy(trace: string): string | undefined;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'host',
]);

function forwardable(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  return out;
}

export async function startBalancer(opts: BalancerOptions): Promise<Balancer> {
  const pollMs = opts.pollMs ?? 200;
  const readyPath = opts.readyPath ?? '/health/ready';
  const backends = [...opts.backends];
  const up = new Set<string>();
  const agents = new Map(backends.map((b) => [b, new http.Agent({ keepAlive: true })]));
  const stats: BalancerStats = { served: {}, retried: 0, failed: 0, errors: [] };
  const traces = new Map<string, string>();
  let next = 0;
  let closed = false;

  const check = (origin: string): Promise<boolean> =>
    new Promise((resolve) => {
      const req = http.get(`${origin}${readyPath}`, { agent: false, timeout: 1_000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
    });
  const poll = async (): Promise<void> => {
    await Promise.all(
      backends.map(async (b) => {
        if (await check(b)) up.add(b);
        else up.delete(b);
      }),
    );
  };
  await poll();
  let polling = false;
  const timer = setInterval(() => {
    if (polling || closed) return;
    polling = true;
    poll().finally(() => {
      polling = false;
    });
  }, pollMs);

  const pick = (tried: Set<string>): string | undefined => {
    const candidates = backends.filter((b) => up.has(b) && !tried.has(b));
    if (candidates.length === 0) return undefined;
    next = (next + 1) % Number.MAX_SAFE_INTEGER;
    return candidates[next % candidates.length];
  };

  const fail = (res: http.ServerResponse, why: string): void => {
    stats.failed++;
    stats.errors.push(why);
    if (!res.headersSent) {
      res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `balancer: ${why}`, type: 'bad_gateway' } }));
    } else res.destroy();
  };

  const forward = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    body: Buffer,
    tried: Set<string>,
  ): void => {
    const origin = pick(tried);
    if (!origin) {
      fail(res, `no ready backend for ${req.method} ${req.url}`);
      return;
    }
    tried.add(origin);
    const target = new URL(origin);
    let sent = false;
    let answered = false;
    const upstream = http.request({
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      agent: agents.get(origin)!,
      headers: { ...forwardable(req.headers), host: target.host, 'content-length': body.length },
    });
    upstream.on('finish', () => {
      sent = true;
    });
    upstream.on('response', (ans) => {
      answered = true;
      stats.served[origin] = (stats.served[origin] ?? 0) + 1;
      const trace = req.headers['x-test-trace'];
      if (typeof trace === 'string') traces.set(trace, origin);
      res.writeHead(ans.statusCode ?? 502, forwardable(ans.headers));
      // Streams pass through as they come: flush every chunk.
      ans.on('data', (chunk: Buffer) => res.write(chunk));
      ans.on('end', () => res.end());
      ans.on('error', () => res.destroy());
      ans.on('aborted', () => res.destroy());
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (answered) {
        // Cut mid-answer: the caller sees a broken response, as it would behind a real balancer.
        stats.errors.push(`${origin} cut an answer: ${err.code ?? err.message}`);
        stats.failed++;
        res.destroy();
        return;
      }
      if (!sent) {
        stats.retried++;
        forward(req, res, body, tried);
        return;
      }
      fail(res, `${origin} failed after the request was sent: ${err.code ?? err.message}`);
    });
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    upstream.end(body);
  };

  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => forward(req, res, Buffer.concat(parts), new Set()));
  });
  // Longer than any test: the balancer itself never closes a caller's idle connection under it.
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    healthy: () => backends.filter((b) => up.has(b)),
    async waitFor(origin, ready, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (up.has(origin) !== ready) {
        if (Date.now() > deadline)
          throw new Error(`balancer: ${origin} not ${ready ? 'ready' : 'out'} within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    servedBy: (trace) => traces.get(trace),
    async close() {
      closed = true;
      clearInterval(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      for (const a of agents.values()) a.destroy();
    },
  };
}
