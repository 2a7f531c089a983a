import { parse as parseYaml, stringify } from 'yaml';
import { DEPLOYMENT_FAULT_KINDS } from '../../core/upstream-error.ts';
import { buildConfig, ConfigError } from '../load.ts';
import type { ConfigInput } from '../schema.ts';

/**
 * LiteLLM proxy config (config.yaml) → Holdfast config. Pure: a parsed LiteLLM tree in, a Holdfast config
 * tree plus a report out; no files, no environment. The CLI (`holdfast import litellm`) does the I/O.
 *
 * Every LiteLLM key is either mapped silently (same meaning), mapped with a note (close, but not the same
 * semantics), or reported as not mapped, with the reason. Nothing is dropped without a line in the report.
 */

export type NoteKind = 'note' | 'unmapped';

export interface ImportNote {
  /** `note`: mapped, but the meaning differs in a way worth knowing; `unmapped`: left out. */
  kind: NoteKind;
  /** Where in the LiteLLM file, e.g. `model_list[2].litellm_params.temperature`. */
  path: string;
  message: string;
}

export interface LiteLLMImport {
  /** The Holdfast config tree (snake_case, `${ENV}` references left in place). */
  config: ConfigInput;
  notes: ImportNote[];
  /** Environment variables the config references, sorted. */
  env: string[];
  /** Those of `env` that must hold a URL (validation placeholders use one). */
  urlEnv: string[];
}

export class LiteLLMImportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LiteLLMImportError';
  }
}

type Obj = Record<string, unknown>;
type ModelInput = ConfigInput['models'][number];
type DeploymentInput = ModelInput['deployments'][number];
type Provider = 'openai' | 'anthropic';

const ENV_REF = /^os\.environ\/([A-Za-z_][A-Za-z0-9_]*)$/;
const OPENAI_BASE = 'https://api.openai.com/v1';
const ANTHROPIC_BASE = 'https://api.anthropic.com';
const OLLAMA_BASE = 'http://localhost:11434';
const MAX_ATTEMPTS = 10;
const DEFAULT_DEADLINE_MS = 300_000;
const DEFAULT_FIRST_BYTE_MS = 60_000;
const DEFAULT_MAX_EJECTION_MS = 300_000;

/** OpenAI-compatible LiteLLM providers with a well-known endpoint, and the key variable LiteLLM reads. */
const OPENAI_COMPATIBLE: Record<string, { base: string; keyEnv?: string }> = {
  groq: { base: 'https://api.groq.com/openai/v1', keyEnv: 'GROQ_API_KEY' },
  mistral: { base: 'https://api.mistral.ai/v1', keyEnv: 'MISTRAL_API_KEY' },
  deepseek: { base: 'https://api.deepseek.com/v1', keyEnv: 'DEEPSEEK_API_KEY' },
  openrouter: { base: 'https://openrouter.ai/api/v1', keyEnv: 'OPENROUTER_API_KEY' },
  together_ai: { base: 'https://api.together.xyz/v1', keyEnv: 'TOGETHERAI_API_KEY' },
  fireworks_ai: { base: 'https://api.fireworks.ai/inference/v1', keyEnv: 'FIREWORKS_AI_API_KEY' },
  xai: { base: 'https://api.x.ai/v1', keyEnv: 'XAI_API_KEY' },
  lm_studio: { base: 'http://localhost:1234/v1' },
};

/** Values that mark "no key needed" on a local server rather than a secret; kept as they are. */
const PLACEHOLDER_KEYS = new Set([
  'none',
  'empty',
  'null',
  'ollama',
  'dummy',
  'fake',
  'fake-key',
  'no-key',
  'not-needed',
  'sk-no-key-required',
  'x',
  '-',
]);

const REQUEST_PARAMS = new Set([
  'temperature',
  'max_tokens',
  'max_completion_tokens',
  'top_p',
  'top_k',
  'stop',
  'seed',
  'n',
  'frequency_penalty',
  'presence_penalty',
  'logit_bias',
  'response_format',
  'tools',
  'tool_choice',
  'reasoning_effort',
  'thinking',
  'extra_body',
  'user',
  'mock_response',
]);

const COST_KEYS = /^(input|output)_cost_per_|_cost_per_/;
const AZURE_AD_KEYS = new Set([
  'azure_ad_token',
  'azure_ad_token_provider',
  'tenant_id',
  'client_id',
  'client_secret',
  'azure_username',
  'azure_password',
  'azure_scope',
]);

const CHAT_MODES = new Set(['chat', 'completion', 'responses']);

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function slug(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9_.-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '');
}

