import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { s3Client, uploadSite, writeSiteDir } from '../status/publish/exporter.ts';
import { renderSite } from '../status/publish/site.ts';
import { StatusService } from '../status/service.ts';
import { openDatabase } from '../stores/database.ts';
import { resolveConfig } from './config-source.ts';

const USAGE = 'usage: holdfast status export --out DIR [--config FILE] [--s3]\n';

/**
 * `holdfast status export --out DIR`: renders the status page, incident pages, Statuspage v2 JSON, feeds
 * and badges from the database into DIR, without starting the gateway (for a cron job, a first deploy of
 * the static copy, or rebuilding it after an outage). `--s3` also uploads to status.export.s3.
 */
export async function statusCommand(args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (err) {
    process.stderr.write(`status: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (positionals[0] !== 'export' || !values.out) {
    process.stderr.write(USAGE);
    return 2;
  }
  let config: Config;
  try {
    config = resolveConfig(values.config).config;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const db = await openDatabase(config.store);
  // The status core read from the database: no timers, no probes, no traffic; the engine is absent, so
  // nothing is drained and live deployment health is unknown (the stored statuses are what is shown).
  const service = new StatusService({
    db,
    config,
    engine: { health: () => 'healthy', drain: () => {} },
    timers: false,
  });
  try {
    await service.start();
    const files = await renderSite(service, config.status);
    const out = resolve(values.out);
    const written = await writeSiteDir(out, files);
    process.stdout.write(`wrote ${written} files to ${out}\n`);
    const s3 = config.status.export.s3;
    if (values.s3) {
      if (!s3) {
        process.stderr.write('status export: --s3 given but status.export.s3 is not configured\n');
        return 1;
      }
      const client = await s3Client(s3);
      try {
        const uploaded = await uploadSite(client, s3, files);
        process.stdout.write(`uploaded ${uploaded} files to s3://${s3.bucket}/${s3.prefix}\n`);
      } finally {
        client.destroy();
      }
    }
    return 0;
  } finally {
    await service.close().catch(() => {});
    await db.close();
  }
}

function parse(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      out: { type: 'string', short: 'o' },
      s3: { type: 'boolean' },
    },
  });
}
