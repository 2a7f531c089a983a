import type { z } from 'zod';
import type { CardAsset, Character, CharacterBook, LorebookEntry } from './character.ts';
import { decodeUtf8, parseJsonBounded } from './decode.ts';
import { CardError, type CardIssue } from './errors.ts';
import { defined, isPlainObject, unknownKeys } from './json-object.ts';
import { CARD_LIMITS } from './limits.ts';
import {
  BOOK_KEYS,
  cardDataV2Schema,
  cardDataV3Schema,
  ENTRY_KEYS_V2,
  ENTRY_KEYS_V3,
  type ParsedBook,
  type ParsedCardData,
  type ParsedEntry,
} from './wire-schema.ts';
import { V2_DATA_KEYS, V3_ONLY_DATA_KEYS } from './wire-types.ts';

export type CardSpec = 'v1' | 'v2' | 'v3';

export interface ParsedCard {
  character: Character;
  /** The format the card declared; V1 is a flat object with no `spec`. */
  spec: CardSpec;
}

/** Parses card JSON given as text or UTF-8 bytes. */
export function parseCardJson(input: string | Uint8Array): ParsedCard {
  if (typeof input !== 'string' && input.byteLength > CARD_LIMITS.maxJsonBytes) {
    throw new CardError('card_too_large', `card JSON is larger than ${CARD_LIMITS.maxJsonBytes} bytes`);
  }
  const text = typeof input === 'string' ? input : decodeUtf8(input, 'card JSON');
  return parseCard(parseJsonBounded(text, 'card JSON'));
}

/** Validates an already-parsed JSON value (V1, V2 or V3) and maps it onto a Character. */
export function parseCard(value: unknown): ParsedCard {
  if (!isPlainObject(value)) {
    throw new CardError('card_invalid', `expected a JSON object, got ${describe(value)}`, { path: '' });
  }
  const spec = value.spec;
  if (spec === undefined || spec === null) {
    return { character: fromData(validate(v1Aliases(value), 'v1', ''), 'v1', value), spec: 'v1' };
  }
  if (spec !== 'chara_card_v2' && spec !== 'chara_card_v3') {
    const detail =
      spec === 'lorebook_v3'
        ? 'lorebook_v3 is a standalone lorebook, not a character card'
        : `expected "chara_card_v2" or "chara_card_v3", got ${describe(spec)}`;
    throw new CardError('card_unsupported_spec', detail, { path: 'spec' });
  }
  const version: CardSpec = spec === 'chara_card_v3' ? 'v3' : 'v2';
  if (!isPlainObject(value.data)) {
    const detail = value.data === undefined ? 'required' : `expected object, got ${describe(value.data)}`;
    throw new CardError('card_invalid', detail, { path: 'data' });
  }
  return { character: fromData(validate(value.data, version, 'data'), version, value.data), spec: version };
}

/** The pre-spec Pygmalion/TavernAI field names some old V1 files use. */
function v1Aliases(value: Record<string, unknown>): Record<string, unknown> {
  if (value.name !== undefined || value.char_name === undefined) return value;
  return {
    name: value.char_name,
    description: value.char_persona,
    scenario: value.world_scenario,
    first_mes: value.char_greeting,
    mes_example: value.example_dialogue,
  };
}

function validate(data: unknown, version: CardSpec, prefix: string): ParsedCardData {
  const schema = version === 'v3' ? cardDataV3Schema : cardDataV2Schema;
  const result = schema.safeParse(data);
  if (result.success) return result.data as ParsedCardData;
  const issues = result.error.issues.map((i) => toIssue(i, prefix));
  const first = issues[0]!;
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  throw new CardError('card_invalid', `${first.message}${more}`, { path: first.path, issues });
}

function toIssue(issue: z.core.$ZodIssue, prefix: string): CardIssue {
  const path = [prefix, ...issue.path.map(String)].filter((p) => p !== '').join('.');
  let message = issue.message.replace(/^Invalid input: /, '');
  if (issue.code === 'invalid_type' && /received undefined$/.test(message)) {
    message = `required (expected ${issue.expected})`;
  }
  return { path, message };
}

function fromData(d: ParsedCardData, version: CardSpec, raw: Record<string, unknown>): Character {
  const v3 = version === 'v3';
  const known: readonly string[] = v3 ? [...V2_DATA_KEYS, ...V3_ONLY_DATA_KEYS] : V2_DATA_KEYS;
  return {
    name: d.name,
    avatar: null,
    description: d.description,
    personality: d.personality,
    scenario: d.scenario,
    greeting: d.first_mes,
    alternateGreetings: d.alternate_greetings,
    exampleDialogue: d.mes_example,
    systemPrompt: d.system_prompt,
    postHistoryInstructions: d.post_history_instructions,
    creatorNotes: d.creator_notes,
    tags: d.tags,
    creator: d.creator,
    characterVersion: d.character_version,
    characterBook: d.character_book ? fromBook(d.character_book, v3) : null,
    extensions: d.extensions,
    assets: v3 ? ((d.assets as CardAsset[] | undefined) ?? null) : null,
    nickname: v3 ? (d.nickname ?? null) : null,
    creatorNotesMultilingual: v3 ? (d.creator_notes_multilingual ?? null) : null,
    source: v3 ? (d.source ?? null) : null,
    groupOnlyGreetings: v3 ? d.group_only_greetings : [],
    creationDate: v3 ? (d.creation_date ?? null) : null,
    modificationDate: v3 ? (d.modification_date ?? null) : null,
    // A V1 card's stray top-level keys are app metadata (chat file names, favourites), not card data.
    extra: version === 'v1' ? {} : unknownKeys(raw, known),
  };
}

function fromBook(b: ParsedBook, v3: boolean): CharacterBook {
  return {
    ...defined({
      name: b.name,
      description: b.description,
      scanDepth: b.scan_depth,
      tokenBudget: b.token_budget,
      recursiveScanning: b.recursive_scanning,
    }),
    extensions: b.extensions,
    entries: b.entries.map((e) => fromEntry(e, v3)),
    extra: unknownKeys(b, BOOK_KEYS),
  };
}

function fromEntry(e: ParsedEntry, v3: boolean): LorebookEntry {
  return {
    keys: e.keys,
    content: e.content,
    extensions: e.extensions,
    enabled: e.enabled,
    insertionOrder: e.insertion_order,
    ...defined({
      caseSensitive: e.case_sensitive,
      name: e.name,
      priority: e.priority,
      id: e.id,
      comment: e.comment,
      selective: e.selective,
      secondaryKeys: e.secondary_keys,
      constant: e.constant,
      position: e.position,
      // Required in V3, so a V3 entry always has it and a V3 round trip is exact.
      useRegex: v3 ? (e.use_regex ?? false) : undefined,
    }),
    extra: unknownKeys(e, v3 ? ENTRY_KEYS_V3 : ENTRY_KEYS_V2),
  };
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return typeof v;
}