function envName(s: string): string {
  return s
    .toUpperCase()
    .replace(/[^A-Z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

function envRef(name: string): string {
  return `\${${name}}`;
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

/** Adds `/v1` to a bare origin (http://host:8000 → http://host:8000/v1); a URL with a path is kept. */
function withV1(url: string): { url: string; added: boolean } {
  if (url.startsWith('${')) return { url, added: false };
  try {
    const u = new URL(url);
    if (u.pathname === '' || u.pathname === '/') return { url: `${trimSlash(url)}/v1`, added: true };
  } catch {
    // not a URL: validation will say so
  }
  return { url: trimSlash(url), added: false };
}

function seconds(v: number): number {
  return Math.max(1, Math.round(v * 1000));
}

class Importer {
  readonly notes: ImportNote[] = [];
  readonly env = new Set<string>();
  readonly urlEnv = new Set<string>();

  note(path: string, message: string): void {
    this.notes.push({ kind: 'note', path, message });
  }

  unmapped(path: string, message: string): void {
    this.notes.push({ kind: 'unmapped', path, message });
  }

  /** A string value; `os.environ/NAME` becomes `${NAME}`. */
  str(v: unknown, path: string, opts: { url?: boolean } = {}): string | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    if (typeof v !== 'string') {
      this.unmapped(path, `expected a string, got ${Array.isArray(v) ? 'a list' : typeof v}`);
      return undefined;
    }
    const m = ENV_REF.exec(v.trim());
    if (m) {
      this.env.add(m[1]!);
      if (opts.url) this.urlEnv.add(m[1]!);
      return envRef(m[1]!);
    }
    if (v.includes('os.environ/')) {
      this.unmapped(path, `"${v}" mixes text with an os.environ/ reference; write it as \${NAME} by hand`);
      return undefined;
    }
    return v;
  }

  /** A number (or numeric string). An `os.environ/` number cannot be known at import time. */
  num(v: unknown, path: string): number | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    if (typeof v === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(v)) return Number(v);
    if (typeof v === 'string' && ENV_REF.test(v.trim()))
      this.unmapped(path, 'a number read from the environment: set the value in the Holdfast config by hand');
    else this.unmapped(path, `expected a number, got ${JSON.stringify(v)}`);
    return undefined;
  }

  /** Reports the keys of `obj` not in `handled`, grouped by reason. */
  leftovers(obj: Obj, handled: ReadonlySet<string>, path: string, reason: (key: string) => string): void {
    const byReason = new Map<string, string[]>();
    for (const key of Object.keys(obj)) {
      if (handled.has(key)) continue;
      const r = reason(key);
      byReason.set(r, [...(byReason.get(r) ?? []), key]);
    }
    for (const [r, keys] of byReason) {
      const where = keys.length === 1 ? `${path}.${keys[0]}` : `${path}.{${keys.join(', ')}}`;
      this.unmapped(where, r);
    }
  }
}

interface RawDeployment {
  index: number;
  path: string;
  group: string;
  /** Candidate ids from most to least specific context. */
  idParts: string[];
  explicitId?: string;
  dep: DeploymentInput;
  weight?: number;
  rpm?: number;
  tpm?: number;
  order?: number;
  maxInputTokens?: number;
  totalMs?: number;
}

interface Settings {
  numRetries?: { value: number; path: string };
  timeoutS?: { value: number; path: string };
  fallbacks: Map<string, { targets: string[]; path: string }>;
  contextFallbacks: Map<string, { targets: string[]; path: string }>;
  defaultFallbacks?: { targets: string[]; path: string };
  allowedFails?: { value: number; path: string };
  cooldownS?: { value: number; path: string };
}

const PARAMS_HANDLED = new Set([
  'model',
  'api_key',
  'api_base',
  'base_url',
  'api_version',
  'timeout',
  'stream_timeout',
  'rpm',
  'tpm',
  'weight',
  'order',
  'max_parallel_requests',
  'organization',
  'extra_headers',
  'headers',
]);

function paramReason(key: string): string {
  if (REQUEST_PARAMS.has(key))
    return 'a default request parameter: Holdfast forwards what the caller sends and does not inject defaults';
  if (COST_KEYS.test(key)) return 'cost data: Holdfast does not track spend';
  if (AZURE_AD_KEYS.has(key))
    return 'Azure AD / Entra ID credentials: Holdfast authenticates to Azure OpenAI with an api-key only';
  if (key === 'num_retries' || key === 'max_retries')
    return 'per-deployment retries: Holdfast sets retries per model group (retry.max_attempts)';
  if (key === 'region_name' || key.startsWith('aws_') || key.startsWith('vertex_'))
    return 'cloud credentials for a provider Holdfast does not speak';
  if (key === 'drop_params') return 'Holdfast does not rewrite request parameters per deployment';
  return 'no Holdfast equivalent';
}

function modelInfoReason(key: string): string {
  if (COST_KEYS.test(key)) return 'cost data: Holdfast does not track spend';
  if (key.startsWith('supports_')) return 'capability metadata: Holdfast does not filter by capability';
  return 'metadata Holdfast does not use';
}

/** Where a LiteLLM `model` string goes: provider, upstream model, base URL and default key. */
function routeModel(
  imp: Importer,
  model: string,
  params: Obj,
  info: Obj,
  path: string,
): { dep: Omit<DeploymentInput, 'id'>; idPrefix: string } | undefined {
  const slash = model.indexOf('/');
  const prefix = slash > 0 ? model.slice(0, slash) : '';
  const rest = slash > 0 ? model.slice(slash + 1) : model;
  const apiBase = imp.str(params.api_base ?? params.base_url, `${path}.api_base`, { url: true });
  const apiKey = (fallbackEnv?: string): string | undefined => {
    const raw = params.api_key;
    if (raw === undefined || raw === null) {
      if (!fallbackEnv) return undefined;
      imp.env.add(fallbackEnv);
      return envRef(fallbackEnv);
    }
    return imp.str(raw, `${path}.api_key`);
  };
  const make = (provider: Provider, upstream: string, base: string, key: string | undefined) => ({
    provider,
    model: upstream,
    base_url: base,
    ...(key !== undefined ? { api_key: key } : {}),
  });

  if (prefix === 'azure') {
    let base = apiBase;
    if (!base) {
      imp.env.add('AZURE_API_BASE');
      imp.urlEnv.add('AZURE_API_BASE');
      base = envRef('AZURE_API_BASE');
      imp.note(`${path}.api_base`, 'not set: LiteLLM reads AZURE_API_BASE, so the import reads it too');
    }
    const version = imp.str(params.api_version, `${path}.api_version`);
    const baseModel = typeof info.base_model === 'string' ? info.base_model.replace(/^azure\//, '') : rest;
    return {
      dep: {
        ...make('openai', baseModel, trimSlash(base), apiKey('AZURE_API_KEY')),
        azure_deployment: rest,
        ...(version ? { api_version: version } : {}),
      },
      idPrefix: 'azure',
    };
  }
  if (prefix === 'anthropic' || (prefix === '' && /^claude-/.test(model))) {
    let base = trimSlash(apiBase ?? ANTHROPIC_BASE);
    if (/\/v1(\/messages)?$/.test(base)) {
      base = base.replace(/\/v1(\/messages)?$/, '');
      imp.note(`${path}.api_base`, 'Holdfast appends /v1/messages itself; the path was trimmed from the URL');
    }
    if (!prefix) imp.note(`${path}.model`, `no provider prefix: "${model}" taken as an Anthropic model`);
    return { dep: make('anthropic', rest, base, apiKey('ANTHROPIC_API_KEY')), idPrefix: 'anthropic' };
  }
  if (prefix === 'hosted_vllm') {
    let base = apiBase;
    if (!base) {
      imp.env.add('HOSTED_VLLM_API_BASE');
      imp.urlEnv.add('HOSTED_VLLM_API_BASE');
      base = envRef('HOSTED_VLLM_API_BASE');
      imp.note(`${path}.api_base`, 'not set: LiteLLM reads HOSTED_VLLM_API_BASE, so the import uses it too');
    }
    const v = withV1(base);
    if (v.added) imp.note(`${path}.api_base`, 'vLLM serves the OpenAI API under /v1: added to base_url');
    return {
      dep: { ...make('openai', rest, v.url, apiKey()), continuation: 'prefill' },
      idPrefix: 'vllm',
    };
  }
  if (prefix === 'ollama' || prefix === 'ollama_chat') {
    const v = withV1(apiBase ?? OLLAMA_BASE);
    imp.note(
      `${path}.model`,
      "served through Ollama's OpenAI-compatible API (base_url …/v1) instead of LiteLLM's native Ollama calls",
    );
    return { dep: make('openai', rest, v.url, apiKey()), idPrefix: 'ollama' };
  }
  const compatible = OPENAI_COMPATIBLE[prefix];
  if (compatible) {
    imp.note(`${path}.model`, `${prefix} is served as an OpenAI-compatible endpoint (${compatible.base})`);
    return {
      dep: make('openai', rest, trimSlash(apiBase ?? compatible.base), apiKey(compatible.keyEnv)),
      idPrefix: slug(prefix),
    };
  }
  if (prefix === 'openai' || (prefix === '' && /^(gpt-|chatgpt-|o\d)/.test(model))) {
    if (!prefix) imp.note(`${path}.model`, `no provider prefix: "${model}" taken as an OpenAI model`);
    const official = apiBase === undefined;
    return {
      dep: make(
        'openai',
        rest,
        trimSlash(apiBase ?? OPENAI_BASE),
        apiKey(official ? 'OPENAI_API_KEY' : undefined),
      ),
      idPrefix: official ? 'openai' : 'openai-compat',
    };
  }
  if (prefix === 'text-completion-openai')
    imp.unmapped(path, 'text completions (/v1/completions): Holdfast serves chat only; deployment skipped');
  else if (prefix === '')
    imp.unmapped(
      path,
      `model "${model}" has no provider prefix Holdfast can place (openai/, azure/, anthropic/, …); deployment skipped`,
    );
  else
    imp.unmapped(
      path,
      `provider "${prefix}" is not supported (Holdfast speaks OpenAI, Azure OpenAI, Anthropic and OpenAI-compatible servers); deployment skipped`,
    );
  return undefined;
}

function readDeployment(imp: Importer, entry: unknown, index: number): RawDeployment | undefined {
  const path = `model_list[${index}]`;
  if (!isObj(entry)) {
    imp.unmapped(path, 'not a mapping; skipped');
    return undefined;
  }
  const group = typeof entry.model_name === 'string' ? entry.model_name.trim() : '';
  if (!group) {
    imp.unmapped(path, 'no model_name; skipped');
    return undefined;
  }
  if (group.includes('*')) {
    imp.unmapped(`${path}.model_name`, `wildcard "${group}": Holdfast serves named models only; skipped`);
    return undefined;
  }
  const params = isObj(entry.litellm_params) ? entry.litellm_params : {};
  const info = isObj(entry.model_info) ? entry.model_info : {};
  const pp = `${path}.litellm_params`;
  imp.leftovers(
    entry,
    new Set(['model_name', 'litellm_params', 'model_info', 'rpm', 'tpm']),
    path,
    () => 'no Holdfast equivalent',
  );
  const mode = typeof info.mode === 'string' ? info.mode : 'chat';
  if (!CHAT_MODES.has(mode)) {
    imp.unmapped(`${path}.model_info.mode`, `mode "${mode}": Holdfast serves chat only; deployment skipped`);
    return undefined;
  }
  const model = typeof params.model === 'string' ? params.model.trim() : '';
  if (!model) {
    imp.unmapped(pp, 'no litellm_params.model; skipped');
    return undefined;
  }
  const routed = routeModel(imp, model, params, info, pp);
  if (!routed) return undefined;
  const dep: DeploymentInput = { id: '', ...routed.dep };

  const headers: Record<string, string> = {};
  const org = imp.str(params.organization, `${pp}.organization`);
  if (org) headers['OpenAI-Organization'] = org;
  for (const key of ['extra_headers', 'headers'] as const) {
    const h = params[key];
    if (h === undefined) continue;
    if (!isObj(h)) {
      imp.unmapped(`${pp}.${key}`, 'expected a mapping of header names to values');
      continue;
    }
    for (const [name, value] of Object.entries(h)) {
      const s = imp.str(value, `${pp}.${key}.${name}`);
      if (s !== undefined) headers[name] = s;
    }
  }
  if (Object.keys(headers).length > 0) dep.headers = headers;
  if (params.api_version !== undefined && dep.azure_deployment === undefined)
    imp.unmapped(`${pp}.api_version`, 'only Azure OpenAI uses an api-version');

  const timeouts: Record<string, number> = {};
  const timeout = imp.num(params.timeout, `${pp}.timeout`);
  if (timeout !== undefined && timeout > 0) timeouts.total_ms = seconds(timeout);
  const streamTimeout = imp.num(params.stream_timeout, `${pp}.stream_timeout`);
  if (streamTimeout !== undefined && streamTimeout > 0) {
    timeouts.first_byte_ms = seconds(streamTimeout);
    imp.note(
      `${pp}.stream_timeout`,
      'mapped to timeouts.first_byte_ms; it applies to every call (streamed or not), and Holdfast tightens it to 3× the observed p95 TTFT',
    );
  }
  if (Object.keys(timeouts).length > 0) dep.timeouts = timeouts;

  const maxParallel = imp.num(params.max_parallel_requests, `${pp}.max_parallel_requests`);
  if (maxParallel !== undefined && maxParallel >= 1) {
    dep.max_connections = Math.floor(maxParallel);
    imp.note(
      `${pp}.max_parallel_requests`,
      'mapped to max_connections (pool size: concurrent requests and streams to this deployment)',
    );
  }

  const pos = (v: number | undefined, p: string): number | undefined => {
    if (v === undefined) return undefined;
    if (v > 0) return v;
    imp.unmapped(p, 'must be a positive number; ignored');
    return undefined;
  };
  const raw: RawDeployment = {
    index,
    path,
    group,
    idParts: [
      slug(group),
      routed.idPrefix,
      slug(typeof dep.azure_deployment === 'string' ? dep.azure_deployment : dep.model),
    ],
    dep,
    weight: pos(imp.num(params.weight, `${pp}.weight`), `${pp}.weight`),
    rpm: pos(imp.num(params.rpm ?? entry.rpm, `${pp}.rpm`), `${pp}.rpm`),
    tpm: pos(imp.num(params.tpm ?? entry.tpm, `${pp}.tpm`), `${pp}.tpm`),
    order: imp.num(params.order, `${pp}.order`),
    totalMs: timeouts.total_ms,
  };
  if (info.id !== undefined) {
    const id = slug(String(info.id));
    if (id) raw.explicitId = id;
  }
  const maxIn = imp.num(info.max_input_tokens, `${path}.model_info.max_input_tokens`);
  if (maxIn !== undefined && maxIn > 0) raw.maxInputTokens = Math.floor(maxIn);
  if (isObj(entry.model_info))
    imp.leftovers(
      info,
      new Set(['id', 'mode', 'base_model', 'max_input_tokens']),
      `${path}.model_info`,
      modelInfoReason,
    );
  imp.leftovers(params, PARAMS_HANDLED, pp, paramReason);
  return raw;
}

/** Literal secrets are not copied: the value moves to an environment variable the report names. */
/** Header values that carry credentials get the same treatment as a literal api_key. */
function moveLiteralHeaders(imp: Importer, d: RawDeployment): void {
  const headers = d.dep.headers as Record<string, string> | undefined;
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value.startsWith('${') || !/authorization|api-?key|token|secret|password/i.test(name)) continue;
    const env = `${envName(d.dep.id)}_${envName(name)}`;
    imp.env.add(env);
    headers![name] = envRef(env);
    imp.note(
      `${d.path}.litellm_params.extra_headers.${name}`,
      `a literal credential: not copied into the Holdfast file; set ${env} to the value from the LiteLLM config`,
    );
  }
}

function moveLiteralKey(imp: Importer, d: RawDeployment): void {
  moveLiteralHeaders(imp, d);
  const key = d.dep.api_key;
  if (key === undefined || key.startsWith('${')) return;
  if (PLACEHOLDER_KEYS.has(key.trim().toLowerCase()) || key.trim() === '') {
    imp.note(
      `${d.path}.litellm_params.api_key`,
      `"${key}" looks like a placeholder, not a secret: kept as is`,
    );
    return;
  }
  const name = `${envName(d.dep.id)}_API_KEY`;
  imp.env.add(name);
  d.dep.api_key = envRef(name);
  imp.note(
    `${d.path}.litellm_params.api_key`,
    `a literal secret: not copied into the Holdfast file; set ${name} to the value from the LiteLLM config`,
  );
}

/** Stable ids: model_info.id when given, else the shortest of group / group-provider / …-model that is unique. */
function assignIds(deps: RawDeployment[]): void {
  const used = new Set<string>();
  const levels = (d: RawDeployment): string[] => {
    const [g, p, m] = d.idParts;
    return [`${g}-${p}`, `${g}-${p}-${m}`].map(slug);
  };
  const c0 = new Map<string, number>();
  for (const d of deps) {
    if (d.explicitId) continue;
    const k = levels(d)[0]!;
    c0.set(k, (c0.get(k) ?? 0) + 1);
  }
  for (const d of deps) {
    let id = d.explicitId;
    if (!id) {
      const [l0, l1] = levels(d) as [string, string];
      id = c0.get(l0) === 1 ? l0 : l1;
    }
    let unique = id;
    for (let n = 2; used.has(unique); n++) unique = `${id}-${n}`;
    used.add(unique);
    d.dep.id = unique;
  }
}

function readFallbacks(
  imp: Importer,
  v: unknown,
  path: string,
  into: Map<string, { targets: string[]; path: string }>,
  wildcard?: (targets: string[], path: string) => void,
): void {
  const entries: [string, unknown, string][] = [];
  if (Array.isArray(v)) {
    v.forEach((item, i) => {
      if (!isObj(item)) {
        imp.unmapped(`${path}[${i}]`, 'expected {model: [fallbacks]}');
        return;
      }
      for (const [k, t] of Object.entries(item)) entries.push([k, t, `${path}[${i}].${k}`]);
    });
  } else if (isObj(v)) {
    for (const [k, t] of Object.entries(v)) entries.push([k, t, `${path}.${k}`]);
  } else {
    imp.unmapped(path, 'expected a list of {model: [fallbacks]}');
    return;
  }
  for (const [source, t, p] of entries) {
    const list = Array.isArray(t) ? t : [t];
    const targets = list.filter((x): x is string => typeof x === 'string');
    if (targets.length !== list.length)
      imp.unmapped(p, 'fallback targets must be model names; others ignored');
    if (source === '*' && wildcard) {
      wildcard(targets, p);
      continue;
    }
    const prev = into.get(source);
    into.set(source, { targets: [...(prev?.targets ?? []), ...targets], path: p });
  }
}

function readSettings(imp: Importer, router: Obj, litellm: Obj): Settings {
  const s: Settings = { fallbacks: new Map(), contextFallbacks: new Map() };
  /** router_settings wins over litellm_settings for the same setting (the Router's own argument). */
  const pick = (rKey: string, lKey: string): { v: unknown; path: string } | undefined => {
    if (router[rKey] !== undefined) {
      if (litellm[lKey] !== undefined && JSON.stringify(litellm[lKey]) !== JSON.stringify(router[rKey]))
        imp.note(`litellm_settings.${lKey}`, `router_settings.${rKey} is set too and takes precedence`);
      return { v: router[rKey], path: `router_settings.${rKey}` };
    }
    if (litellm[lKey] !== undefined) return { v: litellm[lKey], path: `litellm_settings.${lKey}` };
    return undefined;
  };
  const numSetting = (rKey: string, lKey: string) => {
    const p = pick(rKey, lKey);
    if (!p) return undefined;
    const value = imp.num(p.v, p.path);
    return value === undefined ? undefined : { value, path: p.path };
  };
  s.numRetries = numSetting('num_retries', 'num_retries');
  s.timeoutS = numSetting('timeout', 'request_timeout') ?? numSetting('timeout', 'timeout');
  s.allowedFails = numSetting('allowed_fails', 'allowed_fails');
  s.cooldownS = numSetting('cooldown_time', 'cooldown_time');

  const setDefault = (targets: string[], path: string) => {
    s.defaultFallbacks = { targets: [...(s.defaultFallbacks?.targets ?? []), ...targets], path };
  };
  for (const [section, obj] of [
    ['litellm_settings', litellm],
    ['router_settings', router],
  ] as const) {
    if (obj.fallbacks !== undefined)
      readFallbacks(imp, obj.fallbacks, `${section}.fallbacks`, s.fallbacks, setDefault);
    if (obj.context_window_fallbacks !== undefined)
      readFallbacks(
        imp,
        obj.context_window_fallbacks,
        `${section}.context_window_fallbacks`,
        s.contextFallbacks,
      );
    if (obj.default_fallbacks !== undefined) {
      const list = Array.isArray(obj.default_fallbacks) ? obj.default_fallbacks : [obj.default_fallbacks];
      setDefault(
        list.filter((x): x is string => typeof x === 'string'),
        `${section}.default_fallbacks`,
      );
    }
    if (obj.content_policy_fallbacks !== undefined)
      imp.unmapped(
        `${section}.content_policy_fallbacks`,
        "Holdfast never falls back on a content filter (it is the caller's request, not the deployment, that failed)",
      );
  }
  return s;
}

const RELIABILITY_KEYS = [
  'num_retries',
  'timeout',
  'request_timeout',
  'fallbacks',
  'context_window_fallbacks',
  'content_policy_fallbacks',
  'default_fallbacks',
  'allowed_fails',
  'cooldown_time',
];

function routerReason(key: string): string {
  if (key.startsWith('redis_') || key === 'cache_responses' || key === 'cache_kwargs')
    return 'Redis / response cache settings: Holdfast keeps no response cache and needs no Redis for routing';
  if (key === 'routing_strategy_args')
    return 'Holdfast has one balancing policy with no per-strategy arguments';
  if (key === 'retry_policy' || key === 'allowed_fails_policy')
    return 'per-error-type counts: Holdfast decides by failure kind itself (retryable kinds, fallback_on)';
  if (key === 'model_group_alias')
    return 'Holdfast has no model aliases: copy the group under the alias name (with its own deployment ids)';
  if (key === 'enable_pre_call_checks')
    return 'Holdfast does not check context windows before the call: context_too_long moves to a fallback instead';
  if (key === 'provider_budget_config' || key.includes('budget')) return 'Holdfast has no spend budgets';
  return 'no Holdfast equivalent';
}

function litellmReason(key: string): string {
  if (/callback|langfuse|json_logs|turn_off_message_logging|redact/.test(key))
    return 'logging callbacks: Holdfast logs with pino and publishes one outcome record per request on a diagnostics channel';
  if (key === 'cache' || key === 'cache_params') return 'Holdfast keeps no response cache';
  if (key.includes('budget')) return 'Holdfast has no spend budgets';
  if (key === 'drop_params' || key === 'modify_params')
    return 'Holdfast does not rewrite request parameters per deployment';
  if (key === 'max_parallel_requests')
    return 'global concurrency cap: Holdfast adapts concurrency per deployment (admission) and limits per key/user/IP (limits)';
  return 'no Holdfast equivalent';
}

function generalReason(key: string): string {
  if (key === 'master_key')
    return 'a literal master key is not copied: set HOLDFAST_ADMIN_KEY (16+ characters)';
  if (key === 'database_url') return 'not a postgres:// URL; set store.url by hand';
  if (key.includes('alert'))
    return 'alerting: Holdfast has a status page with webhook/e-mail notifications (status.*)';
  return 'proxy server setting with no Holdfast equivalent';
}

/** The import. Throws LiteLLMImportError when the input is not a LiteLLM config at all. */
export function importLiteLLM(raw: unknown): LiteLLMImport {
  if (!isObj(raw)) throw new LiteLLMImportError('not a LiteLLM config: the top level must be a mapping');
  if (!Array.isArray(raw.model_list) || raw.model_list.length === 0)
    throw new LiteLLMImportError('not a LiteLLM proxy config: no model_list');
  const imp = new Importer();
  const router = isObj(raw.router_settings) ? raw.router_settings : {};
  const litellm = isObj(raw.litellm_settings) ? raw.litellm_settings : {};
  const general = isObj(raw.general_settings) ? raw.general_settings : {};

  imp.leftovers(
    raw,
    new Set(['model_list', 'router_settings', 'litellm_settings', 'general_settings']),
    '(root)',
    (key) =>
      key === 'environment_variables'
        ? 'Holdfast does not set environment variables from its config: export them in the environment'
        : key === 'include'
          ? 'included files are not read: merge them into one file before importing'
          : 'unknown top-level section',
  );

  // --- deployments and groups ---
  const deps: RawDeployment[] = [];
  raw.model_list.forEach((entry, i) => {
    const d = readDeployment(imp, entry, i);
    if (d) deps.push(d);
  });
  assignIds(deps);
  for (const d of deps) moveLiteralKey(imp, d);

  const groups = new Map<string, RawDeployment[]>();
  for (const d of deps) groups.set(d.group, [...(groups.get(d.group) ?? []), d]);
  const listed = new Set(
    raw.model_list.flatMap((e) =>
      isObj(e) && typeof e.model_name === 'string' ? [e.model_name.trim()] : [],
    ),
  );
  for (const name of listed)
    if (!groups.has(name) && !name.includes('*'))
      imp.unmapped(
        `model_list (${name})`,
        `model group "${name}" has no deployment Holdfast can serve; left out`,
      );

  const settings = readSettings(imp, router, litellm);
  const models: ModelInput[] = [];
  const contextTokens: Record<string, number> = {};

  for (const [name, members] of groups) {
    balance(imp, name, members);
    const limits = members.map((m) => m.maxInputTokens).filter((n): n is number => n !== undefined);
    if (limits.length > 0) contextTokens[name] = Math.min(...limits);
    models.push({ name, deployments: members.map((m) => m.dep) as ModelInput['deployments'] });
  }
  if (Object.keys(contextTokens).length > 0)
    imp.note(
      'model_list[*].model_info.max_input_tokens',
      "mapped to chat.context_tokens (the chat app's prompt budget per model; the gateway API itself does not enforce it)",
    );

  applyTimeouts(imp, settings, models, groups);
  applyFallbacks(imp, settings, models);
  applyRetries(imp, settings, models);

  // --- router strategy and cooldowns ---
  const config: ConfigInput = { models: models as ConfigInput['models'] };
  const strategy = router.routing_strategy ?? litellm.routing_strategy;
  if (strategy !== undefined) {
    const where = router.routing_strategy !== undefined ? 'router_settings' : 'litellm_settings';
    const extra =
      typeof strategy === 'string' && strategy.startsWith('usage-based')
        ? '; rpm/tpm became weights, so traffic still splits in proportion to them'
        : strategy === 'cost-based-routing'
          ? '; Holdfast does not route by price'
          : '';
    imp.note(
      `${where}.routing_strategy`,
      `"${String(strategy)}": Holdfast always balances by power of two choices over peak-EWMA latency × load, weighted, with priority tiers${extra}`,
    );
  }
  const outlier: Record<string, number> = {};
  if (settings.allowedFails) {
    outlier.consecutive_failures = Math.max(1, Math.floor(settings.allowedFails.value) + 1);
    imp.note(
      settings.allowedFails.path,
      `mapped to resilience.outlier.consecutive_failures = ${outlier.consecutive_failures} (LiteLLM cools down after more than allowed_fails failures in a minute; Holdfast ejects after that many deployment faults in a row, and also on a success rate far below the group's)`,
    );
  }
  if (settings.cooldownS && settings.cooldownS.value >= 0) {
    outlier.base_ejection_ms = Math.round(settings.cooldownS.value * 1000);
    if (outlier.base_ejection_ms > DEFAULT_MAX_EJECTION_MS)
      outlier.max_ejection_ms = outlier.base_ejection_ms;
    imp.note(
      settings.cooldownS.path,
      'mapped to resilience.outlier.base_ejection_ms; a deployment ejected again stays out longer (base × times ejected) and comes back through trial requests',
    );
  }
  if (Object.keys(outlier).length > 0) config.resilience = { outlier };
  if (Object.keys(contextTokens).length > 0) config.chat = { context_tokens: contextTokens };
  if (litellm.set_verbose === true || litellm.set_verbose === 'true') config.log = { level: 'debug' };

  // --- general settings ---
  const auth = general.master_key;
  const authHandled = new Set<string>();
  if (typeof auth === 'string' && ENV_REF.test(auth.trim())) {
    config.auth = { admin_key: imp.str(auth, 'general_settings.master_key')! };
    authHandled.add('master_key');
    imp.note(
      'general_settings.master_key',
      'mapped to auth.admin_key: the admin key, also a caller key (LiteLLM virtual keys are not imported: create them with holdfast keys create)',
    );
  }
  const db = imp.str(general.database_url, 'general_settings.database_url', { url: true });
  if (db?.startsWith('${')) {
    config.store = { url: db };
    authHandled.add('database_url');
    imp.note(
      'general_settings.database_url',
      "mapped to store.url: Holdfast creates its own tables there (use a fresh database, not LiteLLM's)",
    );
  } else if (db !== undefined && /^postgres(ql)?:\/\//.test(db)) {
    authHandled.add('database_url');
    imp.unmapped(
      'general_settings.database_url',
      "a literal URL (it may hold a password) is not copied: set DATABASE_URL, which Holdfast reads when store.url is unset (a fresh database, not LiteLLM's)",
    );
  }
  imp.leftovers(general, authHandled, 'general_settings', generalReason);
  imp.leftovers(router, new Set([...RELIABILITY_KEYS, 'routing_strategy']), 'router_settings', routerReason);
  imp.leftovers(
    litellm,
    new Set([...RELIABILITY_KEYS, 'routing_strategy', 'set_verbose']),
    'litellm_settings',
    litellmReason,
  );

  return {
    config,
    notes: imp.notes,
    env: [...imp.env].sort(),
    urlEnv: [...imp.urlEnv].sort(),
  };
}

/** weight / rpm / tpm → weights; order → tiers. */
function balance(imp: Importer, name: string, members: RawDeployment[]): void {
  const source = members.some((m) => m.weight !== undefined)
    ? 'weight'
    : members.some((m) => m.rpm !== undefined)
      ? 'rpm'
      : members.some((m) => m.tpm !== undefined)
        ? 'tpm'
        : undefined;
  if (source && members.length > 1) {
    const given = members.map((m) => m[source]).filter((v): v is number => v !== undefined);
    // A missing `weight` is the default weight 1; a missing rpm/tpm is unknown capacity: the smallest given.
    const fill = source === 'weight' ? 1 : Math.min(...given);
    const values = members.map((m) => m[source] ?? fill);
    const min = Math.min(...values);
    members.forEach((m, i) => {
      const w = Math.round((values[i]! / min) * 1000) / 1000;
      if (w !== 1) m.dep.weight = w;
    });
    if (given.length < members.length)
      imp.note(
        `model_list (${name})`,
        source === 'weight'
          ? 'only some deployments set weight: the others count as weight 1'
          : `only some deployments set ${source}: the others were weighted as the smallest given ${source}`,
      );
  }
  const why =
    'Holdfast has no per-deployment rate cap: an upstream 429 keeps traffic off the deployment until its retry-after, and admission adapts concurrency';
  for (const m of members) {
    for (const field of ['rpm', 'tpm'] as const) {
      const v = m[field];
      if (v === undefined) continue;
      const p = `${m.path}.litellm_params.${field}`;
      if (field === source && members.length > 1)
        imp.note(
          p,
          `${field} ${v} became a relative weight (as LiteLLM's simple-shuffle uses it), not a limit. ${why}`,
        );
      else imp.unmapped(p, `${field} ${v} is not enforced as a limit. ${why}`);
    }
  }
  const orders = [...new Set(members.map((m) => m.order).filter((o): o is number => o !== undefined))].sort(
    (a, b) => a - b,
  );
  if (orders.length > 0) {
    const unordered = members.some((m) => m.order === undefined);
    for (const m of members) {
      const tier = m.order === undefined ? orders.length : orders.indexOf(m.order);
      if (tier > 0) m.dep.tier = tier;
    }
    imp.note(
      `model_list (${name})`,
      `order → tier (lowest order = tier 0; a higher tier takes traffic as the lower ones lose health)${unordered ? '; deployments without order went to the last tier' : ''}`,
    );
  }
}

function applyTimeouts(
  imp: Importer,
  s: Settings,
  models: ModelInput[],
  groups: Map<string, RawDeployment[]>,
): void {
  const global = s.timeoutS && s.timeoutS.value > 0 ? seconds(s.timeoutS.value) : undefined;
  if (global !== undefined)
    imp.note(
      s.timeoutS!.path,
      "mapped to every deployment's timeouts.total_ms (one attempt, end to end) where the deployment sets none",
    );
  for (const model of models) {
    let longest = 0;
    for (const d of groups.get(model.name)!) {
      const t = (d.dep.timeouts ?? {}) as Record<string, number>;
      if (t.total_ms === undefined && global !== undefined) t.total_ms = global;
      if (t.total_ms !== undefined && t.first_byte_ms === undefined && t.total_ms < DEFAULT_FIRST_BYTE_MS)
        t.first_byte_ms = t.total_ms;
      if (Object.keys(t).length > 0) d.dep.timeouts = t;
      longest = Math.max(longest, t.total_ms ?? 0);
    }
    if (longest > DEFAULT_DEADLINE_MS) {
      model.deadline_ms = longest;
      imp.note(
        `model_list (${model.name})`,
        `deadline_ms raised to ${longest} so the request deadline (all attempts) is not shorter than one call's timeout`,
      );
    }
  }
}

function applyFallbacks(imp: Importer, s: Settings, models: ModelInput[]): void {
  const names = new Set(models.map((m) => m.name));
  const byName = new Map(models.map((m) => [m.name, m]));
  const valid = (source: string, targets: string[], path: string): string[] =>
    targets.filter((t) => {
      if (t === source) {
        imp.unmapped(path, `"${t}" falls back to itself; dropped`);
        return false;
      }
      if (!names.has(t)) {
        imp.unmapped(path, `fallback "${t}" is not an imported model group; dropped`);
        return false;
      }
      return true;
    });
  for (const [source, f] of s.fallbacks) {
    const model = byName.get(source);
    if (!model) {
      imp.unmapped(f.path, `"${source}" is not an imported model group; its fallbacks are dropped`);
      continue;
    }
    model.fallbacks = [...new Set(valid(source, f.targets, f.path))];
  }
  if (s.defaultFallbacks) {
    let used = false;
    for (const model of models) {
      if (model.fallbacks && model.fallbacks.length > 0) continue;
      const targets = s.defaultFallbacks.targets.filter((t) => t !== model.name && names.has(t));
      if (targets.length > 0) {
        model.fallbacks = [...new Set(targets)];
        used = true;
      }
    }
    for (const t of s.defaultFallbacks.targets)
      if (!names.has(t))
        imp.unmapped(s.defaultFallbacks.path, `fallback "${t}" is not an imported model group; dropped`);
    if (used)
      imp.note(
        s.defaultFallbacks.path,
        'default fallbacks were written out as fallbacks on every model group without its own',
      );
  }
  for (const [source, f] of s.contextFallbacks) {
    const model = byName.get(source);
    if (!model) {
      imp.unmapped(
        f.path,
        `"${source}" is not an imported model group; its context-window fallbacks are dropped`,
      );
      continue;
    }
    const targets = valid(source, f.targets, f.path);
    if (targets.length === 0) continue;
    const general = model.fallbacks ?? [];
    model.fallbacks = [...new Set([...general, ...targets])];
    // The gateway's own list of deployment faults, plus the one a context-window fallback exists for.
    model.fallback_on = [...DEPLOYMENT_FAULT_KINDS, 'context_too_long'];
    imp.note(
      f.path,
      general.length > 0
        ? `appended to fallbacks with context_too_long added to fallback_on: Holdfast has one fallback chain per group, so a too-long prompt may try ${general.join(', ')} first and an outage may reach ${targets.join(', ')}`
        : 'mapped to fallbacks with context_too_long added to fallback_on: Holdfast has one fallback chain per group, so an outage also moves to it',
    );
  }
}

function applyRetries(imp: Importer, s: Settings, models: ModelInput[]): void {
  if (!s.numRetries) return;
  const retries = Math.max(0, Math.floor(s.numRetries.value));
  let clamped = false;
  for (const model of models) {
    const wanted = retries + 1 + (model.fallbacks?.length ?? 0);
    if (wanted > MAX_ATTEMPTS) clamped = true;
    model.retry = { max_attempts: Math.min(MAX_ATTEMPTS, wanted) };
  }
  imp.note(
    s.numRetries.path,
    `mapped to retry.max_attempts = num_retries + 1 + one per fallback group (Holdfast counts every attempt, fallbacks included, and caps retries with a budget of 20% of recent requests)${clamped ? `; capped at ${MAX_ATTEMPTS}` : ''}`,
  );
}

// ---- output ----

export interface RenderOptions {
  /** The LiteLLM file's name, for the header. */
  source?: string;
}

/** The Holdfast YAML, with a header saying where it came from, what to set and what was left out. */
export function renderHoldfastYaml(result: LiteLLMImport, opts: RenderOptions = {}): string {
  const unmapped = result.notes.filter((n) => n.kind === 'unmapped');
  const header = [
    `Holdfast config imported from the LiteLLM config ${opts.source ?? ''}`.trimEnd(),
    'by `holdfast import litellm`. Check it with `holdfast check-config --config <this file>`.',
    'Every field: src/config/schema.ts; the import and its limits: docs/import-litellm.md.',
  ];
  if (result.env.length > 0) header.push('', `Environment variables it reads: ${result.env.join(', ')}`);
  if (unmapped.length > 0) {
    header.push('', `Not mapped (${unmapped.length}; the import report says why):`);
    for (const n of unmapped) header.push(`  - ${n.path}`);
  }
  const body = stringify(result.config, { lineWidth: 0 });
  return `${header.map((l) => (l ? `# ${l}` : '#')).join('\n')}\n\n${body}`;
}

/** Values for the referenced variables, only to check the file's shape before the real ones exist. */
export function placeholderEnv(result: Pick<LiteLLMImport, 'env' | 'urlEnv'>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of result.env) env[name] = 'holdfast-import-placeholder-value';
  for (const name of result.urlEnv) env[name] = 'https://placeholder.invalid';
  return env;
}

