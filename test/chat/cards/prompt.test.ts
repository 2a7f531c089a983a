import { describe, expect, it } from 'vitest';
import {
  buildPromptParts,
  type Character,
  DEFAULT_MAIN_PROMPT,
  emptyCharacter,
  listGreetings,
  type PromptParts,
  selectLorebookEntries,
} from '../../../src/chat/cards/index.ts';
import { book, cardErrorOf, countWords, entry } from './fixtures.ts';

function character(over: Partial<Character> = {}): Character {
  return {
    ...emptyCharacter('Sam'),
    description: '{{char}} is a detective.',
    personality: 'dry',
    scenario: '{{user}} walks in.',
    greeting: 'Evening, {{user}}.',
    alternateGreetings: ['Back again, {{user}}?'],
    exampleDialogue: '<START>\n{{user}}: Hi\n{{char}}: Hm.\n<START>\n{{user}}: Bye\n{{char}}: Door sticks.',
    creatorNotes: 'SECRET CREATOR NOTE',
    ...over,
  };
}

const persona = { name: 'Ash', description: '{{user}} is a reporter.' };
const text = (parts: PromptParts, kind: string) => parts.beforeHistory.find((p) => p.kind === kind)?.text;

describe('buildPromptParts', () => {
  it('uses the default main prompt and the character definition, placeholders resolved', () => {
    const parts = buildPromptParts({ character: character(), persona });
    expect(parts.beforeHistory.map((p) => p.kind)).toEqual([
      'main',
      'character',
      'persona',
      'example_dialogue',
      'example_dialogue',
    ]);
    expect(text(parts, 'main')).toBe(
      DEFAULT_MAIN_PROMPT.replaceAll('{{char}}', 'Sam').replaceAll('{{user}}', 'Ash'),
    );
    expect(text(parts, 'character')).toBe(
      "Sam is a detective.\n\nSam's personality: dry\n\nScenario: Ash walks in.",
    );
    expect(text(parts, 'persona')).toBe('About Ash: Ash is a reporter.');
    expect(parts.greeting).toBe('Evening, Ash.');
    expect(parts.afterHistory).toEqual([]);
  });

  it("lets the card's system prompt replace the app's, with {{original}} standing for it", () => {
    const parts = buildPromptParts({
      character: character({ systemPrompt: 'Noir rules. {{original}} Stay grim, {{char}}.' }),
      persona,
      mainPrompt: 'Be {{char}}.',
    });
    expect(text(parts, 'main')).toBe('Noir rules. Be Sam. Stay grim, Sam.');
    const replaced = buildPromptParts({
      character: character({ systemPrompt: 'Only this.' }),
      persona,
      mainPrompt: 'X',
    });
    expect(text(replaced, 'main')).toBe('Only this.');
  });

  it('puts post-history instructions after the history, honouring {{original}}', () => {
    const parts = buildPromptParts({
      character: character({ postHistoryInstructions: '{{original}} Keep it short, {{user}}.' }),
      persona,
      postHistoryPrompt: 'App rule.',
    });
    expect(parts.afterHistory).toEqual([
      { kind: 'post_history', text: 'App rule. Keep it short, Ash.', pinned: true },
    ]);
    expect(
      buildPromptParts({ character: character(), persona, postHistoryPrompt: 'App rule.' }).afterHistory[0]
        ?.text,
    ).toBe('App rule.');
  });

  it('marks the main prompt, character and persona pinned, examples droppable last-first', () => {
    const parts = buildPromptParts({ character: character(), persona });
    const pinned = parts.beforeHistory.filter((p) => p.pinned).map((p) => p.kind);
    expect(pinned).toEqual(['main', 'character', 'persona']);
    const examples = parts.beforeHistory.filter((p) => p.kind === 'example_dialogue');
    expect(examples.map((p) => p.text)).toEqual([
      '[Example conversation]\nAsh: Hi\nSam: Hm.',
      '[Example conversation]\nAsh: Bye\nSam: Door sticks.',
    ]);
    expect(examples[1]!.dropOrder!).toBeLessThan(examples[0]!.dropOrder!);
  });

  it('never puts creator notes in the prompt', () => {
    const parts = buildPromptParts({ character: character(), persona });
    const all = [...parts.beforeHistory, ...parts.afterHistory].map((p) => p.text).join('\n');
    expect(all).not.toContain('SECRET CREATOR NOTE');
  });

  it('picks an alternate greeting by index and rejects a missing one', () => {
    expect(buildPromptParts({ character: character(), persona, greetingIndex: 1 }).greeting).toBe(
      'Back again, Ash?',
    );
    expect(listGreetings(character())).toEqual(['Evening, {{user}}.', 'Back again, {{user}}?']);
    const e = cardErrorOf(() => buildPromptParts({ character: character(), persona, greetingIndex: 2 }));
    expect(e).toMatchObject({ code: 'greeting_not_found', path: 'greetingIndex' });
    expect(
      cardErrorOf(() => buildPromptParts({ character: character(), persona, greetingIndex: -1 })).code,
    ).toBe('greeting_not_found');
  });

  it('uses the V3 nickname for {{char}}', () => {
    const parts = buildPromptParts({
      character: character({ name: 'Samuel Rourke', nickname: 'Sam R.' }),
      persona,
    });
    expect(text(parts, 'character')).toContain('Sam R. is a detective.');
  });

  it('places lorebook entries before and after the character definition', () => {
    const c = character({
      characterBook: book([
        entry({ keys: ['harbor'], content: 'Harbor City never sleeps, {{user}}.', position: 'before_char' }),
        entry({ keys: ['harbor'], content: '{{char}} owes the harbormaster.', position: 'after_char' }),
      ]),
    });
    const lore = selectLorebookEntries(c.characterBook, {
      messages: ['down at the harbor'],
      countTokens: countWords,
    });
    const parts = buildPromptParts({ character: c, persona, lore });
    expect(parts.beforeHistory.map((p) => p.kind).slice(0, 5)).toEqual([
      'main',
      'lore_before',
      'character',
      'lore_after',
      'persona',
    ]);
    expect(text(parts, 'lore_before')).toBe('Harbor City never sleeps, Ash.');
    expect(text(parts, 'lore_after')).toBe('Sam owes the harbormaster.');
    const lorePart = parts.beforeHistory.find((p) => p.kind === 'lore_before')!;
    expect(lorePart.pinned).toBe(false);
    // Lore outlasts the example dialogue when the budgeter has to drop things.
    const exampleOrders = parts.beforeHistory
      .filter((p) => p.kind === 'example_dialogue')
      .map((p) => p.dropOrder!);
    expect(Math.max(...exampleOrders)).toBeLessThan(lorePart.dropOrder!);
  });

  it('leaves out empty parts', () => {
    const parts = buildPromptParts({ character: emptyCharacter('Blank'), persona: { name: 'U' } });
    expect(parts.beforeHistory.map((p) => p.kind)).toEqual(['main']);
    expect(parts.greeting).toBe('');
  });
});
