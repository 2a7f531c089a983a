import { ADMIN_KEY } from '../helpers/gateway.ts';

export interface PageResponse {
  status: number;
  location: string | null;
  headers: Headers;
  text: string;
}

/** A tiny form-posting browser for the operator pages: a cookie jar, no redirects followed. */
export class FormClient {
  readonly base: string;
  readonly jar = new Map<string, string>();

  constructor(base: string) {
    this.base = base;
  }

  #store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = decodeURIComponent(pair!.slice(eq + 1).trim());
      const gone = attrs.some((a) => a.trim().toLowerCase() === 'max-age=0');
      if (gone || value === '') this.jar.delete(name);
      else this.jar.set(name, value);
    }
  }

  #cookieHeader(): Record<string, string> {
    if (this.jar.size === 0) return {};
    return { cookie: [...this.jar].map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('; ') };
  }

  async get(path: string): Promise<PageResponse> {
    const res = await fetch(`${this.base}${path}`, { redirect: 'manual', headers: this.#cookieHeader() });
    this.#store(res);
    return {
      status: res.status,
      location: res.headers.get('location'),
      headers: res.headers,
      text: await res.text(),
    };
  }

  async post(path: string, fields: Record<string, string | string[]>): Promise<PageResponse> {
    const body = new URLSearchParams();
    for (const [k, v] of Object.entries(fields))
      for (const x of Array.isArray(v) ? v : [v]) body.append(k, x);
    const res = await fetch(`${this.base}${path}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...this.#cookieHeader() },
      body,
    });
    this.#store(res);
    return {
      status: res.status,
      location: res.headers.get('location'),
      headers: res.headers,
      text: await res.text(),
    };
  }

  /** Signs in through the form; returns the session's CSRF token (read from a page's hidden field). */
  async signIn(key = ADMIN_KEY): Promise<string> {
    const page = await this.get('/status/admin/signin');
    const r = await this.post('/status/admin/signin', {
      _csrf: csrfOf(page.text),
      key,
      next: '/status/admin',
    });
    if (r.status !== 303) throw new Error(`sign-in failed: ${r.status}`);
    return csrfOf((await this.get('/status/admin')).text);
  }
}

export function csrfOf(html: string): string {
  const m = /name="_csrf" value="([^"]*)"/.exec(html);
  if (!m) throw new Error('no CSRF field on the page');
  return m[1]!;
}
