import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { chaosActions } from '../chaos/actions.ts';
import { FAULT_KINDS } from '../chaos/faults.ts';
import type { ChaosRegistry } from '../chaos/registry.ts';
import { HoldfastError } from '../core/errors.ts';
import type { ResilienceEngine } from '../pipeline/resilient.ts';
import type { StatusService } from '../status/service.ts';
import type { Db } from '../stores/database.ts';
import type { KeyStore } from '../stores/keys.ts';
import type { ConsoleAuth, Operator } from './auth.ts';
import { type AdmissionView, modelsView, queuesView } from './deployments.ts';
import type { DrillRunner } from './drills.ts';
import type { LastFailures } from './failures.ts';
import { listUsers } from './users.ts';

export interface AdminApiDeps {
  auth: ConsoleAuth;
  /** Getters, so a config reload that swaps the engine or admission is seen at once. */
  engine(): ResilienceEngine;
  admission(): AdmissionView | undefined;
  chaos: ChaosRegistry;
  /** Ids of the deployments that exist now (the chaos API's list). */
  deployments(): readonly string[];
  keys: KeyStore;
  /** Drops cached key verifications, so a revoked key is refused by this process at once. */
  forgetKeys?: () => void;
  db: Db;
  status?: StatusService | undefined;
  drills: DrillRunner;
  failures: LastFailures;
  /** Called when a drill starts (the console then subscribes to outcomes and ticks the runner). */
  onDrillStarted(): void;
  logger: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  now: () => number;
}

type Req = FastifyRequest<{ Params: Record<string, string | undefined> }>;

/** The first problem with a JSON body, as a registry error naming the field. */
function parse<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new HoldfastError('invalid_request', { message: 'The request body must be a JSON object.' });
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const param = [...issue.path, ...(issue.code === 'unrecognized_keys' ? [issue.keys[0] ?? ''] : [])]
    .map(String)
    .join('.');
  throw new HoldfastError('invalid_request', { param, message: `Invalid '${param}': ${issue.message}` });
}

const positive = z.number().int().positive();
const newKeyBody = z.strictObject({
  name: z.string().trim().min(1).max(200),
  models: z.array(z.string().trim().min(1)).min(1).optional(),
  priority: z.enum(['critical', 'interactive', 'batch']).optional(),
  limits: z.strictObject({ rpm: positive, tpm: positive, concurrent: positive }).partial().optional(),
});

const startDrillBody = z.strictObject({
  scenario: z.string().min(1),
  model: z.string().min(1).optional(),
  duration_s: z.number().positive().optional(),
});

const signInBody = z.strictObject({ key: z.string() });

/**
 * The console's JSON API under /admin/api, the same auth the pages use (admin key or signed-in
 * session with CSRF). Answers and errors are JSON in the gateway's error shape (OpenAI's, as on
 * /admin/chaos).
 */
