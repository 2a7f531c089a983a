import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const BIN = new URL('../../bin/holdfast.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'holdfast-cli-'));

function configFile(name: string, yaml: string): string {
  const p = join(dir, name);
  writeFileSync(p, yaml);
  return p;
}

async function holdfast(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...env },
      cwd: dir,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

function waitForUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`exited ${code} before listening: ${out}`)));
  });
}

describe('holdfast CLI', () => {
  it('--help lists the commands', async () => {
    const { code, stdout } = await holdfast(['--help']);
    expect(code).toBe(0);
    for (const cmd of ['start', 'check-config', 'simulate', 'keys create', 'keys list', 'keys revoke'])
      expect(stdout).toContain(cmd);
  });

  it('rejects an unknown command with exit code 2', async () => {
    const { code, stderr } = await holdfast(['frobnicate']);
    expect(code).toBe(2);
    expect(stderr).toContain("unknown command 'frobnicate'");
  });

  it('check-config prints each bad field with its path', async () => {
    const bad = configFile(
      'bad.yaml',
      'server: { port: -1 }\nmodels:\n  - name: m\n    deployments:\n      - { id: a, provider: openai, model: x, api_key: ${NOPE_KEY} }\n',
    );
    const { code, stderr } = await holdfast(['check-config', '--config', bad]);
    expect(code).toBe(1);
    expect(stderr).toContain('server.port:');
    expect(stderr).toContain('models.0.deployments.0.base_url: base_url is required for provider openai');
    expect(stderr).toContain('models.0.deployments.0.api_key: environment variable NOPE_KEY is not set');
    const good = configFile(
      'good.yaml',
      'models:\n  - name: m\n    deployments:\n      - { id: a, provider: simulator, model: x }\n',
    );
    expect(await holdfast(['check-config', '--config', good])).toMatchObject({ code: 0 });
  });

  it('keys create | list | revoke, stored hashed', async () => {
    const cfg = configFile(
      'keys.yaml',
      `store: { data_dir: ${join(dir, 'keys-data')} }\nmodels:\n  - name: m\n    deployments:\n      - { id: a, provider: simulator, model: x }\n`,
    );
    const created = await holdfast([
      'keys',
      'create',
      '--config',
      cfg,
      '--name',
      'ci',
      '--models',
      'm',
      '--json',
    ]);
    expect(created.code).toBe(0);
    const rec = JSON.parse(created.stdout) as { id: string; secret: string; models: string[] };
    expect(rec.secret).toMatch(/^hf-/);
    expect(rec.models).toEqual(['m']);
    const listed = await holdfast(['keys', 'list', '--config', cfg]);
    expect(listed.stdout).toContain(rec.id);
    expect(listed.stdout).not.toContain(rec.secret);
    const revoked = await holdfast(['keys', 'revoke', rec.id, '--config', cfg]);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toContain('revoked');
  });

  it('start: serves, then on SIGTERM finishes the in-flight stream and exits 0', async () => {
    const cfg = configFile(
      'slow.yaml',
      `server: { port: 0, shutdown_grace_ms: 10000, drain_delay_ms: 300 }
store: { data_dir: ${join(dir, 'start-data')} }
models:
  - name: slow
    deployments:
      - { id: s1, provider: simulator, model: x, simulator: { ttft_ms: 0, tokens_per_sec: 25, answer_tokens: 25 } }
`,
    );
    const child = spawn(process.execPath, [BIN, 'start', '--config', cfg], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const url = await waitForUrl(child);
    expect((await fetch(`${url}/health/ready`)).status).toBe(200);

    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'slow', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    child.kill('SIGTERM');

    let body = new TextDecoder().decode(first.value);
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      body += new TextDecoder().decode(value);
    }
    expect(body.trim().endsWith('data: [DONE]')).toBe(true);
    expect(await exited).toBe(0);
    await expect(fetch(`${url}/health/live`)).rejects.toThrow();
  });
});
