import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  formatReport,
  type ImportNote,
  importLiteLLM,
  type LiteLLMImport,
  LiteLLMImportError,
  placeholderEnv,
  renderHoldfastYaml,
  validateHoldfastYaml,
} from '../../src/config/import/litellm.ts';
import { buildConfig, type ConfigError, loadConfigFile } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';

const FIXTURES = new URL('../fixtures/litellm/', import.meta.url).pathname;
const BIN = new URL('../../bin/holdfast.js', import.meta.url).pathname;
const run = promisify(execFile);

interface Imported {
  result: LiteLLMImport;
  yaml: string;
  /** The rendered YAML loaded back through the real config loader (placeholders for the env). */
  config: Config;
}

function importFixture(name: string): Imported {
  const file = join(FIXTURES, name);
  const result = importLiteLLM(parse(readFileSync(file, 'utf8')));
  const yaml = renderHoldfastYaml(result, { source: name });
  const env = placeholderEnv(result);
  expect(validateHoldfastYaml(yaml, env)).toEqual([]);
  const out = join(mkdtempSync(join(tmpdir(), 'holdfast-import-')), 'holdfast.yaml');
  writeFileSync(out, yaml);
  return { result, yaml, config: loadConfigFile(out, env) };
}

const rawModel = (r: LiteLLMImport, name: string) => r.config.models.find((m) => m.name === name)!;
const model = (c: Config, name: string) => c.models.find((m) => m.name === name)!;
const unmapped = (r: LiteLLMImport): ImportNote[] => r.notes.filter((n) => n.kind === 'unmapped');
const notes = (r: LiteLLMImport): ImportNote[] => r.notes.filter((n) => n.kind === 'note');
const paths = (list: ImportNote[]) => list.map((n) => n.path);

