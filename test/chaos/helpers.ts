import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { ChaosRegistry } from '../../src/chaos/registry.ts';
import { type ChaosLogger, registerChaosRoutes } from '../../src/chaos/routes.ts';
import { HoldfastError } from '../../src/core/errors.ts';
import { presentedKey } from '../../src/pipeline/auth.ts';
import type { Caller } from '../../src/pipeline/context.ts';

export const ADMIN = 'hf-admin-chaos-test';
export const USER = 'hf-user-chaos-test';

/** Stands in for the gateway's authenticator: one admin key, one caller key, nothing else. */
async function authenticate(headers: IncomingHttpHeaders): Promise<Caller> {
  const key = presentedKey(headers);
  if (key === ADMIN) return { kind: 'admin' };
  if (key === USER) return { kind: 'key', keyId: 'k1', models: ['*'] };
  throw new HoldfastError('invalid_api_key');
}

/** A bare Fastify app carrying only the chaos routes, on a free loopback port. */
export async function chaosApp(deployments = ['sim-east', 'sim-west']) {
  let n = 0;
  const registry = new ChaosRegistry({ newId: () => `chaos_${++n}` });
  const logged: Array<{ obj: unknown; msg: string }> = [];
  const logger: ChaosLogger = {
    warn: (obj, msg) => void logged.push({ obj, msg }),
    info: (obj, msg) => void logged.push({ obj, msg }),
  };
  const app = Fastify({ logger: false });
  registerChaosRoutes(app, { registry, deployments: () => deployments, authenticate, logger });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return { app, registry, logged, url: `http://127.0.0.1:${port}` };
}
