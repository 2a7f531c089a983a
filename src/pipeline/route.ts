import { HoldfastError } from '../core/errors.ts';
import { callerMayUse } from './auth.ts';
import type { ModelRoute, RequestContext, Stage } from './context.ts';

/** Public model name → its deployments; built once at startup. */
export class ModelTable {
  readonly #routes: Map<string, ModelRoute>;
  constructor(routes: readonly ModelRoute[]) {
    this.#routes = new Map(routes.map((r) => [r.name, r]));
  }
  get(name: string): ModelRoute | undefined {
    return this.#routes.get(name);
  }
  list(): ModelRoute[] {
    return [...this.#routes.values()];
  }
}

export function createRouteStage(models: ModelTable): Stage {
  return {
    name: 'route',
    run(ctx: RequestContext) {
      const name = ctx.request!.model;
      const route = models.get(name);
      if (!route) {
        throw new HoldfastError('model_not_found', {
          message: `The model '${name}' does not exist on this gateway.`,
          param: 'model',
        });
      }
      if (!callerMayUse(ctx.caller, name)) {
        throw new HoldfastError('model_not_allowed', {
          message: `This API key may not use the model '${name}'.`,
          param: 'model',
        });
      }
      ctx.route = route;
    },
  };
}