/**
 * Validates rendered Holdfast YAML with the same schema and checks `check-config` runs, environment
 * references filled with placeholders. Returns the problems (empty: valid).
 */
export function validateHoldfastYaml(text: string, env: Record<string, string>): string[] {
  try {
    buildConfig(parseYaml(text), env, 'imported config');
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
}

/** The report as text: counts, then notes and unmapped items with their reasons. */
export function formatReport(result: LiteLLMImport): string {
  const models = result.config.models;
  const deployments = models.reduce((n, m) => n + m.deployments.length, 0);
  const lines = [`Imported ${models.length} model group(s), ${deployments} deployment(s).`];
  const notes = result.notes.filter((n) => n.kind === 'note');
  const unmapped = result.notes.filter((n) => n.kind === 'unmapped');
  if (notes.length > 0) {
    lines.push('', `Mapped with a difference (${notes.length}):`);
    for (const n of notes) lines.push(`  ~ ${n.path}: ${n.message}`);
  }
  if (unmapped.length > 0) {
    lines.push('', `Not mapped (${unmapped.length}):`);
    for (const n of unmapped) lines.push(`  ✗ ${n.path}: ${n.message}`);
  }
  if (result.env.length > 0) lines.push('', `Set before starting: ${result.env.join(', ')}`);
  return `${lines.join('\n')}\n`;
}
