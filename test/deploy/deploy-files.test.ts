import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, posix, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadConfigFile } from '../../src/config/load.ts';

/**
 * The deploy files cannot be built or run here (no Docker daemon), so this checks what can be checked
 * without one: that they parse, point at files and services that exist, that the replicas' config passes
 * the real schema, and, by running the image's ENTRYPOINT, CMD and HEALTHCHECK as plain processes, that
 * the container would start, turn healthy and stop cleanly.
 */

const ROOT = resolve(import.meta.dirname, '../..');
const DEPLOY = join(ROOT, 'deploy');
const read = (path: string): string => readFileSync(path, 'utf8');

// --- Dockerfile -------------------------------------------------------------------------------------

interface Instruction {
  keyword: string;
  args: string;
  /** 0-based index of the build stage (FROM) it belongs to. */
  stage: number;
}

/** Instructions in order; continuation lines joined, comment lines dropped (as Docker drops them). */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let buf = '';
  let stage = -1;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || line === '') continue;
    if (line.endsWith('\\')) {
      buf += `${line.slice(0, -1)} `;
      continue;
    }
    const m = /^(\w+)\s+([\s\S]*)$/.exec(`${buf}${line}`);
    buf = '';
    if (!m) throw new Error(`unparseable Dockerfile line: ${line}`);
    const keyword = m[1]!.toUpperCase();
    if (keyword === 'FROM') stage++;
    out.push({ keyword, args: m[2]!.trim(), stage });
  }
  return out;
}

function execForm(args: string): string[] {
  expect(args.startsWith('['), `exec form (JSON array) expected, got: ${args}`).toBe(true);
  return JSON.parse(args) as string[];
}

/** `ENV A=1 B=2` pairs (values without spaces, which is all this Dockerfile uses). */
function envPairs(args: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of args.split(/\s+/)) {
    const i = pair.indexOf('=');
    if (i > 0) out[pair.slice(0, i)] = pair.slice(i + 1);
  }
  return out;
}

const dockerfile = parseDockerfile(read(join(DEPLOY, 'Dockerfile')));
const finalStage = Math.max(...dockerfile.map((i) => i.stage));
const runtime = dockerfile.filter((i) => i.stage === finalStage);
const last = (keyword: string): Instruction | undefined =>
  runtime.filter((i) => i.keyword === keyword).at(-1);
const imageEnv: Record<string, string> = Object.assign(
  {},
  ...runtime.filter((i) => i.keyword === 'ENV').map((i) => envPairs(i.args)),
);
const workdir = last('WORKDIR')!.args;

/** The health check's command, as an argv. */
function healthcheckArgv(): string[] {
  const hc = last('HEALTHCHECK');
  expect(hc, 'the final stage has a HEALTHCHECK').toBeDefined();
  const at = hc!.args.indexOf('CMD ');
  return execForm(hc!.args.slice(at + 4).trim());
}

// --- .dockerignore ------------------------------------------------------------------------------------

function globToRegExp(pattern: string): RegExp {
  const body = pattern
    .replace(/^\/+|\/+$/g, '')
    .split('')
    .map((c, i, all) => {
      if (c === '*') return all[i + 1] === '*' ? '' : all[i - 1] === '*' ? '.*' : '[^/]*';
      if (c === '?') return '[^/]';
      return c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    })
    .join('');
  return new RegExp(`^${body}$`);
}

/** Docker's rule: the last matching pattern wins; a pattern matching a folder excludes all inside it. */
function dockerIgnored(path: string): boolean {
  const lines = read(join(ROOT, '.dockerignore'))
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const parts = path.split('/');
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const line of lines) {
    const negate = line.startsWith('!');
    const re = globToRegExp(negate ? line.slice(1) : line);
    if (prefixes.some((p) => re.test(p))) ignored = !negate;
  }
  return ignored;
}

// --- compose and nginx ----------------------------------------------------------------------------------

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string };
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  expose?: string[];
  depends_on?: Record<string, { condition: string }>;
  stop_grace_period?: string;
}

const compose = parseYaml(read(join(DEPLOY, 'compose.yaml')), { merge: true }) as {
  services: Record<string, ComposeService>;
};
const services = compose.services;
const replicas = Object.keys(services).filter((name) => services[name]!.build !== undefined);

/** Compose's own `${VAR}`, `${VAR:-default}` and `${VAR:?error}` interpolation. */
function composeInterpolate(value: string, env: Record<string, string>): string {
  return value.replace(/\$\{(\w+)(?::([-?])([^}]*))?\}/g, (_m, name: string, op?: string, arg?: string) => {
    const v = env[name];
    if (v !== undefined && v !== '') return v;
    if (op === '?') throw new Error(`compose: ${arg}`);
    return op === '-' ? (arg ?? '') : '';
  });
}

