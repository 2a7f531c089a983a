import { HoldfastError } from '../core/errors.ts';
import type { ChaosRegistry } from './registry.ts';

/** The slice of the gateway's pino logger chaos actions use. */
export interface ChaosLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface ChaosActionDeps {
  registry: ChaosRegistry;
  /** Ids of the deployments that exist now; faults may only be injected into these. */
  deployments: () => readonly string[];
  /** Injected faults are logged: an outage someone caused on purpose must be visible in the logs. */
  logger?: ChaosLogger | undefined;
  /** Added to every log line as `via` (which door the operator used). */
  via?: string;
}

/**
 * What an operator can do to the chaos registry, with the checks and log lines every door (the chaos API,
 * the admin console) must share. Errors are HoldfastErrors (unknown deployment or fault: 404); a full
 * registry throws its ChaosLimitError for the door to answer.
 */
export function chaosActions(deps: ChaosActionDeps) {
  const { registry } = deps;
  const tag = deps.via !== undefined ? { via: deps.via } : {};

  const knownDeployment = (id: string | undefined): string => {
    const known = deps.deployments();
    if (id === undefined || !known.includes(id)) {
      throw new HoldfastError('not_found', {
        param: 'deployment',
        message: `No deployment '${id ?? ''}'. Deployments: ${known.join(', ') || '(none)'}.`,
      });
    }
    return id;
  };

  return {
    knownDeployment,
    inject(deployment: string | undefined, spec: unknown) {
      const fault = registry.inject(knownDeployment(deployment), spec);
      deps.logger?.warn({ chaos: fault, ...tag }, 'chaos fault injected');
      return { now: registry.now(), fault };
    },
    clearAll() {
      const cleared = registry.clear();
      deps.logger?.info({ cleared, ...tag }, 'chaos faults cleared');
      return { cleared };
    },
    clearDeployment(deployment: string | undefined) {
      const id = knownDeployment(deployment);
      const cleared = registry.clear(id);
      deps.logger?.info({ deployment: id, cleared, ...tag }, 'chaos faults cleared');
      return { cleared };
    },
    clearFault(deployment: string | undefined, faultId: string | undefined) {
      const id = knownDeployment(deployment);
      const fault = faultId ?? '';
      const cleared = registry.clear(id, fault);
      if (cleared === 0) {
        throw new HoldfastError('not_found', {
          param: 'faultId',
          message: `No live fault '${fault}' on '${id}' (it may have ended already).`,
        });
      }
      deps.logger?.info({ deployment: id, faultId: fault, ...tag }, 'chaos fault cleared');
      return { cleared };
    },
  };
}
