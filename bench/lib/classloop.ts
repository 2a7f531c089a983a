import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';

/**
 * An open-loop generator like `openloop.ts`, for mixed traffic: every request carries its own headers
 * (key, priority class) and its own client deadlines, and is tagged with a class and a tenant so the
 * caller can group results. Requests are always streamed (OpenAI SSE); TTFT counts from the scheduled
 * send time (the arrival), so neither generator lag nor queueing anywhere can hide.
 */

export interface ClassShotSpec {
  /** Sent as `x-request-id`, so the gateway's outcome records can be joined to this request. */
  id: string;
  body: string;
  headers: Record<string, string>;
  cls: string;
  tenant: string;
  /** The client gives up if no content has arrived this long after the arrival. */
  ttftDeadlineMs: number;
  /** The client gives up on the whole answer this long after the arrival. */
  totalDeadlineMs: number;
}

export interface ClassShot {
  index: number;
  id: string;
  cls: string;
  tenant: string;
  /** performance.now() of the scheduled send time. */
  dueAt: number;
  lagMs: number;
  /** A complete answer: HTTP 200, content, `[DONE]`, no in-band error. */
  ok: boolean;
  status?: number;
  error?: string;
  /** Arrival → end (last byte, failure, or the client giving up). */
  latencyMs: number;
  /** Arrival → first content-carrying chunk; set when the request was admitted and started answering. */
  ttftMs?: number;
  /** Waiting-room comment lines received before the answer started. */
  queueComments: number;
}

export interface ClassLoopSpec {
  /** Full URL of an OpenAI-wire `/v1/chat/completions` endpoint. */
  url: string;
  ratePerSec: number;
  durationMs: number;
  make(index: number): ClassShotSpec;
}

export async function classLoop(spec: ClassLoopSpec): Promise<ClassShot[]> {
  const url = new URL(spec.url);
  const path = `${url.pathname}${url.search}`;
  const pool = new Pool(url.origin, { pipelining: 1, keepAliveTimeout: 30_000 });
  const interval = 1000 / spec.ratePerSec;
  const shots: ClassShot[] = [];
  const pending: Array<Promise<void>> = [];

  const one = async (index: number, dueAt: number): Promise<void> => {
    const s = spec.make(index);
    const shot: ClassShot = {
      index,
      id: s.id,
      cls: s.cls,
      tenant: s.tenant,
      dueAt,
      lagMs: performance.now() - dueAt,
      ok: false,
      latencyMs: 0,
      queueComments: 0,
    };
    shots.push(shot);
    const ac = new AbortController();
    let why = '';
    const ttftTimer = setTimeout(
      () => {
        if (shot.ttftMs === undefined) {
          why = `client gave up: no first token in ${s.ttftDeadlineMs} ms`;
          ac.abort();
        }
      },
      Math.max(0, dueAt + s.ttftDeadlineMs - performance.now()),
    );
    const totalTimer = setTimeout(
      () => {
        why = `client gave up: no answer in ${s.totalDeadlineMs} ms`;
        ac.abort();
      },
      Math.max(0, dueAt + s.totalDeadlineMs - performance.now()),
    );
    try {
      const res = await pool.request({
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': s.id, ...s.headers },
        body: s.body,
        signal: ac.signal,
      });
      shot.status = res.statusCode;
      if (res.statusCode !== 200) {
        shot.error = `HTTP ${res.statusCode} ${errorCode(await res.body.text())}`.trim();
      } else {
        const done = await readStream(res.body, shot);
        if (!done && shot.error === undefined) shot.error = 'stream ended without [DONE]';
      }
    } catch (err) {
      shot.error = ac.signal.aborted ? why : describe(err);
    } finally {
      clearTimeout(ttftTimer);
      clearTimeout(totalTimer);
    }
    shot.latencyMs = performance.now() - dueAt;
    shot.ok = shot.error === undefined && shot.ttftMs !== undefined;
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

/** Reads an OpenAI SSE body to the end; sets the shot's TTFT, queue comments and in-band error. */
async function readStream(body: AsyncIterable<Buffer>, shot: ClassShot): Promise<boolean> {
  let done = false;
  let pending = '';
  const line = (l: string): void => {
    if (l.startsWith(':')) {
      if (l.includes('queue')) shot.queueComments += 1;
      return;
    }
    if (!l.startsWith('data:')) return;
    const payload = l.slice(5).trim();
    if (payload === '') return;
    if (payload === '[DONE]') {
      done = true;
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload);
    } catch {
      shot.error ??= 'unparseable chunk';
      return;
    }
    const err = field(parsed, 'error');
    if (err !== undefined) {
      shot.error ??= `in-band ${String(field(err, 'code') ?? field(err, 'type') ?? 'error')}`;
      return;
    }
    if (shot.ttftMs !== undefined) return;
    const choices = field(parsed, 'choices');
    const first = Array.isArray(choices) ? (choices[0] as unknown) : undefined;
    const content = field(field(first, 'delta'), 'content');
    if (typeof content === 'string' && content.length > 0) shot.ttftMs = performance.now() - shot.dueAt;
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
  return done;
}

function errorCode(raw: string): string {
  try {
    const err = field(JSON.parse(raw) as unknown, 'error');
    const code = field(err, 'code') ?? field(err, 'type');
    if (typeof code === 'string') return code;
  } catch {
    // not JSON
  }
  return raw.slice(0, 80);
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as Error & { code?: unknown }).code;
  return typeof code === 'string' ? code : err.message;
}

function field(v: unknown, key: string): unknown {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[key] : undefined;
}
