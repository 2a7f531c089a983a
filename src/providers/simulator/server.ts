import { once } from 'node:events';
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { z } from 'zod';
import {
  type SimulatorFaults,
  type SimulatorOptions,
  simulatorFaults,
  simulatorOptions,
} from '../../config/schema.ts';
import type { StreamEvent } from '../../core/chat.ts';
import { ResponseCollector } from '../../core/collect.ts';
import type { Door, RenderContext } from '../../core/door.ts';
import { HoldfastError, toHoldfastError } from '../../core/errors.ts';
import { anthropicDoor } from '../anthropic/door.ts';
import { openaiDoor } from '../openai/door.ts';
import {
  type Admission,
  CapacityGate,
  capacityRejection,
  createRng,
  decideFault,
  firstTokenDelay,
  malformedFrame,
  Pacer,
  type RequestFault,
  type Rng,
  streamFaultAt,
  unaryFault,
} from './faults.ts';
import { type AnswerPiece, simulateAnswer } from './text.ts';

/**
 * The built-in simulated provider: one loopback HTTP server speaking both the OpenAI and the Anthropic
 * wire (through the same doors the gateway uses, so its bytes are what real clients parse), with
 * deterministic answers and switchable faults for demos, chaos drills and tests.
 */

export type SimulatorOptionsInput = z.input<typeof simulatorOptions>;

export interface StartSimulatorOptions {
  options?: SimulatorOptionsInput;
  /** Bind address; loopback by default. */
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Shown in /v1/models, /_sim/stats and the x-holdfast-simulator header. */
  name?: string;
}

export interface SimulatorStats {
  /** Requests admitted and not yet finished. */
  active: number;
  /** Answers delivered in full. */
  served: number;
  /** Requests turned away for lack of capacity. */
  rejected: number;
  /** Requests answered with an injected error (error/rate-limit/overloaded rates). */
  faulted: number;
}

/** A patch of faults: a key set to undefined (or null over HTTP) goes back to its default / unset. */
export type FaultsPatch = { [K in keyof SimulatorFaults]?: SimulatorFaults[K] | undefined };

export interface SimulatorHandle {
  port: number;
  /** http://HOST:PORT */
  origin: string;
  /** origin + '/v1': what OpenAI clients call base_url. */
  openaiBaseUrl: string;
  /** origin: Anthropic clients append /v1/messages themselves. */
  anthropicBaseUrl: string;
  /** Validates (throws ZodError) and applies at once; `refuse` closes or reopens the port. */
  setFaults(patch: FaultsPatch): void;
  faults(): SimulatorFaults;
  stats(): SimulatorStats;
  /** Stops listening and ends every connection, hung ones included. */
  close(): Promise<void>;
}

/** Request bodies past this are refused with the door's 413 (images make bodies large, not huge). */
const BODY_LIMIT = 32 << 20;
/** Cap on model names remembered for /v1/models. */
const MAX_SEEN_MODELS = 32;

export async function startSimulator(opts: StartSimulatorOptions = {}): Promise<SimulatorHandle> {
  const sim = new Simulator(simulatorOptions.parse(opts.options ?? {}), opts.name ?? 'simulator');
  await sim.listen(opts.host ?? '127.0.0.1', opts.port ?? 0);
  return sim.handle();
}

class Simulator {
  readonly #options: SimulatorOptions;
  readonly #name: string;
  readonly #initialFaults: SimulatorFaults;
  #faults: SimulatorFaults;
  readonly #rng: Rng;
  readonly #gate: CapacityGate;
  readonly #http = createServer({ keepAliveTimeout: 5_000 }, (req, res) => this.#onRequest(req, res));
  #listener: NetServer | undefined;
  #host = '127.0.0.1';
  #port = 0;
  #started = false;
  #closed = false;
  readonly #sockets = new Set<Socket>();
  /** Responses in progress per connection: idle connections are dropped when the port is refused. */
  readonly #busy = new Map<Socket, number>();
  readonly #inflight = new Set<AbortController>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #seenModels = new Set<string>();
  readonly #startedAt = Math.floor(Date.now() / 1000);
  #served = 0;
  #rejected = 0;
  #faulted = 0;

  constructor(options: SimulatorOptions, name: string) {
    this.#options = options;
    this.#name = name;
    this.#initialFaults = options.faults;
    this.#faults = options.faults;
    this.#rng = createRng(options.seed);
    this.#gate = new CapacityGate(options.capacity, options.queue);
  }

