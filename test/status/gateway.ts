import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway } from '../../src/app.ts';
import { buildConfig } from '../../src/config/load.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import type { Json } from '../helpers/chat-client.ts';
import { ADMIN_KEY, simModels, type TestGateway } from '../helpers/gateway.ts';

/** Windows and periods shrunk to seconds so an outage and its recovery fit in a test. */
export const FAST_STATUS: NonNullable<ConfigInput['status']> = {
  rules: {
    fast: { short_s: 2, long_s: 5, burn: 14.4 },
    slow: { short_s: 3, long_s: 20, burn: 6 },
    hold_s: 1,
    tick_ms: 100,
  },
  incidents: { open_after_s: 1, quiet_period_s: 2 },
  probes: { enabled: false },
};

/** Like test/helpers/gateway.ts's startTestGateway, with a status section (and a reusable data dir). */
export async function startStatusGateway(
  input: Partial<ConfigInput> & { dataDir?: string } = {},
): Promise<TestGateway> {
  const dir = input.dataDir ?? mkdtempSync(join(tmpdir(), 'holdfast-status-'));
  const config = buildConfig(
    {
      server: { host: '127.0.0.1', port: 0, ...input.server },
      auth: { admin_key: ADMIN_KEY },
      store: { data_dir: dir },
      log: { level: 'silent' },
      models: input.models ?? simModels(),
      resilience: input.resilience ?? { outlier: { base_ejection_ms: 500, max_ejection_ms: 1_000 } },
      status: input.status ?? FAST_STATUS,
      ...(input.chat ? { chat: input.chat } : {}),
    },
    {},
  );
  const gw = await startGateway(config, { env: {} });
  return {
    gw,
    url: gw.url,
    async close() {
      await gw.close(1_000);
      if (!input.dataDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const admin = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };

export async function call(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = admin,
): Promise<{ status: number; body: Json }> {
  // A bodiless request must not claim a JSON body: the gateway refuses an empty one.
  const { 'content-type': _, ...bare } = headers;
  const res = await fetch(`${url}${path}`, {
    method,
    headers: body !== undefined ? headers : bare,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** One chat completion; resolves with the HTTP status and the deployment that answered. */
export async function ask(url: string, model: string, opts: { stream?: boolean } = {}) {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: admin,
    body: JSON.stringify({
      model,
      stream: opts.stream ?? false,
      messages: [{ role: 'user', content: 'hi' }],
    }),
  });
  const text = await res.text();
  return { status: res.status, deployment: res.headers.get('x-holdfast-deployment'), text };
}

/** Sends requests back to back (a few at a time) until stopped: the traffic the status is computed from. */
export function drive(url: string, model: string, concurrency = 4): { stop(): Promise<number> } {
  let running = true;
  let sent = 0;
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) {
      await ask(url, model).catch(() => {});
      sent += 1;
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return sent;
    },
  };
}

export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  ms = 30_000,
  every = 100,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}
