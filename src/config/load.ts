import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { type Config, configSchema } from './schema.ts';

export class ConfigError extends Error {
  readonly issues: string[];
  constructor(source: string, issues: string[]) {
    super(`invalid config (${source}):\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/**
 * Replaces `${NAME}` and `${NAME:-default}` in every string of a parsed YAML tree. Interpolating after
 * parsing (not in the raw text) means a secret containing YAML syntax cannot change the document's shape.
 */
export function interpolate(value: unknown, env: NodeJS.ProcessEnv, path: string[], missing: string[]): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, fallback?: string) => {
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      missing.push(`${path.join('.') || '(root)'}: environment variable ${name} is not set`);
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, [...path, String(i)], missing));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, env, [...path, k], missing);
    return out;
  }
  return value;
}

function formatIssues(issues: z.core.$ZodIssue[]): string[] {
  return issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
}

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/** Validates an already-parsed config tree; returns a deeply frozen Config or throws ConfigError. */
export function buildConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env, source = 'config'): Config {
  const missing: string[] = [];
  const tree = interpolate(raw ?? {}, env, [], missing);
  const parsed = configSchema.safeParse(tree);
  const issues = [...missing, ...(parsed.success ? [] : formatIssues(parsed.error.issues))];
  if (issues.length > 0 || !parsed.success) throw new ConfigError(source, issues);
  return deepFreeze(parsed.data);
}

export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read file: ${(err as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true });
  } catch (err) {
    throw new ConfigError(file, [`YAML syntax: ${(err as Error).message}`]);
  }
  return buildConfig(raw, env, file);
}
