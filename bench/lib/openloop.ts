import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';

/** One request of an open-loop run, as the caller wants it sent. */
export interface ShotSpec {
  /** Sent as `x-request-id`, so the gateway's telemetry can be joined to this request. */
  id: string;
  /** JSON body (OpenAI chat completions). */
  body: string;
  stream: boolean;
}

/** What one request looked like from the client's side. */
export interface Shot {
  index: number;
  id: string;
  stream: boolean;
  /** performance.now() of the scheduled send time; latency and TTFT count from here. */
  dueAt: number;
  /** How late the generator actually sent it (its own lag behind the schedule). */
  lagMs: number;
  ok: boolean;
  status?: number;
  /** Why the request failed, as the client saw it (HTTP status and error code, transport error, …). */
  error?: string;
  /** Due time → last byte read (also set for failures: time until the failure was seen). */
  latencyMs: number;
  /** Due time → first content-carrying chunk (streams only). */
  ttftMs?: number;
  /** Answer text: the concatenated deltas of a stream, or the message content of a unary answer. */
  text: string;
}

export interface OpenLoopSpec {
  /** Full URL of an OpenAI-wire `/v1/chat/completions` endpoint. */
  url: string;
  ratePerSec: number;
  /** Requests are sent for this long; the run then waits for the ones still in flight. */
  durationMs: number;
  /** Client-side deadline per request; a request past it is an error. */
  timeoutMs: number;
  make(index: number): ShotSpec;
}

/**
 * An open-loop load generator: requests go out at a fixed rate whatever the answers do, so a slow or
 * failing upstream shows up as latency and errors instead of quietly lowering the offered load (which a
 * closed loop such as `load.ts` does). Latency counts from the scheduled send time, so lag in the
 * generator itself cannot hide (no coordinated omission). Connections are not limited: the pool opens
 * one per request in flight.
 */
export async function openLoop(spec: OpenLoopSpec): Promise<Shot[]> {
  const url = new URL(spec.url);
  const path = `${url.pathname}${url.search}`;
  const pool = new Pool(url.origin, { pipelining: 1, keepAliveTimeout: 30_000 });
  const interval = 1000 / spec.ratePerSec;
  const shots: Shot[] = [];
  const pending: Array<Promise<void>> = [];

  const one = async (index: number, dueAt: number): Promise<void> => {
    const s = spec.make(index);
    const lagMs = performance.now() - dueAt;
    const shot: Shot = { index, id: s.id, stream: s.stream, dueAt, lagMs, ok: false, latencyMs: 0, text: '' };
    shots.push(shot);
    const signal = AbortSignal.timeout(spec.timeoutMs);
    try {
      const res = await pool.request({
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': s.id },
        body: s.body,
        signal,
      });
      shot.status = res.statusCode;
      if (res.statusCode !== 200) {
        shot.error = `HTTP ${res.statusCode} ${errorCode(await res.body.text())}`.trim();
      } else if (s.stream) {
        const r = await readStream(res.body);
        shot.text = r.text;
        if (r.ttftAt !== undefined) shot.ttftMs = r.ttftAt - dueAt;
        if (r.error !== undefined) shot.error = r.error;
        else if (!r.done) shot.error = 'stream ended without [DONE]';
      } else {
        const raw = await res.body.text();
        const content = unaryContent(raw);
        if (content === undefined) shot.error = 'unary answer without message content';
        else shot.text = content;
      }
    } catch (err) {
      shot.error = signal.aborted ? `client timeout ${spec.timeoutMs} ms` : describe(err);
    }
    shot.latencyMs = performance.now() - dueAt;
    shot.ok = shot.error === undefined;
  };

  const t0 = performance.now();
  try {
    for (let i = 0; ; i++) {
      const due = t0 + i * interval;
      if (due - t0 >= spec.durationMs) break;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      pending.push(one(i, due));
    }
    await Promise.all(pending);
  } finally {
    await pool.close();
  }
  shots.sort((a, b) => a.index - b.index);
  return shots;
}

interface StreamRead {
  text: string;
  ttftAt?: number;
  done: boolean;
  error?: string;
}

/** Reads an OpenAI SSE body to the end, collecting the content deltas and any in-band error. */
async function readStream(body: AsyncIterable<Buffer>): Promise<StreamRead> {
  const out: StreamRead = { text: '', done: false };
  let pending = '';
  const line = (l: string): void => {
    if (!l.startsWith('data:')) return;
    const payload = l.slice(5).trim();
    if (payload === '') return;
    if (payload === '[DONE]') {
      out.done = true;
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload);
    } catch {
      out.error ??= 'unparseable chunk relayed to the client';
      return;
    }
    const err = field(parsed, 'error');
    if (err !== undefined) {
      out.error ??= `in-band error ${String(field(err, 'code') ?? field(err, 'type') ?? '')}`.trim();
      return;
    }
    const choices = field(parsed, 'choices');
    const first = Array.isArray(choices) ? (choices[0] as unknown) : undefined;
    const content = field(field(first, 'delta'), 'content');
    if (typeof content === 'string' && content.length > 0) {
      out.ttftAt ??= performance.now();
      out.text += content;
    }
  };
  for await (const chunk of body) {
    pending += chunk.toString('utf8');
    let nl = pending.indexOf('\n');
    while (nl >= 0) {
      line(pending.slice(0, nl).replace(/\r$/, ''));
      pending = pending.slice(nl + 1);
      nl = pending.indexOf('\n');
    }
  }
  if (pending !== '') line(pending);
  return out;
}

function unaryContent(raw: string): string | undefined {
  try {
    const json: unknown = JSON.parse(raw);
    const choices = field(json, 'choices');
    const first = Array.isArray(choices) ? (choices[0] as unknown) : undefined;
    const content = field(field(first, 'message'), 'content');
    return typeof content === 'string' && content.length > 0 ? content : undefined;
  } catch {
    return undefined;
  }
}

/** The error code of an OpenAI-shaped error body, or a short excerpt of whatever came back. */
function errorCode(raw: string): string {
  try {
    const err = field(JSON.parse(raw) as unknown, 'error');
    const code = field(err, 'code') ?? field(err, 'type');
    if (typeof code === 'string') return code;
  } catch {
    // not JSON: fall through
  }
  return raw.slice(0, 80);
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as Error & { code?: unknown }).code;
  return typeof code === 'string' ? `${code}: ${err.message}` : err.message;
}

function field(v: unknown, key: string): unknown {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[key] : undefined;
}