  async listen(host: string, port: number): Promise<void> {
    this.#host = host;
    this.#port = port;
    const server = this.#openListener();
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    this.#port = (server.address() as AddressInfo).port;
    this.#started = true;
    // Starting refused still takes a port first, so clearing the fault reopens a known address.
    if (this.#faults.refuse) this.#refuse();
  }

  handle(): SimulatorHandle {
    const h = this.#host;
    const host = h === '0.0.0.0' ? '127.0.0.1' : h === '::' ? '[::1]' : h.includes(':') ? `[${h}]` : h;
    const origin = `http://${host}:${this.#port}`;
    return {
      port: this.#port,
      origin,
      openaiBaseUrl: `${origin}/v1`,
      anthropicBaseUrl: origin,
      setFaults: (patch) => {
        this.#setFaults(patch);
      },
      faults: () => structuredClone(this.#faults),
      stats: () => this.#stats(),
      close: () => this.#close(),
    };
  }

  // ---- listening and refusal ----

  /**
   * Connections are accepted by a plain TCP server and handed to the HTTP server, so refusing can close
   * the port for real (ECONNREFUSED) and reopen the same port later without rebuilding HTTP state.
   */
  #openListener(): NetServer {
    // Sockets from a plain net server keep Nagle on, which held small SSE writes back ~40 ms.
    const server = createNetServer({ noDelay: true }, (socket) => this.#adopt(socket));
    this.#listener = server;
    server.on('error', (err: NodeJS.ErrnoException) => {
      // At startup the error goes to listen()'s caller instead.
      if (this.#listener !== server || !this.#started) return;
      // Someone took the port while it was refused: keep trying, the drill expects this port back.
      this.#listener = undefined;
      if (err.code === 'EADDRINUSE' && !this.#closed && !this.#faults.refuse) {
        this.#later(100, () => {
          if (!this.#closed && !this.#faults.refuse && !this.#listener) this.#openListener();
        });
      }
    });
    server.listen({ port: this.#port, host: this.#host });
    return server;
  }

  #adopt(socket: Socket): void {
    if (this.#closed || this.#faults.refuse) {
      socket.destroy();
      return;
    }
    this.#sockets.add(socket);
    socket.once('close', () => {
      this.#sockets.delete(socket);
      this.#busy.delete(socket);
    });
    this.#http.emit('connection', socket);
  }

  #refuse(): void {
    this.#listener?.close();
    this.#listener = undefined;
    // Pooled keep-alive connections would otherwise still reach a "closed" port.
    for (const socket of this.#sockets) if (!this.#busy.get(socket)) socket.destroy();
  }

  #later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    t.unref();
    this.#timers.add(t);
  }

  // ---- faults and stats ----

  #setFaults(patch: FaultsPatch | Record<string, unknown>): SimulatorFaults {
    const next = simulatorFaults.parse(mergePatch(this.#faults, patch));
    const wasRefusing = this.#faults.refuse;
    this.#faults = next;
    if (!this.#closed && next.refuse !== wasRefusing) {
      if (next.refuse) this.#refuse();
      else if (!this.#listener) this.#openListener();
    }
    return next;
  }

  #stats(): SimulatorStats {
    return {
      active: this.#gate.active,
      served: this.#served,
      rejected: this.#rejected,
      faulted: this.#faulted,
    };
  }

  async #close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    const listener = this.#listener;
    this.#listener = undefined;
    const closed = listener
      ? new Promise<void>((resolve) => listener.close(() => resolve()))
      : Promise.resolve();
    for (const ac of this.#inflight) ac.abort();
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  // ---- routing ----

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    if (this.#closed || this.#faults.refuse) {
      // A request racing the refusal on an old connection meets a closed port.
      socket.destroy();
      return;
    }
    this.#busy.set(socket, (this.#busy.get(socket) ?? 0) + 1);
    res.once('close', () => {
      const n = (this.#busy.get(socket) ?? 1) - 1;
      if (n > 0) this.#busy.set(socket, n);
      else this.#busy.delete(socket);
      if (n <= 0 && (this.#faults.refuse || this.#closed)) socket.destroy();
    });
    res.setHeader('x-holdfast-simulator', this.#name);
    this.#route(req, res).catch((err: unknown) => {
      // Nothing above should throw past its own handling; if it does, fail this request only.
      if (!res.headersSent) this.#sendError(res, openaiDoor, toHoldfastError(err));
      else res.destroy();
    });
  }

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    if (path === '/v1/chat/completions' && method === 'POST') return this.#serveModel(openaiDoor, req, res);
    if (path === '/v1/messages' && method === 'POST') return this.#serveModel(anthropicDoor, req, res);
    if (path === '/v1/models' && method === 'GET') return this.#sendJson(res, 200, this.#models());
    if (path === '/_sim/faults') return this.#controlFaults(req, res, method, url);
    if (path === '/_sim/stats' && method === 'GET')
      return this.#sendJson(res, 200, { name: this.#name, ...this.#stats() });
    if (path === '/' && method === 'GET') return this.#sendJson(res, 200, this.#about());
    await drain(req);
    const anthropic = path.startsWith('/v1/messages') || req.headers['anthropic-version'] !== undefined;
    this.#sendError(
      res,
      anthropic ? anthropicDoor : openaiDoor,
      new HoldfastError('not_found', { message: `No route for ${method} ${path}.` }),
    );
  }

  #models(): unknown {
    const ids = ['simulator', ...this.#seenModels];
    const created = this.#startedAt;
    // One shape both SDKs accept: OpenAI reads object/created/owned_by, Anthropic type/display_name/created_at.
    return {
      object: 'list',
      data: ids.map((id) => ({
        id,
        object: 'model',
        type: 'model',
        created,
        created_at: new Date(created * 1000).toISOString(),
        owned_by: this.#name,
        display_name: id === 'simulator' ? 'Holdfast simulator (answers any model name)' : `simulated/${id}`,
      })),
      has_more: false,
      first_id: ids[0],
      last_id: ids.at(-1),
    };
  }

  #about(): unknown {
    return {
      name: this.#name,
      simulator: true,
      endpoints: {
        openai: 'POST /v1/chat/completions',
        anthropic: 'POST /v1/messages',
        models: 'GET /v1/models',
        faults: 'GET|POST|DELETE /_sim/faults (POST ?for_ms=N applies a patch for N ms)',
        stats: 'GET /_sim/stats',
      },
    };
  }

  async #controlFaults(req: IncomingMessage, res: ServerResponse, method: string, url: URL): Promise<void> {
    if (method === 'GET') return this.#sendJson(res, 200, this.#faults);
    if (method === 'DELETE') {
      await drain(req);
      return this.#sendJson(res, 200, this.#setFaults(resetPatch(this.#faults, this.#initialFaults)));
    }
    if (method !== 'POST')
      return this.#sendJson(res, 404, controlError(`No route for ${method} /_sim/faults.`));
    let patch: unknown;
    try {
      const text = await readBody(req, 1 << 20);
      patch = text.trim() === '' ? {} : JSON.parse(text);
    } catch {
      return this.#sendJson(res, 400, controlError('The body must be a JSON object of faults.'));
    }
    if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
      return this.#sendJson(res, 400, controlError('The body must be a JSON object of faults.'));
    }
    const rawFor = url.searchParams.get('for_ms');
    const forMs = rawFor === null ? undefined : Number(rawFor);
    if (forMs !== undefined && !(Number.isFinite(forMs) && forMs > 0)) {
      return this.#sendJson(res, 400, controlError('for_ms must be a positive number of milliseconds.'));
    }
    const record = patch as Record<string, unknown>;
    if (record.refuse === true && forMs === undefined) {
      // Refusing closes this very port, so the control API could never lift it again.
      return this.#sendJson(
        res,
        400,
        controlError('refuse over HTTP needs ?for_ms=N (the port closes, and this API with it).'),
      );
    }
    const previous = this.#faults;
    let next: SimulatorFaults;
    try {
      next = simulatorFaults.parse(mergePatch(previous, record));
    } catch (err) {
      const issues = (err as z.ZodError).issues ?? [];
      const detail = issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
      return this.#sendJson(res, 400, controlError(`Invalid faults: ${detail}`));
    }
    // Reply first: a refusal closes the port, and with it this connection.
    this.#sendJson(res, 200, next);
    this.#setFaults(record);
    if (forMs !== undefined) {
      const revert: Record<string, unknown> = {};
      for (const key of Object.keys(record)) revert[key] = (previous as Record<string, unknown>)[key] ?? null;
      this.#later(forMs, () => {
        if (!this.#closed) this.#setFaults(revert);
      });
    }
  }

  // ---- model requests ----

  async #serveModel(door: Door, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ac = new AbortController();
    const signal = ac.signal;
    this.#inflight.add(ac);
    res.once('close', () => ac.abort());
    // Faults are read once, so a drill that changes them mid-request does not half-apply to it.
    const faults = this.#faults;
    let admission: Admission | undefined;
    try {
      if (faults.blackhole) {
        await drain(req);
        await aborted(signal);
        return;
      }
      let body: unknown;
      try {
        const text = await readBody(req, BODY_LIMIT);
        try {
          body = JSON.parse(text);
        } catch {
          throw new HoldfastError('invalid_json');
        }
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof BodyTooLarge) res.setHeader('connection', 'close');
        return this.#sendError(
          res,
          door,
          err instanceof BodyTooLarge ? new HoldfastError('body_too_large') : toHoldfastError(err),
        );
      }
      let chat: ReturnType<Door['parseRequest']>;
      try {
        chat = door.parseRequest(body, req.headers);
      } catch (err) {
        return this.#sendError(res, door, toHoldfastError(err));
      }
      if (this.#seenModels.size < MAX_SEEN_MODELS) this.#seenModels.add(chat.model);

      const fault = decideFault(faults, this.#rng);
      if (fault) {
        this.#faulted++;
        if (faults.slow_ms > 0) await sleep(faults.slow_ms, undefined, { signal });
        return this.#sendFault(res, door, fault);
      }
      admission = this.#gate.admit();
      if (!admission) {
        this.#rejected++;
        return this.#sendFault(res, door, capacityRejection(door.dialect, faults.retry_after_s));
      }

      const answer = simulateAnswer(chat, { answerTokens: this.#options.answer_tokens });
      const ctx: RenderContext = {
        id: door.newId(),
        model: `simulated/${chat.model}`,
        created: Math.floor(Date.now() / 1000),
        includeUsage: chat.includeUsage ?? false,
        inputTokens: answer.usage.inputTokens,
      };
      const tail: StreamEvent[] = [
        { type: 'usage', usage: answer.usage },
        {
          type: 'finish',
          reason: answer.finishReason,
          ...(answer.stopSequence !== undefined ? { stopSequence: answer.stopSequence } : {}),
        },
      ];
      const plan: AnswerPlan = { door, ctx, pieces: answer.pieces, tail, faults, admission, signal };
      const delivered = chat.stream ? await this.#stream(res, plan) : await this.#unary(req, res, plan);
      if (delivered) this.#served++;
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    } finally {
      admission?.release();
      this.#inflight.delete(ac);
    }
  }

  /** Returns true when the whole answer was delivered. */
  async #unary(req: IncomingMessage, res: ServerResponse, p: AnswerPlan): Promise<boolean> {
    const speed = p.admission.speed;
    const ttft = firstTokenDelay(this.#options.ttft_ms, p.faults.slow_ms, speed());
    if (ttft > 0) await sleep(ttft, undefined, { signal: p.signal });
    const fault = unaryFault(p.faults, p.pieces.length);
    const tps = this.#options.tokens_per_sec;
    if (tps > 0 && p.pieces.length > 0) {
      await sleep((p.pieces.length * 1000) / (tps * speed()), undefined, { signal: p.signal });
    }
    if (fault === 'cut') {
      req.socket.destroy();
      return false;
    }
    if (fault === 'stall') {
      await aborted(p.signal);
      return false;
    }
    if (fault === 'malformed') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"choices": [');
      return false;
    }
    const collector = new ResponseCollector();
    collector.push({ type: 'start', id: p.ctx.id, model: p.ctx.model });
    for (const piece of p.pieces) collector.push(piece);
    for (const ev of p.tail) collector.push(ev);
    this.#sendJson(res, 200, p.door.renderResponse(collector.result(), p.ctx), { 'x-request-id': p.ctx.id });
    return true;
  }

  /** Returns true when the whole stream was delivered. */
  async #stream(res: ServerResponse, p: AnswerPlan): Promise<boolean> {
    const { signal } = p;
    const speed = p.admission.speed;
    if (p.faults.slow_ms > 0) await sleep(p.faults.slow_ms, undefined, { signal });
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-request-id': p.ctx.id,
    });
    const renderer = p.door.streamRenderer(p.ctx);
    // Frames due at the same moment go out in one write: at 0 tokens/sec the whole answer is one packet,
    // which keeps the simulator out of the way when benchmarking the gateway.
    let pending = renderer.begin() + renderer.event({ type: 'start', id: p.ctx.id, model: p.ctx.model });
    const flush = async (): Promise<void> => {
      if (pending === '') return;
      const chunk = pending;
      pending = '';
      await write(res, chunk, signal);
    };
    const pause = async (ms: number): Promise<void> => {
      if (pending === '' && !res.headersSent) res.flushHeaders();
      await flush();
      await sleep(ms, undefined, { signal });
    };
    const ttft = firstTokenDelay(this.#options.ttft_ms, 0, speed());
    if (ttft > 0) await pause(ttft);

    const pacer = new Pacer({
      tokensPerSec: this.#options.tokens_per_sec,
      now: () => performance.now(),
      speed,
    });
    for (let i = 0; i <= p.pieces.length; i++) {
      const fault = streamFaultAt(p.faults, i);
      if (fault === 'cut') {
        await flush();
        // End the TCP stream without the final chunk: the client sees the answer break off mid-way.
        res.socket?.destroySoon();
        return false;
      }
      if (fault === 'stall') {
        if (!res.headersSent) res.flushHeaders();
        await flush();
        await aborted(signal);
        return false;
      }
      if (fault === 'malformed') pending += malformedFrame(p.door.dialect);
      const piece = p.pieces[i];
      if (piece === undefined) break;
      const wait = pacer.next();
      if (wait > 0) await pause(wait);
      pending += renderer.event(piece);
    }
    for (const ev of p.tail) pending += renderer.event(ev);
    pending += renderer.end();
    await flush();
    res.end();
    return true;
  }

  // ---- answers ----

  #sendFault(res: ServerResponse, door: Door, fault: RequestFault): void {
    const headers: OutgoingHttpHeaders = {};
    if (fault.kind !== 'error') {
      headers['retry-after'] = String(Math.ceil(fault.retryAfterSec));
      headers['retry-after-ms'] = String(Math.round(fault.retryAfterSec * 1000));
    }
    const message =
      fault.kind === 'error'
        ? `Simulated upstream failure (HTTP ${fault.status}).`
        : fault.kind === 'rate_limit'
          ? 'Simulated rate limit: too many requests.'
          : 'Simulated overload: the service is over capacity.';
    const err = new HoldfastError(fault.code, {
      message,
      ...(fault.kind !== 'error' ? { retryAfterSec: fault.retryAfterSec } : {}),
    });
    this.#sendJson(res, fault.status, door.renderError(err), headers);
  }

  #sendError(res: ServerResponse, door: Door, err: HoldfastError): void {
    const headers: OutgoingHttpHeaders = {};
    if (err.retryAfterSec !== undefined) headers['retry-after'] = String(Math.ceil(err.retryAfterSec));
    this.#sendJson(res, err.status, door.renderError(err), headers);
  }

  #sendJson(res: ServerResponse, status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
    if (res.headersSent || res.destroyed) return;
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  }
}

