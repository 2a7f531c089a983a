import { parseArgs } from 'node:util';
import { type Gateway, startGateway } from '../app.ts';
import { ConfigError, loadConfigFile } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { watchConfig } from '../runtime/config-watch.ts';
import { resolveConfig } from './config-source.ts';

function banner(gw: Gateway, source: string): string {
  const c = gw.config;
  const lines = [
    '',
    `Holdfast gateway listening on ${gw.url}`,
    `  config:   ${source}`,
    `  store:    ${c.store.url ? 'PostgreSQL (DATABASE_URL)' : `PGlite in ${c.store.data_dir}`}`,
    `  auth:     ${gw.openMode ? 'OPEN MODE (no API key needed; loopback only by default)' : 'API key required (HOLDFAST_ADMIN_KEY or `holdfast keys create`)'}`,
    `  OpenAI    POST ${gw.url}/v1/chat/completions   GET ${gw.url}/v1/models`,
    `  Anthropic POST ${gw.url}/v1/messages`,
    `  health    GET ${gw.url}/health/live  ${gw.url}/health/ready`,
    ...(gw.config.chat.enabled ? [`  chat      ${gw.url}/  (API under ${gw.url}/api/)`] : []),
    '  models:',
  ];
  for (const m of c.models) {
    lines.push(`    ${m.name}`);
    for (const d of gw.deployments.filter((x) => m.deployments.some((md) => md.id === x.config.id))) {
      const sim = d.controlUrl ? `  (simulated; faults: ${d.controlUrl})` : '';
      lines.push(
        `      - ${d.config.id} [${d.config.provider}, ${d.config.region}] → ${d.endpoint} model=${d.config.model}${sim}`,
      );
    }
  }
  const first = c.models[0]!.name;
  lines.push(
    '',
    'Try it:',
    `  curl -s ${gw.url}/v1/chat/completions -H 'content-type: application/json' ${gw.openMode ? '' : "-H 'authorization: Bearer $HOLDFAST_ADMIN_KEY' "}-d '{"model":"${first}","messages":[{"role":"user","content":"Hello"}]}'`,
    '',
  );
  return lines.join('\n');
}

export async function startCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    allowPositionals: true,
    options: { config: { type: 'string', short: 'c' }, port: { type: 'string' }, host: { type: 'string' } },
  });
  let loaded: ReturnType<typeof resolveConfig>;
  try {
    loaded = resolveConfig(values.config);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const overridden = (c: Config): Config =>
    values.port === undefined && values.host === undefined
      ? c
      : {
          ...c,
          server: {
            ...c.server,
            ...(values.port ? { port: Number(values.port) } : {}),
            ...(values.host ? { host: values.host } : {}),
          },
        };
  const config = overridden(loaded.config);
  const gw = await startGateway(config);
  process.stdout.write(`${banner(gw, loaded.source)}\n`);
  // Hot reload (SIGHUP or an edit of the file); the embedded default has no file to read again.
  const file = loaded.file;
  const watcher = file ? watchConfig(gw, { file, load: () => overridden(loadConfigFile(file)) }) : undefined;
  if (!file)
    process.on('SIGHUP', () =>
      gw.logger.warn('SIGHUP: no config file to reload (running the embedded default)'),
    );

  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) {
        // A second signal means "now": the operator has run out of patience.
        process.exit(1);
      }
      stopping = true;
      watcher?.close();
      // SIGTERM is how orchestrators stop a replica behind a load balancer: keep serving, unready, for
      // the drain delay first. SIGINT is someone at a terminal: no balancer to wait for.
      const server = gw.config.server;
      const drainDelayMs = signal === 'SIGTERM' ? server.drain_delay_ms : 0;
      gw.logger.info(
        { signal, drainDelayMs, graceMs: server.shutdown_grace_ms },
        'shutting down: draining in-flight requests',
      );
      gw.close(server.shutdown_grace_ms, { drainDelayMs }).then(
        ({ drained }) => {
          gw.logger.info({ drained }, 'stopped');
          resolve(0);
        },
        (err: unknown) => {
          gw.logger.error({ err }, 'error during shutdown');
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
