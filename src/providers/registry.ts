import { withChaos } from '../chaos/adapter.ts';
import type { ChaosRegistry } from '../chaos/registry.ts';
import type { DeploymentConfig } from '../config/schema.ts';
import type { ProviderAdapter } from '../core/provider.ts';
import { createAnthropicAdapter } from './anthropic/adapter.ts';
import { createOpenAIAdapter } from './openai/adapter.ts';
import { startSimulator } from './simulator/server.ts';

/** A deployment brought to life: its adapter plus whatever it owns (a simulator server). */
export interface DeploymentRuntime {
  readonly config: DeploymentConfig;
  readonly adapter: ProviderAdapter;
  /** Where requests go, for the startup banner and the status page. */
  readonly endpoint: string;
  /** Chaos control for simulated deployments (`/_sim/faults`). */
  readonly controlUrl?: string;
  close(): Promise<void>;
}

type Factory = (dep: DeploymentConfig) => Promise<DeploymentRuntime>;

const wireAdapters = {
  openai: createOpenAIAdapter,
  anthropic: createAnthropicAdapter,
} as const;

function plain(create: (dep: DeploymentConfig) => ProviderAdapter): Factory {
  return async (dep) => {
    const adapter = create(dep);
    return { config: dep, adapter, endpoint: dep.base_url ?? '', close: () => adapter.close() };
  };
}

/**
 * Provider kinds by name. Adding a provider is one entry here; nothing else in the core branches on it.
 */
const factories: Record<DeploymentConfig['provider'], Factory> = {
  openai: plain(createOpenAIAdapter),
  anthropic: plain(createAnthropicAdapter),
  simulator: async (dep) => {
    const sim = await startSimulator({ options: dep.simulator, name: dep.id });
    const dialect = dep.simulator.dialect;
    const baseUrl = dialect === 'openai' ? sim.openaiBaseUrl : sim.anthropicBaseUrl;
    // The simulator speaks prefill on both wires, so failover continuation can be checked exactly.
    const wired: DeploymentConfig = {
      ...dep,
      base_url: baseUrl,
      continuation: dep.continuation ?? 'prefill',
    };
    const adapter = wireAdapters[dialect](wired);
    return {
      config: wired,
      adapter,
      endpoint: baseUrl,
      controlUrl: `${sim.origin}/_sim/faults`,
      async close() {
        await adapter.close();
        await sim.close();
      },
    };
  },
};

/**
 * Starts one deployment. With a chaos registry its adapter is wrapped so faults can be injected at run
 * time (the wrapper is a no-op while no fault is active).
 */
export async function startDeployment(
  dep: DeploymentConfig,
  chaos?: ChaosRegistry,
): Promise<DeploymentRuntime> {
  const rt = await factories[dep.provider](dep);
  if (!chaos) return rt;
  // rt.config, not dep: for the simulator it is the rewritten config with the real base URL.
  const adapter = withChaos(rt.adapter, rt.config.id, chaos, {
    firstByteTimeoutMs: rt.config.timeouts.first_byte_ms,
    idleTimeoutMs: rt.config.timeouts.idle_ms,
  });
  return { ...rt, adapter };
}
