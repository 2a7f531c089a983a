import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const SERVE = fileURLToPath(new URL('./serve.ts', import.meta.url));
const READY = 'READY ';
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

export interface ChildServer {
  info: Record<string, string>;
  url: string;
  pid: number;
  close(): Promise<void>;
}

/** Starts `serve.ts <kind>` in its own Node process and waits for its READY line. */
export async function startChild(kind: string, arg: Record<string, unknown>): Promise<ChildServer> {
  const child = spawn(process.execPath, [SERVE, kind, JSON.stringify(arg)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    // Kept only to explain a failed start; bounded so a chatty child cannot grow the parent.
    if (stderr.length < 64_000) stderr += d;
  });

  const info = await new Promise<Record<string, string>>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    const fail = (why: string): void => {
      clearTimeout(timer);
      lines.close();
      kill(child);
      reject(new Error(`${kind} server ${why}${stderr ? `:\n${stderr.trim()}` : ''}`));
    };
    const timer = setTimeout(() => fail(`did not start within ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
    child.once('exit', (code, signal) => fail(`exited during startup (${signal ?? code})`));
    child.once('error', (err) => fail(`could not be spawned (${err.message})`));
    lines.on('line', (line) => {
      if (!line.startsWith(READY)) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.removeAllListeners('error');
      resolve(JSON.parse(line.slice(READY.length)) as Record<string, string>);
    });
  });
  // Keep draining stdout so a child that logs cannot block on a full pipe.
  child.stdout.resume();

  const url = info.url;
  if (!url) throw new Error(`${kind} server reported no url`);
  return {
    info,
    url,
    pid: child.pid ?? 0,
    async close(): Promise<void> {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.stdin?.end();
      const timer = setTimeout(() => kill(child), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

function kill(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}
