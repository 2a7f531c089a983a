import { describe, expect, it } from 'vitest';
import {
  CARD_LIMITS,
  exportCardPng,
  importCard,
  parseCard,
  parsePngCard,
  toCardV2,
} from '../../../src/chat/cards/index.ts';
import { readPngChunks, tEXtValue, textKeyword } from '../../../src/chat/cards/png-chunks.ts';
import { b64json, cardErrorOf, pngWith, textChunk, tinyPng, v2Card, v3Card } from './fixtures.ts';

function cardChunks(png: Uint8Array): Array<[string, string]> {
  return readPngChunks(png)
    .filter((c) => textKeyword(c) !== undefined)
    .map((c) => [textKeyword(c)!, tEXtValue(c)]);
}

function decodeChunk(png: Uint8Array, keyword: string): { spec: string; data: Record<string, unknown> } {
  const found = cardChunks(png).find(([k]) => k === keyword);
  if (!found) throw new Error(`no ${keyword} chunk`);
  return JSON.parse(Buffer.from(found[1], 'base64').toString('utf8'));
}

const wren = () => parseCard(v3Card()).character;

/** pngWith() inserts its chunks where tinyPng()'s IEND was: after IHDR (0) and IDAT (1). */
const charaAt = tinyPng().length - 12;

describe('PNG export', () => {
  it('writes both a chara (V2) and a ccv3 (V3) chunk, before IEND', () => {
    const png = exportCardPng(wren(), { image: tinyPng() });
    expect(cardChunks(png).map(([k]) => k)).toEqual(['chara', 'ccv3']);
    expect(decodeChunk(png, 'chara').spec).toBe('chara_card_v2');
    expect(decodeChunk(png, 'ccv3').spec).toBe('chara_card_v3');
    expect(decodeChunk(png, 'ccv3').data.nickname).toBe('Wrenny');
    expect(decodeChunk(png, 'chara').data.nickname).toBeUndefined();
    expect(readPngChunks(png).at(-1)?.type).toBe('IEND');
  });

  it('replaces existing card chunks instead of adding more', () => {
    const old = pngWith(textChunk('chara', b64json({ name: 'Old' })), textChunk('Comment', 'keep me'));
    const png = exportCardPng(wren(), { image: old });
    const chunks = cardChunks(png);
    expect(chunks.filter(([k]) => k === 'chara')).toHaveLength(1);
    expect(chunks.filter(([k]) => k === 'ccv3')).toHaveLength(1);
    expect(chunks).toContainEqual(['Comment', 'keep me']);
    expect(decodeChunk(png, 'chara').data.name).toBe('Wren');
    // Exporting the export again still leaves exactly one of each.
    const again = exportCardPng(wren(), { image: png });
    expect(cardChunks(again).map(([k]) => k)).toEqual(['Comment', 'chara', 'ccv3']);
  });

  it('generates a default image when the character has no PNG avatar', () => {
    const c = { ...wren(), avatar: null };
    const png = exportCardPng(c);
    const types = readPngChunks(png).map((ch) => ch.type);
    expect(types[0]).toBe('IHDR');
    expect(types).toContain('IDAT');
    expect(importCard(png).character.name).toBe('Wren');
  });

  it('refuses to produce a PNG it could not import again', () => {
    const c = { ...wren(), description: 'x'.repeat(900_000) };
    const big = pngWith(textChunk('filler', 'y'.repeat(CARD_LIMITS.maxPngBytes - 1_500_000)));
    expect(cardErrorOf(() => exportCardPng(c, { image: big })).code).toBe('card_too_large');
  });
});

describe('PNG round trip', () => {
  it('import(export(c)) gives back c, avatar included', () => {
    const original = {
      ...wren(),
      avatar: `data:image/png;base64,${Buffer.from(tinyPng()).toString('base64')}`,
    };
    const back = importCard(exportCardPng(original));
    expect(back).toMatchObject({ format: 'png', spec: 'v3', warnings: [] });
    expect(back.character).toEqual(original);
  });

  it('keeps unknown extensions, entry keys and data keys through V2 import → PNG export → import', () => {
    const imported = parseCard(v2Card()).character;
    const back = importCard(exportCardPng(imported, { image: tinyPng() })).character;
    expect(back.extensions).toEqual((v2Card().data as Record<string, unknown>).extensions);
    expect(back.extra).toEqual({ unknown_top_level: { keep: 'me' } });
    expect(back.characterBook?.entries[0]?.extra).toEqual({ vendor_field: 'kept' });
    expect(back.characterBook?.extensions).toEqual({ book_ext: 1 });
  });

  it('handles non-ASCII text (base64 of UTF-8)', () => {
    const c = { ...wren(), name: 'Żaneta 雪', greeting: 'Cześć! 🐝' };
    const back = importCard(exportCardPng(c, { image: tinyPng() })).character;
    expect(back.name).toBe('Żaneta 雪');
    expect(back.greeting).toBe('Cześć! 🐝');
  });
});

