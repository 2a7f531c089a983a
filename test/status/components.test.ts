import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/load.ts';
import { componentSpecs } from '../../src/status/components.ts';
import { stableId } from '../../src/status/ids.ts';
import type { Json } from '../helpers/chat-client.ts';
import { simModels } from '../helpers/gateway.ts';
import { call, startStatusGateway } from './gateway.ts';

describe('components', () => {
  it('derives the page from the config: platform, one per model group, custom ones', () => {
    const config = buildConfig(
      {
        models: simModels(),
        status: { components: [{ key: 'search', name: 'Search', group: 'Tools', models: ['sim-openai'] }] },
      },
      {},
    );
    const specs = componentSpecs(config);
    expect(specs.map((s) => [s.key, s.groupKey])).toEqual([
      ['group:platform', null],
      ['platform:api', 'group:platform'],
      ['platform:chat', 'group:platform'],
      ['group:models', null],
      ['model:sim-openai', 'group:models'],
      ['model:sim-anthropic', 'group:models'],
      ['group:tools', null],
      ['custom:search', 'group:tools'],
    ]);
    expect(specs.every((s) => /^[a-z2-7]{12}$/.test(s.id))).toBe(true);
    expect(stableId('model:sim-openai')).toBe(specs[4]!.id);
  });

  it('keeps ids across restarts and config edits; a component gone from the config is retired, not reused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'holdfast-status-ids-'));
    try {
      const a = await startStatusGateway({ dataDir: dir });
      const before = (await call(a.url, 'GET', '/api/v2/components.json')).body.components as Json[];
      await a.close();
      const models = simModels();
      const renamed = [
        { ...models[1]!, name: 'sim-anthropic' },
        { ...models[0]!, name: 'sim-openai-2' },
      ];
      const b = await startStatusGateway({ dataDir: dir, models: renamed });
      const after = (await call(b.url, 'GET', '/api/v2/components.json')).body.components as Json[];
      const admin = (await call(b.url, 'GET', '/admin/status/components')).body.components as Json[];
      await b.close();
      const id = (list: Json[], name: string) => list.find((c) => c.name === name)?.id;
      expect(id(after, 'sim-anthropic')).toBe(id(before, 'sim-anthropic'));
      expect(id(after, 'API')).toBe(id(before, 'API'));
      expect(id(after, 'sim-openai')).toBeUndefined();
      expect(id(after, 'sim-openai-2')).toBeDefined();
      expect(id(after, 'sim-openai-2')).not.toBe(id(before, 'sim-openai'));
      const retired = admin.find((c) => c.id === id(before, 'sim-openai'));
      expect(retired).toMatchObject({ retired: true, key: 'model:sim-openai' });
      const group = after.find((c) => c.name === 'Models');
      expect(group.group).toBe(true);
      expect(group.components).toEqual([id(after, 'sim-anthropic'), id(after, 'sim-openai-2')]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
