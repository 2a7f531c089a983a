import { describe, expect, it } from 'vitest';
import { CARD_LIMITS, parseCard, parseCardJson } from '../../../src/chat/cards/index.ts';
import { cardErrorOf, v2Card, v3Card } from './fixtures.ts';

describe('parseCard: V1', () => {
  it('reads the flat V1 fields and fills the rest with empty values', () => {
    const { character, spec } = parseCard({
      name: 'Old Tom',
      description: 'A lighthouse keeper.',
      personality: 'gruff',
      scenario: 'A storm.',
      first_mes: 'Shut the door!',
      mes_example: '<START>\nTom: Aye.',
      avatar: 'none',
      chat: 'Old Tom - 2023-01-01',
    });
    expect(spec).toBe('v1');
    expect(character).toMatchObject({
      name: 'Old Tom',
      description: 'A lighthouse keeper.',
      personality: 'gruff',
      scenario: 'A storm.',
      greeting: 'Shut the door!',
      exampleDialogue: '<START>\nTom: Aye.',
      alternateGreetings: [],
      systemPrompt: '',
      tags: [],
      characterBook: null,
      extensions: {},
      nickname: null,
    });
    // V1 stray keys are app metadata, not card data to write back into `data`.
    expect(character.extra).toEqual({});
  });

  it('accepts the old Pygmalion field names', () => {
    const { character } = parseCard({
      char_name: 'Pip',
      char_persona: 'small',
      world_scenario: 'garden',
      char_greeting: 'hi',
      example_dialogue: 'ex',
    });
    expect(character).toMatchObject({
      name: 'Pip',
      description: 'small',
      scenario: 'garden',
      greeting: 'hi',
      exampleDialogue: 'ex',
    });
  });
});

describe('parseCard: V2', () => {
  it('maps every V2 field onto the Character', () => {
    const { character, spec } = parseCard(v2Card());
    expect(spec).toBe('v2');
    expect(character).toMatchObject({
      name: 'Wren',
      greeting: 'Hello {{user}}.',
      alternateGreetings: ['Oh, {{user}}, you came back.'],
      creatorNotes: 'notes for browsers',
      tags: ['cozy'],
      creator: 'someone',
      characterVersion: '2',
    });
    expect(character.characterBook?.name).toBe('Hives');
    expect(character.characterBook?.entries[0]).toMatchObject({
      keys: ['queen'],
      insertionOrder: 5,
      position: 'after_char',
      enabled: true,
      extra: { vendor_field: 'kept' },
    });
  });

  it('keeps unknown extensions and unknown data keys verbatim', () => {
    const { character } = parseCard(v2Card());
    expect(character.extensions).toEqual({
      talkativeness: '0.5',
      depth_prompt: { prompt: 'x', depth: 4 },
      some_app: { a: [1, { b: null }] },
    });
    expect(character.extra).toEqual({ unknown_top_level: { keep: 'me' } });
  });

  it('treats V3-only keys in a V2 card as unknown keys, not V3 fields', () => {
    const card = v2Card() as { data: Record<string, unknown> };
    card.data.nickname = 'Nick';
    const { character } = parseCard(card);
    expect(character.nickname).toBeNull();
    expect(character.extra.nickname).toBe('Nick');
  });

  it('is lenient about absence: null and missing fields become empty values', () => {
    const { character } = parseCard({
      spec: 'chara_card_v2',
      data: { name: 'Min', description: null, tags: null, character_book: null },
    });
    expect(character).toMatchObject({ description: '', tags: [], characterBook: null, extensions: {} });
  });

  it('accepts comma-separated tags, numeric versions and numeric lorebook positions', () => {
    const { character } = parseCard({
      spec: 'chara_card_v2',
      data: {
        name: 'Min',
        tags: 'fantasy, elf , ,kind',
        character_version: 1.5,
        character_book: {
          entries: [
            { keys: ['a'], content: 'A', position: 0 },
            { keys: ['b'], content: 'B', position: 1 },
          ],
        },
      },
    });
    expect(character.tags).toEqual(['fantasy', 'elf', 'kind']);
    expect(character.characterVersion).toBe('1.5');
    expect(character.characterBook?.entries.map((e) => e.position)).toEqual(['before_char', 'after_char']);
    expect(character.characterBook?.entries[0]).toMatchObject({
      enabled: true,
      insertionOrder: 0,
      extensions: {},
    });
  });

  it('drops __proto__ keys instead of letting them replace a prototype', () => {
    const { character } = parseCardJson(
      '{"spec":"chara_card_v2","data":{"name":"x","__proto__":{"a":1},"kept":2,"extensions":{"__proto__":{"b":1}}}}',
    );
    expect(Object.getPrototypeOf(character.extra)).toBe(Object.prototype);
    expect(character.extra).toEqual({ kept: 2 });
    expect((character.extra as { a?: unknown }).a).toBeUndefined();
    expect(Object.getPrototypeOf(character.extensions)).toBe(Object.prototype);
  });

  it('trims the name', () => {
    expect(parseCard({ spec: 'chara_card_v2', data: { name: '  Ivy ' } }).character.name).toBe('Ivy');
  });
});