/** Bind mounts as [host path (resolved from deploy/), container path]. */
function binds(service: ComposeService): Array<[string, string]> {
  return (service.volumes ?? [])
    .map((v) => v.split(':'))
    .filter(([src]) => src!.startsWith('.') || src!.startsWith('/'))
    .map(([src, dest]) => [resolve(DEPLOY, src!), dest!]);
}

function durationMs(text: string): number {
  const m = /^(\d+)(ms|s|m)$/.exec(text);
  if (!m) throw new Error(`unsupported duration ${text}`);
  return Number(m[1]) * { ms: 1, s: 1_000, m: 60_000 }[m[2] as 'ms' | 's' | 'm'];
}

/** The config each replica would load, with the environment compose and the image give it. */
function replicaConfig(hostEnv: Record<string, string>) {
  const service = services[replicas[0]!]!;
  const env: Record<string, string> = { ...imageEnv };
  for (const [k, v] of Object.entries(service.environment ?? {}))
    env[k] = composeInterpolate(String(v), hostEnv);
  const configPath = env.HOLDFAST_CONFIG!;
  const mounted = binds(service).find(([, dest]) => dest === configPath);
  expect(mounted, `HOLDFAST_CONFIG (${configPath}) is a file compose mounts`).toBeDefined();
  return { env, file: mounted![0], config: loadConfigFile(mounted![0], env) };
}

const nginx = read(join(DEPLOY, 'nginx.conf')).replace(/#.*$/gm, '');

function nginxDirective(name: string): string[] {
  return [...nginx.matchAll(new RegExp(`^\\s*${name}\\s+([^;]+);`, 'gm'))].map((m) => m[1]!.trim());
}

function nginxSeconds(value: string): number {
  const m = /^(\d+)(s|m|h)?$/.exec(value);
  if (!m) throw new Error(`unsupported nginx time ${value}`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600 }[(m[2] ?? 's') as 's' | 'm' | 'h'];
}

const HOST_ENV = { HOLDFAST_ADMIN_KEY: 'compose-test-admin-key-0123456789' };

// --- processes ----------------------------------------------------------------------------------------

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((ok) => srv.close(() => ok()));
  return port;
}

