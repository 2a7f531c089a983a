import type { ConfigInput } from '../../src/config/schema.ts';
import { ADMIN_KEY } from '../helpers/gateway.ts';

/** One model with a preferred deployment and a backup on the other wire: a drill has somewhere to go. */
export const DRILL_MODELS: ConfigInput['models'] = [
  {
    name: 'drill-sim',
    deployments: [
      {
        id: 'drill-primary',
        provider: 'simulator',
        model: 'p-1',
        region: 'east',
        tier: 0,
        simulator: { dialect: 'openai', ttft_ms: 0, tokens_per_sec: 0, answer_tokens: 12 },
      },
      {
        id: 'drill-backup',
        provider: 'simulator',
        model: 'b-1',
        region: 'west',
        tier: 1,
        simulator: { dialect: 'anthropic', ttft_ms: 0, tokens_per_sec: 0, answer_tokens: 12 },
      },
    ],
  },
];

/** Ejection after two failures in a row, so a drill shows one within a handful of requests. */
export const DRILL_RESILIENCE: ConfigInput['resilience'] = { outlier: { consecutive_failures: 2 } };

export interface ApiAnswer {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: test answers are read field by field
  body: any;
}

/** The console's API as a browser uses it: a session cookie from signing in, and the CSRF token. */
export class ConsoleClient {
  readonly base: string;
  cookies = new Map<string, string>();
  csrf: string | undefined;

  constructor(base: string) {
    this.base = base;
  }

  async signIn(key = ADMIN_KEY): Promise<ApiAnswer> {
    const r = await this.call('POST', '/admin/api/session', { key });
    if (r.status === 200) this.csrf = r.body.csrfToken;
    return r;
  }

  async call(
    method: string,
    path: string,
    body?: unknown,
    o: { csrf?: string | null; headers?: Record<string, string> } = {},
  ): Promise<ApiAnswer> {
    const headers: Record<string, string> = { ...o.headers };
    if (this.cookies.size > 0)
      headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('; ');
    const csrf = o.csrf === undefined ? this.csrf : o.csrf;
    if (csrf && method !== 'GET') headers['x-csrf-token'] = csrf;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers,
      redirect: 'manual',
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = decodeURIComponent(pair!.slice(eq + 1).trim());
      if (value === '' || attrs.some((a) => a.trim().toLowerCase() === 'max-age=0'))
        this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, headers: res.headers, body: parsed };
  }
}

/** Calls with the admin key as a bearer token (scripts: no cookie, no CSRF). */
export async function withKey(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  key = ADMIN_KEY,
): Promise<ApiAnswer> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}
