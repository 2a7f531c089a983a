import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const BIN = new URL('../../bin/holdfast.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'holdfast-reload-cli-'));
const file = join(dir, 'holdfast.yaml');

function yaml(models: string[]): string {
  return [
    'chat: { enabled: false }',
    'status: { enabled: false }',
    `store: { data_dir: ${join(dir, 'data')} }`,
    'models:',
    ...models.flatMap((m) => [
      `  - name: ${m}`,
      '    deployments:',
      `      - { id: ${m}-d, provider: simulator, model: x, simulator: { ttft_ms: 1, tokens_per_sec: 0 } }`,
    ]),
    '',
  ].join('\n');
}

let child: ChildProcess | undefined;
afterAll(() => {
  child?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function modelIds(url: string): Promise<string[]> {
  const res = await fetch(`${url}/v1/models`);
  const body = (await res.json()) as { data: Array<{ id: string }> };
  return body.data.map((m) => m.id);
}

describe('holdfast start reloads its config file', () => {
  it('on a file change and on SIGHUP; a broken file is rejected and the running config kept', async () => {
    writeFileSync(file, yaml(['alpha']));
    child = spawn(process.execPath, [BIN, 'start', '--config', file, '--port', '0'], {
      cwd: dir,
      env: { ...process.env, HOLDFAST_ADMIN_KEY: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    await expect.poll(() => /listening on (http:\/\/\S+)/.exec(out)?.[1], { timeout: 40_000 }).toBeTruthy();
    const url = /listening on (http:\/\/\S+)/.exec(out)![1]!;
    expect(await modelIds(url)).toEqual(['alpha']);

    // An edit is picked up by the file watch.
    writeFileSync(file, yaml(['alpha', 'beta']));
    await expect.poll(() => modelIds(url), { timeout: 15_000 }).toEqual(['alpha', 'beta']);
    expect(out).toContain('config reloaded');

    // A file that does not validate changes nothing and says why.
    writeFileSync(file, 'models:\n  - name: gamma\n    deployments: []\n');
    await expect.poll(() => out.includes('config reload rejected'), { timeout: 15_000 }).toBe(true);
    expect(out).toMatch(/models\.0\.deployments/);
    expect(await modelIds(url)).toEqual(['alpha', 'beta']);
    const chat = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'beta', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(chat.status).toBe(200);

    // SIGHUP reads the file again (here: repaired).
    writeFileSync(file, yaml(['gamma']));
    child.kill('SIGHUP');
    await expect.poll(() => modelIds(url), { timeout: 15_000 }).toEqual(['gamma']);

    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child!.once('exit', resolve));
    expect(code).toBe(0);
  }, 90_000);
});
