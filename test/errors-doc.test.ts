import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderChatErrorTable, renderErrorTable } from '../scripts/errors-doc.ts';
import { ERRORS } from '../src/core/errors.ts';

describe('docs/errors.md', () => {
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');

  it('carries exactly the registry table (run `npm run docs:errors` after changing the registry)', () => {
    expect(doc).toContain(renderErrorTable());
  });

  it('carries exactly the chat API registry table', () => {
    expect(doc).toContain(renderChatErrorTable());
  });

  it('documents every code with its status', () => {
    for (const [code, spec] of Object.entries(ERRORS)) {
      expect(doc).toMatch(new RegExp(`\\| \`${code}\` \\| ${spec.status} \\|`));
    }
  });
});