describe('LiteLLM import: sample configs', () => {
  it('simple OpenAI: one group per model_name, os.environ/ secrets become ${ENV}', () => {
    const { result, yaml, config } = importFixture('simple-openai.yaml');
    expect(config.models.map((m) => m.name)).toEqual(['gpt-4o', 'gpt-4o-mini']);
    expect(model(config, 'gpt-4o').deployments[0]).toMatchObject({
      id: 'gpt-4o-openai',
      provider: 'openai',
      base_url: 'https://api.openai.com/v1',
      model: 'gpt-4o',
    });
    expect(rawModel(result, 'gpt-4o').deployments[0]!.api_key).toBe('${OPENAI_API_KEY}');
    expect(result.config.auth?.admin_key).toBe('${LITELLM_MASTER_KEY}');
    expect(result.env).toEqual(['LITELLM_MASTER_KEY', 'OPENAI_API_KEY']);
    expect(yaml).toMatch(/^# Holdfast config imported from the LiteLLM config simple-openai\.yaml/);
    expect(yaml).toContain('api_key: ${OPENAI_API_KEY}');
    expect(yaml).not.toContain('os.environ');
    expect(unmapped(result)).toEqual([]);
  });

  it('Azure + OpenAI fallback: azure paths, fallbacks, context-window fallback, retries, timeouts, cooldown', () => {
    const { result, config } = importFixture('azure-openai-fallback.yaml');
    const gpt = model(config, 'gpt-4o');
    expect(gpt.deployments).toHaveLength(2);
    expect(gpt.deployments[0]).toMatchObject({
      id: 'azure-eastus', // model_info.id
      provider: 'openai',
      base_url: 'https://contoso-eastus.openai.azure.com',
      azure_deployment: 'gpt-4o-eastus',
      api_version: '2024-10-21',
      model: 'gpt-4o', // model_info.base_model
      timeouts: { total_ms: 120_000, first_byte_ms: 20_000 },
    });
    const sweden = rawModel(result, 'gpt-4o').deployments[1]!;
    expect(sweden).toMatchObject({
      id: 'gpt-4o-azure',
      base_url: '${AZURE_SWEDEN_API_BASE}',
      api_key: '${AZURE_SWEDEN_KEY}',
      api_version: '${AZURE_API_VERSION}',
      azure_deployment: 'gpt-4o-swedencentral',
    });
    expect(gpt.deployments[1]!.timeouts.total_ms).toBe(60_000); // router_settings.timeout
    // fallbacks, then the context-window fallback, which needs context_too_long in fallback_on
    expect(gpt.fallbacks).toEqual(['openai-gpt-4o', 'gpt-4.1-long']);
    expect(gpt.fallback_on).toContain('context_too_long');
    expect(model(config, 'openai-gpt-4o').fallback_on).not.toContain('context_too_long');
    // num_retries 2: 3 attempts on the group plus one per fallback group
    expect(gpt.retry.max_attempts).toBe(5);
    expect(model(config, 'openai-gpt-4o').retry.max_attempts).toBe(3);
    expect(model(config, 'openai-gpt-4o').deployments[0]!.headers).toEqual({
      'OpenAI-Organization': 'holdfast-import-placeholder-value',
    });
    expect(config.resilience.outlier).toMatchObject({ consecutive_failures: 4, base_ejection_ms: 45_000 });
    expect(config.chat.context_tokens).toEqual({ 'gpt-4.1-long': 1_000_000 });
    expect(paths(notes(result))).toEqual(
      expect.arrayContaining([
        'router_settings.routing_strategy',
        'router_settings.context_window_fallbacks[0].gpt-4o',
        'router_settings.num_retries',
        'router_settings.allowed_fails',
        'router_settings.cooldown_time',
      ]),
    );
    expect(unmapped(result)).toEqual([]);
  });

  it('Anthropic + vLLM: rpm → weights, order → tiers, routing_strategy noted, tpm reported', () => {
    const { result, config } = importFixture('anthropic-vllm.yaml');
    const claude = model(config, 'claude-sonnet');
    expect(claude.deployments.map((d) => [d.provider, d.base_url, d.weight, d.tier])).toEqual([
      ['anthropic', 'https://api.anthropic.com', 4, 0],
      ['anthropic', 'https://anthropic-proxy.internal.example.com', 1, 1], // /v1 trimmed: Holdfast adds /v1/messages
    ]);
    expect(claude.deployments[0]!.id).not.toBe(claude.deployments[1]!.id);
    const llama = model(config, 'llama-70b');
    expect(llama.deployments.map((d) => [d.provider, d.base_url, d.model, d.weight])).toEqual([
      ['openai', 'http://gpu-a.internal:8000/v1', 'meta-llama/Llama-3.3-70B-Instruct', 2],
      ['openai', 'http://gpu-b.internal:8000/v1', 'meta-llama/Llama-3.3-70B-Instruct', 1],
    ]);
    expect(llama.deployments[0]).toMatchObject({ continuation: 'prefill', max_connections: 48 });
    expect(claude.fallbacks).toEqual(['llama-70b']);
    // litellm_settings: num_retries 1, request_timeout 600 s (longer than the default request deadline)
    expect(claude.retry.max_attempts).toBe(3);
    expect(llama.retry.max_attempts).toBe(2);
    expect(llama.deployments[1]!.timeouts.total_ms).toBe(600_000);
    expect(llama.deadline_ms).toBe(600_000);
    const strategy = result.notes.find((n) => n.path === 'router_settings.routing_strategy')!;
    expect(strategy.kind).toBe('note');
    expect(strategy.message).toMatch(/usage-based-routing-v2.*power of two choices.*peak-EWMA/);
    expect(strategy.message).toContain('became weights');
    // rpm was used as the weight; tpm has no Holdfast equivalent and says why
    const tpm = unmapped(result).filter((n) => n.path.endsWith('.tpm'));
    expect(tpm).toHaveLength(4);
    expect(tpm[0]!.message).toMatch(/not enforced as a limit.*no per-deployment rate cap/);
    expect(notes(result).some((n) => n.path === 'model_list[0].litellm_params.rpm')).toBe(true);
  });

  it('Ollama local: OpenAI-compatible /v1, no key, placeholder keys kept, default fallbacks', () => {
    const { result, config } = importFixture('ollama-local.yaml');
    expect(config.models.map((m) => [m.name, m.deployments[0]!.base_url, m.deployments[0]!.model])).toEqual([
      ['llama3.2', 'http://localhost:11434/v1', 'llama3.2'],
      ['qwen-coder', 'http://localhost:11434/v1', 'qwen2.5-coder:7b'],
      ['mistral-small', 'http://127.0.0.1:8081/v1', 'mistral-small'],
    ]);
    expect(model(config, 'llama3.2').deployments[0]!.api_key).toBeUndefined();
    expect(model(config, 'mistral-small').deployments[0]!.api_key).toBe('none');
    expect(model(config, 'llama3.2').fallbacks).toEqual([]);
    expect(model(config, 'qwen-coder').fallbacks).toEqual(['llama3.2']);
    expect(result.env).toEqual([]);
    expect(paths(unmapped(result))).toEqual(['litellm_settings.drop_params']);
  });

  it('messy config: every unsupported key reported with a reason; literal secrets not copied', () => {
    const { result, yaml, config } = importFixture('messy.yaml');
    expect(config.models.map((m) => m.name)).toEqual(['gpt-4o', 'groq-llama']);
    const gpt = model(config, 'gpt-4o');
    expect(gpt.deployments.map((d) => [d.id, d.weight, d.azure_deployment])).toEqual([
      ['gpt-4o-openai', 1, undefined],
      ['gpt-4o-azure', 3, 'prod-gpt4o'],
    ]);
    expect(gpt.fallbacks).toEqual(['groq-llama']); // "claude" (bedrock) was not imported
    expect(model(config, 'groq-llama').deployments[0]!.base_url).toBe('https://api.groq.com/openai/v1');
    expect(rawModel(result, 'groq-llama').deployments[0]!.headers).toEqual({
      'X-Api-Key': '${GROQ_LLAMA_GROQ_X_API_KEY}',
      'X-Team': 'research',
    });
    expect(yaml).not.toContain('literal-header-secret-42');
    expect(config.log.level).toBe('debug');
    // the literal key moved to an env var; it appears nowhere in the output
    expect(rawModel(result, 'gpt-4o').deployments[0]!.api_key).toBe('${GPT_4O_OPENAI_API_KEY}');
    expect(yaml).not.toContain('sk-live-do-not-commit');
    expect(yaml).not.toContain('sk-1234');
    expect(JSON.stringify(result)).not.toContain('sk-live-do-not-commit');
    expect(result.config.auth).toBeUndefined();

    const reasons = new Map(unmapped(result).map((n) => [n.path, n.message]));
    const expected: [string, RegExp][] = [
      ['(root).include', /merge them/],
      ['(root).environment_variables', /export them/],
      ['(root).litelm_settings', /unknown top-level section/],
      ['model_list[0].litellm_params.{temperature, max_tokens}', /does not inject defaults/],
      ['model_list[0].litellm_params.input_cost_per_token', /spend/],
      ['model_list[0].litellm_params.num_retries', /per model group/],
      ['model_list[0].litellm_params.rpm', /not enforced as a limit/],
      ['model_list[0].model_info.supports_vision', /capability/],
      ['model_list[1].litellm_params.tenant_id', /api-key only/],
      ['model_list[2].litellm_params', /provider "bedrock" is not supported/],
      ['model_list[3].litellm_params', /provider "gemini" is not supported/],
      ['model_list[4].model_info.mode', /chat only/],
      ['model_list[5].model_name', /wildcard/],
      ['model_list[6].litellm_params.rpm', /read from the environment/],
      ['model_list (claude)', /no deployment Holdfast can serve/],
      ['litellm_settings.content_policy_fallbacks', /content filter/],
      ['litellm_settings.fallbacks[0].gpt-4o', /"claude" is not an imported model group/],
      ['litellm_settings.fallbacks[1].gemini', /"gemini" is not an imported model group/],
      ['litellm_settings.{success_callback, failure_callback}', /outcome record/],
      ['litellm_settings.{cache, cache_params}', /no response cache/],
      ['litellm_settings.max_budget', /budgets/],
      ['router_settings.routing_strategy_args', /one balancing policy/],
      ['router_settings.{redis_host, redis_password}', /Redis/],
      ['router_settings.model_group_alias', /no model aliases/],
      ['router_settings.retry_policy', /failure kind/],
      ['router_settings.enable_pre_call_checks', /context_too_long/],
      ['general_settings.master_key', /HOLDFAST_ADMIN_KEY/],
      ['general_settings.alerting', /status page/],
      ['general_settings.store_model_in_db', /no Holdfast equivalent/],
    ];
    for (const [path, reason] of expected) expect(reasons.get(path), path).toMatch(reason);
    // the header lists what was left out; the report says why
    expect(yaml).toContain('#   - router_settings.model_group_alias');
    const report = formatReport(result);
    expect(report).toContain('Imported 2 model group(s), 3 deployment(s).');
    expect(report).toContain('✗ router_settings.model_group_alias: Holdfast has no model aliases');
    expect(report).toContain(
      'Set before starting: AZURE_API_KEY, DATABASE_URL, GPT_4O_OPENAI_API_KEY, GROQ_API_KEY, GROQ_LLAMA_GROQ_X_API_KEY',
    );
  });
});

describe('LiteLLM import: details', () => {
  it('deployment ids are stable, unique and valid', () => {
    const twice = (text: string) =>
      importLiteLLM(parse(text)).config.models.flatMap((m) => m.deployments.map((d) => d.id));
    const text = `
model_list:
  - { model_name: "GPT 4o (EU)", litellm_params: { model: azure/gpt-4o-eu, api_base: https://eu.example.com, api_key: os.environ/K } }
  - { model_name: "GPT 4o (EU)", litellm_params: { model: azure/gpt-4o-ca, api_base: https://ca.example.com, api_key: os.environ/K } }
  - { model_name: "GPT 4o (EU)", litellm_params: { model: openai/gpt-4o, api_key: os.environ/K } }
`;
    const ids = twice(text);
    expect(ids).toEqual(['gpt-4o-eu-azure-gpt-4o-eu', 'gpt-4o-eu-azure-gpt-4o-ca', 'gpt-4o-eu-openai']);
    expect(twice(text)).toEqual(ids);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_.-]+$/);
  });

  it('a config with nothing Holdfast can serve does not validate, and says why', () => {
    const result = importLiteLLM(
      parse('model_list:\n  - { model_name: c, litellm_params: { model: bedrock/anthropic.claude-v2 } }\n'),
    );
    expect(result.config.models).toEqual([]);
    const problems = validateHoldfastYaml(renderHoldfastYaml(result), placeholderEnv(result));
    expect(problems.some((p) => p.startsWith('models:'))).toBe(true);
    expect(paths(unmapped(result))).toContain('model_list[0].litellm_params');
  });

  it('a literal database URL is not copied (it may hold a password)', () => {
    const result = importLiteLLM(
      parse(
        'model_list:\n  - { model_name: m, litellm_params: { model: openai/m, api_base: http://127.0.0.1:9/v1 } }\ngeneral_settings: { database_url: "postgresql://u:hunter2@db:5432/litellm" }\n',
      ),
    );
    expect(result.config.store).toBeUndefined();
    expect(JSON.stringify(result)).not.toContain('hunter2');
    expect(unmapped(result).find((n) => n.path === 'general_settings.database_url')!.message).toContain(
      'set DATABASE_URL',
    );
  });

  it('rejects what is not a LiteLLM proxy config', () => {
    expect(() => importLiteLLM(parse('models: []'))).toThrow(LiteLLMImportError);
    expect(() => importLiteLLM('text')).toThrow(/top level must be a mapping/);
  });

  it('the imported file fails check-config until its variables are set, like any Holdfast config', () => {
    const { yaml } = importFixture('simple-openai.yaml');
    let issues: string[] = [];
    try {
      buildConfig(parse(yaml), {});
    } catch (err) {
      issues = (err as ConfigError).issues;
    }
    expect(issues).toContain(
      'models.0.deployments.0.api_key: environment variable OPENAI_API_KEY is not set',
    );
  });
});

