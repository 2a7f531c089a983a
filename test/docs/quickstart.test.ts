import { afterAll, describe, it } from 'vitest';
import { DocRunner } from './doc-runner.ts';

/**
 * docs/quickstart.md as a newcomer runs it: install, start, stream through curl and both SDKs, the status
 * API, a restart with an admin key, a failover drill and a real-provider config (doc-runner.ts).
 */
const runner = new DocRunner();
afterAll(() => runner.close());

describe('docs/quickstart.md', () => {
  it('runs, start to finish, as written', async () => {
    await runner.run('docs/quickstart.md', 10);
  }, 180_000);
});
