/** Cookie header parsing and Set-Cookie building: the little the accounts module needs, no dependency. */

/**
 * The value of cookie `name` in a Cookie header, or undefined. With duplicates the first wins, as
 * browsers send the most specific path first.
 */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    return value;
  }
  return undefined;
}

export interface CookieOptions {
  /** Seconds; 0 deletes the cookie. */
  maxAge: number;
  path: string;
  secure: boolean;
  sameSite: 'Lax' | 'Strict';
}

// Our values are base64url; anything else would need encoding and never occurs, so refuse it loudly.
const SAFE_VALUE = /^[A-Za-z0-9_-]*$/;

export function buildSetCookie(name: string, value: string, opts: CookieOptions): string {
  if (!SAFE_VALUE.test(value)) throw new Error(`cookie ${name}: value must be base64url`);
  const parts = [`${name}=${value}`, `Max-Age=${Math.max(0, Math.floor(opts.maxAge))}`, `Path=${opts.path}`];
  if (opts.maxAge <= 0) parts.push('Expires=Thu, 01 Jan 1970 00:00:00 GMT');
  parts.push('HttpOnly', `SameSite=${opts.sameSite}`);
  if (opts.secure) parts.push('Secure');
  return parts.join('; ');
}
