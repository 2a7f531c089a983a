/** Character cards: the app's Character model, card import/export, lorebook, placeholders, prompt parts. */
export {
  type CardAsset,
  type Character,
  type CharacterBook,
  characterBookSchema,
  characterSchema,
  emptyCharacter,
  type LorebookEntry,
  type LorebookPosition,
  lorebookEntrySchema,
} from './character.ts';
export { parseCharx } from './charx.ts';
export { CardError, type CardErrorCode, type CardIssue, isCardError } from './errors.ts';
export { type ExampleCharacter, loadExampleCharacters } from './examples.ts';
export { exportCardJson, exportCardPng, type PngExportOptions, toCardV2, toCardV3 } from './export.ts';
export { type CardFormat, type ImportedCard, importCard, parsePngCard } from './import.ts';
export { CARD_LIMITS } from './limits.ts';
export {
  type ActivatedEntry,
  type ActivationReason,
  DEFAULT_SCAN_DEPTH,
  type LorebookScanOptions,
  type LorebookSelection,
  selectLorebookEntries,
} from './lorebook.ts';
export { type CardSpec, type ParsedCard, parseCard, parseCardJson } from './parse.ts';
export { type PlaceholderNames, substitutePlaceholders } from './placeholders.ts';
export { defaultAvatarPng, encodeRgbPng } from './png-encode.ts';
export {
  buildPromptParts,
  DEFAULT_MAIN_PROMPT,
  exampleBlocks,
  listGreetings,
  type Persona,
  type PromptBuildInput,
  type PromptPart,
  type PromptPartKind,
  type PromptParts,
} from './prompt.ts';
export type {
  CardBookEntryJson,
  CardBookJson,
  CardDataV2Json,
  CardDataV3Json,
  CardV2Json,
  CardV3Json,
} from './wire-types.ts';
