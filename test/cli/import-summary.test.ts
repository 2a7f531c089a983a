import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { holdfast, ROOT } from './cli-runner.ts';

const FIXTURES = join(ROOT, 'test/fixtures/litellm');

describe('holdfast import litellm: summary', () => {
  it('ends with one line on stderr saying how much mapped and how much did not', {
    timeout: 60_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'holdfast-import-summary-'));
    try {
      const messy = await holdfast(['import', 'litellm', join(FIXTURES, 'messy.yaml')], { cwd: dir });
      expect(messy.code, messy.stderr).toBe(0);
      expect(messy.stderr.trimEnd().split('\n').at(-1)).toMatch(
        /^import litellm: 3 of 7 model_list entries became deployments in 2 model group\(s\), 4 skipped; \d+ item\(s\) not mapped and \d+ mapped with a difference, listed above; \d+ ms$/,
      );
      // The report's own counts agree with the summary.
      expect(messy.stdout).toContain('Imported 2 model group(s), 3 deployment(s).');
      const clean = await holdfast(
        ['import', 'litellm', join(FIXTURES, 'simple-openai.yaml'), '--out', '-'],
        {
          cwd: dir,
        },
      );
      expect(clean.code, clean.stderr).toBe(0);
      expect(clean.stderr).toMatch(/import litellm: (\d+) of \1 model_list entries became deployments in/);
      expect(clean.stdout).toMatch(/^# /);
      // --json output stays pure JSON.
      const json = await holdfast(
        ['import', 'litellm', join(FIXTURES, 'simple-openai.yaml'), '--json', '--out', 'x.yaml'],
        {
          cwd: dir,
        },
      );
      expect(json.stderr).toBe('');
      expect(JSON.parse(json.stdout).ok).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
