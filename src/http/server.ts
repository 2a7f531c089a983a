import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import type { ChaosRegistry } from '../chaos/registry.ts';
import { registerChaosRoutes } from '../chaos/routes.ts';
import type { Config } from '../config/schema.ts';
import { HoldfastError } from '../core/errors.ts';
import type { Authenticator } from '../pipeline/auth.ts';
import { newRequestContext, type Stage } from '../pipeline/context.ts';
import type { Dispatch } from '../pipeline/dispatch.ts';
import type { ModelTable } from '../pipeline/route.ts';
import { anthropicDoor } from '../providers/anthropic/door.ts';
import { openaiDoor } from '../providers/openai/door.ts';
import type { Logger } from '../telemetry/logger.ts';
import { chatHandler } from './chat-route.ts';
import { type ConnectionStats, capExemption, guardConnections } from './connection-guard.ts';
import { answerFrameworkError, doorForRequest, errorHeaders, fromFastifyError } from './errors.ts';
import type { InFlight } from './inflight.ts';
import { modelsHandler } from './models-route.ts';
import { finishOutcome } from './outcome.ts';
import { completeHtmlHeaders, everyResponse } from './security-headers.ts';

/** Connection-level protection (timeouts, header limits, per-IP cap, HSTS): docs/security.md. */
export type ServerLimits = Pick<
  Config['server'],
  | 'headers_timeout_ms'
  | 'request_timeout_ms'
  | 'keep_alive_timeout_ms'
  | 'idle_timeout_ms'
  | 'max_header_bytes'
  | 'max_headers'
  | 'max_requests_per_socket'
  | 'max_connections_per_ip'
  | 'connection_cap_exempt'
  | 'hsts_max_age_s'
>;

export interface ServerDeps {
  logger: Logger;
  bodyLimit: number;
  keepAliveMs: number;
  /** Fastify's trustProxy: which X-Forwarded-For hops to believe for req.ip. */
  trustProxy?: boolean | string[];
  limits: ServerLimits;
  /**
   * The current request pipeline (stages before dispatch, in order; the dispatch; the model table), read
   * once per request so a config reload applies to new requests only (src/runtime/generation.ts).
   */
  pipeline: () => Pipeline;
  authenticator: Authenticator;
  inflight: InFlight;
  isReady(): boolean;
  isDraining(): boolean;
  chaos?: { registry: ChaosRegistry; deployments: () => readonly string[] };
  /** Queue length and expected wait per model (the waiting room's public face). */
  queueReport?: () => unknown;
  /** More faces on the same server (the chat app's API, its web UI), each in its own Fastify context. */
  plugins?: ReadonlyArray<(app: FastifyInstance) => Promise<void> | void>;
}

