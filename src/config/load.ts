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

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const TOKEN = /__HOLDFAST_ENV_(\d+)__/g;
const WHOLE_TOKEN = /^__HOLDFAST_ENV_(\d+)__$/;

interface EnvRef {
  name: string;
  fallback: string | undefined;
}

/**
 * `${NAME}` / `${NAME:-default}` must work anywhere a value can go, including YAML flow maps where a
 * bare `${` would open a nested map. So references are swapped for opaque tokens before parsing and the
 * values put back into the parsed tree afterwards: a secret containing YAML syntax cannot change the
 * document's shape.
 */
function tokenize(text: string): { text: string; refs: EnvRef[] } {
  const refs: EnvRef[] = [];
  const out = text.replace(ENV_REF, (_m, name: string, fallback?: string) => {
    refs.push({ name, fallback });
    return `__HOLDFAST_ENV_${refs.length - 1}__`;
  });
  return { text: out, refs };
}

function resolveRef(ref: EnvRef, env: NodeJS.ProcessEnv, path: string[], missing: string[]): string {
  const v = env[ref.name];
  if (v !== undefined && v !== '') return v;
  if (ref.fallback !== undefined) return ref.fallback;
  missing.push(`${path.join('.') || '(root)'}: environment variable ${ref.name} is not set`);
  return '';
}

/** A value that is exactly one reference keeps the env value's scalar type (`port: ${PORT}` is a number). */
function scalar(text: string): unknown {
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  if (text === 'true' || text === 'false') return text === 'true';
  return text;
}

export function interpolate(
  value: unknown,
  env: NodeJS.ProcessEnv,
  refs: EnvRef[],
  path: string[],
  missing: string[],
): unknown {
  if (typeof value === 'string') {
    const whole = WHOLE_TOKEN.exec(value);
    if (whole) return scalar(resolveRef(refs[Number(whole[1])]!, env, path, missing));
    return value
      .replace(TOKEN, (_m, i: string) => resolveRef(refs[Number(i)]!, env, path, missing))
      .replace(ENV_REF, (_m, name: string, fallback?: string) =>
        resolveRef({ name, fallback }, env, path, missing),
      );
  }
  if (Array.isArray(value))
    return value.map((v, i) => interpolate(v, env, refs, [...path, String(i)], missing));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, env, refs, [...path, k], missing);
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

/** DATABASE_URL selects PostgreSQL whenever the file does not name a store URL itself. */
function withEnvDefaults(tree: unknown, env: NodeJS.ProcessEnv): unknown {
  if (!env.DATABASE_URL || tree === null || typeof tree !== 'object' || Array.isArray(tree)) return tree;
  const t = tree as Record<string, unknown>;
  const store = (t.store ?? {}) as Record<string, unknown>;
  if (typeof store !== 'object' || store.url !== undefined) return tree;
  return { ...t, store: { ...store, url: env.DATABASE_URL } };
}

/** Validates an already-parsed config tree; returns a deeply frozen Config or throws ConfigError. */
export function buildConfig(
  raw: unknown,
  env: NodeJS.ProcessEnv = process.env,
  source = 'config',
  refs: EnvRef[] = [],
): Config {
  const missing: string[] = [];
  const tree = withEnvDefaults(interpolate(raw ?? {}, env, refs, [], missing), env);
  const parsed = configSchema.safeParse(tree);
  const issues = [...missing, ...(parsed.success ? [] : formatIssues(parsed.error.issues))];
  if (issues.length > 0 || !parsed.success) throw new ConfigError(source, issues);
  return deepFreeze(parsed.data);
}

/** Validates a config tree whose variables are already resolved (a reload's merged config). */
export function checkConfig(tree: unknown, source: string): Config {
  const parsed = configSchema.safeParse(tree);
  if (!parsed.success) throw new ConfigError(source, formatIssues(parsed.error.issues));
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
  const tokens = tokenize(text);
  try {
    raw = parseYaml(tokens.text, { prettyErrors: true });
  } catch (err) {
    throw new ConfigError(file, [`YAML syntax: ${(err as Error).message}`]);
  }
  return buildConfig(raw, env, file, tokens.refs);
}
