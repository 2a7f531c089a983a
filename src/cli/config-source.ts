import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { defaultConfigInput } from '../config/defaults.ts';
import { buildConfig, loadConfigFile } from '../config/load.ts';
import type { Config } from '../config/schema.ts';

export interface LoadedConfig {
  config: Config;
  /** The file it came from, or 'embedded default'. */
  source: string;
  /** The file to read again on a reload (absent for the embedded default). */
  file?: string;
}

/** --config FILE, else $HOLDFAST_CONFIG, else ./holdfast.yaml, else the embedded default. */
export function resolveConfig(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const file = flag ?? env.HOLDFAST_CONFIG ?? (existsSync('holdfast.yaml') ? 'holdfast.yaml' : undefined);
  if (file) return { config: loadConfigFile(file, env), source: resolve(file), file: resolve(file) };
  return {
    config: buildConfig(defaultConfigInput(env), env, 'embedded default'),
    source: 'embedded default',
  };
}
