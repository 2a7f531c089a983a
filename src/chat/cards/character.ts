import { z } from 'zod';
import { CARD_LIMITS } from './limits.ts';

/**
 * The app's own model of a character: camelCase, every text field present (empty string when the card had
 * none), absent V3 extras as null. Card formats are mapped onto this at import and back at export, so
 * nothing else in the app needs to know about `first_mes` or spec versions.
 */

const jsonObject = z.record(z.string(), z.unknown());

export const lorebookPositionSchema = z.enum(['before_char', 'after_char']);
export type LorebookPosition = z.infer<typeof lorebookPositionSchema>;

export const lorebookEntrySchema = z.object({
  keys: z.array(z.string()).max(CARD_LIMITS.maxKeysPerEntry),
  content: z.string(),
  extensions: jsonObject,
  enabled: z.boolean(),
  insertionOrder: z.number(),
  caseSensitive: z.boolean().optional(),
  name: z.string().optional(),
  priority: z.number().optional(),
  id: z.union([z.number(), z.string()]).optional(),
  comment: z.string().optional(),
  selective: z.boolean().optional(),
  secondaryKeys: z.array(z.string()).max(CARD_LIMITS.maxKeysPerEntry).optional(),
  constant: z.boolean().optional(),
  position: lorebookPositionSchema.optional(),
  /** V3: keys are regular expressions. */
  useRegex: z.boolean().optional(),
  /** Entry keys outside the spec, written back verbatim. */
  extra: jsonObject,
});
export type LorebookEntry = z.infer<typeof lorebookEntrySchema>;

export const characterBookSchema = z.object({
  name: z.string().optional(),
  description: z.string().optional(),
  scanDepth: z.number().int().nonnegative().optional(),
  tokenBudget: z.number().int().nonnegative().optional(),
  recursiveScanning: z.boolean().optional(),
  extensions: jsonObject,
  entries: z.array(lorebookEntrySchema).max(CARD_LIMITS.maxLorebookEntries),
  extra: jsonObject,
});
export type CharacterBook = z.infer<typeof characterBookSchema>;

export const cardAssetSchema = z.looseObject({
  type: z.string(),
  uri: z.string(),
  name: z.string(),
  ext: z.string(),
});
export type CardAsset = z.infer<typeof cardAssetSchema>;

export const characterSchema = z.object({
  name: z.string().trim().min(1).max(200),
  /** A `data:` URL (image/png for imported PNG cards) or null for the generated default. */
  avatar: z
    .string()
    .startsWith('data:image/')
    .max(Math.ceil((CARD_LIMITS.maxPngBytes * 4) / 3) + 64)
    .nullable(),
  description: z.string(),
  personality: z.string(),
  scenario: z.string(),
  /** `first_mes`: the character's opening message. */
  greeting: z.string(),
  alternateGreetings: z.array(z.string()),
  /** `mes_example`: example dialogue, blocks separated by `<START>`. */
  exampleDialogue: z.string(),
  /** Replaces the app's system prompt when non-empty; `{{original}}` stands for the app's. */
  systemPrompt: z.string(),
  postHistoryInstructions: z.string(),
  /** For people browsing cards; never sent to a model. */
  creatorNotes: z.string(),
  tags: z.array(z.string()),
  creator: z.string(),
  characterVersion: z.string(),
  characterBook: characterBookSchema.nullable(),
  /** Card `extensions`, kept verbatim including keys this app does not understand. */
  extensions: jsonObject,
  assets: z.array(cardAssetSchema).nullable(),
  nickname: z.string().nullable(),
  creatorNotesMultilingual: z.record(z.string(), z.string()).nullable(),
  source: z.array(z.string()).nullable(),
  groupOnlyGreetings: z.array(z.string()),
  /** Unix seconds. */
  creationDate: z.number().nullable(),
  modificationDate: z.number().nullable(),
  /** Top-level `data` keys outside both specs, written back verbatim on export. */
  extra: jsonObject,
});
export type Character = z.infer<typeof characterSchema>;

/** A blank character with the given name, for a "new character" form. */
export function emptyCharacter(name: string): Character {
  return {
    name,
    avatar: null,
    description: '',
    personality: '',
    scenario: '',
    greeting: '',
    alternateGreetings: [],
    exampleDialogue: '',
    systemPrompt: '',
    postHistoryInstructions: '',
    creatorNotes: '',
    tags: [],
    creator: '',
    characterVersion: '',
    characterBook: null,
    extensions: {},
    assets: null,
    nickname: null,
    creatorNotesMultilingual: null,
    source: null,
    groupOnlyGreetings: [],
    creationDate: null,
    modificationDate: null,
    extra: {},
  };
}
