import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Gateway, startGateway } from '../../src/app.ts';
import { buildConfig } from '../../src/config/load.ts';
import type { ConfigInput } from '../../src/config/schema.ts';

export const ADMIN_KEY = 'hf-admin-test-key-0123456789';

/** Two simulated deployments, one per wire, so every cross-dialect direction can be exercised. */
export function simModels(sim: Record<string, unknown> = {}): ConfigInput['models'] {
  return [
    {
      name: 'sim-openai',
      deployments: [
        {
          id: 'sim-oa',
          provider: 'simulator',
          model: 'oa-1',
          region: 'east',
          simulator: { dialect: 'openai', ttft_ms: 0, tokens_per_sec: 0, ...sim },
        },
      ],
    },
    {
      name: 'sim-anthropic',
      deployments: [
        {
          id: 'sim-an',
          provider: 'simulator',
          model: 'an-1',
          region: 'west',
          simulator: { dialect: 'anthropic', ttft_ms: 0, tokens_per_sec: 0, ...sim },
        },
      ],
    },
  ];
}

export interface TestGateway {
  gw: Gateway;
  url: string;
  close(): Promise<void>;
}

/** A real gateway on 127.0.0.1:0 with its own PGlite directory, removed on close. */
export async function startTestGateway(input: Partial<ConfigInput> = {}): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-gw-'));
  const config = buildConfig(
    {
      server: { host: '127.0.0.1', port: 0, ...input.server },
      auth: input.auth ?? { admin_key: ADMIN_KEY },
      store: { data_dir: input.store?.data_dir ?? dir },
      log: { level: 'silent' },
      models: input.models ?? simModels(),
      ...(input.resilience ? { resilience: input.resilience } : {}),
      ...(input.limits ? { limits: input.limits } : {}),
      ...(input.admission ? { admission: input.admission } : {}),
      ...(input.chat ? { chat: input.chat } : {}),
      ...(input.shared_state ? { shared_state: input.shared_state } : {}),
    },
    {},
  );
  const gw = await startGateway(config, { env: {} });
  return {
    gw,
    url: gw.url,
    async close() {
      await gw.close(1_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
