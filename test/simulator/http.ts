import { parseSse } from '../../src/providers/sse.ts';

/** Small HTTP helpers for talking to the simulator over real sockets. */

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

export async function post(
  url: string,
  body: unknown,
  init: { headers?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<Reply> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...init.headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...(init.signal ? { signal: init.signal } : {}),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

export async function get(url: string): Promise<Reply> {
  const res = await fetch(url);
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: JSON.parse(text) };
}

export interface StreamResult {
  status: number;
  text: string;
  /** OpenAI finish_reason / Anthropic stop_reason. */
  finish: string | undefined;
  stopSequence: string | null | undefined;
  model: string | undefined;
  /** Number of text deltas received. */
  deltas: number;
  usage: { input: number | undefined; output: number | undefined };
  /** The raw SSE bytes received. */
  raw: string;
  /** Frames whose JSON did not parse. */
  malformed: string[];
  /** Set when reading failed (cut, timeout). */
  error?: unknown;
  /** Milliseconds from sending to the first text delta. */
  firstTokenMs: number | undefined;
  totalMs: number;
}

/** POSTs a streaming request and folds its SSE (either wire) into text, tolerating broken streams. */
export async function stream(
  url: string,
  body: Record<string, unknown>,
  signal?: AbortSignal,
): Promise<StreamResult> {
  const started = performance.now();
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, stream: true }),
    ...(signal ? { signal } : {}),
  });
  const out: StreamResult = {
    status: res.status,
    text: '',
    finish: undefined,
    stopSequence: undefined,
    model: undefined,
    deltas: 0,
    usage: { input: undefined, output: undefined },
    raw: '',
    malformed: [],
    firstTokenMs: undefined,
    totalMs: 0,
  };
  if (!res.body) return out;
  const decoder = new TextDecoder();
  async function* tee(): AsyncGenerator<Uint8Array> {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      out.raw += decoder.decode(chunk, { stream: true });
      yield chunk;
    }
  }
  try {
    for await (const msg of parseSse(tee())) {
      if (msg.data === '[DONE]') continue;
      let ev: Record<string, unknown>;
      try {
        ev = JSON.parse(msg.data) as Record<string, unknown>;
      } catch {
        out.malformed.push(msg.data);
        continue;
      }
      const text = textDelta(ev);
      if (text !== undefined) {
        out.firstTokenMs ??= performance.now() - started;
        out.text += text;
        out.deltas++;
      }
      readMeta(ev, out);
    }
  } catch (err) {
    out.error = err;
  }
  out.totalMs = performance.now() - started;
  return out;
}

type Rec = Record<string, unknown>;

function textDelta(ev: Rec): string | undefined {
  const choice = (ev.choices as Rec[] | undefined)?.[0];
  const content = (choice?.delta as Rec | undefined)?.content;
  if (typeof content === 'string' && content !== '') return content;
  if (ev.type === 'content_block_delta') {
    const d = ev.delta as Rec;
    if (d.type === 'text_delta') return d.text as string;
  }
  return undefined;
}

function readMeta(ev: Rec, out: StreamResult): void {
  if (typeof ev.model === 'string') out.model = ev.model;
  const choice = (ev.choices as Rec[] | undefined)?.[0];
  if (typeof choice?.finish_reason === 'string') out.finish = choice.finish_reason;
  const usage = ev.usage as Rec | null | undefined;
  if (usage && typeof usage.prompt_tokens === 'number') {
    out.usage = { input: usage.prompt_tokens, output: usage.completion_tokens as number };
  }
  if (ev.type === 'message_start') {
    const m = ev.message as Rec;
    out.model = m.model as string;
    out.usage.input = (m.usage as Rec).input_tokens as number;
  }
  if (ev.type === 'message_delta') {
    const d = ev.delta as Rec;
    out.finish = d.stop_reason as string;
    out.stopSequence = d.stop_sequence as string | null;
    out.usage.output = (ev.usage as Rec).output_tokens as number;
  }
}

/** Text of a unary answer in either wire. */
export function unaryText(json: unknown): string {
  const r = json as Rec;
  if (Array.isArray(r.choices)) return ((r.choices[0] as Rec).message as Rec).content as string;
  return (r.content as Rec[])
    .filter((b) => b.type === 'text')
    .map((b) => b.text as string)
    .join('');
}