export function registerAdminApi(app: FastifyInstance, deps: AdminApiDeps): void {
  const { auth, chaos, drills } = deps;
  const operatorOf = new WeakMap<FastifyRequest, Operator>();

  // ---- session: the one route that works signed out ----

  app.post('/admin/api/session', async (req, reply) => {
    const { key } = parse(signInBody, req.body);
    const s = auth.signIn(req, reply, key);
    deps.logger.info({ ip: req.ip }, 'admin console sign-in');
    return { signedIn: true, csrfToken: s.csrf, expiresAt: s.expiresAt };
  });

  app.register(async (guarded) => {
    guarded.addHook('preHandler', async (req) => {
      operatorOf.set(req, await auth.operator(req));
    });
    const route = (
      method: 'GET' | 'POST' | 'DELETE',
      url: string,
      fn: (req: Req, reply: FastifyReply, op: Operator) => unknown,
    ) => guarded.route({ method, url, handler: (req, reply) => fn(req as Req, reply, operatorOf.get(req)!) });

    route('GET', '/admin/api/session', (_req, _reply, op) =>
      op.via === 'session'
        ? { signedIn: true, via: 'session', csrfToken: op.session.csrf, expiresAt: op.session.expiresAt }
        : { signedIn: true, via: 'key' },
    );
    route('DELETE', '/admin/api/session', (req, reply, op) => {
      auth.signOut(req, reply, op);
      return { signedIn: false };
    });

    // ---- live state ----

    route('GET', '/admin/api/deployments', () => {
      const now = deps.now();
      return {
        now,
        models: modelsView({
          engine: deps.engine(),
          admission: deps.admission(),
          faults: (id) => chaos.active(id),
          lastFailure: (id) => deps.failures.get(id),
          now,
        }),
      };
    });

    route('GET', '/admin/api/queue', () => {
      const admission = deps.admission();
      return { now: deps.now(), enabled: admission !== undefined, models: queuesView(admission) };
    });

    route('GET', '/admin/api/incidents', async () => {
      const status = deps.status;
      if (!status) return { enabled: false };
      const summary = await status.summary();
      const adminIncident = (id: string) => `/status/admin/incidents/${encodeURIComponent(id)}`;
      return {
        enabled: true,
        links: {
          incidents: '/status/admin',
          maintenance: '/status/admin/maintenance',
          reports: '/status/admin/reports',
          subscribers: '/status/admin/subscribers',
          publicPage: '/status',
        },
        status: summary.status,
        components: summary.components
          .filter((c) => !c.group)
          .map((c) => ({ id: c.id, name: c.name, status: c.status })),
        incidents: summary.incidents.map((i) => ({
          id: i.id,
          name: i.name,
          status: i.status,
          impact: i.impact,
          updatedAt: i.updated_at,
          url: adminIncident(i.id),
        })),
        maintenances: summary.scheduled_maintenances.map((m) => ({
          id: m.id,
          name: m.name,
          status: m.status,
          scheduledFor: m.scheduled_for ?? null,
          scheduledUntil: m.scheduled_until ?? null,
          url: '/status/admin/maintenance',
        })),
      };
    });

    // ---- chaos: the registry behind /admin/chaos, with the same checks and logs ----

    const actions = chaosActions({
      registry: chaos,
      deployments: deps.deployments,
      logger: deps.logger,
      via: 'admin console',
    });

    route('GET', '/admin/api/chaos', () => ({
      now: chaos.now(),
      kinds: FAULT_KINDS,
      deployments: deps.deployments(),
      faults: chaos.list(),
    }));
    route('POST', '/admin/api/chaos/:deployment', (req, reply) => {
      const injected = actions.inject(req.params.deployment, req.body);
      reply.code(201);
      return injected;
    });
    route('DELETE', '/admin/api/chaos', () => actions.clearAll());
    route('DELETE', '/admin/api/chaos/:deployment', (req) => actions.clearDeployment(req.params.deployment));
    route('DELETE', '/admin/api/chaos/:deployment/:faultId', (req) =>
      actions.clearFault(req.params.deployment, req.params.faultId),
    );

    // ---- drills ----

    route('GET', '/admin/api/drills', () => {
      drills.tick();
      return {
        now: deps.now(),
        models: [...deps.engine().groups.keys()],
        scenarios: drills.scenarios,
        current: drills.current() ?? null,
        history: drills.history(),
      };
    });
    route('POST', '/admin/api/drills', (req, reply) => {
      const b = parse(startDrillBody, req.body);
      const model = b.model ?? [...deps.engine().groups.keys()][0] ?? '';
      const drill = drills.start({
        scenario: b.scenario,
        model,
        ...(b.duration_s !== undefined ? { durationS: b.duration_s } : {}),
      });
      deps.onDrillStarted();
      deps.logger.warn(
        { drill: drill.id, scenario: drill.scenario.id, model, endsAt: drill.endsAt },
        'chaos drill started',
      );
      reply.code(201);
      return { drill };
    });
    route('POST', '/admin/api/drills/stop', () => {
      const drill = drills.stop();
      if (!drill) throw new HoldfastError('not_found', { message: 'No drill is running.' });
      deps.logger.info({ drill: drill.id }, 'chaos drill stopped');
      return { drill };
    });

    // ---- keys ----

    route('GET', '/admin/api/keys', async () => ({ keys: await deps.keys.listKeys() }));
    route('POST', '/admin/api/keys', async (req, reply) => {
      const b = parse(newKeyBody, req.body);
      const models = b.models ?? ['*'];
      const known = new Set(deps.engine().groups.keys());
      const unknown = models.find((m) => m !== '*' && !known.has(m));
      if (unknown !== undefined) {
        throw new HoldfastError('invalid_request', {
          param: 'models',
          message: `No model '${unknown}'. Models: ${[...known].join(', ')} (or "*" for all).`,
        });
      }
      const { record, secret } = await deps.keys.createKey({
        name: b.name,
        models,
        ...(b.priority ? { priority: b.priority } : {}),
        ...(b.limits && Object.keys(b.limits).length > 0 ? { limits: b.limits } : {}),
      });
      deps.logger.info({ key: record.id, prefix: record.prefix, via: 'admin console' }, 'api key created');
      reply.code(201).header('cache-control', 'no-store');
      return { key: record, secret };
    });
    route('DELETE', '/admin/api/keys/:id', async (req) => {
      const id = req.params.id ?? '';
      const key = await deps.keys.revokeKey(id).catch((err: unknown) => {
        // Several keys share that prefix: the store will not guess which one was meant.
        if (err instanceof Error && / keys match /.test(err.message))
          throw new HoldfastError('conflict', { param: 'id', message: err.message });
        throw err;
      });
      if (!key) throw new HoldfastError('not_found', { param: 'id', message: `No key '${id}'.` });
      deps.forgetKeys?.();
      deps.logger.info({ key: key.id, prefix: key.prefix, via: 'admin console' }, 'api key revoked');
      return { key };
    });

    // ---- users (read-only: see users.ts) ----

    route('GET', '/admin/api/users', () => listUsers(deps.db.kysely, new Date(deps.now())));
  });
}
