import { z } from 'zod';
import { CARD_LIMITS } from './limits.ts';

/**
 * Zod schemas for card JSON as found in the wild. They are lenient about absence (a missing or null text
 * field becomes '', a missing list []), because community exporters omit fields freely, and strict about
 * type (a number where text belongs is an error naming the field), because guessing there corrupts cards.
 * Objects are loose: keys outside the spec survive parsing so the mapper can keep them.
 */

const text = z
  .string()
  .nullish()
  .transform((v) => v ?? '');
const optText = z
  .string()
  .nullish()
  .transform((v) => v ?? undefined);
const optBool = z
  .boolean()
  .nullish()
  .transform((v) => v ?? undefined);
const optNum = z
  .number()
  .nullish()
  .transform((v) => v ?? undefined);
const jsonObject = z
  .record(z.string(), z.unknown())
  .nullish()
  .transform((v) => v ?? {});
const stringList = z
  .array(z.string())
  .nullish()
  .transform((v) => v ?? []);
const keyList = z
  .array(z.string())
  .max(CARD_LIMITS.maxKeysPerEntry)
  .nullish()
  .transform((v) => v ?? []);

/** Some exporters write tags as one comma-separated string. */
const tagList = z.preprocess(
  (v) =>
    typeof v === 'string'
      ? v
          .split(',')
          .map((t) => t.trim())
          .filter((t) => t !== '')
      : v,
  stringList,
);

/** Versions are sometimes numbers (`1.2`); the spec says string. */
const versionText = z.preprocess((v) => (typeof v === 'number' ? String(v) : v), text);

/** SillyTavern's numeric world-info positions 0/1 are the spec's before/after; '' means unset. */
const position = z.preprocess(
  (v) => (v === 0 ? 'before_char' : v === 1 ? 'after_char' : v === '' ? undefined : v),
  z
    .enum(['before_char', 'after_char'])
    .nullish()
    .transform((v) => v ?? undefined),
);

const entryShapeV2 = {
  keys: keyList,
  content: text,
  extensions: jsonObject,
  enabled: z
    .boolean()
    .nullish()
    .transform((v) => v ?? true),
  insertion_order: z
    .number()
    .nullish()
    .transform((v) => v ?? 0),
  case_sensitive: optBool,
  name: optText,
  priority: optNum,
  id: z
    .union([z.number(), z.string()])
    .nullish()
    .transform((v) => v ?? undefined),
  comment: optText,
  selective: optBool,
  secondary_keys: z
    .array(z.string())
    .max(CARD_LIMITS.maxKeysPerEntry)
    .nullish()
    .transform((v) => v ?? undefined),
  constant: optBool,
  position,
};
const entryShapeV3 = { ...entryShapeV2, use_regex: optBool };

function bookSchema<S extends typeof entryShapeV2>(entryShape: S) {
  return z.looseObject({
    name: optText,
    description: optText,
    scan_depth: z
      .number()
      .int()
      .nonnegative()
      .nullish()
      .transform((v) => v ?? undefined),
    token_budget: z
      .number()
      .int()
      .nonnegative()
      .nullish()
      .transform((v) => v ?? undefined),
    recursive_scanning: optBool,
    extensions: jsonObject,
    entries: z.array(z.looseObject(entryShape)).max(CARD_LIMITS.maxLorebookEntries),
  });
}

const dataShapeV2 = {
  name: z.string().trim().min(1, 'must not be empty').max(200, 'longer than 200 characters'),
  description: text,
  personality: text,
  scenario: text,
  first_mes: text,
  mes_example: text,
  creator_notes: text,
  system_prompt: text,
  post_history_instructions: text,
  alternate_greetings: stringList,
  character_book: bookSchema(entryShapeV2)
    .nullish()
    .transform((v) => v ?? undefined),
  tags: tagList,
  creator: text,
  character_version: versionText,
  extensions: jsonObject,
};

const dataShapeV3 = {
  ...dataShapeV2,
  character_book: bookSchema(entryShapeV3)
    .nullish()
    .transform((v) => v ?? undefined),
  assets: z
    .array(z.looseObject({ type: z.string(), uri: z.string(), name: z.string(), ext: z.string() }))
    .nullish()
    .transform((v) => v ?? undefined),
  nickname: optText,
  creator_notes_multilingual: z
    .record(z.string(), z.string())
    .nullish()
    .transform((v) => v ?? undefined),
  source: z
    .array(z.string())
    .nullish()
    .transform((v) => v ?? undefined),
  group_only_greetings: stringList,
  creation_date: optNum,
  modification_date: optNum,
};

export const cardDataV2Schema = z.looseObject(dataShapeV2);
export const cardDataV3Schema = z.looseObject(dataShapeV3);
export type ParsedCardData = z.output<typeof cardDataV3Schema>;
export type ParsedBook = NonNullable<ParsedCardData['character_book']>;
export type ParsedEntry = ParsedBook['entries'][number];

export const BOOK_KEYS = Object.keys(bookSchema(entryShapeV2).shape);
export const ENTRY_KEYS_V2 = Object.keys(entryShapeV2);
export const ENTRY_KEYS_V3 = Object.keys(entryShapeV3);
