import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const DIR = join(dirname(fileURLToPath(import.meta.url)), 'assets');

const TYPES: Record<string, string> = {
  'status.css': 'text/css; charset=utf-8',
  'status.js': 'text/javascript; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

/** The page's stylesheet, script and icon, read once; served at /status/assets/* and copied into exports. */
export const ASSETS: ReadonlyMap<string, { body: string; type: string }> = new Map(
  Object.entries(TYPES).map(([name, type]) => [name, { body: readFileSync(join(DIR, name), 'utf8'), type }]),
);
