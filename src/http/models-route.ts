import type { FastifyReply, FastifyRequest } from 'fastify';
import { HoldfastError } from '../core/errors.ts';
import { type Authenticator, callerMayUse } from '../pipeline/auth.ts';
import type { ModelTable } from '../pipeline/route.ts';
import { doorForRequest } from './errors.ts';

/**
 * GET /v1/models in the caller's dialect: Anthropic clients (anthropic-version header) get Anthropic's
 * list shape, everyone else OpenAI's.
 */
export function modelsHandler(models: () => ModelTable, auth: Authenticator, bootedAt: number) {
  return async (req: FastifyRequest<{ Params: { id?: string } }>, _reply: FastifyReply): Promise<unknown> => {
    const door = doorForRequest(req.url, req.headers);
    const caller = await auth.authenticate(req.headers);
    const visible = models()
      .list()
      .filter((m) => callerMayUse(caller, m.name));
    const created = Math.floor(bootedAt / 1000);
    const wanted = req.params.id;
    const list = wanted === undefined ? visible : visible.filter((m) => m.name === wanted);
    if (wanted !== undefined && list.length === 0) {
      throw new HoldfastError('model_not_found', {
        message: `The model '${wanted}' does not exist on this gateway.`,
        param: 'model',
      });
    }
    if (door.dialect === 'anthropic') {
      const data = list.map((m) => ({
        type: 'model',
        id: m.name,
        display_name: m.name,
        created_at: new Date(bootedAt).toISOString(),
      }));
      if (wanted !== undefined) return data[0];
      return { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
    }
    const data = list.map((m) => ({ id: m.name, object: 'model', created, owned_by: m.ownedBy }));
    if (wanted !== undefined) return data[0];
    return { object: 'list', data };
  };
}
