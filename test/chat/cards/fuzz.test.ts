import { describe, expect, it } from 'vitest';
import {
  CardError,
  exportCardJson,
  exportCardPng,
  importCard,
  parseCard,
} from '../../../src/chat/cards/index.ts';
import { makeZip, tinyPng, v3Card } from './fixtures.ts';

/** Seeded so a failure reproduces; mulberry32. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(input: Uint8Array, rand: () => number): Uint8Array {
  const bytes = Buffer.from(input);
  const kind = Math.floor(rand() * 3);
  if (kind === 0) return bytes.subarray(0, Math.floor(rand() * bytes.length));
  const flips = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < flips; i++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
  if (kind === 2) return Buffer.concat([bytes, bytes.subarray(0, Math.floor(rand() * 64))]);
  return bytes;
}

/** Either a card or a specific CardError: never a crash, never the catch-all for unexpected throws. */
function expectGraceful(bytes: Uint8Array, label: string): void {
  try {
    importCard(bytes);
  } catch (err) {
    expect(err, label).toBeInstanceOf(CardError);
    expect((err as CardError).message, label).not.toContain('could not be read');
  }
}

function paths(value: unknown, prefix: string[] = []): string[][] {
  if (typeof value !== 'object' || value === null) return [prefix];
  const children = Object.entries(value).flatMap(([k, v]) => paths(v, [...prefix, k]));
  return prefix.length > 0 ? [prefix, ...children] : children;
}

function withValueAt(root: unknown, path: string[], replacement: unknown): unknown {
  const copy = structuredClone(root) as Record<string, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string, unknown>;
  node[path.at(-1)!] = replacement;
  return copy;
}

describe('type confusion', () => {
  it('a wrong value anywhere in a card is either accepted or reported at that path', () => {
    const card = v3Card();
    const replacements: unknown[] = [null, 7, 'text', [], {}, true, [1], { x: 1 }];
    let rejected = 0;
    for (const path of paths(card)) {
      for (const replacement of replacements) {
        const label = `${path.join('.')} = ${JSON.stringify(replacement)}`;
        try {
          parseCard(withValueAt(card, path, replacement));
        } catch (err) {
          rejected++;
          expect(err, label).toBeInstanceOf(CardError);
          const e = err as CardError;
          expect(['card_invalid', 'card_unsupported_spec'], label).toContain(e.code);
          // Without a usable spec the card reads as V1, so the error lands on V1's fields instead.
          if (path.join('.') === 'spec') continue;
          expect(`${e.path}.`.startsWith(`${path.join('.')}.`), `${label} reported at ${e.path}`).toBe(true);
        }
      }
    }
    expect(rejected).toBeGreaterThan(100);
  });
});

describe('hostile input', () => {
  const character = parseCard(v3Card()).character;
  const seeds: Array<[string, Uint8Array]> = [
    ['png', exportCardPng(character, { image: tinyPng() })],
    ['json', Buffer.from(exportCardJson(character, 'v3'))],
    ['charx', makeZip([{ name: 'card.json', data: Buffer.from(exportCardJson(character, 'v3')) }])],
  ];

  for (const [name, seed] of seeds) {
    it(`${name}: 400 mutated files are each read or rejected with a specific error`, () => {
      const rand = rng(name.length * 7919);
      for (let i = 0; i < 400; i++) expectGraceful(mutate(seed, rand), `${name} mutation ${i}`);
    });
  }
});
