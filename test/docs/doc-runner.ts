import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect } from 'vitest';

/**
 * Runs a doc's shell examples the way a reader would: every ```sh block after a `<!-- test -->` marker,
 * in order, in one folder that looks like a fresh clone (symlinks to this checkout, already installed).
 *
 * - A block of only `npm ci`, `export VAR=value` and `[VAR=value ...] npm start` lines (re)starts a real
 *   gateway with those variables, as Ctrl-C and a new `npm start` would; the exports also reach the
 *   following blocks, as in the reader's terminal.
 * - Any other block runs in bash with `set -euo pipefail`; variables it exports carry to the next block.
 * - `<!-- test: expect TEXT -->` also requires TEXT in the block's output.
 *
 * The gateway gets a free port, the same on every start (files one block writes, like an SDK script,
 * keep working after a restart as they do on 8080); `localhost:8080` and `127.0.0.1:8080` are pointed
 * there.
 */

export const ROOT = resolve(import.meta.dirname, '../..');

export interface Block {
  line: number;
  expect?: string;
  code: string;
}

export function testedBlocks(doc: string): Block[] {
  const out: Block[] = [];
  const re = /<!-- test(?::\s*expect (.+?))?\s*-->\s*\n```sh\n([\s\S]*?)\n```/g;
  for (const m of doc.matchAll(re)) {
    out.push({
      line: doc.slice(0, m.index).split('\n').length,
      ...(m[1] ? { expect: m[1] } : {}),
      code: m[2]!,
    });
  }
  return out;
}

const ASSIGNMENT = /^[A-Z_][A-Z0-9_]*=\S+$/;

/** The environment a start block gives the gateway, or undefined when the block is not a start block. */
export function startEnv(block: Block): Record<string, string> | undefined {
  const lines = block.code
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#') && l !== 'npm ci');
  const last = lines.at(-1)?.split(/\s+/) ?? [];
  const isStart =
    last.slice(-2).join(' ') === 'npm start' &&
    last.slice(0, -2).every((w) => ASSIGNMENT.test(w)) &&
    lines.slice(0, -1).every((l) => /^export [A-Z_][A-Z0-9_]*=\S+$/.test(l));
  if (!isStart) {
    expect(block.code, `line ${block.line}: npm start only in a block of its own`).not.toMatch(/npm start/);
    return undefined;
  }
  const env: Record<string, string> = {};
  for (const word of [...lines.slice(0, -1).map((l) => l.slice('export '.length)), ...last.slice(0, -2)]) {
    const i = word.indexOf('=');
    env[word.slice(0, i)] = word.slice(i + 1);
  }
  return env;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((ok) => srv.close(() => ok()));
  return port;
}

/** What a reader's shell has: no Holdfast or provider settings from this machine. */
function readerEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!/^(HOLDFAST_|OPENAI_|ANTHROPIC_|DATABASE_URL|REDIS_URL|PORT$)/.test(k)) env[k] = v;
  env.PATH = `${join(ROOT, 'node_modules/.bin')}:${process.env.PATH}`;
  return env;
}

export class DocRunner {
  readonly dir = mkdtempSync(join(tmpdir(), 'holdfast-doc-'));
  readonly #state = join(this.dir, '.exports.sh');
  #gateway: ChildProcess | undefined;
  #port = 0;
  #starts = 0;

  constructor() {
    for (const entry of ['package.json', 'bin', 'src', 'node_modules'])
      symlinkSync(join(ROOT, entry), join(this.dir, entry));
    writeFileSync(this.#state, '');
  }

  /** Runs every tested block of the doc, in order, asserting each one's exit code and expectation. */
  async run(docPath: string, minBlocks: number): Promise<void> {
    const blocks = testedBlocks(readFileSync(join(ROOT, docPath), 'utf8'));
    expect(blocks.length, `${docPath} has its tested examples`).toBeGreaterThanOrEqual(minBlocks);
    for (const block of blocks) {
      const where = `${docPath}:${block.line}`;
      const env = startEnv(block);
      if (env) {
        await this.#start(env);
        continue;
      }
      expect(this.#port, `${where}: a gateway was started before this block`).toBeGreaterThan(0);
      const { code, out } = await this.#bash(block.code);
      expect(code, `block at ${where} failed:\n${out}`).toBe(0);
      if (block.expect) expect(out, `block at ${where}`).toContain(block.expect);
    }
  }

  async close(): Promise<void> {
    await this.#stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  async #stop(): Promise<void> {
    const g = this.#gateway;
    if (!g || g.exitCode !== null) return;
    const exited = new Promise((ok) => g.once('exit', ok));
    g.kill('SIGINT'); // Ctrl-C
    await exited;
  }

  async #start(env: Record<string, string>): Promise<void> {
    await this.#stop();
    this.#port ||= await freePort();
    const port = this.#port;
    const exports = Object.entries(env).map(([k, v]) => `export ${k}=${JSON.stringify(v)}\n`);
    writeFileSync(this.#state, `${readFileSync(this.#state, 'utf8')}${exports.join('')}`);
    // `npm start` is `node bin/holdfast.js start`; --port stands in for 8080, and each start gets a fresh
    // ./data the way a first run would.
    const child = spawn(process.execPath, [join(ROOT, 'bin/holdfast.js'), 'start', '--port', String(port)], {
      cwd: this.dir,
      env: { ...readerEnv(), HOLDFAST_DATA_DIR: join(this.dir, `data-${++this.#starts}`), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#gateway = child;
    let out = '';
    await new Promise<void>((ok, fail) => {
      const onData = (b: Buffer): void => {
        out += b.toString();
        if (out.includes(`listening on http://127.0.0.1:${port}`)) ok();
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => fail(new Error(`gateway exited (${code}):\n${out}`)));
    });
  }

  #bash(code: string): Promise<{ code: number | null; out: string }> {
    const body = code.replace(/\b(localhost|127\.0\.0\.1):8080\b/g, `$1:${this.#port}`);
    const script = `set -euo pipefail\nsource ${this.#state}\n${body}\nexport -p > ${this.#state}\n`;
    return new Promise((ok) => {
      const child = spawn('bash', ['-c', script], {
        cwd: this.dir,
        env: readerEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      const collect = (b: Buffer): void => {
        out += b.toString();
      };
      child.stdout.on('data', collect);
      child.stderr.on('data', collect);
      child.once('exit', (c) => ok({ code: c, out }));
    });
  }
}
