import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProxy } from './proxy.ts';

/**
 * Child-process entry for one system under test, so the load generator in the parent never competes
 * with it for an event loop. Usage: `serve.ts <sim|proxy|holdfast|balancer> '<json arg>'`. Prints one
 * `READY <json>` line on stdout once listening; exits when its stdin closes, which also happens when
 * the parent dies, so a crashed benchmark leaves no servers behind.
 */

const READY = 'READY ';
const HOST = '127.0.0.1';

interface Running {
  info: Record<string, string>;
  close(): Promise<void>;
}

async function start(kind: string, arg: Record<string, unknown>): Promise<Running> {
  switch (kind) {
    case 'sim': {
      const { simulatorOptions } = await import('../../src/config/schema.ts');
      const { startSimulator } = await import('../../src/providers/simulator/server.ts');
      const sim = await startSimulator({ options: simulatorOptions.parse(arg.options), host: HOST, port: 0 });
      return { info: { url: sim.origin, openaiBaseUrl: sim.openaiBaseUrl }, close: () => sim.close() };
    }
    case 'proxy': {
      const proxy = await startProxy(String(arg.upstream), HOST, 0);
      return { info: { url: proxy.url }, close: () => proxy.close() };
    }
    case 'holdfast': {
      const { configSchema } = await import('../../src/config/schema.ts');
      const { startGateway } = await import('../../src/app.ts');
      const dataDir = mkdtempSync(join(tmpdir(), 'holdfast-bench-'));
      const config = configSchema.parse({
        server: { host: HOST, port: 0, open_mode: true },
        log: { level: 'silent' },
        store: { url: undefined, data_dir: dataDir },
        models: [
          {
            name: 'bench',
            deployments: [
              {
                id: 'up',
                provider: 'openai',
                base_url: String(arg.upstream),
                model: 'bench-model',
                api_key: 'x',
              },
            ],
          },
        ],
      });
      const gw = await startGateway(config, { logLevel: 'silent' });
      return {
        info: { url: gw.url },
        async close() {
          await gw.close();
          rmSync(dataDir, { recursive: true, force: true });
        },
      };
    }
    case 'balancer': {
      // The test load balancer (test/helpers/balancer.ts) in front of replicas, in its own process.
      const { startBalancer } = await import('../../test/helpers/balancer.ts');
      const lb = await startBalancer({ backends: arg.backends as string[], pollMs: 200 });
      return { info: { url: lb.url, healthy: String(lb.healthy().length) }, close: () => lb.close() };
    }
    default:
      throw new Error(`unknown server kind ${kind}`);
  }
}

async function main(): Promise<void> {
  const [kind = '', raw = '{}'] = process.argv.slice(2);
  const running = await start(kind, JSON.parse(raw) as Record<string, unknown>);
  let closing = false;
  const shutdown = async (): Promise<void> => {
    if (closing) return;
    closing = true;
    try {
      await running.close();
    } finally {
      process.exit(0);
    }
  };
  process.stdin.on('end', shutdown);
  process.stdin.on('close', shutdown);
  process.stdin.resume();
  process.on('SIGTERM', shutdown);
  process.stdout.write(`${READY}${JSON.stringify(running.info)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
