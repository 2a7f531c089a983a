import { parseArgs } from 'node:util';
import { ConfigError } from '../config/load.ts';
import { openDatabase } from '../stores/database.ts';
import { createSqlKeyStore, type KeyLimits, type KeyPriority, type KeyRecord } from '../stores/keys.ts';
import { resolveConfig } from './config-source.ts';

function row(k: KeyRecord): string {
  const state = k.revokedAt ? `revoked ${k.revokedAt.toISOString()}` : 'active';
  const limits = Object.entries(k.limits)
    .map(([n, v]) => `${n}=${v}`)
    .join(' ');
  return `${k.id}  ${k.prefix}…  ${k.name}  models=${k.models.join(',')}${limits ? `  ${limits}` : ''}${k.priority ? `  priority=${k.priority}` : ''}  ${state}  created ${k.createdAt.toISOString()}`;
}

/** `holdfast keys create|list|revoke`, against the same store the gateway uses (config or defaults). */
export async function keysCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      name: { type: 'string' },
      models: { type: 'string' },
      json: { type: 'boolean' },
      rpm: { type: 'string' },
      tpm: { type: 'string' },
      concurrent: { type: 'string' },
      priority: { type: 'string' },
    },
  });
  const [action, target] = positionals;
  if (action !== 'create' && action !== 'list' && action !== 'revoke') {
    process.stderr.write(
      'usage: holdfast keys create --name NAME [--models a,b] | keys list | keys revoke ID|PREFIX\n',
    );
    return 2;
  }
  let store: ReturnType<typeof resolveConfig>['config']['store'];
  try {
    store = resolveConfig(values.config).config.store;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const db = await openDatabase(store);
  try {
    const keys = createSqlKeyStore(db.kysely);
    if (action === 'create') {
      if (!values.name) {
        process.stderr.write('keys create: --name is required\n');
        return 2;
      }
      const models = (values.models ?? '*')
        .split(',')
        .map((m) => m.trim())
        .filter(Boolean);
      const limits: KeyLimits = {};
      for (const k of ['rpm', 'tpm', 'concurrent'] as const)
        if (values[k] !== undefined) limits[k] = Number(values[k]);
      const priority = values.priority as KeyPriority | undefined;
      const { record, secret } = await keys.createKey({
        name: values.name,
        models,
        ...(Object.keys(limits).length ? { limits } : {}),
        ...(priority ? { priority } : {}),
      });
      if (values.json) process.stdout.write(`${JSON.stringify({ ...record, secret })}\n`);
      else
        process.stdout.write(
          `${row(record)}\n\n  ${secret}\n\nThis secret is shown once; Holdfast stores only its hash.\n`,
        );
      return 0;
    }
    if (action === 'list') {
      const list = await keys.listKeys();
      if (values.json) process.stdout.write(`${JSON.stringify(list)}\n`);
      else process.stdout.write(list.length ? `${list.map(row).join('\n')}\n` : 'no keys\n');
      return 0;
    }
    if (!target) {
      process.stderr.write('keys revoke: give the key id or prefix\n');
      return 2;
    }
    const rec = await keys.revokeKey(target);
    if (!rec) {
      process.stderr.write(`keys revoke: no key ${target}\n`);
      return 1;
    }
    process.stdout.write(`${row(rec)}\n`);
    return 0;
  } finally {
    await db.close();
  }
}
