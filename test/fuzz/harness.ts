import { connect } from 'node:net';
import { type Gateway, startGateway } from '../../src/app.ts';
import { buildConfig } from '../../src/config/load.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import { simModels } from '../helpers/gateway.ts';

/**
 * The fuzzer's target: real gateways (PGlite in memory, the built-in simulator upstream), driven in
 * process with Fastify's inject() for speed, plus a real socket for bytes inject cannot send.
 *
 * Generators never see secrets or database ids: they write placeholders (`{{admin}}`, `{{key}}`,
 * `{{cookie}}`, `{{csrf}}`, `{{conv}}`, `{{msg}}`, `{{char}}`, `{{persona}}`, `{{incident}}`,
 * `{{maintenance}}`, `{{component}}`) that are filled in here, so a counterexample stays readable and
 * replays against a fresh target.
 */

export const FUZZ_ADMIN_KEY = 'hf-admin-fuzz-key-0123456789';

export interface FuzzRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  /** The bytes sent as the body, verbatim (placeholders in a string body are filled in first). */
  body?: string | Uint8Array | undefined;
}

export interface FuzzResponse {
  /** The path and query the server saw: inject() resolves dot segments and drops the fragment. */
  url: string;
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
  ms: number;
}

export class Hang extends Error {
  constructor(ms: number) {
    super(`no complete answer within ${ms} ms`);
    this.name = 'Hang';
  }
}

/** Which gateway a surface runs against: the ops one takes faults, incidents and maintenance. */
export type TargetName = 'front' | 'ops';

interface Fixtures {
  key: string;
  cookie: string;
  csrf: string;
  conv: string;
  msg: string;
  char: string;
  persona: string;
  incident: string;
  maintenance: string;
  component: string;
}

const PLACEHOLDER = /\{\{(admin|key|cookie|csrf|conv|msg|char|persona|incident|maintenance|component)\}\}/g;

function config(): ConfigInput {
  return {
    server: { host: '127.0.0.1', port: 0 },
    auth: { admin_key: FUZZ_ADMIN_KEY },
    store: { data_dir: 'memory://' },
    log: { level: 'silent' },
    models: simModels(),
    // Nothing the fuzzer sends may change what the next case sees: no probes, no automatic incidents.
    status: { probes: { enabled: false }, incidents: { auto: false } },
    // The simulator runs in this process: on a busy machine a GC pause or a starved event loop would look
    // like a slow upstream. The fuzzer checks what answers look like, not timing (the resilience tests do).
    resilience: { first_byte: { floor_ms: 30_000 } },
  } as ConfigInput;
}

export interface FuzzTarget {
  readonly gw: Gateway;
  readonly url: string;
  /** Sends one request in process; rejects with Hang when no full answer came within `timeoutMs`. */
  send(req: FuzzRequest, timeoutMs?: number): Promise<FuzzResponse>;
  /** `/health/ready` answers 200 over a real socket. */
  healthy(): Promise<boolean>;
  /** Puts back what a case may have changed (faults, the session, deleted fixtures). */
  restore(req: FuzzRequest, res: FuzzResponse): Promise<void>;
  fill(s: string): string;
  close(): Promise<void>;
}

