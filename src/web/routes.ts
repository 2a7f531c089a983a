import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * The chat app's web UI: static files, no build step (docs/chat-ui.md).
 *
 * - `/` serves index.html with a strict Content-Security-Policy. The page's only inline script is its import
 *   map (JSON, never executed); it is allowed by its SHA-256 hash, computed here from the file itself.
 * - `/app/*` serves the browser modules and styles that live next to this file (every `.js`, `.css`, `.svg`
 *   under src/web, nothing else: no `.ts`, no dotfiles, no path outside the folder).
 * - `/vendor/*` serves an explicit allowlist of files from node_modules (Preact, htm, marked, DOMPurify,
 *   highlight.js). highlight.js's `es/core.js` re-exports a CommonJS file, so its core is served wrapped as
 *   an ES module.
 *
 * Everything is read once, at registration, and answered from memory with an ETag.
 */

const WEB_DIR = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json; charset=utf-8',
};

/** Languages highlight.js knows in the browser (plus common aliases it registers itself). */
export const HIGHLIGHT_LANGUAGES = [
  'bash',
  'c',
  'cpp',
  'css',
  'diff',
  'go',
  'java',
  'javascript',
  'json',
  'markdown',
  'plaintext',
  'python',
  'rust',
  'shell',
  'sql',
  'typescript',
  'xml',
  'yaml',
] as const;

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

function asset(body: Buffer | string, file: string): Asset {
  const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const type = CONTENT_TYPES[extname(file)] ?? 'application/octet-stream';
  const etag = `"${createHash('sha256').update(buf).digest('base64url').slice(0, 27)}"`;
  return { body: buf, type, etag };
}

/** The root folder of an installed package, found from any file it resolves to. */
function packageRoot(name: string): string {
  let dir = dirname(require.resolve(name));
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === name) return dir;
      } catch {
        // keep walking up
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`web: cannot find the package root of ${name}`);
    dir = up;
  }
}

/** `/vendor/<name>` → file in node_modules. The import map in index.html names these URLs. */
function vendorFiles(): Map<string, Asset> {
  const preact = packageRoot('preact');
  const htm = packageRoot('htm');
  const marked = packageRoot('marked');
  const purify = packageRoot('dompurify');
  const hljs = packageRoot('highlight.js');
  const files: Record<string, string> = {
    'preact.js': join(preact, 'dist/preact.mjs'),
    'preact-hooks.js': join(preact, 'hooks/dist/hooks.mjs'),
    'htm.js': join(htm, 'dist/htm.module.js'),
    'htm-preact.js': join(htm, 'preact/index.module.js'),
    'marked.js': join(marked, 'lib/marked.esm.js'),
    'dompurify.js': join(purify, 'dist/purify.es.mjs'),
    'highlight/github.css': join(hljs, 'styles/github.min.css'),
    'highlight/github-dark.css': join(hljs, 'styles/github-dark.min.css'),
  };
  for (const lang of HIGHLIGHT_LANGUAGES) {
    files[`highlight/languages/${lang}.js`] = join(hljs, `es/languages/${lang}.js`);
  }
  const out = new Map<string, Asset>();
  for (const [name, file] of Object.entries(files)) out.set(name, asset(readFileSync(file), name));
  // highlight.js/es/core.js is `import HighlightJS from '../lib/core.js'`, a CommonJS module a browser cannot
  // load; the core has no imports of its own, so it is served as the same code with an ES export.
  const core = readFileSync(join(hljs, 'lib/core.js'), 'utf8');
  out.set(
    'highlight/core.js',
    asset(
      `const module = { exports: {} };\n${core}\nconst HighlightJS = module.exports;\nexport { HighlightJS };\nexport default HighlightJS;\n`,
      'core.js',
    ),
  );
  return out;
}

/** Every browser file under src/web, keyed by its path relative to it with `/` separators. */
function appFiles(): Map<string, Asset> {
  const out = new Map<string, Asset>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (['.js', '.css', '.svg'].includes(extname(entry.name))) {
        out.set(relative(WEB_DIR, full).split(sep).join('/'), asset(readFileSync(full), full));
      }
    }
  };
  walk(WEB_DIR);
  return out;
}

/** The CSP for the page: only same-origin scripts (plus the import map, by hash), styles and connections. */
export function contentSecurityPolicy(importMapHashes: readonly string[]): string {
  return [
    "default-src 'none'",
    `script-src 'self' ${importMapHashes.map((h) => `'sha256-${h}'`).join(' ')}`.trim(),
    "style-src 'self'",
    // Avatars are data: URLs; remote images in model output are not loaded (no tracking pixels).
    "img-src 'self' data: blob:",
    "connect-src 'self'",
    "font-src 'self'",
    "manifest-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
  ].join('; ');
}

/** SHA-256 (base64) of each inline `<script type="importmap">` body, as CSP hash sources want them. */
function inlineScriptHashes(html: string): string[] {
  const hashes: string[] = [];
  for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)) {
    const attrs = m[1] ?? '';
    if (/\bsrc\s*=/.test(attrs)) continue;
    if (!/type\s*=\s*["']?importmap/i.test(attrs)) {
      throw new Error('web: index.html may not contain inline scripts other than the import map');
    }
    hashes.push(
      createHash('sha256')
        .update(m[2] ?? '', 'utf8')
        .digest('base64'),
    );
  }
  return hashes;
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
  'x-frame-options': 'DENY',
  'permissions-policy': 'camera=(), microphone=(), geolocation=()',
} as const;

function send(req: FastifyRequest, reply: FastifyReply, a: Asset, cacheControl: string) {
  reply.headers(SECURITY_HEADERS).header('cache-control', cacheControl).header('etag', a.etag);
  if (req.headers['if-none-match'] === a.etag) return reply.code(304).send();
  return reply.type(a.type).send(a.body);
}

function notFound(reply: FastifyReply) {
  return reply
    .code(404)
    .headers(SECURITY_HEADERS)
    .header('cache-control', 'no-store')
    .type('text/plain; charset=utf-8')
    .send('Not found');
}

export function registerWebRoutes(app: FastifyInstance): void {
  const html = readFileSync(join(WEB_DIR, 'index.html'), 'utf8');
  const index = asset(html, 'index.html');
  const csp = contentSecurityPolicy(inlineScriptHashes(html));
  const appAssets = appFiles();
  const vendorAssets = vendorFiles();

  const page = async (req: FastifyRequest, reply: FastifyReply) => {
    reply.header('content-security-policy', csp);
    return send(req, reply, index, 'no-cache');
  };
  app.get('/', page);
  app.get('/index.html', page);

  // Our own modules change with every deploy and have no hashed names: always revalidate (ETag → 304).
  app.get('/app/*', async (req, reply) => {
    const name = (req.params as { '*': string })['*'];
    const a = appAssets.get(name);
    return a ? send(req, reply, a, 'no-cache') : notFound(reply);
  });
  // Vendor files change only with package upgrades.
  app.get('/vendor/*', async (req, reply) => {
    const name = (req.params as { '*': string })['*'];
    const a = vendorAssets.get(name);
    return a ? send(req, reply, a, 'public, max-age=3600, must-revalidate') : notFound(reply);
  });
}
