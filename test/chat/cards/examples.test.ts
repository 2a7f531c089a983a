import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EXAMPLE_CARD_FILES } from '../../../src/chat/cards/examples.ts';
import {
  buildPromptParts,
  exportCardPng,
  importCard,
  loadExampleCharacters,
  selectLorebookEntries,
} from '../../../src/chat/cards/index.ts';
import { countWords } from './fixtures.ts';

describe('example characters', () => {
  const examples = loadExampleCharacters();

  it('loads every shipped card file', () => {
    const onDisk = readdirSync(new URL('../../../src/chat/cards/examples/', import.meta.url)).filter((f) =>
      f.endsWith('.json'),
    );
    expect([...EXAMPLE_CARD_FILES].sort()).toEqual(onDisk.sort());
    expect(examples.map((e) => e.slug)).toEqual(['navigator', 'tutor', 'detective']);
  });

  it('are complete enough to chat with', () => {
    for (const { character } of examples) {
      expect(character.name).not.toBe('');
      expect(character.description.length).toBeGreaterThan(50);
      expect(character.greeting).toContain('{{user}}');
      const parts = buildPromptParts({ character, persona: { name: 'Ash' } });
      expect(parts.greeting).not.toMatch(/\{\{|<USER>|<BOT>/i);
      for (const p of parts.beforeHistory) expect(p.text).not.toMatch(/\{\{(char|user)\}\}/i);
    }
  });

  it('survive a PNG round trip', () => {
    for (const { character } of examples) {
      const back = importCard(exportCardPng(character)).character;
      expect({ ...back, avatar: null }).toEqual(character);
    }
  });

  it("the navigator's lorebook reacts to the conversation", () => {
    const maren = examples.find((e) => e.slug === 'navigator')!.character;
    const sel = selectLorebookEntries(maren.characterBook, {
      messages: ['Will we reach Port Tallow tonight?'],
      countTokens: countWords,
    });
    expect(sel.entries.map((a) => a.entry.name)).toEqual(['Port Tallow']);
  });
});
