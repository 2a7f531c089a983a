import type { Character, CharacterBook, LorebookEntry } from './character.ts';
import { CardError } from './errors.ts';
import { defined } from './json-object.ts';
import { CARD_LIMITS } from './limits.ts';
import { readPngChunks, rewriteTextChunks, tEXtChunk } from './png-chunks.ts';
import { defaultAvatarPng } from './png-encode.ts';
import { BOOK_KEYS, ENTRY_KEYS_V3 } from './wire-schema.ts';
import {
  type CardBookEntryJson,
  type CardBookJson,
  type CardDataV2Json,
  type CardV2Json,
  type CardV3Json,
  V2_DATA_KEYS,
  V3_ONLY_DATA_KEYS,
} from './wire-types.ts';

/** Character → Character Card V2. V3-only fields are not representable and are left out. */
export function toCardV2(c: Character): CardV2Json {
  return { spec: 'chara_card_v2', spec_version: '2.0', data: v2Data(c, false) };
}

/** Character → Character Card V3. */
export function toCardV3(c: Character): CardV3Json {
  const data = {
    ...v2Data(c, true),
    ...defined({
      assets: c.assets ?? undefined,
      nickname: c.nickname ?? undefined,
      creator_notes_multilingual: c.creatorNotesMultilingual ?? undefined,
      source: c.source ?? undefined,
      creation_date: c.creationDate ?? undefined,
      modification_date: c.modificationDate ?? undefined,
    }),
    group_only_greetings: c.groupOnlyGreetings,
  };
  return { spec: 'chara_card_v3', spec_version: '3.0', data: withExtra(data, c.extra, ALL_DATA_KEYS) };
}

export function exportCardJson(c: Character, version: 'v2' | 'v3'): string {
  return JSON.stringify(version === 'v2' ? toCardV2(c) : toCardV3(c), null, 2);
}

export interface PngExportOptions {
  /** The picture to embed the card in; defaults to the avatar if it is a PNG, else a generated image. */
  image?: Uint8Array;
}

/**
 * The card as a PNG: the image with a `chara` chunk (V2, for older readers) and a `ccv3` chunk (V3), each
 * base64 JSON. Existing card chunks in the image are replaced, never duplicated.
 */
export function exportCardPng(c: Character, opts: PngExportOptions = {}): Uint8Array {
  const image = opts.image ?? avatarPng(c.avatar) ?? defaultAvatarPng(c.name);
  const chunks = readPngChunks(image);
  const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value), 'utf8').toString('base64');
  const png = rewriteTextChunks(
    chunks,
    ['chara', 'ccv3'],
    [tEXtChunk('chara', b64(toCardV2(c))), tEXtChunk('ccv3', b64(toCardV3(c)))],
  );
  if (png.byteLength > CARD_LIMITS.maxPngBytes) {
    throw new CardError(
      'card_too_large',
      `the exported PNG would be ${png.byteLength} bytes, over the ${CARD_LIMITS.maxPngBytes}-byte import limit`,
    );
  }
  return png;
}

const PNG_DATA_URL = 'data:image/png;base64,';

function avatarPng(avatar: string | null): Uint8Array | undefined {
  return avatar?.startsWith(PNG_DATA_URL)
    ? Buffer.from(avatar.slice(PNG_DATA_URL.length), 'base64')
    : undefined;
}

const ALL_DATA_KEYS: readonly string[] = [...V2_DATA_KEYS, ...V3_ONLY_DATA_KEYS];

function v2Data(c: Character, v3: boolean): CardDataV2Json {
  const data: CardDataV2Json = {
    name: c.name,
    description: c.description,
    personality: c.personality,
    scenario: c.scenario,
    first_mes: c.greeting,
    mes_example: c.exampleDialogue,
    creator_notes: c.creatorNotes,
    system_prompt: c.systemPrompt,
    post_history_instructions: c.postHistoryInstructions,
    alternate_greetings: c.alternateGreetings,
    ...(c.characterBook ? { character_book: bookJson(c.characterBook, v3) } : {}),
    tags: c.tags,
    creator: c.creator,
    character_version: c.characterVersion,
    extensions: c.extensions,
  };
  return withExtra(data, c.extra, ALL_DATA_KEYS);
}

function bookJson(b: CharacterBook, v3: boolean): CardBookJson {
  const book: CardBookJson = {
    ...defined({
      name: b.name,
      description: b.description,
      scan_depth: b.scanDepth,
      token_budget: b.tokenBudget,
      recursive_scanning: b.recursiveScanning,
    }),
    extensions: b.extensions,
    entries: b.entries.map((e) => entryJson(e, v3)),
  };
  return withExtra(book, b.extra, BOOK_KEYS);
}

function entryJson(e: LorebookEntry, v3: boolean): CardBookEntryJson {
  const entry: CardBookEntryJson = {
    keys: e.keys,
    content: e.content,
    extensions: e.extensions,
    enabled: e.enabled,
    insertion_order: e.insertionOrder,
    ...defined({
      case_sensitive: e.caseSensitive,
      name: e.name,
      priority: e.priority,
      id: e.id,
      comment: e.comment,
      selective: e.selective,
      secondary_keys: e.secondaryKeys,
      constant: e.constant,
      position: e.position,
    }),
    // V3 makes use_regex required on every entry.
    ...(v3 ? { use_regex: e.useRegex ?? false } : {}),
  };
  return withExtra(entry, e.extra, ENTRY_KEYS_V3);
}

/** Appends kept unknown keys, never letting one shadow a field this module writes. */
function withExtra<T extends Record<string, unknown>>(
  known: T,
  extra: Record<string, unknown>,
  reserved: readonly string[],
): T {
  const out: Record<string, unknown> = { ...known };
  for (const [k, v] of Object.entries(extra)) {
    if (!reserved.includes(k) && !(k in known) && k !== '__proto__') out[k] = v;
  }
  return out as T;
}
