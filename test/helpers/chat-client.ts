import { randomUUID } from 'node:crypto';

/** API answers in tests: read freely, the assertions check them. */
// biome-ignore lint/suspicious/noExplicitAny: JSON under test, asserted field by field
export type Json = any;

/** A signed-in chat API user for tests: keeps the session cookie and sends the CSRF token. */
export class ChatClient {
  readonly base: string;
  cookie = '';
  csrf = '';
  user: { id: string; email: string; name: string; role: string } | undefined;

  constructor(base: string) {
    this.base = base;
  }

  static async signUp(base: string, name = 'Tess'): Promise<ChatClient> {
    const c = new ChatClient(base);
    const email = `${name.toLowerCase()}-${randomUUID().slice(0, 8)}@example.test`;
    const r = await c.call('POST', '/api/auth/signup', { email, password: 'correct horse battery', name });
    if (r.status !== 201) throw new Error(`signup failed: ${r.status} ${JSON.stringify(r.body)}`);
    return c;
  }

  async call(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: Json; headers: Headers }> {
    const h: Record<string, string> = { ...headers };
    if (this.cookie) h.cookie = this.cookie;
    if (this.csrf && method !== 'GET') h['x-csrf-token'] = this.csrf;
    let payload: string | Uint8Array | undefined;
    if (body instanceof Uint8Array) payload = body;
    else if (body !== undefined) {
      payload = JSON.stringify(body);
      h['content-type'] ??= 'application/json';
    }
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: h,
      ...(payload !== undefined ? { body: payload } : {}),
    });
    const set = res.headers.getSetCookie().find((x) => x.startsWith('hf_session='));
    if (set) this.cookie = set.split(';')[0]!;
    const type = res.headers.get('content-type') ?? '';
    const parsed: Json = type.includes('json')
      ? await res.json()
      : type.startsWith('text/')
        ? await res.text()
        : new Uint8Array(await res.arrayBuffer());
    if (parsed?.csrfToken) this.csrf = String(parsed.csrfToken);
    if (parsed?.user) this.user = parsed.user;
    return { status: res.status, body: parsed, headers: res.headers };
  }

  /** Reads a message's SSE stream until `done` (or `maxEvents`), resuming after `lastEventId`. */
  async stream(
    messageId: string,
    opts: { lastEventId?: number; maxChunks?: number; until?: (text: string) => boolean } = {},
  ): Promise<{
    chunks: Array<{ seq: number; text: string }>;
    done?: { status: string; meta: Json; content: string };
    statuses: Json[];
  }> {
    const ac = new AbortController();
    const h: Record<string, string> = { cookie: this.cookie };
    if (opts.lastEventId !== undefined) h['last-event-id'] = String(opts.lastEventId);
    const res = await fetch(`${this.base}/api/messages/${messageId}/stream`, {
      headers: h,
      signal: ac.signal,
    });
    if (res.status !== 200 || !res.body) throw new Error(`stream ${res.status}: ${await res.text()}`);
    const out: { chunks: Array<{ seq: number; text: string }>; done?: Json; statuses: Json[] } = {
      chunks: [],
      statuses: [],
    };
    const dec = new TextDecoder();
    let buf = '';
    try {
      for await (const part of res.body) {
        buf += dec.decode(part as Uint8Array, { stream: true });
        let sep = buf.indexOf('\n\n');
        while (sep >= 0) {
          const block = buf.slice(0, sep);
          buf = buf.slice(sep + 2);
          sep = buf.indexOf('\n\n');
          let id: number | undefined;
          let event = 'message';
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('id: ')) id = Number(line.slice(4));
            else if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (event === 'chunk') {
            out.chunks.push({ seq: id!, text: JSON.parse(data).text });
            const stop =
              (opts.maxChunks !== undefined && out.chunks.length >= opts.maxChunks) ||
              opts.until?.(out.chunks.map((c) => c.text).join(''));
            if (stop) {
              ac.abort();
              return out;
            }
          } else if (event === 'status') out.statuses.push(JSON.parse(data));
          else if (event === 'done') {
            out.done = JSON.parse(data);
            return out;
          }
        }
      }
    } catch (err) {
      if (!ac.signal.aborted) throw err;
    }
    return out;
  }
}