export interface Pipeline {
  readonly stages: readonly Stage[];
  readonly dispatch: Dispatch;
  readonly models: ModelTable;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Per-IP cap and idle-rule counters (connection-guard.ts). */
    connectionStats(): ConnectionStats;
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Builds the Fastify app once: parsers, hooks, routes and the one error handler. */
export function buildServer(deps: ServerDeps) {
  const limits = deps.limits;
  const secureHeaders = everyResponse({ hstsMaxAgeS: limits.hsts_max_age_s });
  const app = Fastify({
    // Fastify's per-request child logger costs more than it gives: requests are logged once, with their
    // outcome, by the chat handler, and errors below log through our own logger with the request id.
    logger: false,
    bodyLimit: deps.bodyLimit,
    trustProxy: deps.trustProxy ?? false,
    // A caller's own request id is kept (so traces join up); otherwise we mint one.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given)
        ? given
        : `req_${randomUUID().replaceAll('-', '')}`;
    },
    requestIdHeader: false,
    return503OnClosing: false,
    // Errors Fastify raises before routing (a malformed URL, say) get the dialect's error shape and
    // the same security headers as every other answer.
    frameworkErrors: (error, req, reply) => {
      secureHeaders(reply.raw);
      answerFrameworkError(error, req, reply);
    },
    forceCloseConnections: 'idle',
    // Slow clients (slowloris): Node closes a connection whose headers, or whole request, arrive too
    // slowly with a 408. Only the request is timed: answers and SSE streams take as long as they need.
    keepAliveTimeout: limits.keep_alive_timeout_ms,
    requestTimeout: limits.request_timeout_ms,
    connectionTimeout: limits.idle_timeout_ms,
    maxRequestsPerSocket: limits.max_requests_per_socket,
    http: {
      headersTimeout: limits.headers_timeout_ms,
      requestTimeout: limits.request_timeout_ms,
      maxHeaderSize: limits.max_header_bytes,
      // How often Node looks for connections past those timeouts (its default, 30 s, would let a
      // 10 s header timeout run to 40).
      connectionsCheckingInterval: Math.min(1_000, Math.max(100, limits.headers_timeout_ms / 4)),
    },
  });
  app.server.maxHeadersCount = limits.max_headers;
  let refusedSinceLog = 0;
  let lastRefusalLog = 0;
  const connectionStats = guardConnections(app.server, {
    maxPerIp: limits.max_connections_per_ip,
    exempt: capExemption(deps.trustProxy ?? false, limits.connection_cap_exempt),
    // A flood calls this per connection: one line per 10 s at most.
    onRefused: (ip) => {
      refusedSinceLog++;
      const now = Date.now();
      if (now - lastRefusalLog < 10_000) return;
      deps.logger.warn(
        { ip, refused: refusedSinceLog, cap: limits.max_connections_per_ip },
        'connections refused: per-IP connection cap reached',
      );
      lastRefusalLog = now;
      refusedSinceLog = 0;
    },
  });
  app.decorate('connectionStats', connectionStats);
  // Every body is parsed as JSON whatever its content type (curl -d sends form encoding), with our own
  // error codes instead of Fastify's.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: deps.bodyLimit }, (req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    // A DELETE (or GET) that names a content type but sends nothing has no body to parse; only a POST
    // needs one.
    if (text.trim() === '' && req.method !== 'POST') return done(null, undefined);
    if (text.trim() === '')
      return done(new HoldfastError('invalid_json', { message: 'The request body is empty.' }), undefined);
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(
        new HoldfastError('invalid_json', {
          message: `The request body is not valid JSON: ${(err as Error).message}`,
        }),
        undefined,
      );
    }
  });

  // A callback hook, not an async one: it runs on every request and a promise per request is measurable.
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('x-request-id', req.id);
    secureHeaders(reply.raw);
    // Draining (src/http/drain.ts): still served, but each connection closes after its answer so the
    // client's next request opens a new one, which the load balancer sends to another replica.
    if (deps.isDraining()) reply.raw.setHeader('connection', 'close');
    done();
  });

  // Pages get CSP, framing, referrer and opener policies unless they set their own (security-headers.ts).
  app.addHook('onSend', (_req, reply, payload, done) => {
    completeHtmlHeaders(reply);
    done(null, payload);
  });

  app.setErrorHandler((error, req, reply) => {
    const err = fromFastifyError(error);
    if (err.code === 'internal_error') deps.logger.error({ err: error, reqId: req.id }, 'internal error');
    const door = doorForRequest(req.url, req.headers);
    // A chat request that failed before its handler ran (unparseable or oversized body) still ends in
    // exactly one outcome record.
    const path = req.routeOptions.url;
    if (path === '/v1/chat/completions' || path === '/v1/messages') {
      const ctx = newRequestContext({
        requestId: req.id,
        door,
        headers: req.headers,
        ip: req.ip,
        body: undefined,
        signal: AbortSignal.abort(),
      });
      finishOutcome(ctx, err.status, err, false, undefined);
    }
    reply
      .code(err.status)
      .headers(errorHeaders(err))
      .type('application/json')
      .send(JSON.stringify(door.renderError(err)));
  });

  app.setNotFoundHandler((req, reply) => {
    if (req.url.startsWith('/api/')) {
      // The chat API's own error shape (docs/chat-api.md), not a model-API dialect.
      reply.code(404).send({
        error: { code: 'not_found', message: `No route for ${req.method} ${req.url.split('?')[0]}.` },
      });
      return;
    }
    const err = new HoldfastError('not_found', {
      message: `No route for ${req.method} ${req.url.split('?')[0]}.`,
    });
    reply
      .code(404)
      .type('application/json')
      .send(JSON.stringify(doorForRequest(req.url, req.headers).renderError(err)));
  });

  const chat = {
    pipeline: deps.pipeline,
    inflight: deps.inflight,
    logger: deps.logger,
    keepAliveMs: deps.keepAliveMs,
  };
  app.post('/v1/chat/completions', chatHandler(openaiDoor, chat));
  app.post('/v1/messages', chatHandler(anthropicDoor, chat));
  const models = modelsHandler(() => chat.pipeline().models, deps.authenticator, Date.now());
  app.get('/v1/models', models);
  app.get('/v1/models/:id', models);

  if (deps.chaos) {
    registerChaosRoutes(app, {
      ...deps.chaos,
      authenticate: (headers) => deps.authenticator.authenticate(headers),
      logger: deps.logger,
    });
  }

  if (deps.queueReport) {
    const report = deps.queueReport;
    app.get('/holdfast/queue', async () => ({ models: report() }));
  }

  for (const plugin of deps.plugins ?? []) app.register(async (child) => plugin(child));

  app.get('/health/live', async () => ({ status: 'ok' }));
  app.get('/health/ready', async (_req, reply) => {
    const ready = deps.isReady() && !deps.isDraining();
    reply.code(ready ? 200 : 503);
    return { status: ready ? 'ready' : deps.isDraining() ? 'draining' : 'starting' };
  });
  return app;
}
