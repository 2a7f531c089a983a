import type { Character } from './character.ts';
import { CardError } from './errors.ts';
import type { LorebookSelection } from './lorebook.ts';
import { type PlaceholderNames, substitutePlaceholders } from './placeholders.ts';

/**
 * Turns a character and the user's persona into the pieces of a prompt. It does not assemble or budget
 * them: the conversation layer knows the model's window and decides what fits, using `pinned` and
 * `dropOrder`. Creator notes are for humans browsing cards and are never part of a prompt.
 */

export interface Persona {
  name: string;
  description?: string;
}

/** The app's own main prompt; a card's `system_prompt` replaces it and may embed it as `{{original}}`. */
export const DEFAULT_MAIN_PROMPT =
  "Write {{char}}'s next reply in a fictional chat between {{char}} and {{user}}. Stay in character, " +
  'keep replies vivid and reasonably short, and never write lines or actions for {{user}}.';

export interface PromptBuildInput {
  character: Character;
  persona: Persona;
  /** 0 is the main greeting (`first_mes`), n the n-th alternate greeting. Default 0. */
  greetingIndex?: number;
  mainPrompt?: string;
  /** The app's post-history instructions; a card's may embed them as `{{original}}`. Default none. */
  postHistoryPrompt?: string;
  /** Lorebook entries chosen for this turn by selectLorebookEntries. */
  lore?: LorebookSelection;
}

export type PromptPartKind =
  | 'main'
  | 'lore_before'
  | 'character'
  | 'lore_after'
  | 'persona'
  | 'example_dialogue'
  | 'post_history';

export interface PromptPart {
  kind: PromptPartKind;
  text: string;
  /** Pinned parts are always sent; the others may be dropped when the history does not fit. */
  pinned: boolean;
  /** For unpinned parts: the part with the lowest value is dropped first. */
  dropOrder?: number;
}

export interface PromptParts {
  /** System-side parts, in order, to send before the conversation history. */
  beforeHistory: PromptPart[];
  /** Parts to send after the history (post-history instructions). */
  afterHistory: PromptPart[];
  /** The chosen greeting, placeholders resolved: the conversation's first assistant message. */
  greeting: string;
  names: PlaceholderNames;
}

/** The main greeting followed by the alternates, as indexed by `greetingIndex`. */
export function listGreetings(c: Character): string[] {
  return [c.greeting, ...c.alternateGreetings];
}

export function buildPromptParts(input: PromptBuildInput): PromptParts {
  const c = input.character;
  // V3: when a nickname is set, it is what {{char}} means.
  const names: PlaceholderNames = { char: c.nickname?.trim() || c.name, user: input.persona.name };
  const fill = (text: string): string => substitutePlaceholders(text, names).trim();

  const greetings = listGreetings(c);
  const greetingIndex = input.greetingIndex ?? 0;
  const greeting = greetings[greetingIndex];
  if (greeting === undefined || !Number.isInteger(greetingIndex)) {
    throw new CardError('greeting_not_found', `${c.name} has greetings 0..${greetings.length - 1}`, {
      path: 'greetingIndex',
    });
  }

  const mainPrompt = input.mainPrompt ?? DEFAULT_MAIN_PROMPT;
  const main = c.systemPrompt.trim() ? withOriginal(c.systemPrompt, mainPrompt) : mainPrompt;
  const loreText = (entries: LorebookSelection['beforeChar'] | undefined): string =>
    fill((entries ?? []).map((a) => a.entry.content.trim()).join('\n'));

  const examples = exampleBlocks(c.exampleDialogue);
  // Drop order: the last example first (the first one usually shows the voice best), lore after all of them.
  const loreDropOrder = examples.length;
  const before: PromptPart[] = [
    { kind: 'main', text: fill(main), pinned: true },
    { kind: 'lore_before', text: loreText(input.lore?.beforeChar), pinned: false, dropOrder: loreDropOrder },
    { kind: 'character', text: fill(characterBlock(c)), pinned: true },
    { kind: 'lore_after', text: loreText(input.lore?.afterChar), pinned: false, dropOrder: loreDropOrder },
    { kind: 'persona', text: fill(personaBlock(input.persona)), pinned: true },
    ...examples.map(
      (block, i): PromptPart => ({
        kind: 'example_dialogue',
        text: fill(`[Example conversation]\n${block}`),
        pinned: false,
        dropOrder: examples.length - 1 - i,
      }),
    ),
  ];

  const appPost = input.postHistoryPrompt ?? '';
  const post = c.postHistoryInstructions.trim() ? withOriginal(c.postHistoryInstructions, appPost) : appPost;
  const after: PromptPart[] = [{ kind: 'post_history', text: fill(post), pinned: true }];

  const nonEmpty = (p: PromptPart): boolean => p.text !== '';
  return {
    beforeHistory: before.filter(nonEmpty),
    afterHistory: after.filter(nonEmpty),
    greeting: fill(greeting),
    names,
  };
}

function withOriginal(cardText: string, original: string): string {
  return cardText.replace(/\{\{\s*original\s*\}\}/gi, () => original);
}

function characterBlock(c: Character): string {
  return [
    c.description.trim(),
    c.personality.trim() && `{{char}}'s personality: ${c.personality.trim()}`,
    c.scenario.trim() && `Scenario: ${c.scenario.trim()}`,
  ]
    .filter((s) => s !== '')
    .join('\n\n');
}

function personaBlock(p: Persona): string {
  const d = p.description?.trim();
  return d ? `About {{user}}: ${d}` : '';
}

/** `mes_example` holds one or more example chats, each introduced by a `<START>` line. */
export function exampleBlocks(mesExample: string): string[] {
  return mesExample
    .split(/<START>/i)
    .map((b) => b.trim())
    .filter((b) => b !== '');
}