describe('holdfast import litellm (CLI)', () => {
  const holdfast = async (args: string[], cwd: string, env: Record<string, string> = {}) => {
    try {
      const { stdout, stderr } = await run(process.execPath, [BIN, ...args], {
        cwd,
        env: { ...process.env, ...env },
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  it('writes a valid holdfast.yaml, prints the report, and will not overwrite without --force', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'holdfast-import-cli-'));
    const src = join(FIXTURES, 'anthropic-vllm.yaml');
    const first = await holdfast(['import', 'litellm', src], dir);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('Imported 2 model group(s), 4 deployment(s).');
    expect(first.stdout).toMatch(/Not mapped \(4\):/);
    expect(first.stdout).toContain('router_settings.routing_strategy');
    const out = join(dir, 'holdfast.yaml');
    expect(existsSync(out)).toBe(true);
    expect(readFileSync(out, 'utf8')).toContain('api_key: ${ANTHROPIC_API_KEY}');

    const check = await holdfast(['check-config', '--config', out], dir, {
      ANTHROPIC_API_KEY: 'k1',
      ANTHROPIC_PROXY_KEY: 'k2',
    });
    expect(check).toMatchObject({ code: 0 });
    expect(check.stdout).toContain('2 model(s), 4 deployment(s)');

    const again = await holdfast(['import', 'litellm', src], dir);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('--force');
    expect((await holdfast(['import', 'litellm', src, '--force'], dir)).code).toBe(0);

    const toStdout = await holdfast(
      ['import', 'litellm', join(FIXTURES, 'ollama-local.yaml'), '--out', '-'],
      dir,
    );
    expect(toStdout.code).toBe(0);
    expect(parse(toStdout.stdout).models).toHaveLength(3);
    expect(toStdout.stderr).toContain('litellm_settings.drop_params');

    expect((await holdfast(['import', 'nope', src], dir)).code).toBe(2);
  });
});