export async function startFuzzTarget(): Promise<FuzzTarget> {
  const gw = await startGateway(buildConfig(config(), {}), { env: {} });
  const fx: Fixtures = {
    key: '',
    cookie: '',
    csrf: '',
    conv: '',
    msg: '',
    char: '',
    persona: '',
    incident: '',
    maintenance: '',
    component: '',
  };
  const fill = (s: string): string =>
    s.includes('{{')
      ? s.replace(PLACEHOLDER, (_m, name: string) =>
          name === 'admin' ? FUZZ_ADMIN_KEY : fx[name as keyof Fixtures],
        )
      : s;

  const call = async (method: string, url: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await gw.app.inject({
      method: method as 'GET',
      url,
      // Not the fuzzed requests' address: their failed sign-ins must not lock the harness out.
      remoteAddress: '10.9.9.9',
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(fx.cookie ? { cookie: fx.cookie } : {}),
        ...(fx.csrf ? { 'x-csrf-token': fx.csrf } : {}),
        ...headers,
      },
      ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
    });
    return {
      status: res.statusCode,
      json: res.body ? JSON.parse(res.body) : undefined,
      headers: res.headers,
    };
  };

  async function signIn(): Promise<void> {
    fx.cookie = '';
    fx.csrf = '';
    const creds = { email: 'fuzz@example.test', password: 'correct horse battery' };
    let r = await call('POST', '/api/auth/login', creds);
    if (r.status === 401) r = await call('POST', '/api/auth/signup', { ...creds, name: 'Fuzz' });
    if (r.status !== 200 && r.status !== 201) throw new Error(`fuzz sign-in failed: ${r.status}`);
    const set = ([] as string[]).concat(r.headers['set-cookie'] ?? []);
    fx.cookie = (set.find((c) => c.startsWith('hf_session=')) ?? '').split(';')[0]!;
    fx.csrf = r.json.csrfToken;
  }

  async function chatFixtures(): Promise<void> {
    const c = await call('POST', '/api/characters', {
      character: { name: 'Fuzzy', greeting: 'Hi, I am Fuzzy.' },
    });
    fx.char = c.json.id;
    const p = await call('POST', '/api/personas', { name: 'Persona' });
    fx.persona = p.json.id;
    const conv = await call('POST', '/api/conversations', { characterId: fx.char });
    fx.conv = conv.json.conversation.id;
    fx.msg = conv.json.messages.at(-1).id;
  }

  async function statusFixtures(): Promise<void> {
    const admin = { authorization: `Bearer ${FUZZ_ADMIN_KEY}` };
    const comps = await call('GET', '/admin/status/components', undefined, admin);
    fx.component = comps.json.components.find((x: { group: boolean }) => !x.group)?.id ?? '';
    const inc = await call('POST', '/admin/status/incidents', { name: 'Fuzz', body: 'Fuzzing.' }, admin);
    fx.incident = inc.json.id;
    const start = new Date(Date.now() + 86_400_000);
    const m = await call(
      'POST',
      '/admin/status/maintenances',
      {
        name: 'Fuzz window',
        body: 'Later.',
        scheduled_for: start.toISOString(),
        scheduled_until: new Date(start.getTime() + 3_600_000).toISOString(),
        component_ids: [fx.component],
      },
      admin,
    );
    fx.maintenance = m.json.id;
  }

  fx.key = (await gw.keys.createKey({ name: 'fuzz', models: ['*'] })).secret;
  await signIn();
  await chatFixtures();
  await statusFixtures();

  return {
    gw,
    url: gw.url,
    fill,
    async send(req, timeoutMs = 10_000) {
      const abort = new AbortController();
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          abort.abort();
          reject(new Hang(timeoutMs));
        }, timeoutMs);
      });
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) headers[k] = fill(v);
      const url = fill(req.url);
      const seen = new URL(url.startsWith('//') ? `http://localhost${url}` : url, 'http://localhost');
      try {
        const res = await Promise.race([
          gw.app.inject({
            method: req.method as 'GET',
            url,
            headers,
            ...(req.body !== undefined
              ? { payload: typeof req.body === 'string' ? fill(req.body) : Buffer.from(req.body) }
              : {}),
            signal: abort.signal,
          }),
          timeout,
        ]);
        return {
          url: seen.pathname + seen.search,
          status: res.statusCode,
          headers: res.headers,
          body: res.body,
          ms: performance.now() - started,
        };
      } finally {
        clearTimeout(timer);
      }
    },
    async healthy() {
      try {
        const res = await fetch(`${gw.url}/health/ready`, { signal: AbortSignal.timeout(5_000) });
        return res.status === 200;
      } catch {
        return false;
      }
    },
    async restore(req, res) {
      // Faults end by themselves, but the next case must not meet this one's.
      if (req.url.startsWith('/admin/chaos')) gw.chaos.clear();
      const ok = res.status < 300;
      if (!ok) return;
      const url = fill(req.url);
      if (req.method === 'POST' && url.startsWith('/api/auth/logout')) await signIn();
      else if (req.method === 'DELETE' && url.startsWith('/api/')) await chatFixtures();
      else if (
        url.startsWith('/admin/status/') &&
        (url.includes('/merge') || (typeof req.body === 'string' && /resolved|completed/.test(req.body)))
      ) {
        // The fixture incident (or window) may be closed now: later cases should find an open one.
        await statusFixtures();
      }
    },
    async close() {
      await gw.close(1_000);
    },
  };
}

export interface RawResult {
  /** Everything the server wrote before it closed (or before the timeout). */
  bytes: Buffer;
  /** The server closed the connection (as opposed to us giving up). */
  closed: boolean;
  ms: number;
}

/**
 * Writes bytes on a fresh TCP connection, half-closes it, and collects the answer until the server
 * closes or `timeoutMs` passes. A half-close is what a client that sent everything it had looks like.
 */
export function sendRaw(url: string, bytes: Buffer, timeoutMs = 5_000): Promise<RawResult> {
  const { hostname, port } = new URL(url);
  const started = performance.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host: hostname, port: Number(port) });
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ bytes: Buffer.concat(chunks), closed, ms: performance.now() - started });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
    socket.on('connect', () => {
      socket.write(bytes);
      socket.end();
    });
  });
}
