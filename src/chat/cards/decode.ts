import { CardError } from './errors.ts';
import { CARD_LIMITS } from './limits.ts';

/** Byte-level decoding of untrusted card payloads, each step failing with its own error code. */

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    // A BOM is legal at the start of a JSON file saved by Windows editors; JSON.parse rejects it.
    const s = utf8.decode(bytes);
    return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s;
  } catch (cause) {
    throw new CardError('card_not_json', `${what} is not valid UTF-8`, { cause });
  }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Buffer's base64 decoder skips garbage silently; a corrupt card must fail loudly instead. */
export function decodeBase64Strict(text: string, what: string): Uint8Array {
  const compact = text.replace(/\s+/g, '');
  if (!BASE64.test(compact) || compact.length % 4 === 1) {
    throw new CardError('card_bad_encoding', `${what} is not valid base64`);
  }
  if ((compact.length * 3) / 4 > CARD_LIMITS.maxJsonBytes + 3) {
    throw new CardError('card_too_large', `${what} decodes to more than ${CARD_LIMITS.maxJsonBytes} bytes`);
  }
  return Buffer.from(compact, 'base64');
}

/** Parses card JSON text within the byte and depth limits. */
export function parseJsonBounded(text: string, what: string): unknown {
  if (Buffer.byteLength(text, 'utf8') > CARD_LIMITS.maxJsonBytes) {
    throw new CardError('card_too_large', `${what} is larger than ${CARD_LIMITS.maxJsonBytes} bytes`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    const detail = cause instanceof SyntaxError ? `: ${cause.message}` : '';
    throw new CardError('card_not_json', `${what} is not valid JSON${detail}`, { cause });
  }
  assertDepth(value, CARD_LIMITS.maxJsonDepth);
  return value;
}

/** Iterative so that the check itself cannot overflow the stack it protects. */
export function assertDepth(value: unknown, maxDepth: number): void {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    if (depth >= maxDepth) {
      throw new CardError('card_too_large', `card JSON nests deeper than ${maxDepth} levels`);
    }
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
}
