import { describe, expect, it } from 'vitest';
import {
  emptyCharacter,
  exportCardJson,
  parseCard,
  parseCardJson,
  toCardV2,
  toCardV3,
} from '../../../src/chat/cards/index.ts';
import { v2Card, v3Card } from './fixtures.ts';

describe('V2 JSON export', () => {
  it('writes the spec envelope and every V2 field', () => {
    const out = toCardV2(parseCard(v2Card()).character);
    expect(out.spec).toBe('chara_card_v2');
    expect(out.spec_version).toBe('2.0');
    expect(out.data).toMatchObject({
      name: 'Wren',
      first_mes: 'Hello {{user}}.',
      mes_example: '<START>\n{{user}}: Hi\n{{char}}: Mind the hives.',
      alternate_greetings: ['Oh, {{user}}, you came back.'],
      character_version: '2',
    });
  });

  it('reproduces an imported V2 card exactly, unknown keys included', () => {
    const input = v2Card();
    const out = toCardV2(parseCard(input).character);
    // The fixture's entry omits optional fields; defaults (enabled, insertion_order) were present already.
    expect(out).toEqual(input);
  });

  it('leaves V3-only fields out of V2', () => {
    const data = toCardV2(parseCard(v3Card()).character).data;
    for (const key of ['nickname', 'assets', 'group_only_greetings', 'creation_date', 'source']) {
      expect(data).not.toHaveProperty(key);
    }
    expect(data.character_book?.entries[0]).not.toHaveProperty('use_regex');
  });

  it('omits the lorebook when there is none', () => {
    expect(toCardV2(emptyCharacter('Solo')).data).not.toHaveProperty('character_book');
  });
});

describe('V3 JSON export', () => {
  it('reproduces an imported V3 card, adding only the fields V3 requires', () => {
    const input = v3Card() as { data: { character_book: { entries: Array<Record<string, unknown>> } } };
    const out = toCardV3(parseCard(input).character);
    input.data.character_book.entries[0]!.use_regex = false;
    expect(out).toEqual(input);
  });

  it('always writes group_only_greetings and use_regex, which V3 requires', () => {
    const out = toCardV3(parseCard(v2Card()).character);
    expect(out.data.group_only_greetings).toEqual([]);
    expect(out.data.character_book?.entries[0]?.use_regex).toBe(false);
  });

  it('never lets a kept unknown key shadow a real field', () => {
    const c = { ...emptyCharacter('Real'), extra: { name: 'Fake', first_mes: 'Fake', custom: 1 } };
    const out = toCardV3(c);
    expect(out.data.name).toBe('Real');
    expect(out.data.first_mes).toBe('');
    expect(out.data.custom).toBe(1);
  });
});

describe('JSON round trips', () => {
  for (const version of ['v2', 'v3'] as const) {
    it(`${version}: parse(export(c)) equals c for the fields ${version} can carry`, () => {
      const c = parseCard(v3Card()).character;
      const back = parseCardJson(exportCardJson(c, version)).character;
      if (version === 'v3') {
        expect(back).toEqual(c);
      } else {
        expect(back).toEqual({
          ...c,
          assets: null,
          nickname: null,
          creatorNotesMultilingual: null,
          source: null,
          groupOnlyGreetings: [],
          creationDate: null,
          modificationDate: null,
          characterBook: {
            ...c.characterBook!,
            entries: c.characterBook!.entries.map(({ useRegex: _, ...e }) => e),
          },
        });
      }
    });
  }

  it('an empty character survives both formats', () => {
    const c = emptyCharacter('Blank');
    expect(parseCardJson(exportCardJson(c, 'v3')).character).toEqual(c);
    expect(parseCardJson(exportCardJson(c, 'v2')).character).toEqual(c);
  });
});
