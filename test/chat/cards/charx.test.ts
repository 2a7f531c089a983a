import { describe, expect, it } from 'vitest';
import { CARD_LIMITS, importCard, parseCharx } from '../../../src/chat/cards/index.ts';
import { cardErrorOf, makeZip, tinyPng, v3Card } from './fixtures.ts';

function cardWithIcon(uri: string): Uint8Array {
  const card = v3Card() as { data: Record<string, unknown> };
  card.data.assets = [{ type: 'icon', uri, name: 'main', ext: 'png' }];
  return Buffer.from(JSON.stringify(card));
}

describe('.charx import', () => {
  it('reads card.json and takes the embedded main icon as the avatar', () => {
    const zip = makeZip([
      { name: 'card.json', data: cardWithIcon('embeded://assets/icon/images/main.png') },
      { name: 'assets/icon/images/main.png', data: tinyPng(), deflate: false },
    ]);
    const got = importCard(zip);
    expect(got).toMatchObject({ format: 'charx', spec: 'v3' });
    expect(got.character.name).toBe('Wren');
    expect(got.character.avatar).toBe(`data:image/png;base64,${Buffer.from(tinyPng()).toString('base64')}`);
    // The asset list is kept as written so a later .charx export can use it.
    expect(got.character.assets?.[0]?.uri).toBe('embeded://assets/icon/images/main.png');
  });

  it('leaves the avatar empty when the icon is not embedded', () => {
    const zip = makeZip([{ name: 'card.json', data: cardWithIcon('ccdefault:') }]);
    expect(parseCharx(zip).character.avatar).toBeNull();
  });

  it('rejects an archive without card.json', () => {
    const e = cardErrorOf(() => importCard(makeZip([{ name: 'other.json', data: Buffer.from('{}') }])));
    expect(e.message).toBe('charx_invalid: archive has no card.json at its root');
  });

  it('validates card.json like any card', () => {
    const zip = makeZip([
      { name: 'card.json', data: Buffer.from('{"spec":"chara_card_v3","data":{"name":5}}') },
    ]);
    expect(cardErrorOf(() => importCard(zip))).toMatchObject({ code: 'card_invalid', path: 'data.name' });
  });

  it('stops a zip bomb at the size cap even when the header lies', () => {
    const bomb = Buffer.alloc(CARD_LIMITS.maxJsonBytes * 4, 0x20);
    const zip = makeZip([{ name: 'card.json', data: bomb, declaredSize: 100 }]);
    expect(cardErrorOf(() => importCard(zip)).code).toBe('card_too_large');
  });

  it('rejects an entry whose declared size is over the cap without inflating it', () => {
    const zip = makeZip([
      { name: 'card.json', data: Buffer.from('{}'), declaredSize: CARD_LIMITS.maxJsonBytes + 1 },
    ]);
    expect(cardErrorOf(() => importCard(zip)).code).toBe('card_too_large');
  });

  it('rejects encrypted entries, CRC mismatches and truncated archives', () => {
    const encrypted = makeZip([{ name: 'card.json', data: cardWithIcon('ccdefault:'), flags: 1 }]);
    expect(cardErrorOf(() => importCard(encrypted)).message).toBe('charx_invalid: card.json is encrypted');

    const good = Buffer.from(
      makeZip([{ name: 'card.json', data: Buffer.from('{"name":"x"}'), deflate: false }]),
    );
    good[30 + 'card.json'.length + 3]! ^= 0x01; // change a stored byte, not the recorded CRC
    expect(cardErrorOf(() => importCard(good)).message).toContain('fails its size or CRC check');

    const whole = makeZip([{ name: 'card.json', data: cardWithIcon('ccdefault:') }]);
    expect(cardErrorOf(() => importCard(whole.subarray(0, whole.length - 30))).code).toBe('charx_invalid');
  });

  it('rejects an oversized archive', () => {
    const big = Buffer.alloc(CARD_LIMITS.maxCharxBytes + 1);
    big.writeUInt32LE(0x04034b50, 0);
    expect(cardErrorOf(() => importCard(big)).code).toBe('card_too_large');
  });
});
