import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const ROOT = join(import.meta.dirname, '..', '..', 'deploy');
export const GRAFANA_DIR = join(ROOT, 'grafana');
export const PROMETHEUS_DIR = join(ROOT, 'prometheus');

export interface Rule {
  alert?: unknown;
  record?: unknown;
  expr?: unknown;
  for?: unknown;
  labels?: unknown;
  annotations?: unknown;
}

export interface RuleFile {
  file: string;
  text: string;
  groups: Array<{ name?: unknown; interval?: unknown; rules?: Rule[] }>;
}

const files = (dir: string, ext: RegExp): string[] =>
  readdirSync(dir)
    .filter((f) => ext.test(f))
    .map((f) => join(dir, f));

export function dashboardFiles(): string[] {
  return files(GRAFANA_DIR, /\.json$/);
}

export function ruleFiles(): RuleFile[] {
  return files(PROMETHEUS_DIR, /\.ya?ml$/).map((file) => {
    const text = readFileSync(file, 'utf8');
    const doc = parse(text) as { groups?: RuleFile['groups'] };
    return { file, text, groups: doc.groups ?? [] };
  });
}

/**
 * Every PromQL a Grafana dashboard runs: panel targets (rows' nested panels too) and query variables.
 * Walks the whole document, so a panel type this list does not know still has its targets found.
 */
export function dashboardExprs(dashboard: unknown): string[] {
  const out: string[] = [];
  const walk = (node: unknown, key: string | undefined): void => {
    if (Array.isArray(node)) {
      for (const x of node) walk(x, key);
      return;
    }
    if (typeof node !== 'object' || node === null) return;
    const o = node as Record<string, unknown>;
    if (typeof o.expr === 'string') out.push(o.expr);
    // Query variables: `query` is a string or { query }.
    if (key === 'list' && o.type === 'query') {
      const q = typeof o.query === 'string' ? o.query : (o.query as { query?: unknown } | undefined)?.query;
      if (typeof q === 'string') out.push(q);
    }
    for (const [k, v] of Object.entries(o)) if (k !== 'expr') walk(v, k);
  };
  walk(dashboard, undefined);
  return out;
}

export function ruleExprs(rules: readonly RuleFile[]): { exprs: string[]; recorded: Set<string> } {
  const exprs: string[] = [];
  const recorded = new Set<string>();
  for (const f of rules)
    for (const g of f.groups)
      for (const r of g.rules ?? []) {
        if (typeof r.expr === 'string') exprs.push(r.expr);
        if (typeof r.record === 'string') recorded.add(r.record);
      }
  return { exprs, recorded };
}
