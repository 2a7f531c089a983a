import { randomFillSync } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
// One CSPRNG call per 4 KiB of ids instead of one per id: a sync crypto call per request showed up as
// several percent of the gateway's CPU under load.
const pool = Buffer.alloc(4096);
let offset = pool.length;

/** `prefix` + `length` base62 characters from a CSPRNG (the look of OpenAI/Anthropic ids). */
export function randomId(prefix: string, length: number): string {
  if (offset + length > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  let s = prefix;
  // 62 does not divide 256; the bias (<2%) does not matter for an opaque id.
  for (let i = 0; i < length; i++) s += ALPHABET[pool[offset + i]! % 62];
  offset += length;
  return s;
}
