import { readFileSync } from 'node:fs';
import type { Character } from './character.ts';
import { parseCardJson } from './parse.ts';

/**
 * The original example characters shipped with Holdfast, stored as ordinary V3 card files so they go
 * through the same parser as any upload (and double as sample cards for people to download).
 */
export const EXAMPLE_CARD_FILES = ['navigator.json', 'tutor.json', 'detective.json'] as const;

export interface ExampleCharacter {
  /** Stable slug (the file name without `.json`), for seeding without duplicates. */
  slug: string;
  character: Character;
}

export function loadExampleCharacters(): ExampleCharacter[] {
  return EXAMPLE_CARD_FILES.map((file) => ({
    slug: file.replace(/\.json$/, ''),
    character: parseCardJson(readFileSync(new URL(`./examples/${file}`, import.meta.url))).character,
  }));
}