describe('parseCard: V3', () => {
  it('reads the V3 extras', () => {
    const { character, spec } = parseCard(v3Card());
    expect(spec).toBe('v3');
    expect(character).toMatchObject({
      nickname: 'Wrenny',
      assets: [{ type: 'icon', uri: 'ccdefault:', name: 'main', ext: 'png' }],
      creatorNotesMultilingual: { fr: 'notes en français' },
      source: ['https://example.invalid/wren'],
      groupOnlyGreetings: ['Hello, all of you.'],
      creationDate: 1700000000,
      modificationDate: 1700000100,
    });
    expect(character.extra).toEqual({ unknown_top_level: { keep: 'me' } });
  });

  it('reads use_regex on V3 lorebook entries', () => {
    const card = v3Card() as { data: { character_book: { entries: Array<Record<string, unknown>> } } };
    card.data.character_book.entries[0]!.use_regex = true;
    expect(parseCard(card).character.characterBook?.entries[0]?.useRegex).toBe(true);
  });
});

describe('parseCardJson', () => {
  it('parses text and UTF-8 bytes (with a BOM)', () => {
    const text = JSON.stringify(v3Card());
    expect(parseCardJson(text).character.name).toBe('Wren');
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]);
    expect(parseCardJson(bytes).character.nickname).toBe('Wrenny');
  });
});

