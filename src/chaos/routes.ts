import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HoldfastError, toHoldfastError } from '../core/errors.ts';
import type { Caller } from '../pipeline/context.ts';
import { openaiDoor } from '../providers/openai/door.ts';
import { type ChaosLogger, chaosActions } from './actions.ts';
import { ChaosLimitError, type ChaosRegistry } from './registry.ts';

export interface ChaosRouteDeps {
  registry: ChaosRegistry;
  /** Ids of the deployments that exist now; faults may only be injected into these. */
  deployments: () => readonly string[];
  /** The gateway's authenticator; throws the 401 HoldfastError when there is no valid key. */
  authenticate: (headers: IncomingHttpHeaders) => Promise<Caller>;
  /** Injected faults are logged: an outage someone caused on purpose must be visible in the logs. */
  logger?: ChaosLogger;
}

export type { ChaosLogger } from './actions.ts';

type Params = { deployment?: string; faultId?: string };
type Req = FastifyRequest<{ Params: Params }>;

/**
 * The error code a non-admin caller gets (403). The registry has no admin-only code yet, so it borrows
 * the 403 permission code with its own message.
 */
const FORBIDDEN = 'admin_required';

/**
 * The chaos admin API, in OpenAI's error shape like every other non-Anthropic path. Only the admin key
 * may use it: it can take production down.
 */
export function registerChaosRoutes(app: FastifyInstance, deps: ChaosRouteDeps): void {
  const { registry } = deps;

  /** Runs an admin-only handler; every failure is answered here, so the routes work on a bare app too. */
  const admin =
    (fn: (req: Req, reply: FastifyReply) => unknown) =>
    async (req: Req, reply: FastifyReply): Promise<unknown> => {
      try {
        const caller = await deps.authenticate(req.headers);
        if (caller.kind !== 'admin') {
          throw new HoldfastError(FORBIDDEN, { message: 'The chaos API needs the admin key.' });
        }
        return await fn(req, reply);
      } catch (err) {
        const e =
          err instanceof ChaosLimitError
            ? new HoldfastError('invalid_request', { message: err.message })
            : toHoldfastError(err);
        reply.code(e.status).header('content-type', 'application/json; charset=utf-8');
        return JSON.stringify(openaiDoor.renderError(e));
      }
    };

  const actions = chaosActions({ registry, deployments: deps.deployments, logger: deps.logger });

  app.get(
    '/admin/chaos',
    admin(() => ({ now: registry.now(), faults: registry.list() })),
  );

  app.get(
    '/admin/chaos/:deployment',
    admin((req) => ({
      now: registry.now(),
      faults: registry.list(actions.knownDeployment(req.params.deployment)),
    })),
  );

  app.post(
    '/admin/chaos/:deployment',
    admin((req, reply) => {
      const injected = actions.inject(req.params.deployment, req.body);
      reply.code(201);
      return injected;
    }),
  );

  app.delete(
    '/admin/chaos',
    admin(() => actions.clearAll()),
  );

  app.delete(
    '/admin/chaos/:deployment',
    admin((req) => actions.clearDeployment(req.params.deployment)),
  );

  app.delete(
    '/admin/chaos/:deployment/:faultId',
    admin((req) => actions.clearFault(req.params.deployment, req.params.faultId)),
  );
}
