import { parseCharx } from './charx.ts';
import { decodeBase64Strict, decodeUtf8 } from './decode.ts';
import { CardError } from './errors.ts';
import { type CardSpec, type ParsedCard, parseCardJson } from './parse.ts';
import {
  isPng,
  type PngChunk,
  readPngChunks,
  rewriteTextChunks,
  tEXtValue,
  textKeyword,
} from './png-chunks.ts';
import { isZip } from './zip-reader.ts';

export type CardFormat = 'json' | 'png' | 'charx';

export interface ImportedCard {
  character: ParsedCard['character'];
  spec: CardSpec;
  format: CardFormat;
  /** Things the user may want to know, e.g. that an unreadable ccv3 chunk was skipped for chara. */
  warnings: string[];
}

/**
 * Reads an uploaded card file, whatever its form: PNG, .charx or JSON, told apart by their first bytes
 * rather than by file name or declared media type, which uploads get wrong. Every failure is a CardError.
 */
export function importCard(bytes: Uint8Array): ImportedCard {
  try {
    if (isPng(bytes)) return parsePngCard(bytes);
    if (isZip(bytes)) return { ...parseCharx(bytes), format: 'charx', warnings: [] };
    if (looksLikeJson(bytes)) return { ...parseCardJson(bytes), format: 'json', warnings: [] };
  } catch (err) {
    if (err instanceof CardError) throw err;
    // Hostile input must never surface as a crash or a stack trace; keep the cause for the logs.
    throw new CardError('card_invalid', 'the card could not be read', { path: '', cause: err });
  }
  throw new CardError('card_unknown_format', 'expected a PNG, .charx or JSON character card');
}

/** A PNG card: `ccv3` read first, `chara` as fallback; the avatar is the image without its card chunks. */
export function parsePngCard(bytes: Uint8Array): ImportedCard {
  const chunks = readPngChunks(bytes);
  const ccv3 = findText(chunks, 'ccv3');
  const chara = findText(chunks, 'chara');
  if (!ccv3 && !chara) throw new CardError('png_no_card', 'the PNG has no ccv3 or chara text chunk');
  const warnings: string[] = [];
  let parsed: ParsedCard | undefined;
  if (ccv3) {
    try {
      parsed = chunkCard(ccv3, 'ccv3');
    } catch (err) {
      if (!chara || !(err instanceof CardError)) throw err;
      try {
        parsed = chunkCard(chara, 'chara');
      } catch {
        throw err; // Both broken: the V3 chunk's error is the one that matters.
      }
      warnings.push(`ignored the unreadable ccv3 chunk (${err.message}) and used chara`);
    }
  } else if (chara) {
    parsed = chunkCard(chara, 'chara');
  }
  const image = rewriteTextChunks(chunks, ['chara', 'ccv3'], []);
  const character = {
    ...parsed!.character,
    avatar: `data:image/png;base64,${Buffer.from(image).toString('base64')}`,
  };
  return { character, spec: parsed!.spec, format: 'png', warnings };
}

function findText(chunks: readonly PngChunk[], keyword: string): PngChunk | undefined {
  return chunks.find((c) => c.type === 'tEXt' && textKeyword(c)?.toLowerCase() === keyword);
}

function chunkCard(chunk: PngChunk, keyword: string): ParsedCard {
  const json = decodeUtf8(decodeBase64Strict(tEXtValue(chunk), `${keyword} chunk`), `${keyword} chunk`);
  return parseCardJson(json);
}

function looksLikeJson(bytes: Uint8Array): boolean {
  let i = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  while (
    i < bytes.length &&
    (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a || bytes[i] === 0x0d)
  ) {
    i++;
  }
  return bytes[i] === 0x7b; // '{'
}
