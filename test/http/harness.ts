import { connect, type Socket } from 'node:net';
import type { DestinationStream } from 'pino';
import { startGateway } from '../../src/app.ts';
import { buildConfig } from '../../src/config/load.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import { ADMIN_KEY, simModels, type TestGateway } from '../helpers/gateway.ts';

/**
 * A real gateway for the hardening tests: in-memory store, chat and status off unless asked for, and the
 * server section (timeouts, caps) given by the test.
 */
export async function startHardened(
  input: Partial<ConfigInput> = {},
  opts: { logLevel?: string; logDestination?: DestinationStream; env?: NodeJS.ProcessEnv } = {},
): Promise<TestGateway> {
  const config = buildConfig(
    {
      auth: { admin_key: ADMIN_KEY },
      store: { data_dir: 'memory://' },
      log: { level: 'silent' },
      models: simModels(),
      chat: { enabled: false },
      status: { enabled: false },
      ...input,
      server: { host: '127.0.0.1', port: 0, ...input.server },
    },
    {},
  );
  const gw = await startGateway(config, {
    env: opts.env ?? {},
    ...(opts.logLevel ? { logLevel: opts.logLevel } : {}),
    ...(opts.logDestination ? { logDestination: opts.logDestination } : {}),
  });
  return { gw, url: gw.url, close: () => gw.close(1_000).then(() => undefined) };
}

/** What a raw test socket saw: when it connected and closed, and every byte the server sent. */
export interface RawConn {
  socket: Socket;
  openedAt: number;
  closedAt?: number;
  received: string;
  closed: Promise<void>;
}

/** A raw TCP connection to the gateway, optionally from another loopback address (another "client"). */
export function rawConnect(url: string, localAddress?: string): Promise<RawConn> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), ...(localAddress ? { localAddress } : {}) });
    const conn: RawConn = {
      socket,
      openedAt: 0,
      received: '',
      closed: new Promise((done) => socket.once('close', () => done())),
    };
    void conn.closed.then(() => {
      conn.closedAt = performance.now();
    });
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      conn.received += d;
    });
    socket.on('error', () => {}); // a reset is an answer here, not a failure
    socket.once('connect', () => {
      conn.openedAt = performance.now();
      resolve(conn);
    });
    socket.once('error', reject);
  });
}

/** Writes `text` one byte every `everyMs` until the socket closes or the text runs out. */
export function trickle(conn: RawConn, text: string, everyMs: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (conn.socket.destroyed || i >= text.length) return clearInterval(timer);
    conn.socket.write(text[i++]!);
  }, everyMs);
  void conn.closed.then(() => clearInterval(timer));
}

export function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

/** Signs in to the operator pages with the admin key, as a browser would; returns the session cookie. */
export async function statusAdminSession(url: string, key: string): Promise<string> {
  const form = await fetch(`${url}/status/admin/signin`);
  const signin = form.headers
    .getSetCookie()
    .find((c) => c.startsWith('hf_status_signin='))!
    .split(';')[0]!;
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())?.[1] ?? '';
  const r = await fetch(`${url}/status/admin/signin`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: signin, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: csrf, key, next: '/status/admin' }).toString(),
  });
  const session = r.headers.getSetCookie().find((c) => c.startsWith('hf_status_admin='));
  if (r.status !== 303 || !session) throw new Error(`status admin sign-in failed: ${r.status}`);
  return session.split(';')[0]!;
}
