#!/usr/bin/env node
// Plain JavaScript on purpose: this file must run on any old Node just to explain what is needed.
// Holdfast is TypeScript run by Node's built-in type stripping (Node >= 22.18, or 22.12+ with a flag).
// `npm ci` installs Node 24 into node_modules (the `node` package), and npm scripts/npx put it first on
// PATH; when launched some other way with an older Node, we hand over to that local binary.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const entry = join(root, 'src', 'cli', 'main.ts');
const [major, minor] = process.versions.node.split('.').map(Number);
const strips = Boolean(process.features?.typescript);
const supported = major > 22 || (major === 22 && minor >= 12);

function handOver(nodeBin, extraFlags) {
  const child = spawn(nodeBin, [...extraFlags, entry, ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

if (strips) {
  await import(entry);
} else if (supported) {
  handOver(process.execPath, ['--experimental-strip-types', '--disable-warning=ExperimentalWarning']);
} else {
  const local = join(root, 'node_modules', 'node', 'bin', 'node');
  if (existsSync(local)) {
    handOver(local, []);
  } else {
    process.stderr.write(
      `Holdfast needs Node.js 22.12 or newer; this is ${process.version}.\n` +
        `Run \`npm ci\` in ${root} (it installs Node 24 locally), then \`npm start\` or \`npx holdfast\`.\n`,
    );
    process.exit(1);
  }
}
