import type { Config } from '../config/schema.ts';

/**
 * Config sections a running gateway takes without a restart. They only shape how requests are routed and
 * admitted, which a new generation (src/runtime/generation.ts) rebuilds. The others own listening sockets,
 * databases, sessions or background services, so a change there is reported as needing a restart and the
 * running value is kept.
 */
export const RELOADABLE_SECTIONS = ['models', 'resilience', 'admission', 'limits', 'log'] as const;
type Reloadable = (typeof RELOADABLE_SECTIONS)[number];

const reloadable = new Set<string>(RELOADABLE_SECTIONS);

export interface ConfigChange {
  /** Reloadable sections that differ: applied. */
  applied: string[];
  /** Other sections that differ: kept as they are until the next restart. */
  needsRestart: string[];
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function diffConfig(current: Config, next: Config): ConfigChange {
  const keys = new Set([...Object.keys(current), ...Object.keys(next)]);
  const applied: string[] = [];
  const needsRestart: string[] = [];
  for (const k of [...keys].sort()) {
    if (same((current as Record<string, unknown>)[k], (next as Record<string, unknown>)[k])) continue;
    (reloadable.has(k) ? applied : needsRestart).push(k);
  }
  return { applied, needsRestart };
}

/** The config a reload runs on: the new file's reloadable sections over the running config. */
export function effectiveConfig(current: Config, next: Config): Config {
  const out: Record<string, unknown> = { ...current };
  for (const k of RELOADABLE_SECTIONS) out[k] = next[k as Reloadable];
  return Object.freeze(out) as unknown as Config;
}
