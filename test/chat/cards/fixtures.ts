import { crc32, deflateRawSync } from 'node:zlib';
import type { CharacterBook, LorebookEntry } from '../../../src/chat/cards/index.ts';
import { encodeChunk } from '../../../src/chat/cards/png-chunks.ts';
import { encodeRgbPng } from '../../../src/chat/cards/png-encode.ts';

/** A V2 card as a community exporter might write it, with keys this app does not know. */
export function v2Card(): Record<string, unknown> {
  return {
    spec: 'chara_card_v2',
    spec_version: '2.0',
    data: {
      name: 'Wren',
      description: '{{char}} keeps bees.',
      personality: 'calm',
      scenario: 'A hillside apiary.',
      first_mes: 'Hello {{user}}.',
      mes_example: '<START>\n{{user}}: Hi\n{{char}}: Mind the hives.',
      creator_notes: 'notes for browsers',
      system_prompt: '',
      post_history_instructions: '',
      alternate_greetings: ['Oh, {{user}}, you came back.'],
      tags: ['cozy'],
      creator: 'someone',
      character_version: '2',
      extensions: {
        talkativeness: '0.5',
        depth_prompt: { prompt: 'x', depth: 4 },
        some_app: { a: [1, { b: null }] },
      },
      character_book: {
        name: 'Hives',
        extensions: { book_ext: 1 },
        entries: [
          {
            keys: ['queen'],
            content: 'The queen is called Marigold.',
            extensions: { probability: 100 },
            enabled: true,
            insertion_order: 5,
            position: 'after_char',
            vendor_field: 'kept',
          },
        ],
      },
      unknown_top_level: { keep: 'me' },
    },
  };
}

export function v3Card(): Record<string, unknown> {
  const card = v2Card() as { data: Record<string, unknown> };
  return {
    spec: 'chara_card_v3',
    spec_version: '3.0',
    data: {
      ...card.data,
      nickname: 'Wrenny',
      assets: [{ type: 'icon', uri: 'ccdefault:', name: 'main', ext: 'png' }],
      creator_notes_multilingual: { fr: 'notes en français' },
      source: ['https://example.invalid/wren'],
      group_only_greetings: ['Hello, all of you.'],
      creation_date: 1700000000,
      modification_date: 1700000100,
    },
  };
}

export function tinyPng(): Uint8Array {
  return encodeRgbPng(2, 2, Uint8Array.of(255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255));
}

/** tinyPng() with the given chunks inserted just before IEND. */
export function pngWith(...middle: Uint8Array[]): Uint8Array {
  const base = tinyPng();
  const iendAt = base.length - 12;
  return Buffer.concat([base.subarray(0, iendAt), ...middle, base.subarray(iendAt)]);
}

export function textChunk(keyword: string, text: string): Uint8Array {
  return encodeChunk('tEXt', Buffer.from(`${keyword}\0${text}`, 'latin1'));
}

export function b64json(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64');
}

export interface ZipFile {
  name: string;
  data: Uint8Array;
  deflate?: boolean;
  /** Lie about the uncompressed size in the headers. */
  declaredSize?: number;
  flags?: number;
}

/** A minimal zip writer for building .charx fixtures. */
export function makeZip(files: ZipFile[]): Uint8Array {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const f of files) {
    const name = Buffer.from(f.name, 'utf8');
    const body = f.deflate === false ? Buffer.from(f.data) : deflateRawSync(f.data);
    const method = f.deflate === false ? 0 : 8;
    const size = f.declaredSize ?? f.data.length;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(f.flags ?? 0, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc32(f.data), 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(f.flags ?? 0, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc32(f.data), 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    centrals.push(central, name);
    offset += 30 + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(files.length, 8);
  eocd.writeUInt16LE(files.length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, eocd]);
}

export function entry(over: Partial<LorebookEntry> & { keys: string[] }): LorebookEntry {
  return {
    content: `content for ${over.keys.join('/')}`,
    extensions: {},
    enabled: true,
    insertionOrder: 0,
    extra: {},
    ...over,
  };
}

export function book(entries: LorebookEntry[], over: Partial<CharacterBook> = {}): CharacterBook {
  return { extensions: {}, entries, extra: {}, ...over };
}

/** One token per whitespace-separated word: predictable budgets in tests. */
export const countWords = (text: string): number => text.split(/\s+/).filter(Boolean).length;

/** Runs fn and returns the CardError it throws (fails the test if it throws nothing). */
export function cardErrorOf(fn: () => unknown): { code: string; path: string | undefined; message: string } {
  try {
    fn();
  } catch (err) {
    const e = err as { code: string; path: string | undefined; message: string; name: string };
    if (e.name !== 'CardError') throw err;
    return { code: e.code, path: e.path, message: e.message };
  }
  throw new Error('expected a CardError, nothing was thrown');
}