interface AnswerPlan {
  door: Door;
  ctx: RenderContext;
  pieces: AnswerPiece[];
  /** usage + finish. */
  tail: StreamEvent[];
  faults: SimulatorFaults;
  admission: Admission;
  signal: AbortSignal;
}

class BodyTooLarge extends Error {}

async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > limit) throw new BodyTooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads and discards a body (a client that goes away mid-body just ends it). */
function drain(req: IncomingMessage): Promise<void> {
  if (req.readableEnded || req.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    req.once('end', resolve);
    req.once('close', resolve);
    req.once('error', () => resolve());
    req.resume();
  });
}

function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/** Writes with backpressure: a client that stops reading stops the stream instead of filling memory. */
async function write(res: ServerResponse, chunk: string, signal: AbortSignal): Promise<void> {
  if (chunk === '') return;
  if (!res.write(chunk)) await once(res, 'drain', { signal });
}

function mergePatch(
  current: SimulatorFaults,
  patch: FaultsPatch | Record<string, unknown>,
): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...current };
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined || value === null) delete merged[key];
    else merged[key] = value;
  }
  return merged;
}

function resetPatch(current: SimulatorFaults, initial: SimulatorFaults): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const key of new Set([...Object.keys(current), ...Object.keys(initial)])) {
    patch[key] = (initial as Record<string, unknown>)[key] ?? null;
  }
  return patch;
}

function controlError(message: string): unknown {
  return { error: { type: 'invalid_request_error', message } };
}