describe('PNG import', () => {
  it('prefers ccv3 over chara', () => {
    const png = pngWith(
      textChunk('chara', b64json({ spec: 'chara_card_v2', data: { name: 'From chara' } })),
      textChunk('ccv3', b64json({ spec: 'chara_card_v3', data: { name: 'From ccv3' } })),
    );
    const got = parsePngCard(png);
    expect(got.character.name).toBe('From ccv3');
    expect(got.spec).toBe('v3');
  });

  it('reads a chara-only (V2) PNG', () => {
    const got = importCard(pngWith(textChunk('chara', b64json(v2Card()))));
    expect(got).toMatchObject({ spec: 'v2', format: 'png' });
    expect(got.character.name).toBe('Wren');
  });

  it('falls back to chara when ccv3 is unreadable, and says so', () => {
    const png = pngWith(
      textChunk('ccv3', '%%% not base64 %%%'),
      textChunk('chara', b64json({ spec: 'chara_card_v2', data: { name: 'Backup' } })),
    );
    const got = importCard(png);
    expect(got.character.name).toBe('Backup');
    expect(got.warnings).toHaveLength(1);
    expect(got.warnings[0]).toContain('card_bad_encoding');
  });

  it("reports ccv3's error when both chunks are broken", () => {
    const png = pngWith(
      textChunk('ccv3', b64json({ spec: 'chara_card_v3', data: {} })),
      textChunk('chara', '!!'),
    );
    expect(cardErrorOf(() => importCard(png))).toMatchObject({ code: 'card_invalid', path: 'data.name' });
  });

  it('strips the card chunks from the avatar it keeps', () => {
    const png = pngWith(textChunk('chara', b64json(v2Card())), textChunk('Author', 'me'));
    const avatar = importCard(png).character.avatar!;
    expect(avatar.startsWith('data:image/png;base64,')).toBe(true);
    const image = Buffer.from(avatar.split(',')[1]!, 'base64');
    expect(cardChunks(image)).toEqual([['Author', 'me']]);
  });

  it('rejects bytes that are not a PNG, zip or JSON', () => {
    expect(cardErrorOf(() => importCard(Buffer.from('GIF89a....'))).code).toBe('card_unknown_format');
    expect(cardErrorOf(() => importCard(new Uint8Array(0))).code).toBe('card_unknown_format');
    expect(cardErrorOf(() => parsePngCard(Buffer.from('not a png at all'))).code).toBe('png_invalid');
  });

  it('rejects a PNG without a card', () => {
    const e = cardErrorOf(() => importCard(tinyPng()));
    expect(e.code).toBe('png_no_card');
  });

  it('rejects corrupt base64 in chara', () => {
    const e = cardErrorOf(() => importCard(pngWith(textChunk('chara', 'eyJuYW1lIjoi*&^%'))));
    expect(e.code).toBe('card_bad_encoding');
    expect(e.message).toBe('card_bad_encoding: chara chunk is not valid base64');
  });

  it('rejects base64 that decodes to something other than JSON', () => {
    const e = cardErrorOf(() =>
      importCard(pngWith(textChunk('chara', Buffer.from('hello').toString('base64')))),
    );
    expect(e.code).toBe('card_not_json');
  });

  it('rejects a truncated PNG', () => {
    const png = pngWith(textChunk('chara', b64json(v2Card())));
    for (const cut of [png.length - 1, png.length - 20, 40, 12]) {
      const e = cardErrorOf(() => importCard(png.subarray(0, cut)));
      expect(e.code, `cut at ${cut}`).toBe('png_invalid');
      expect(e.message).toMatch(/truncated/);
    }
  });

  it('rejects a chunk whose length runs past the end of the file', () => {
    const png = Buffer.from(pngWith(textChunk('chara', b64json(v2Card()))));
    png.writeUInt32BE(0x7fffffff, charaAt);
    expect(cardErrorOf(() => importCard(png)).message).toMatch(
      /png_invalid: truncated PNG: tEXt chunk 2 runs past/,
    );
  });

  it('rejects a chunk with a bad CRC', () => {
    const png = Buffer.from(pngWith(textChunk('chara', b64json(v2Card()))));
    png[charaAt + 8 + 2]! ^= 0xff; // a byte inside the chara chunk's keyword
    expect(cardErrorOf(() => importCard(png)).message).toBe('png_invalid: tEXt chunk 2 fails its CRC check');
  });

  it('rejects an oversized PNG before walking it', () => {
    const big = Buffer.alloc(CARD_LIMITS.maxPngBytes + 1);
    Buffer.from(tinyPng()).copy(big);
    expect(cardErrorOf(() => importCard(big)).code).toBe('card_too_large');
  });

  it('rejects a PNG with too many chunks', () => {
    const filler = Array.from({ length: CARD_LIMITS.maxPngChunks }, () => textChunk('x', ''));
    expect(cardErrorOf(() => importCard(pngWith(...filler))).code).toBe('card_too_large');
  });

  it('rejects a base64 payload that decodes past the JSON limit', () => {
    const huge = 'A'.repeat(Math.ceil((CARD_LIMITS.maxJsonBytes * 4) / 3) + 8);
    expect(cardErrorOf(() => importCard(pngWith(textChunk('chara', huge)))).code).toBe('card_too_large');
  });

  it('a V2 card in chara survives export with the same V2 JSON', () => {
    const c = parseCard(v2Card()).character;
    const png = exportCardPng(c, { image: tinyPng() });
    expect(decodeChunk(png, 'chara')).toEqual(toCardV2(c));
  });
});
