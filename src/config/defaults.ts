import type { ConfigInput } from './schema.ts';

/**
 * The embedded default (no config file): one public model served by two simulated deployments in two
 * regions, so `npm start` demonstrates failover with no API key. Real providers join the same model
 * list when their keys are in the environment.
 */
export function defaultConfigInput(env: NodeJS.ProcessEnv): ConfigInput {
  const models: ConfigInput['models'] = [
    {
      name: 'holdfast-sim',
      owned_by: 'holdfast-simulator',
      deployments: [
        {
          id: 'sim-east',
          provider: 'simulator',
          model: 'holdfast-sim-1',
          region: 'sim-east',
          simulator: { dialect: 'openai' },
        },
        {
          id: 'sim-west',
          provider: 'simulator',
          model: 'holdfast-sim-1',
          region: 'sim-west',
          simulator: { dialect: 'anthropic' },
        },
      ],
    },
  ];
  if (env.OPENAI_API_KEY) {
    models.push({
      name: env.HOLDFAST_OPENAI_MODEL ?? 'gpt-4o-mini',
      owned_by: 'openai',
      deployments: [
        {
          id: 'openai',
          provider: 'openai',
          base_url: env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1',
          api_key: env.OPENAI_API_KEY,
          model: env.HOLDFAST_OPENAI_MODEL ?? 'gpt-4o-mini',
          region: 'openai',
        },
      ],
    });
  }
  if (env.ANTHROPIC_API_KEY) {
    models.push({
      name: env.HOLDFAST_ANTHROPIC_MODEL ?? 'claude-sonnet-4-5',
      owned_by: 'anthropic',
      deployments: [
        {
          id: 'anthropic',
          provider: 'anthropic',
          base_url: env.ANTHROPIC_BASE_URL ?? 'https://api.anthropic.com',
          api_key: env.ANTHROPIC_API_KEY,
          model: env.HOLDFAST_ANTHROPIC_MODEL ?? 'claude-sonnet-4-5',
          region: 'anthropic',
        },
      ],
    });
  }
  return {
    server: {
      host: env.HOLDFAST_HOST ?? '127.0.0.1',
      port: env.PORT ? Number(env.PORT) : 8080,
    },
    ...(env.HOLDFAST_ADMIN_KEY ? { auth: { admin_key: env.HOLDFAST_ADMIN_KEY } } : {}),
    store: {
      ...(env.DATABASE_URL ? { url: env.DATABASE_URL } : {}),
      data_dir: env.HOLDFAST_DATA_DIR ?? './data',
    },
    models,
  };
}
