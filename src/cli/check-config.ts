import { parseArgs } from 'node:util';
import { ConfigError } from '../config/load.ts';
import { resolveConfig } from './config-source.ts';

export async function checkConfigCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { config: { type: 'string', short: 'c' } },
  });
  try {
    const { config, source } = resolveConfig(values.config ?? positionals[0]);
    const deployments = config.models.reduce((n, m) => n + m.deployments.length, 0);
    process.stdout.write(`ok: ${source} — ${config.models.length} model(s), ${deployments} deployment(s)\n`);
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