/** Docker runs `node` from the image's PATH; here that is the Node 24 this test runs on. */
function run(argv: string[], opts: { env: NodeJS.ProcessEnv; cwd: string }): ChildProcess {
  const [cmd, ...rest] = argv;
  return spawn(cmd === 'node' ? process.execPath : cmd!, rest, {
    ...opts,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function exitCode(child: ChildProcess): Promise<number | null> {
  return new Promise((ok) => child.once('exit', (code) => ok(code)));
}

const temp: string[] = [];
afterAll(() => {
  for (const dir of temp) rmSync(dir, { recursive: true, force: true });
});

describe('deploy/Dockerfile', () => {
  it('builds every stage from an official Node image whose major satisfies package.json engines', () => {
    const engines = (JSON.parse(read(join(ROOT, 'package.json'))) as { engines: { node: string } }).engines
      .node;
    const min = /^>=\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(engines.trim());
    expect(min, `engines.node is a plain >= range (${engines}); teach this test the new form`).not.toBeNull();
    const froms = dockerfile.filter((i) => i.keyword === 'FROM');
    expect(froms.length).toBeGreaterThanOrEqual(2); // multi-stage: dependencies apart from the runtime
    for (const from of froms) {
      const m = /^node:(\d+)(?:-[\w.-]+)?(?:\s+AS\s+\w+)?$/i.exec(from.args);
      expect(m, `FROM ${from.args} is node:<major>[-variant]`).not.toBeNull();
      // The image's lowest possible version is <major>.0.0; it must still satisfy the range.
      const [major, minMajor, minMinor, minPatch] = [m![1], min![1], min![2] ?? '0', min![3] ?? '0'].map(
        Number,
      );
      expect(major! > minMajor! || (major === minMajor && minMinor === 0 && minPatch === 0)).toBe(true);
    }
  });

  it('installs production dependencies only, from the lockfile, in a stage of their own', () => {
    const install = dockerfile.find((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args));
    expect(install?.args).toMatch(/--omit=dev\b/);
    expect(install!.stage).toBeLessThan(finalStage);
    const copiedFirst = dockerfile.find(
      (i) => i.keyword === 'COPY' && i.stage === install!.stage && i.args.includes('package-lock.json'),
    );
    expect(copiedFirst).toBeDefined();
    expect(runtime.some((i) => i.keyword === 'COPY' && /--from=\S+\s+\S*node_modules/.test(i.args))).toBe(
      true,
    );
  });

  it('runs as a non-root user, with the PGlite data directory a volume that user owns', () => {
    const user = last('USER')?.args;
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user!.split(':')[0]);
    const dataDir = imageEnv.HOLDFAST_DATA_DIR;
    expect(dataDir, 'HOLDFAST_DATA_DIR points the embedded store at the volume').toBeDefined();
    const volume = last('VOLUME')!;
    expect(volume.args.startsWith('[') ? execForm(volume.args) : volume.args.split(/\s+/)).toContain(dataDir);
    const chown = runtime.findIndex((i) => i.keyword === 'RUN' && i.args.includes(`chown ${user}`));
    expect(chown, 'the folder is handed to the user before VOLUME freezes it').toBeGreaterThanOrEqual(0);
    expect(chown).toBeLessThan(runtime.indexOf(volume));
    expect(runtime.indexOf(last('USER')!)).toBeGreaterThan(chown);
  });

  it('copies the ENTRYPOINT file and everything it loads into the image, none of it dockerignored', () => {
    const entry = [...execForm(last('ENTRYPOINT')!.args), ...execForm(last('CMD')!.args)];
    expect(entry.slice(0, 2)).toEqual(['node', 'bin/holdfast.js']);
    const inImage = posix.join(workdir, entry[1]!);
    // Runtime reads: the CLI and its source tree, package.json (--version) and the installed modules.
    const needed = [inImage, posix.join(workdir, 'src/cli/main.ts'), posix.join(workdir, 'package.json')];
    const copies = runtime
      .filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'))
      .map((i) => {
        const parts = i.args.split(/\s+/);
        const dest = posix.resolve(workdir, parts.at(-1)!);
        return { sources: parts.slice(0, -1), dest };
      });
    for (const path of needed) {
      const copy = copies.find(({ sources, dest }) =>
        sources.some((s) => {
          const target =
            dest.endsWith('/') || sources.length > 1 ? posix.join(dest, posix.basename(s)) : dest;
          return path === target || path.startsWith(`${target}/`);
        }),
      );
      expect(copy, `${path} is copied into the image`).toBeDefined();
      const rel = posix.relative(workdir, path);
      expect(existsSync(join(ROOT, rel)), `${rel} exists in the repository`).toBe(true);
      expect(dockerIgnored(rel), `${rel} is not excluded by .dockerignore`).toBe(false);
    }
    for (const { sources } of copies)
      for (const s of sources) expect(dockerIgnored(s), `COPY source ${s} is not dockerignored`).toBe(false);
    expect(dockerIgnored('node_modules')).toBe(true);
    expect(dockerIgnored('data/pglite/base')).toBe(true);
  });

  it('starts by its ENTRYPOINT and CMD, turns healthy by its HEALTHCHECK, and stops cleanly on STOPSIGNAL', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'holdfast-image-'));
    temp.push(dir);
    const port = await freePort();
    // The image's environment, except what only makes sense in a container: loopback, not 0.0.0.0, and
    // a temporary data folder, not /data. No HOLDFAST_CONFIG: the image ships no config file.
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: dir,
      ...imageEnv,
      HOLDFAST_HOST: '127.0.0.1',
      PORT: String(port),
      HOLDFAST_DATA_DIR: join(dir, 'data'),
    };
    const [node, script, ...args] = [...execForm(last('ENTRYPOINT')!.args), ...execForm(last('CMD')!.args)];
    // WORKDIR is the repository root here; the process runs elsewhere so no local holdfast.yaml is read.
    const gateway = run([node!, join(ROOT, script!), ...args], { env, cwd: dir });
    let out = '';
    gateway.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
    });
    gateway.stderr!.on('data', (b: Buffer) => {
      out += b.toString();
    });
    const exited = exitCode(gateway);
    const healthcheck = () => exitCode(run(healthcheckArgv(), { env, cwd: dir }));
    try {
      // Docker's start period is 30 s; probe as it would, just more often.
      let healthy = false;
      for (let i = 0; i < 120 && !healthy; i++) {
        healthy = (await healthcheck()) === 0;
        if (!healthy) await new Promise((ok) => setTimeout(ok, 250));
      }
      expect(healthy, `healthy within the start period; output:\n${out}`).toBe(true);
      expect(out).toContain(`listening on http://127.0.0.1:${port}`);
      const stopSignal = (last('STOPSIGNAL')?.args ?? 'SIGTERM') as NodeJS.Signals;
      gateway.kill(stopSignal);
      expect(await exited).toBe(0);
      expect(out).toContain('"drained":true');
      expect(await healthcheck(), 'unhealthy once stopped').toBe(1);
    } finally {
      gateway.kill('SIGKILL');
    }
    // Start (up to 30 s on a busy machine) plus the stop: SIGTERM keeps serving for the 5 s drain delay.
  }, 60_000);
});

