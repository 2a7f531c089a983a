import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import {
  formatReport,
  importLiteLLM,
  LiteLLMImportError,
  placeholderEnv,
  renderHoldfastYaml,
  validateHoldfastYaml,
} from '../config/import/litellm.ts';
import { ConfigError, loadConfigFile } from '../config/load.ts';
import { formatDuration, Progress } from './progress.ts';

const USAGE =
  'usage: holdfast import litellm <litellm-config.yaml> [--out holdfast.yaml | --out -] [--force] [--json]\n';

/**
 * `holdfast import litellm config.yaml`: writes a Holdfast config (default ./holdfast.yaml, never over an
 * existing file without --force) and prints what was mapped with a difference and what was left out.
 * Exit 0 written, 1 unreadable/invalid input or a result that would not validate, 2 usage.
 */
export async function importCommand(args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (err) {
    process.stderr.write(`holdfast import: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [kind, file] = positionals;
  if (kind !== 'litellm' || !file || positionals.length > 2) {
    process.stderr.write(USAGE);
    return 2;
  }
  const out = values.out ?? 'holdfast.yaml';
  const toStdout = out === '-';
  // With --out -, stdout carries the YAML; the report goes to stderr.
  const report = (text: string) => (toStdout ? process.stderr : process.stdout).write(text);

  const progress = new Progress({ label: 'import litellm', unit: 'entries' });
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'), { prettyErrors: true });
  } catch (err) {
    process.stderr.write(`holdfast import: cannot read ${file}: ${(err as Error).message}\n`);
    return 1;
  }
  let result: ReturnType<typeof importLiteLLM>;
  try {
    result = importLiteLLM(raw);
  } catch (err) {
    if (err instanceof LiteLLMImportError) {
      process.stderr.write(`holdfast import: ${file}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const yaml = renderHoldfastYaml(result, { source: basename(file) });
  const env = placeholderEnv(result);
  const problems = validateHoldfastYaml(yaml, env);

  if (values.json) {
    const body = { ok: problems.length === 0, out: toStdout ? null : resolve(out), ...result, problems };
    report(`${JSON.stringify(body, null, 2)}\n`);
  } else {
    report(formatReport(result));
    progress.finish(`${summarise(raw, result)}; ${formatDuration(progress.elapsedMs)}`);
  }
  if (problems.length > 0) {
    process.stderr.write(
      `holdfast import: the result would not validate, nothing written:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`,
    );
    return 1;
  }
  if (toStdout) {
    process.stdout.write(yaml);
    return 0;
  }
  if (existsSync(out) && !values.force) {
    process.stderr.write(
      `holdfast import: ${out} exists; pass --force to overwrite it, or --out another file\n`,
    );
    return 1;
  }
  writeFileSync(out, yaml);
  // The written file goes through exactly what `holdfast check-config` does (placeholders for the env).
  try {
    loadConfigFile(out, env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`holdfast import: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  if (!values.json)
    report(`\nWrote ${resolve(out)}. Next: holdfast check-config --config ${out} (with the variables set)\n`);
  return 0;
}

/** One line on stderr: how much of the LiteLLM file became Holdfast config, and how much did not. */
function summarise(raw: unknown, result: ReturnType<typeof importLiteLLM>): string {
  const list = typeof raw === 'object' && raw !== null && 'model_list' in raw ? raw.model_list : undefined;
  const entries = Array.isArray(list) ? list.length : 0;
  const groups = result.config.models.length;
  const deployments = result.config.models.reduce((n, m) => n + m.deployments.length, 0);
  const unmapped = result.notes.filter((n) => n.kind === 'unmapped').length;
  const differ = result.notes.filter((n) => n.kind === 'note').length;
  const skipped = entries > deployments ? `, ${entries - deployments} skipped` : '';
  return (
    `import litellm: ${deployments} of ${entries} model_list entries became deployments in ${groups} model group(s)${skipped}; ` +
    `${unmapped} item(s) not mapped and ${differ} mapped with a difference, listed above`
  );
}

function parse(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    options: {
      out: { type: 'string', short: 'o' },
      force: { type: 'boolean', short: 'f' },
      json: { type: 'boolean' },
    },
  });
}
