import { type Gateway, startGateway } from '../../src/app.ts';
import { buildConfig } from '../../src/config/load.ts';
import type { ConfigInput } from '../../src/config/schema.ts';

export const ADMIN_KEY = 'hf-admin-metrics-test-0123456789';

/** One simulated deployment per entry, instant answers. */
export function simDeployment(
  id: string,
  dialect: 'openai' | 'anthropic',
  extra: Record<string, unknown> = {},
) {
  return {
    id,
    provider: 'simulator' as const,
    model: `${id}-m`,
    simulator: { dialect, ttft_ms: 0, tokens_per_sec: 0 },
    ...extra,
  };
}

/**
 * A real gateway on 127.0.0.1:0 with an in-memory store. Status and the chat app are off unless asked
 * for: their probes and jobs would add requests the tests did not send.
 */
export async function startMetricsGateway(
  input: Partial<ConfigInput> & Pick<ConfigInput, 'models'>,
): Promise<Gateway> {
  const config = buildConfig(
    {
      server: { host: '127.0.0.1', port: 0 },
      auth: { admin_key: ADMIN_KEY },
      store: { data_dir: 'memory://' },
      log: { level: 'silent' },
      status: { enabled: false },
      chat: { enabled: false },
      ...input,
    },
    {},
  );
  return startGateway(config, { env: {} });
}

export async function scrape(gw: Gateway, key: string | undefined = ADMIN_KEY): Promise<string> {
  const res = await fetch(`${gw.url}/metrics`, key ? { headers: { authorization: `Bearer ${key}` } } : {});
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${await res.text()}`);
  return res.text();
}
