import { describe, expect, it } from 'vitest';
import {
  characterSchema,
  emptyCharacter,
  importCard,
  loadExampleCharacters,
  parseCard,
} from '../../../src/chat/cards/index.ts';
import { b64json, pngWith, textChunk, v2Card, v3Card } from './fixtures.ts';

describe('characterSchema', () => {
  it('accepts every character the parsers produce', () => {
    const produced = [
      parseCard(v2Card()).character,
      parseCard(v3Card()).character,
      parseCard({ name: 'V1 only' }).character,
      importCard(pngWith(textChunk('chara', b64json(v2Card())))).character,
      ...loadExampleCharacters().map((e) => e.character),
    ];
    for (const c of produced) expect(characterSchema.safeParse(c).error).toBeUndefined();
  });

  it('rejects what an edit form must not save', () => {
    expect(characterSchema.safeParse(emptyCharacter('  ')).success).toBe(false);
    expect(characterSchema.safeParse({ ...emptyCharacter('A'), avatar: 'javascript:alert(1)' }).success).toBe(
      false,
    );
    expect(characterSchema.safeParse({ ...emptyCharacter('A'), tags: 'x' }).success).toBe(false);
    const { greeting: _, ...missing } = emptyCharacter('A');
    expect(characterSchema.safeParse(missing).success).toBe(false);
  });
});