describe('bad cards', () => {
  it('rejects an unknown spec', () => {
    const e = cardErrorOf(() => parseCard({ spec: 'chara_card_v9', data: { name: 'x' } }));
    expect(e.code).toBe('card_unsupported_spec');
    expect(e.path).toBe('spec');
    expect(e.message).toBe(
      'card_unsupported_spec: spec: expected "chara_card_v2" or "chara_card_v3", got "chara_card_v9"',
    );
  });

  it('says a standalone lorebook is not a character', () => {
    const e = cardErrorOf(() => parseCard({ spec: 'lorebook_v3', data: { entries: [] } }));
    expect(e.code).toBe('card_unsupported_spec');
    expect(e.message).toContain('standalone lorebook');
  });

  it('rejects a missing name with its path', () => {
    const card = v2Card() as { data: Record<string, unknown> };
    delete card.data.name;
    const e = cardErrorOf(() => parseCard(card));
    expect(e.code).toBe('card_invalid');
    expect(e.path).toBe('data.name');
    expect(e.message).toBe('card_invalid: data.name: required (expected string)');
  });

  it('rejects a V1 card without a name at the top-level path', () => {
    const e = cardErrorOf(() => parseCard({ description: 'nameless' }));
    expect(e).toMatchObject({ code: 'card_invalid', path: 'name' });
  });

  it('rejects an empty name', () => {
    const e = cardErrorOf(() => parseCard({ spec: 'chara_card_v3', data: { name: '   ' } }));
    expect(e.message).toBe('card_invalid: data.name: must not be empty');
  });

  it('names the path of a wrongly typed field, deep in the lorebook', () => {
    const card = v2Card() as { data: { character_book: { entries: Array<Record<string, unknown>> } } };
    card.data.character_book.entries[0]!.keys = ['ok', 7];
    const e = cardErrorOf(() => parseCard(card));
    expect(e.path).toBe('data.character_book.entries.0.keys.1');
    expect(e.message).toBe(
      'card_invalid: data.character_book.entries.0.keys.1: expected string, received number',
    );
  });

  it('reports every issue and counts the extra ones in the message', () => {
    try {
      parseCard({ spec: 'chara_card_v2', data: { name: 3, description: 4, tags: [5] } });
      expect.unreachable();
    } catch (err) {
      const e = err as { issues: Array<{ path: string }>; message: string };
      expect(e.issues.map((i) => i.path)).toEqual(['data.name', 'data.description', 'data.tags.0']);
      expect(e.message).toMatch(/\(and 2 more\)$/);
    }
  });

  it('rejects a bad lorebook position', () => {
    const card = v2Card() as { data: { character_book: { entries: Array<Record<string, unknown>> } } };
    card.data.character_book.entries[0]!.position = 'middle';
    expect(cardErrorOf(() => parseCard(card)).path).toBe('data.character_book.entries.0.position');
  });

  it('rejects extensions that are not an object', () => {
    const card = v2Card() as { data: Record<string, unknown> };
    card.data.extensions = ['nope'];
    expect(cardErrorOf(() => parseCard(card))).toMatchObject({
      code: 'card_invalid',
      path: 'data.extensions',
    });
  });

  it('rejects a missing or non-object data', () => {
    expect(cardErrorOf(() => parseCard({ spec: 'chara_card_v2' }))).toMatchObject({ path: 'data' });
    expect(cardErrorOf(() => parseCard({ spec: 'chara_card_v3', data: 'x' })).message).toBe(
      'card_invalid: data: expected object, got "x"',
    );
  });

  it('rejects non-objects', () => {
    expect(cardErrorOf(() => parseCard([1, 2])).message).toBe(
      'card_invalid: expected a JSON object, got array',
    );
    expect(cardErrorOf(() => parseCard(null)).code).toBe('card_invalid');
  });

  it('rejects invalid JSON and invalid UTF-8', () => {
    expect(cardErrorOf(() => parseCardJson('{"spec": ')).code).toBe('card_not_json');
    expect(cardErrorOf(() => parseCardJson(Uint8Array.of(0x7b, 0xff, 0xfe, 0x7d))).code).toBe(
      'card_not_json',
    );
  });

  it('rejects JSON over the size limit before parsing it', () => {
    const big = `{"name":"x","description":"${'a'.repeat(CARD_LIMITS.maxJsonBytes)}"}`;
    expect(cardErrorOf(() => parseCardJson(big)).code).toBe('card_too_large');
    expect(cardErrorOf(() => parseCardJson(Buffer.from(big))).code).toBe('card_too_large');
  });

  it('rejects JSON nested deeper than the limit', () => {
    const deep = `{"name":"x","extensions":{"a":${'['.repeat(200)}${']'.repeat(200)}}}`;
    const e = cardErrorOf(() => parseCardJson(deep));
    expect(e.code).toBe('card_too_large');
    expect(e.message).toContain('nests deeper');
  });

  it('caps the number of lorebook entries', () => {
    const entries = Array.from({ length: CARD_LIMITS.maxLorebookEntries + 1 }, () => ({
      keys: [],
      content: '',
    }));
    const e = cardErrorOf(() =>
      parseCard({ spec: 'chara_card_v2', data: { name: 'x', character_book: { entries } } }),
    );
    expect(e).toMatchObject({ code: 'card_invalid', path: 'data.character_book.entries' });
  });
});