describe('deploy/compose.yaml', () => {
  it('parses, and every service has an image or a build whose Dockerfile exists', () => {
    expect(Object.keys(services).length).toBeGreaterThan(0);
    for (const [name, s] of Object.entries(services)) {
      expect(s.image ?? s.build, `service ${name} has image or build`).toBeTruthy();
      if (s.build) {
        const context = resolve(DEPLOY, s.build.context);
        expect(existsSync(join(context, s.build.dockerfile ?? 'Dockerfile')), `${name}'s Dockerfile`).toBe(
          true,
        );
        expect(context).toBe(ROOT); // the .dockerignore that applies is the root one tested above
      }
    }
  });

  it('runs three Holdfast replicas on PostgreSQL and Redis, behind a load balancer', () => {
    expect(replicas).toHaveLength(3);
    for (const name of ['postgres', 'redis', 'lb']) expect(services[name], name).toBeDefined();
    for (const name of replicas) {
      const s = services[name]!;
      expect(s.depends_on?.postgres?.condition).toBe('service_healthy');
      expect(s.depends_on?.redis?.condition).toBe('service_healthy');
      expect(s.ports, `${name} is reachable only through the balancer`).toBeUndefined();
      expect(s.environment?.DATABASE_URL).toMatch(/^postgres:\/\/[^@]+@postgres:5432\//);
      expect(s.environment?.REDIS_URL).toMatch(/^redis:\/\/redis:6379/);
      expect(services.lb!.depends_on?.[name]?.condition, 'the balancer waits for healthy replicas').toBe(
        'service_healthy',
      );
    }
  });

  it('mounts only files that exist and depends only on services that exist', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const [src] of binds(s)) expect(existsSync(src), `${name} mounts ${src}`).toBe(true);
      for (const dep of Object.keys(s.depends_on ?? {}))
        expect(services[dep], `${name} → ${dep}`).toBeDefined();
    }
  });

  it('gives the replicas a config that passes the real schema, on the shared PostgreSQL and Redis', () => {
    const { env, config } = replicaConfig(HOST_ENV);
    expect(config.store.url).toBe(env.DATABASE_URL);
    expect(config.shared_state.redis_url).toBe(env.REDIS_URL);
    expect(config.server.host).toBe('0.0.0.0');
    expect(config.server.port).toBe(Number(imageEnv.PORT));
    expect(config.auth.admin_key).toBe(HOST_ENV.HOLDFAST_ADMIN_KEY);
    expect(config.server.trust_proxy).toBe(true);
    expect(config.status.page.url).toBe('http://localhost:8080/status');
    // Compose refuses to start without an admin key rather than run the replicas keyless.
    expect(() => replicaConfig({})).toThrow(/HOLDFAST_ADMIN_KEY/);
  });

  it('gives a stopping replica longer than its drain delay and shutdown grace before a forced kill', () => {
    const { config } = replicaConfig(HOST_ENV);
    const drain = config.server.drain_delay_ms + config.server.shutdown_grace_ms;
    for (const name of replicas)
      expect(durationMs(services[name]!.stop_grace_period!)).toBeGreaterThan(drain);
  });

  it('has nginx balance over every replica at the port it listens on, passing SSE through unbuffered', () => {
    const { config } = replicaConfig(HOST_ENV);
    const upstream = /upstream\s+(\w+)\s*\{([^}]*)\}/.exec(nginx);
    expect(upstream).not.toBeNull();
    const servers = [...upstream![2]!.matchAll(/^\s*server\s+([\w.-]+):(\d+)/gm)].map((m) => [
      m[1],
      Number(m[2]),
    ]);
    expect(servers.map(([host]) => host).sort()).toEqual([...replicas].sort());
    for (const [, port] of servers) expect(port).toBe(config.server.port);
    expect(nginxDirective('proxy_pass')).toEqual([`http://${upstream![1]}`]);
    expect(nginxDirective('proxy_buffering')).toEqual(['off']);
    expect(nginxDirective('proxy_http_version')).toEqual(['1.1']);
    // Longer than any gap Holdfast leaves in a stream (keep-alives every keepalive_s) by a wide margin.
    expect(nginxSeconds(nginxDirective('proxy_read_timeout')[0]!)).toBeGreaterThanOrEqual(
      config.server.keepalive_s * 4,
    );
    const bodyLimit = /^(\d+)m$/.exec(nginxDirective('client_max_body_size')[0]!);
    expect(Number(bodyLimit![1]) * 1024 * 1024).toBeGreaterThanOrEqual(config.server.body_limit_bytes);

    const lb = services.lb!;
    expect(binds(lb)).toContainEqual([join(DEPLOY, 'nginx.conf'), '/etc/nginx/nginx.conf']);
    const listen = Number(nginxDirective('listen')[0]);
    const published = (lb.ports ?? []).map((p) => Number(composeInterpolate(p, {}).split(':').at(-1)));
    expect(published).toContain(listen);
  });
});
