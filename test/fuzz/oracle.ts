import { CHAT_ERRORS } from '../../src/chat/errors.ts';
import { ERRORS } from '../../src/core/errors.ts';
import type { FuzzCase } from './gen-doors.ts';
import type { FuzzRequest, FuzzResponse, RawResult } from './harness.ts';

/**
 * The property every answer must have: a success in the caller's dialect (a valid response or SSE
 * stream), or a well-formed error in the caller's dialect with a 4xx status for the caller's mistakes.
 * Never a 500, never a leaked stack trace or internal message. Pure: it only reads the request and answer.
 */

export type Verdict = { ok: true; label: string } | { ok: false; label: string; reason: string };

type Family = 'openai' | 'anthropic' | 'chat' | 'api' | 'html' | 'text' | 'page';

// biome-ignore lint/suspicious/noExplicitAny: JSON from the wire, checked field by field below
type Json = any;

const OPENAI_TYPES = new Set<string>(Object.values(ERRORS).map((e) => e.openai));
const ANTHROPIC_TYPES = new Set<string>(Object.values(ERRORS).map((e) => e.anthropic));

/** Internals that must never reach a caller (unless the caller sent them in the first place). */
const LEAKS: RegExp[] = [
  /\n\s+at (?:async )?\S+ \(?(?:file:|node:|\/)[^\n]*:\d+:\d+/,
  /node:internal/,
  /\/work\/main\//,
  /node_modules\//,
  /\.ts:\d+:\d+/,
  /Cannot read propert(?:y|ies) of/,
  /is not a function/,
  /is not defined\b/,
  /Maximum call stack/,
  /invalid input syntax for/,
  /violates [\w ]*constraint/,
  /duplicate key value/,
  /syntax error at or near/,
  /relation "[^"]+" does not exist/,
  /invalid byte sequence for encoding/,
  /unsupported Unicode escape sequence/,
  /\bECONN(?:REFUSED|RESET)\b/,
  /\bEPIPE\b/,
  /\bFST_[A-Z_]+\b/,
];

export function leakIn(body: string, req: FuzzRequest, fill: (s: string) => string): string | undefined {
  const sent = [
    fill(req.url),
    ...Object.values(req.headers).map(fill),
    typeof req.body === 'string' ? fill(req.body) : '',
  ].join('\n');
  for (const re of LEAKS) {
    const m = re.exec(body);
    if (m && !sent.includes(m[0].trim())) return m[0];
  }
  return undefined;
}

