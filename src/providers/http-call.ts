import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { Agent, errors as undiciErrors } from 'undici';
import type { DeploymentConfig } from '../config/schema.ts';
import { UpstreamError } from '../core/upstream-error.ts';

/**
 * The transport every HTTP adapter shares: one pooled keep-alive undici Agent per deployment, sized to
 * the deployment's concurrent streams, and one mapping from transport failures to UpstreamError kinds.
 */
export function createDispatcher(dep: Pick<DeploymentConfig, 'max_connections' | 'timeouts'>): Agent {
  return new Agent({
    connections: dep.max_connections,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 120_000,
    connect: { timeout: dep.timeouts.connect_ms },
    headersTimeout: dep.timeouts.first_byte_ms,
    bodyTimeout: dep.timeouts.idle_ms,
  });
}

export interface PostJsonOptions {
  dispatcher: Dispatcher;
  /** Parsed once per deployment (`upstreamTarget`): undici's `request(url)` parses the string every call. */
  target: UpstreamTarget;
  /** Sent as is: include `content-type` (adapters build these objects once, not per request). */
  headers: Record<string, string>;
  body: unknown;
  /** Caller cancellation. */
  signal: AbortSignal;
  /** Whole-call deadline. */
  totalMs: number;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
  /** Aborts when the caller cancels or the total deadline passes; use it while reading the body. */
  signal: AbortSignal;
}

export interface UpstreamTarget {
  origin: string;
  /** Path and query. */
  path: string;
}

export function upstreamTarget(url: string): UpstreamTarget {
  const u = new URL(url);
  return { origin: u.origin, path: `${u.pathname}${u.search}` };
}

export async function postJson(opts: PostJsonOptions): Promise<UpstreamResponse> {
  // Serialised before anything is sent: a body that cannot be serialised is our bug, not a connection
  // failure to count against the deployment.
  const body = JSON.stringify(opts.body);
  // One controller, one listener, one timer, all released when the body closes. AbortSignal.any() +
  // AbortSignal.timeout() did the same but cost several percent of CPU per request under load.
  const ac = new AbortController();
  const onCallerAbort = (): void => ac.abort(opts.signal.reason);
  if (opts.signal.aborted) ac.abort(opts.signal.reason);
  else opts.signal.addEventListener('abort', onCallerAbort, { once: true });
  const timer = setTimeout(
    () => ac.abort(new DOMException('upstream total deadline passed', 'TimeoutError')),
    opts.totalMs,
  );
  timer.unref();
  const release = (): void => {
    clearTimeout(timer);
    opts.signal.removeEventListener('abort', onCallerAbort);
  };
  try {
    const res = await opts.dispatcher.request({
      origin: opts.target.origin,
      path: opts.target.path,
      method: 'POST',
      headers: opts.headers,
      body,
      signal: ac.signal,
    });
    res.body.once('close', release);
    return { status: res.statusCode, headers: res.headers, body: res.body, signal: ac.signal };
  } catch (err) {
    release();
    throw transportError(ac.signal.aborted && !opts.signal.aborted ? ac.signal.reason : err, {
      midStream: false,
      callerSignal: opts.signal,
    });
  }
}

/**
 * Classifies a transport failure. A caller abort is passed through untouched (it is not the upstream's
 * fault and must not count against the deployment).
 */
export function transportError(
  err: unknown,
  ctx: { midStream: boolean; callerSignal: AbortSignal },
): unknown {
  if (err instanceof UpstreamError) return err;
  if (ctx.callerSignal.aborted) return err;
  const code = (err as { code?: string } | null)?.code;
  const name = (err as { name?: string } | null)?.name;
  const message = err instanceof Error ? err.message : String(err);
  const timeout =
    err instanceof undiciErrors.ConnectTimeoutError ||
    err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.BodyTimeoutError ||
    name === 'TimeoutError' ||
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT';
  return new UpstreamError({
    kind: timeout ? 'timeout' : 'connection',
    message:
      `upstream ${timeout ? 'timeout' : 'connection failure'}: ${code ?? name ?? ''} ${message}`.trim(),
    midStream: ctx.midStream,
    cause: err,
  });
}

/**
 * Reads a whole body as text, bounded so a hostile upstream cannot exhaust memory (past `limit` the body
 * is cut off and what came before is returned). Listeners rather than `for await`: the async iterator of
 * a stream costs several promises and listeners per chunk, measurable on every unary answer.
 */
export function readText(body: Readable, limit = 1 << 20): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (err?: unknown): void => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', finish);
      body.off('close', onClose);
      if (err !== undefined) reject(err);
      else
        resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8'));
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.byteLength;
      if (size > limit) {
        finish();
        body.destroy();
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => finish();
    // Destroyed without an error (or before one is emitted): the body did not arrive whole.
    const onClose = (): void => {
      const err: NodeJS.ErrnoException = new Error('Premature close');
      err.code = 'ERR_STREAM_PREMATURE_CLOSE';
      finish(err);
    };
    body.on('data', onData);
    body.on('end', onEnd);
    body.on('error', finish);
    body.on('close', onClose);
  });
}

export function headerValue(
  headers: Record<string, string | string[] | undefined>,
  name: string,
): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}
