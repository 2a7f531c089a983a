import { afterAll, describe, it } from 'vitest';
import { DocRunner } from './doc-runner.ts';

/** docs/api.md's curl examples, run against a real gateway started as the page says (doc-runner.ts). */
const runner = new DocRunner();
afterAll(() => runner.close());

describe('docs/api.md', () => {
  it('has examples that work as written', async () => {
    await runner.run('docs/api.md', 12);
  }, 120_000);
});
