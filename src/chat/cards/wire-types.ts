/**
 * The JSON shapes this module writes (Character Card V2 and V3). Index signatures carry keys outside the
 * spec that were kept from an imported card.
 */

export interface CardBookEntryJson {
  keys: string[];
  content: string;
  extensions: Record<string, unknown>;
  enabled: boolean;
  insertion_order: number;
  case_sensitive?: boolean;
  name?: string;
  priority?: number;
  id?: number | string;
  comment?: string;
  selective?: boolean;
  secondary_keys?: string[];
  constant?: boolean;
  position?: 'before_char' | 'after_char';
  use_regex?: boolean;
  [extra: string]: unknown;
}

export interface CardBookJson {
  name?: string;
  description?: string;
  scan_depth?: number;
  token_budget?: number;
  recursive_scanning?: boolean;
  extensions: Record<string, unknown>;
  entries: CardBookEntryJson[];
  [extra: string]: unknown;
}

export interface CardDataV2Json {
  name: string;
  description: string;
  personality: string;
  scenario: string;
  first_mes: string;
  mes_example: string;
  creator_notes: string;
  system_prompt: string;
  post_history_instructions: string;
  alternate_greetings: string[];
  character_book?: CardBookJson;
  tags: string[];
  creator: string;
  character_version: string;
  extensions: Record<string, unknown>;
  [extra: string]: unknown;
}

export interface CardAssetJson {
  type: string;
  uri: string;
  name: string;
  ext: string;
  [extra: string]: unknown;
}

export interface CardDataV3Json extends CardDataV2Json {
  assets?: CardAssetJson[];
  nickname?: string;
  creator_notes_multilingual?: Record<string, string>;
  source?: string[];
  group_only_greetings: string[];
  creation_date?: number;
  modification_date?: number;
}

export interface CardV2Json {
  spec: 'chara_card_v2';
  spec_version: '2.0';
  data: CardDataV2Json;
}

export interface CardV3Json {
  spec: 'chara_card_v3';
  spec_version: '3.0';
  data: CardDataV3Json;
}

/** Data keys each spec defines; anything else in `data` is kept as `Character.extra`. */
export const V2_DATA_KEYS = [
  'name',
  'description',
  'personality',
  'scenario',
  'first_mes',
  'mes_example',
  'creator_notes',
  'system_prompt',
  'post_history_instructions',
  'alternate_greetings',
  'character_book',
  'tags',
  'creator',
  'character_version',
  'extensions',
] as const;

export const V3_ONLY_DATA_KEYS = [
  'assets',
  'nickname',
  'creator_notes_multilingual',
  'source',
  'group_only_greetings',
  'creation_date',
  'modification_date',
] as const;
