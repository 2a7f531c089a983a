import { crc32 } from 'node:zlib';
import { CardError } from './errors.ts';
import { CARD_LIMITS } from './limits.ts';

/** PNG chunk-level reading and writing: just enough to find, strip and add text chunks. */

export const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

export interface PngChunk {
  type: string;
  data: Uint8Array;
  /** The chunk as stored (length, type, data, CRC), so untouched chunks are copied byte for byte. */
  raw: Uint8Array;
}

export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

/** Walks every chunk up to IEND, checking lengths and CRCs; anything malformed is `png_invalid`. */
export function readPngChunks(bytes: Uint8Array): PngChunk[] {
  if (bytes.byteLength > CARD_LIMITS.maxPngBytes) {
    throw new CardError('card_too_large', `PNG is larger than ${CARD_LIMITS.maxPngBytes} bytes`);
  }
  if (!isPng(bytes)) throw new CardError('png_invalid', 'not a PNG file (bad signature)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunks: PngChunk[] = [];
  let at = 8;
  for (;;) {
    if (chunks.length >= CARD_LIMITS.maxPngChunks) {
      throw new CardError('card_too_large', `PNG has more than ${CARD_LIMITS.maxPngChunks} chunks`);
    }
    if (at + 12 > bytes.length)
      throw new CardError('png_invalid', `truncated PNG: chunk ${chunks.length} cut off`);
    const length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    const end = at + 12 + length;
    if (!/^[A-Za-z]{4}$/.test(type))
      throw new CardError('png_invalid', `chunk ${chunks.length} has a bad type`);
    if (end > bytes.length) {
      throw new CardError('png_invalid', `truncated PNG: ${type} chunk ${chunks.length} runs past the end`);
    }
    const data = bytes.subarray(at + 8, end - 4);
    if (crc32(data, crc32(bytes.subarray(at + 4, at + 8))) !== view.getUint32(end - 4)) {
      throw new CardError('png_invalid', `${type} chunk ${chunks.length} fails its CRC check`);
    }
    if (chunks.length === 0 && type !== 'IHDR') throw new CardError('png_invalid', 'first chunk is not IHDR');
    chunks.push({ type, data, raw: bytes.subarray(at, end) });
    at = end;
    if (type === 'IEND') return chunks;
  }
}

export function encodeChunk(type: string, data: Uint8Array): Uint8Array {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(data, crc32(out.subarray(4, 8))), 8 + data.length);
  return out;
}

const TEXT_TYPES = new Set(['tEXt', 'zTXt', 'iTXt']);

/** The keyword of a tEXt/zTXt/iTXt chunk, or undefined for other chunks and malformed ones. */
export function textKeyword(chunk: PngChunk): string | undefined {
  if (!TEXT_TYPES.has(chunk.type)) return undefined;
  const nul = chunk.data.subarray(0, 80).indexOf(0);
  return nul > 0 ? Buffer.from(chunk.data.subarray(0, nul)).toString('latin1') : undefined;
}

/** The text of a tEXt chunk (Latin-1 by the PNG spec; card payloads are base64, so ASCII). */
export function tEXtValue(chunk: PngChunk): string {
  const nul = chunk.data.indexOf(0);
  return Buffer.from(chunk.data.subarray(nul + 1)).toString('latin1');
}

export function tEXtChunk(keyword: string, text: string): Uint8Array {
  return encodeChunk('tEXt', Buffer.from(`${keyword}\0${text}`, 'latin1'));
}

/**
 * Rewrites a PNG without any text chunk whose keyword is in `drop` (case-insensitive), then inserts
 * `add` just before IEND. Every other chunk is copied unchanged.
 */
export function rewriteTextChunks(
  chunks: readonly PngChunk[],
  drop: readonly string[],
  add: Uint8Array[],
): Uint8Array {
  const dropped = new Set(drop.map((k) => k.toLowerCase()));
  const kept = chunks.filter((c) => !dropped.has(textKeyword(c)?.toLowerCase() ?? ''));
  const parts: Uint8Array[] = [PNG_SIGNATURE];
  for (const c of kept) {
    if (c.type === 'IEND') parts.push(...add);
    parts.push(c.raw);
  }
  return Buffer.concat(parts);
}
