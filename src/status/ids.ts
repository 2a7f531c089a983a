import { createHash, randomBytes } from 'node:crypto';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

function base32(bytes: Uint8Array, length: number): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5 && out.length < length) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    if (out.length >= length) break;
  }
  return out;
}

/**
 * A component's id, derived from its config key alone: the same on every node, across restarts and
 * config edits, so links, subscriptions and third-party integrations keyed on it never break. Shaped
 * like Statuspage's (12 lowercase alphanumerics).
 */
export function stableId(key: string): string {
  return base32(createHash('sha256').update(`holdfast-status:${key}`).digest(), 12);
}

/** A fresh id for an incident, maintenance or update. */
export function randomStatusId(): string {
  return base32(randomBytes(10), 12);
}
