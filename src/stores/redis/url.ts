import type { Config } from '../../config/schema.ts';

/** The Redis URL in force: the config's, else REDIS_URL; undefined keeps everything in this process. */
export function redisUrlOf(cfg: Config['shared_state'], env: NodeJS.ProcessEnv): string | undefined {
  return cfg.redis_url ?? (env.REDIS_URL || undefined);
}
