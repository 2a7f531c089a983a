import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { createRedisClient } from '../../src/stores/redis/client.ts';
import { RedisLink } from '../../src/stores/redis/link.ts';

/** The machine's shared Redis (tests and CI). Never stopped or paused by a test: use `startRedisServer`. */
export const SHARED_REDIS_URL = 'redis://127.0.0.1:6379';

/** Whether the shared Redis answers; test files use it with describe.skipIf and a clear message. */
export async function redisAvailable(url = SHARED_REDIS_URL): Promise<boolean> {
  const r = new Redis(url, { lazyConnect: true, connectTimeout: 500, retryStrategy: () => null });
  r.on('error', () => {});
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

/** A key prefix no other test (or run) uses. */
export function uniquePrefix(label: string): string {
  return `hftest:${label}:${randomBytes(6).toString('hex')}:`;
}

/** Deletes every key under `prefix`. */
export async function deletePrefix(url: string, prefix: string): Promise<void> {
  const r = new Redis(url, { lazyConnect: true, retryStrategy: () => null });
  r.on('error', () => {});
  try {
    await r.connect();
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await r.del(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}

/** Keys under `prefix` (sorted), for tests that check what a store leaves behind. */
export async function keysUnder(r: Redis, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0');
  return out.sort();
}

export const REDIS_SERVER = '/usr/bin/redis-server';

/** A redis-server owned by one test, on its own port, that the test may stop, pause or kill. */
export interface OwnRedis {
  readonly url: string;
  readonly port: number;
  /** SIGSTOP: the socket stays open and nothing answers. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** Stops the server (SIGKILL), keeping the port for `restart`. */
  kill(): Promise<void>;
  /** A fresh server on the same port (empty: nothing is persisted). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as { port: number };
  srv.close();
  await once(srv, 'close');
  return port;
}

export async function startRedisServer(): Promise<OwnRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    child = spawn(
      REDIS_SERVER,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    const deadline = Date.now() + 5_000;
    while (!(await redisAvailable(url))) {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  const stop = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    c.kill('SIGCONT');
    const exited = once(c, 'exit');
    c.kill('SIGKILL');
    await exited;
  };
  await launch();
  return {
    url,
    port,
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    kill: stop,
    restart: async () => {
      await stop();
      await launch();
    },
    close: stop,
  };
}

/**
 * A client and a started link to the shared Redis, as a replica holds them, with a call budget loose
 * enough for a busy test machine (50 ms) and quick reconnects.
 */
export async function connectTestLink(url = SHARED_REDIS_URL): Promise<{ redis: Redis; link: RedisLink }> {
  const redis = createRedisClient({ url, connectTimeoutMs: 500, reconnectBaseMs: 50, reconnectCapMs: 500 });
  const link = new RedisLink({
    redis,
    timeoutMs: 50,
    failuresToFallback: 3,
    reconnectBaseMs: 50,
    reconnectCapMs: 500,
  });
  await link.start(1_000);
  return { redis, link };
}
