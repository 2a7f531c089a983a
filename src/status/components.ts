import type { Config } from '../config/schema.ts';
import { stableId } from './ids.ts';

/** What a component's status is computed from. */
export type ComponentRole = 'group' | 'model' | 'api' | 'chat' | 'custom';

export interface ComponentSpec {
  /** Where the stable id comes from; never reused for something else. */
  key: string;
  id: string;
  name: string;
  description: string | null;
  /** Key of the enclosing group, if any. */
  groupKey: string | null;
  role: ComponentRole;
  position: number;
  /** Model groups whose traffic feeds this component. */
  models: readonly string[];
}

export const GROUP_PLATFORM = 'group:platform';
export const GROUP_MODELS = 'group:models';
export const API_KEY = 'platform:api';
export const CHAT_KEY = 'platform:chat';

const slug = (s: string): string =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '') || 'group';

/**
 * The page's components, from the config: the platform (API, chat app), one per model group, and the
 * config's own. Keys are namespaced so a custom component can never take a model's id.
 */
export function componentSpecs(config: Pick<Config, 'models' | 'chat' | 'status'>): ComponentSpec[] {
  const out: ComponentSpec[] = [];
  const add = (s: Omit<ComponentSpec, 'id' | 'position'>): void => {
    if (out.some((o) => o.key === s.key)) return;
    out.push({ ...s, id: stableId(s.key), position: out.length + 1 });
  };
  const group = (key: string, name: string): void =>
    add({ key, name, description: null, groupKey: null, role: 'group', models: [] });

  group(GROUP_PLATFORM, 'Platform');
  add({
    key: API_KEY,
    name: 'API',
    description: 'OpenAI- and Anthropic-compatible endpoints (/v1/chat/completions, /v1/messages).',
    groupKey: GROUP_PLATFORM,
    role: 'api',
    models: [],
  });
  if (config.chat.enabled)
    add({
      key: CHAT_KEY,
      name: 'Chat app',
      description: 'The chat web app and its API.',
      groupKey: GROUP_PLATFORM,
      role: 'chat',
      models: [],
    });
  group(GROUP_MODELS, 'Models');
  for (const m of config.models)
    add({
      key: `model:${m.name}`,
      name: m.name,
      description: null,
      groupKey: GROUP_MODELS,
      role: 'model',
      models: [m.name],
    });
  for (const c of config.status.components) {
    const groupKey = c.group ? `group:${slug(c.group)}` : null;
    if (groupKey && c.group) group(groupKey, c.group);
    add({
      key: `custom:${c.key}`,
      name: c.name,
      description: c.description ?? null,
      groupKey,
      role: 'custom',
      models: c.models,
    });
  }
  // Groups without members would be empty boxes on the page.
  return out.filter((s) => s.role !== 'group' || out.some((o) => o.groupKey === s.key));
}
