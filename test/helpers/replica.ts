import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

/**
 * Holdfast replicas as separate processes, started the way an operator does
 * (`node bin/holdfast.js start --config <file> --port <p>`), for scale-out tests and benchmarks.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NODE = `${ROOT}node_modules/.bin/node`;
const BIN = `${ROOT}bin/holdfast.js`;

/** The machine's PostgreSQL for tests (a unique schema per test file). */
export const TEST_PG = 'postgres://root@127.0.0.1:5432/test';

export async function pgAvailable(url = TEST_PG): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  try {
    await c.connect();
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => {});
  }
}

/** Creates `schema` and returns a store URL whose connections use it (search_path), plus a dropper. */
export async function pgSchema(
  schema: string,
  url = TEST_PG,
): Promise<{ url: string; drop(): Promise<void> }> {
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`bad schema name ${schema}`);
  const run = async (sql: string): Promise<void> => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await run(`create schema ${schema}`);
  return {
    url: `${url}?options=${encodeURIComponent(`-c search_path=${schema}`)}`,
    drop: () => run(`drop schema if exists ${schema} cascade`),
  };
}

/** A port free right now on 127.0.0.1 (a replica restarts on the same one). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const addr = srv.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  await new Promise((r) => srv.close(r));
  return port;
}

export interface Replica {
  readonly name: string;
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything it wrote (stdout and stderr), for failure messages. */
  output(): string;
  /** Sends `signal` and resolves with the exit code (null when killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts a replica and resolves once its /health/ready answers 200. */
export async function startReplica(opts: {
  name: string;
  config: string;
  port: number;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}): Promise<Replica> {
  const child = spawn(NODE, [BIN, 'start', '--config', opts.config, '--port', String(opts.port)], {
    env: { ...process.env, ...opts.env, HOLDFAST_REPLICA: opts.name },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (d: Buffer): void => {
    // Bounded: a chatty replica must not grow the test process.
    out = (out + d.toString()).slice(-64_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${opts.port}`;
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  for (;;) {
    if (gone) throw new Error(`replica ${opts.name} exited ${child.exitCode} before ready:\n${out}`);
    const ok = await fetch(`${url}/health/ready`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`replica ${opts.name} not ready in time:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    name: opts.name,
    url,
    child,
    output: () => out,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
