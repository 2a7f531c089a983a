import { crc32, inflateRawSync } from 'node:zlib';
import { CardError } from './errors.ts';
import { CARD_LIMITS } from './limits.ts';

/**
 * A read-only zip reader for .charx files: central directory, stored and deflated entries, nothing else
 * (no zip64, no encryption). Entries are inflated only on request and never past the caller's size cap, so
 * a zip bomb costs at most that cap.
 */

interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

export interface ZipArchive {
  names(): string[];
  /** The entry's bytes, or undefined when the archive has no such entry. */
  read(name: string, maxBytes: number): Uint8Array | undefined;
}

const EOCD_SIG = 0x06054b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;

export function isZip(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04
  );
}

export function openZip(bytes: Uint8Array): ZipArchive {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const eocd = findEndOfCentralDirectory(view);
  const count = view.getUint16(eocd + 10, true);
  const cdOffset = view.getUint32(eocd + 16, true);
  if (count === 0xffff || cdOffset === 0xffffffff) fail('zip64 archives are not supported');
  if (count > CARD_LIMITS.maxCharxEntries) {
    throw new CardError('card_too_large', `archive lists more than ${CARD_LIMITS.maxCharxEntries} entries`);
  }
  const entries = new Map<string, ZipEntry>();
  let at = cdOffset;
  for (let i = 0; i < count; i++) {
    if (at + 46 > bytes.length || view.getUint32(at, true) !== CENTRAL_SIG) fail('corrupt central directory');
    const nameLength = view.getUint16(at + 28, true);
    const next = at + 46 + nameLength + view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
    if (next > bytes.length) fail('corrupt central directory');
    const name = Buffer.from(bytes.subarray(at + 46, at + 46 + nameLength)).toString('utf8');
    entries.set(name, {
      name,
      flags: view.getUint16(at + 8, true),
      method: view.getUint16(at + 10, true),
      crc: view.getUint32(at + 16, true),
      compressedSize: view.getUint32(at + 20, true),
      size: view.getUint32(at + 24, true),
      localOffset: view.getUint32(at + 42, true),
    });
    at = next;
  }
  return {
    names: () => [...entries.keys()],
    read: (name, maxBytes) => {
      const entry = entries.get(name);
      return entry ? readEntry(bytes, view, entry, maxBytes) : undefined;
    },
  };
}

function findEndOfCentralDirectory(view: DataView): number {
  // The record is 22 bytes plus a comment of up to 65535 bytes, so it sits near the end.
  const lowest = Math.max(0, view.byteLength - 22 - 0xffff);
  for (let at = view.byteLength - 22; at >= lowest; at--) {
    if (view.getUint32(at, true) === EOCD_SIG) return at;
  }
  return fail('no end-of-central-directory record (not a zip, or truncated)');
}

function readEntry(bytes: Uint8Array, view: DataView, e: ZipEntry, maxBytes: number): Uint8Array {
  if (e.flags & 1) fail(`${e.name} is encrypted`);
  if (e.method !== 0 && e.method !== 8) fail(`${e.name} uses unsupported compression method ${e.method}`);
  if (e.size > maxBytes) {
    throw new CardError('card_too_large', `${e.name} is larger than ${maxBytes} bytes`);
  }
  const at = e.localOffset;
  if (at + 30 > bytes.length || view.getUint32(at, true) !== LOCAL_SIG) fail(`${e.name}: bad local header`);
  const start = at + 30 + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
  const end = start + e.compressedSize;
  if (end > bytes.length) fail(`${e.name} is truncated`);
  const stored = bytes.subarray(start, end);
  let data: Uint8Array;
  if (e.method === 0) {
    data = stored;
  } else {
    try {
      // The declared size can lie; maxOutputLength is what actually bounds the allocation.
      data = inflateRawSync(stored, { maxOutputLength: Math.max(1, maxBytes) });
    } catch (cause) {
      if (cause instanceof RangeError) {
        throw new CardError('card_too_large', `${e.name} inflates past ${maxBytes} bytes`, { cause });
      }
      return fail(`${e.name} does not inflate`, cause);
    }
  }
  if (data.length !== e.size || crc32(data) !== e.crc) fail(`${e.name} fails its size or CRC check`);
  return data;
}

function fail(detail: string, cause?: unknown): never {
  throw new CardError('charx_invalid', detail, cause !== undefined ? { cause } : {});
}
