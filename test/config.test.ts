import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultConfigInput } from '../src/config/defaults.ts';
import { buildConfig, ConfigError, loadConfigFile } from '../src/config/load.ts';

const dir = mkdtempSync(join(tmpdir(), 'holdfast-config-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const ISSUE_EXAMPLE = `
server: { host: 127.0.0.1, port: 8080 }
models:
  - name: chat-default
    deployments:
      - { id: east, provider: openai, base_url: http://127.0.0.1:9100/v1, api_key: \${KEY}, model: m1 }
      - { id: west, provider: anthropic, base_url: http://127.0.0.1:9200, api_key: \${KEY}, model: m2 }
`;

function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('loads the documented shape, interpolates ${ENV} and fills defaults', () => {
    const c = loadConfigFile(file('ok.yaml', ISSUE_EXAMPLE), { KEY: 'sk-secret' });
    expect(c.models[0]!.deployments[0]).toMatchObject({
      id: 'east',
      api_key: 'sk-secret',
      model: 'm1',
      region: 'default',
    });
    expect(c.models[0]!.deployments[1]!.anthropic_version).toBe('2023-06-01');
    expect(c.server.body_limit_bytes).toBeGreaterThan(0);
    expect(c.store.data_dir).toBe('./data');
  });

  it('is frozen after validation', () => {
    const c = loadConfigFile(file('ok2.yaml', ISSUE_EXAMPLE), { KEY: 'k' });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.models[0]!.deployments[0]!.timeouts)).toBe(true);
    expect(() => {
      (c.server as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it('reports a missing environment variable with the field path', () => {
    const issues = issuesOf(() => loadConfigFile(file('env.yaml', ISSUE_EXAMPLE), {}));
    expect(issues).toContain('models.0.deployments.0.api_key: environment variable KEY is not set');
  });

  it('supports ${NAME:-default}', () => {
    const c = buildConfig(
      {
        server: { host: '${H:-0.0.0.0}' },
        models: [{ name: 'm', deployments: [{ id: 'a', provider: 'simulator', model: 'x' }] }],
      },
      {},
    );
    expect(c.server.host).toBe('0.0.0.0');
  });

  it('names the path of every bad field, several at once', () => {
    const issues = issuesOf(() =>
      buildConfig(
        {
          server: { port: 'eighty' },
          models: [
            {
              name: 'm',
              deployments: [
                { id: 'a', provider: 'openai', model: 'x' },
                { id: 'a', provider: 'bogus', model: 'y' },
              ],
            },
          ],
          extra: true,
        },
        {},
      ),
    );
    const text = issues.join('\n');
    expect(text).toMatch(/^server\.port: /m);
    expect(text).toMatch(/^models\.0\.deployments\.1\.provider: /m);
    expect(text).toMatch(/\(root\): .*extra/m);
  });

  it('rejects duplicate deployment ids and a missing base_url for real providers', () => {
    const issues = issuesOf(() =>
      buildConfig(
        {
          models: [
            {
              name: 'm',
              deployments: [
                { id: 'a', provider: 'openai', model: 'x' },
                { id: 'a', provider: 'simulator', model: 'y' },
              ],
            },
          ],
        },
        {},
      ),
    );
    expect(issues).toContain('models.0.deployments.0.base_url: base_url is required for provider openai');
    expect(issues.some((i) => i.startsWith('models.0.deployments.1.id: duplicate deployment id'))).toBe(true);
  });

  it('reports YAML syntax errors and unreadable files', () => {
    expect(issuesOf(() => loadConfigFile(file('bad.yaml', 'models: [\n  - {'), {}))[0]).toMatch(
      /^YAML syntax/,
    );
    expect(issuesOf(() => loadConfigFile(join(dir, 'missing.yaml'), {}))[0]).toMatch(/^cannot read file/);
  });

  it('embedded default: two simulated regions behind one model, real providers only with keys', () => {
    const bare = buildConfig(defaultConfigInput({}), {});
    expect(bare.models).toHaveLength(1);
    expect(bare.models[0]!.deployments.map((d) => [d.provider, d.region])).toEqual([
      ['simulator', 'sim-east'],
      ['simulator', 'sim-west'],
    ]);
    const withKeys = buildConfig(
      defaultConfigInput({ OPENAI_API_KEY: 'sk-a', ANTHROPIC_API_KEY: 'sk-b' }),
      {},
    );
    expect(withKeys.models.map((m) => m.deployments[0]!.provider)).toEqual([
      'simulator',
      'openai',
      'anthropic',
    ]);
  });
});