function pathOf(url: string): string {
  return url.split(/[?#]/)[0] ?? url;
}

/** Which error shapes the caller may get, decided the way the server decides it (path, then headers). */
export function errorFamilies(req: FuzzRequest): Family[] {
  const url = req.url;
  const path = pathOf(url);
  const av = req.headers['anthropic-version'] !== undefined;
  if (url.startsWith('/v1/messages')) return ['anthropic'];
  if (req.method === 'POST' && path === '/v1/chat/completions') return ['openai'];
  // The status page's subscribe form posts form encoding and is answered with a page.
  const form = (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
  if (url.startsWith('/api/v2/')) return form ? ['api', 'page'] : ['api'];
  if (url.startsWith('/api/')) return ['chat'];
  const dialect: Family = av ? 'anthropic' : 'openai';
  // The status admin API's own shape; a path it has no route for gets the gateway's 404.
  if (url.startsWith('/admin/status')) return ['api', dialect];
  // The status page and its feeds and badges (an unknown component's badge is an SVG with a 404).
  if (url.startsWith('/status')) return ['page', 'api', dialect];
  // The chaos API speaks OpenAI's shape; a body it cannot parse is refused before it, in the caller's.
  if (url.startsWith('/admin/chaos')) return av ? ['openai', 'anthropic'] : ['openai'];
  if (path === '/' || path === '/index.html') return [dialect, 'html'];
  // The web UI's static files: a missing one is a plain-text 404, as for any static file server.
  if (url.startsWith('/app/') || url.startsWith('/vendor/')) return [dialect, 'text'];
  return [dialect];
}

function isObj(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function shapeError(family: Family, status: number, json: Json, type: string): string | undefined {
  switch (family) {
    case 'openai': {
      const e = json?.error;
      if (!isObj(json) || !isObj(e)) return 'not {error:{...}}';
      if (typeof e.message !== 'string' || typeof e.type !== 'string')
        return 'error.message/type not strings';
      if (!(e.param === null || typeof e.param === 'string')) return 'error.param not string|null';
      if (!(e.code === null || typeof e.code === 'string')) return 'error.code not string|null';
      if (!OPENAI_TYPES.has(e.type)) return `unknown OpenAI error.type ${e.type}`;
      const spec = ERRORS[e.code as keyof typeof ERRORS];
      if (!spec) return `code ${e.code} not in the registry`;
      if (spec.status !== status) return `code ${e.code} is ${spec.status} in the registry, sent ${status}`;
      if (spec.openai !== e.type) return `type ${e.type} != registry ${spec.openai}`;
      return undefined;
    }
    case 'anthropic': {
      if (!isObj(json) || json.type !== 'error' || !isObj(json.error))
        return "not {type:'error',error:{...}}";
      const e = json.error;
      if (typeof e.type !== 'string' || typeof e.message !== 'string')
        return 'error.type/message not strings';
      if (!ANTHROPIC_TYPES.has(e.type)) return `unknown Anthropic error.type ${e.type}`;
      if (!Object.values(ERRORS).some((s) => s.status === status && s.anthropic === e.type))
        return `no registry code is ${status} with Anthropic type ${e.type}`;
      return undefined;
    }
    case 'chat': {
      const e = json?.error;
      if (!isObj(json) || !isObj(e) || typeof e.code !== 'string' || typeof e.message !== 'string')
        return 'not {error:{code,message}}';
      // The chat app's own codes, or the gateway's when the gateway refused the request first.
      const spec = CHAT_ERRORS[e.code as keyof typeof CHAT_ERRORS] ?? ERRORS[e.code as keyof typeof ERRORS];
      if (!spec) return `code ${e.code} is in neither registry`;
      if (spec.status !== status) return `chat code ${e.code} is ${spec.status}, sent ${status}`;
      return undefined;
    }
    case 'api': {
      const e = json?.error;
      if (!isObj(json) || !isObj(e) || typeof e.code !== 'string' || typeof e.message !== 'string')
        return 'not {error:{code,message}}';
      return undefined;
    }
    case 'html':
      return type.startsWith('text/html') ? undefined : 'not an HTML page';
    case 'page':
      return /^(text\/|image\/svg|application\/(atom|rss)\+xml)/.test(type)
        ? undefined
        : `not a page (${type})`;
    case 'text':
      return type.startsWith('text/plain') ? undefined : 'not plain text';
  }
}

// ---- successes ----

const OA_FINISH = new Set(['stop', 'length', 'tool_calls', 'content_filter']);
const AN_STOP = new Set(['end_turn', 'max_tokens', 'stop_sequence', 'tool_use', 'refusal', 'pause_turn']);

function count(v: unknown): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}

function openaiCompletion(j: Json): string | undefined {
  if (j?.object !== 'chat.completion' || typeof j.id !== 'string') return 'not a chat.completion';
  const c = j.choices?.[0];
  if (c?.message?.role !== 'assistant') return 'choices[0].message is not an assistant message';
  if (!(typeof c.message.content === 'string' || c.message.content === null))
    return 'content not string|null';
  if (!OA_FINISH.has(c.finish_reason)) return `finish_reason ${c.finish_reason}`;
  for (const tc of c.message.tool_calls ?? [])
    if (tc.type !== 'function' || typeof tc.function?.arguments !== 'string') return 'bad tool_call';
  if (!count(j.usage?.prompt_tokens) || !count(j.usage?.completion_tokens)) return 'bad usage';
  return undefined;
}

function anthropicMessage(j: Json): string | undefined {
  if (j?.type !== 'message' || j.role !== 'assistant' || typeof j.id !== 'string') return 'not a message';
  if (!Array.isArray(j.content)) return 'content not an array';
  for (const b of j.content) {
    if (b.type === 'text' && typeof b.text === 'string') continue;
    if (b.type === 'tool_use' && typeof b.id === 'string' && typeof b.name === 'string' && isObj(b.input))
      continue;
    return `bad content block ${JSON.stringify(b).slice(0, 100)}`;
  }
  if (!AN_STOP.has(j.stop_reason)) return `stop_reason ${j.stop_reason}`;
  if (!count(j.usage?.input_tokens) || !count(j.usage?.output_tokens)) return 'bad usage';
  return undefined;
}

interface Frame {
  event?: string;
  data?: string;
}

function sseFrames(body: string): Frame[] {
  const frames: Frame[] = [];
  for (const block of body.split('\n\n')) {
    if (block.trim() === '') continue;
    const f: Frame = {};
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      if (line.startsWith('event: ')) f.event = line.slice(7);
      else if (line.startsWith('data: '))
        f.data = (f.data === undefined ? '' : `${f.data}\n`) + line.slice(6);
    }
    if (f.data !== undefined || f.event !== undefined) frames.push(f);
  }
  return frames;
}

/** Checks an SSE body; `inBandError` is set when the stream ended with a (well-formed) error frame. */
function openaiStream(body: string): { problem?: string; inBandError?: string } {
  const frames = sseFrames(body);
  if (frames.length === 0) return { problem: 'empty stream' };
  for (const [i, f] of frames.entries()) {
    const last = i === frames.length - 1;
    if (f.data === '[DONE]') return last ? {} : { problem: '[DONE] before the end' };
    let j: Json;
    try {
      j = JSON.parse(f.data ?? '');
    } catch {
      return { problem: `unparseable frame ${String(f.data).slice(0, 80)}` };
    }
    if (isObj(j.error)) {
      const bad = shapeError('openai', ERRORS[j.error.code as keyof typeof ERRORS]?.status ?? 0, j, '');
      if (bad) return { problem: `in-band error: ${bad}` };
      return last ? { inBandError: j.error.code } : { problem: 'frames after the error frame' };
    }
    if (j.object !== 'chat.completion.chunk' || !Array.isArray(j.choices)) return { problem: 'not a chunk' };
  }
  return { problem: 'stream ended without [DONE]' };
}

function anthropicStream(body: string): { problem?: string; inBandError?: string } {
  const frames = sseFrames(body);
  if (frames.length === 0) return { problem: 'empty stream' };
  const started = new Set<number>();
  for (const [i, f] of frames.entries()) {
    const last = i === frames.length - 1;
    let j: Json;
    try {
      j = JSON.parse(f.data ?? '');
    } catch {
      return { problem: `unparseable frame ${String(f.data).slice(0, 80)}` };
    }
    if (j?.type !== f.event) return { problem: `event ${f.event} carries type ${j?.type}` };
    if (j.type === 'error') {
      if (!ANTHROPIC_TYPES.has(j.error?.type) || typeof j.error?.message !== 'string')
        return { problem: `malformed in-band error ${f.data?.slice(0, 120)}` };
      return last ? { inBandError: j.error.type } : { problem: 'frames after the error frame' };
    }
    if (i === 0 && j.type !== 'message_start') return { problem: `first event ${j.type}` };
    if (j.type === 'content_block_start') started.add(j.index);
    if (j.type === 'content_block_delta' && !started.has(j.index))
      return { problem: `delta for block ${j.index} before its start` };
    if (j.type === 'message_stop') return last ? {} : { problem: 'events after message_stop' };
  }
  return { problem: 'stream ended without message_stop' };
}

function modelsAnswer(j: Json, anthropic: boolean, one: boolean): string | undefined {
  const okOne = (m: Json) =>
    anthropic
      ? m?.type === 'model' && typeof m.id === 'string'
      : m?.object === 'model' && typeof m.id === 'string';
  if (one) return okOne(j) ? undefined : 'not a model';
  if (!Array.isArray(j?.data) || !j.data.every(okOne)) return 'not a model list';
  return undefined;
}

function header(res: FuzzResponse, name: string): string {
  const v = res.headers[name];
  return Array.isArray(v) ? (v[0] ?? '') : v === undefined ? '' : String(v);
}

/** A caller who set a short deadline may be told that time ran out (504, or 503 from the queue). */
function deadlineAllows(req: FuzzRequest, status: number, code: string | undefined): boolean {
  const d = Number(req.headers['x-holdfast-deadline-ms']);
  const timeout = ['upstream_timeout', 'timeout_error', 'queue_timeout', 'overloaded_error'].includes(
    code ?? '',
  );
  return Number.isFinite(d) && d > 0 && d <= 10_000 && (status === 504 || status === 503) && timeout;
}

/**
 * Property breaks whose fix belongs to code this fuzzer's author does not own (src/http/server.ts; see
 * docs/security.md, "Fuzzing", "Known issues"). They are matched exactly, counted under `known:<tag>` and reported, and
 * fail the run only in strict mode; once fixed they simply stop matching.
 */
export function knownIssue(json: Json): string | undefined {
  // Fastify answers a malformed URL (`/%ff`) or an over-long path parameter itself unless buildServer
  // passes `frameworkErrors: answerFrameworkError` (src/http/errors.ts).
  if (json?.code === 'FST_ERR_BAD_URL' || json?.code === 'FST_ERR_MAX_PARAM_LENGTH')
    return 'framework-error-shape';
  return undefined;
}

export let strictKnown = false;
export function setStrictKnown(on: boolean): void {
  strictKnown = on;
}

export function judge(c: FuzzCase, res: FuzzResponse, fill: (s: string) => string): Verdict {
  // Judged against the URL the server saw (dot segments resolved), with the headers and body as sent.
  const req = { ...c.req, url: res.url };
  const type = header(res, 'content-type');
  let json: Json;
  let parsed = false;
  if (type.includes('json') && res.body !== '') {
    try {
      json = JSON.parse(res.body);
      parsed = true;
    } catch {
      return {
        ok: false,
        label: `${res.status}`,
        reason: `content-type ${type} but the body is not JSON: ${res.body.slice(0, 200)}`,
      };
    }
  }
  const code: string | undefined = parsed ? (json?.error?.code ?? json?.error?.type) : undefined;
  const label = code ? `${res.status} ${code}` : `${res.status}`;
  const fail = (reason: string): Verdict => ({ ok: false, label, reason });

  const known = strictKnown ? undefined : knownIssue(json);
  if (known) return { ok: true, label: `known:${known}` };

  const leak = leakIn(res.body, req, fill);
  if (leak) return fail(`internal detail leaked to the caller: ${JSON.stringify(leak)}`);

  const path = pathOf(req.url);
  const isDoor = req.method === 'POST' && (path === '/v1/chat/completions' || path === '/v1/messages');
  const anthropicDoor = path === '/v1/messages';

  if (res.status >= 500 && !deadlineAllows(req, res.status, code))
    return fail(`server error ${res.status}: ${res.body.slice(0, 300)}`);

  if (res.status >= 400) {
    if (c.expectSuccess) return fail(`a valid request was refused: ${res.body.slice(0, 400)}`);
    if (req.method === 'HEAD') return { ok: true, label };
    const families = errorFamilies(req);
    const problems = families.map((f) => shapeError(f, res.status, json, type));
    if (problems.every((p) => p !== undefined)) {
      return fail(
        `error not in the caller's shape (${families.join('|')}): ${problems.join('; ')}; body ${res.body.slice(0, 300)}`,
      );
    }
    if (!parsed && !/^(text\/|image\/svg|application\/(atom|rss)\+xml)/.test(type))
      return fail(`error body is not JSON (content-type ${type})`);
    return { ok: true, label };
  }

  // 1xx-3xx: a success (or a redirect); check the dialect's shape where there is one.
  if (isDoor) {
    if (res.status !== 200) return fail(`door answered ${res.status}`);
    if (type.startsWith('text/event-stream')) {
      const r = anthropicDoor ? anthropicStream(res.body) : openaiStream(res.body);
      if (r.problem) return fail(`bad stream: ${r.problem}; body ${res.body.slice(0, 300)}`);
      if (r.inBandError && c.expectSuccess)
        return fail(`valid request's stream failed in band: ${r.inBandError}`);
      return { ok: true, label: r.inBandError ? `200 sse error ${r.inBandError}` : '200 sse' };
    }
    if (!parsed) return fail(`door success is not JSON (content-type ${type})`);
    const bad = anthropicDoor ? anthropicMessage(json) : openaiCompletion(json);
    if (bad) return fail(`bad success body: ${bad}; body ${res.body.slice(0, 300)}`);
    return { ok: true, label };
  }
  if (c.expectSuccess && res.status !== 200) return fail(`valid request answered ${res.status}`);
  if (req.method === 'GET' && res.status === 200 && /^\/v1\/models(\/[^/]+)?$/.test(path)) {
    if (!parsed) return fail('models answer is not JSON');
    const bad = modelsAnswer(json, req.headers['anthropic-version'] !== undefined, path !== '/v1/models');
    if (bad) return fail(`bad models answer: ${bad}`);
  }
  if (res.status === 204 && res.body !== '') return fail('204 with a body');
  return { ok: true, label };
}

// ---- raw socket ----

/** Node's own answers to bytes that are not HTTP are fine (400, 413, 431, 505); a 500 or silence is not. */
export function judgeRaw(sent: Buffer, r: RawResult): Verdict {
  const head = r.bytes.subarray(0, 64).toString('latin1');
  if (r.bytes.length === 0) {
    return r.closed
      ? { ok: true, label: 'closed' }
      : { ok: false, label: 'hang', reason: `no answer and no close within ${Math.round(r.ms)} ms` };
  }
  const m = /^HTTP\/1\.[01] (\d{3}) /.exec(head);
  if (!m) return { ok: false, label: 'garbage', reason: `answer is not HTTP: ${JSON.stringify(head)}` };
  const status = Number(m[1]);
  const all = r.bytes.toString('latin1');
  const statuses = [...all.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((x) => Number(x[1]));
  if (statuses.some((s) => s >= 500))
    return { ok: false, label: `${status}`, reason: `server error in ${JSON.stringify(all.slice(0, 400))}` };
  // The first final answer's body (after any 100 Continue; more answers may follow on the connection).
  const final = all.search(/HTTP\/1\.[01] [2-5]\d\d /);
  const bodyStart = all.indexOf('\r\n\r\n', final) + 4;
  const length = Number(/\r\ncontent-length: (\d+)/i.exec(all.slice(final, bodyStart))?.[1] ?? 0);
  let json: Json;
  try {
    json = JSON.parse(all.slice(bodyStart, bodyStart + length));
  } catch {}
  const known = strictKnown ? undefined : knownIssue(json);
  if (known) return { ok: true, label: `known:${known}` };
  const leak = leakIn(all, { method: 'RAW', url: '', headers: {}, body: sent.toString('latin1') }, (s) => s);
  if (leak)
    return { ok: false, label: `${status}`, reason: `internal detail leaked: ${JSON.stringify(leak)}` };
  return { ok: true, label: `${status}` };
}
