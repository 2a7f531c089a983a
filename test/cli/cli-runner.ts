import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const NODE = `${ROOT}node_modules/.bin/node`;
export const BIN = `${ROOT}bin/holdfast.js`;

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `holdfast ARGS` (or, with `shell`, a bash script in which `holdfast` is that same command) the
 * way a user would: a real process, stdout and stderr pipes (not a terminal), and an environment with no
 * DATABASE_URL or HOLDFAST_CONFIG unless the caller sets one.
 */
export function holdfast(
  args: string[],
  opts: { cwd: string; env?: Record<string, string>; shell?: string } = { cwd: ROOT },
): Promise<Run> {
  const { DATABASE_URL: _db, HOLDFAST_CONFIG: _cfg, ...base } = process.env;
  const env = { ...base, ...opts.env };
  const child =
    opts.shell === undefined
      ? spawn(NODE, [BIN, ...args], { cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('bash', ['-euo', 'pipefail', '-c', `holdfast() { "${NODE}" "${BIN}" "$@"; }\n${opts.shell}`], {
          cwd: opts.cwd,
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
