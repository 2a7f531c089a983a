import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CONSOLE_PATH } from './auth.ts';

/**
 * The console's page: one HTML shell and its ES modules (Preact + htm, no build step, like the chat UI
 * in src/web), all read once at registration. The browser modules live in src/admin/ui; Preact and htm
 * come from node_modules, served here so the console works with the chat app turned off.
 */

const UI_DIR = join(dirname(fileURLToPath(import.meta.url)), 'ui');
const require = createRequire(import.meta.url);

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

function asset(body: Buffer, name: string): Asset {
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
  return { body, type: TYPES[extname(name)] ?? 'application/octet-stream', etag };
}

/** A file inside an installed package (the entry point's folder, walked up to the package root). */
function packageFile(pkg: string, rel: string): Buffer {
  let dir = dirname(require.resolve(pkg));
  for (;;) {
    try {
      const pj = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pj.name === pkg) return readFileSync(join(dir, rel));
    } catch {
      // not the package root yet
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`admin console: cannot find package ${pkg}`);
    dir = up;
  }
}

function uiFiles(): Map<string, Asset> {
  const out = new Map<string, Asset>();
  const walk = (dir: string, prefix: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue;
      if (e.isDirectory()) walk(join(dir, e.name), `${prefix}${e.name}/`);
      else if (['.js', '.css', '.svg'].includes(extname(e.name)))
        out.set(`${prefix}${e.name}`, asset(readFileSync(join(dir, e.name)), e.name));
    }
  };
  walk(UI_DIR, '');
  return out;
}

function vendorFiles(): Map<string, Asset> {
  const files: Record<string, [string, string]> = {
    'preact.js': ['preact', 'dist/preact.mjs'],
    'preact-hooks.js': ['preact', 'hooks/dist/hooks.mjs'],
    'htm.js': ['htm', 'dist/htm.module.js'],
    'htm-preact.js': ['htm', 'preact/index.module.js'],
  };
  const out = new Map<string, Asset>();
  for (const [name, [pkg, rel]] of Object.entries(files)) out.set(name, asset(packageFile(pkg, rel), name));
  return out;
}

/** Same-origin scripts only, plus the import map by hash; no inline styles, no framing. */
export function consoleCsp(importMapHashes: readonly string[]): string {
  return [
    "default-src 'none'",
    `script-src 'self' ${importMapHashes.map((h) => `'sha256-${h}'`).join(' ')}`.trim(),
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
  ].join('; ');
}

function importMapHashes(html: string): string[] {
  const out: string[] = [];
  for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)) {
    if (/\bsrc\s*=/.test(m[1] ?? '')) continue;
    if (!/type\s*=\s*["']?importmap/i.test(m[1] ?? ''))
      throw new Error('admin console: index.html may hold no inline script but the import map');
    out.push(
      createHash('sha256')
        .update(m[2] ?? '', 'utf8')
        .digest('base64'),
    );
  }
  return out;
}

const HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
} as const;

function send(req: FastifyRequest, reply: FastifyReply, a: Asset, cache: string) {
  reply.headers(HEADERS).header('cache-control', cache).header('etag', a.etag);
  if (req.headers['if-none-match'] === a.etag) return reply.code(304).send();
  return reply.type(a.type).send(a.body);
}

export function registerConsolePages(app: FastifyInstance): void {
  const html = readFileSync(join(UI_DIR, 'index.html'));
  const page = asset(html, 'index.html');
  const csp = consoleCsp(importMapHashes(html.toString('utf8')));
  const ui = uiFiles();
  const vendor = vendorFiles();
  const notFound = (reply: FastifyReply) =>
    reply.code(404).headers(HEADERS).type('text/plain; charset=utf-8').send('Not found');

  // The shell holds no data: everything comes from /admin/api, which checks the session.
  const shell = async (req: FastifyRequest, reply: FastifyReply) => {
    reply.header('content-security-policy', csp);
    return send(req, reply, page, 'no-cache');
  };
  app.get(CONSOLE_PATH, shell);
  app.get(`${CONSOLE_PATH}/`, shell);
  app.get(`${CONSOLE_PATH}/ui/*`, async (req, reply) => {
    const a = ui.get((req.params as { '*': string })['*']);
    return a ? send(req, reply, a, 'no-cache') : notFound(reply);
  });
  app.get(`${CONSOLE_PATH}/vendor/*`, async (req, reply) => {
    const a = vendor.get((req.params as { '*': string })['*']);
    return a ? send(req, reply, a, 'public, max-age=3600, must-revalidate') : notFound(reply);
  });
}
