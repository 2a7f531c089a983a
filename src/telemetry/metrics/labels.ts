import type { Config } from '../../config/schema.ts';
import { componentSpecs } from '../../status/components.ts';

/** The `model` label of a request for a model this gateway does not serve (or no model at all). */
export const UNKNOWN_MODEL = 'unknown';
/** The `deployment` label of a request that never reached an upstream. */
export const NO_DEPLOYMENT = 'none';

/**
 * What label values may say. Models, deployments and status components come from the config, so the
 * number of series is bounded by the config whatever callers send: a client's made-up model name is
 * `unknown`, never a label value of its own. Rebuilt when the config object changes (a reload).
 */
export class LabelSpace {
  readonly config: Config;
  /** Public model group names. */
  readonly models: ReadonlySet<string>;
  /** Deployment id → its model group. */
  readonly groupOf: ReadonlyMap<string, string>;
  /** Deployment id → provider. */
  readonly providerOf: ReadonlyMap<string, string>;
  /** Status component id → its stable key (`model:<name>`, `platform:api`, …). */
  readonly componentKeyOf: ReadonlyMap<string, string>;

  constructor(config: Config) {
    this.config = config;
    this.models = new Set(config.models.map((m) => m.name));
    const groupOf = new Map<string, string>();
    const providerOf = new Map<string, string>();
    for (const m of config.models)
      for (const d of m.deployments) {
        groupOf.set(d.id, m.name);
        providerOf.set(d.id, d.provider);
      }
    this.groupOf = groupOf;
    this.providerOf = providerOf;
    this.componentKeyOf = new Map(componentSpecs(config).map((c) => [c.id, c.key]));
  }

  model(name: string | undefined): string {
    return name !== undefined && this.models.has(name) ? name : UNKNOWN_MODEL;
  }

  /** Every (model, deployment) pair of the config, in config order. */
  *deployments(): Generator<{ model: string; deployment: string }> {
    for (const m of this.config.models)
      for (const d of m.deployments) yield { model: m.name, deployment: d.id };
  }
}

/** Keeps one LabelSpace per config object, so the per-record check is one identity comparison. */
export class LabelSpaces {
  readonly #config: () => Config;
  #current: LabelSpace | undefined;

  constructor(config: () => Config) {
    this.#config = config;
  }

  get(): LabelSpace {
    const config = this.#config();
    if (this.#current?.config !== config) this.#current = new LabelSpace(config);
    return this.#current;
  }
}
