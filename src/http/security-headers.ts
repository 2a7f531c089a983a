import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';

/**
 * Browser-facing security headers, applied once for every face (gateway, chat UI, status page, operator
 * pages) so a new page cannot forget them. A page that knows better (its own CSP with a script hash, a
 * looser referrer policy) sets its own header and keeps it: these are defaults, not overrides.
 */

/** For any HTML page that did not set a policy of its own: no scripts, no framing, nothing from elsewhere. */
export const DEFAULT_HTML_CSP = [
  "default-src 'none'",
  "script-src 'none'",
  "style-src 'self'",
  "img-src 'self' data:",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

const HTML_DEFAULTS: ReadonlyArray<readonly [string, string]> = [
  ['content-security-policy', DEFAULT_HTML_CSP],
  // Legacy twin of frame-ancestors for browsers that predate it.
  ['x-frame-options', 'DENY'],
  ['referrer-policy', 'strict-origin-when-cross-origin'],
  // A page we open cannot reach back into its opener (and ours cannot be reached from a page we open).
  ['cross-origin-opener-policy', 'same-origin'],
  ['permissions-policy', 'camera=(), microphone=(), geolocation=()'],
];

export interface SecurityHeaderOptions {
  /** Strict-Transport-Security max-age in seconds; 0 sends none (the default: TLS ends elsewhere). */
  hstsMaxAgeS: number;
}

/**
 * Headers every response carries, set on the raw response before any handler runs, so they also reach
 * answers written straight to the socket (streams, the unary fast path): `nosniff` always, HSTS when
 * configured. `res.writeHead(status, headers)` merges with these, its own winning.
 */
export function everyResponse(opts: SecurityHeaderOptions): (res: ServerResponse) => void {
  const hsts = opts.hstsMaxAgeS > 0 ? `max-age=${Math.floor(opts.hstsMaxAgeS)}` : undefined;
  if (hsts === undefined) return (res) => res.setHeader('x-content-type-options', 'nosniff');
  return (res) => {
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('strict-transport-security', hsts);
  };
}

/** Fills in what an HTML answer lacks (called from onSend: only pages pay for it). */
export function completeHtmlHeaders(reply: FastifyReply): void {
  const type = reply.getHeader('content-type');
  if (typeof type !== 'string' || !type.startsWith('text/html')) return;
  for (const [name, value] of HTML_DEFAULTS) if (!reply.hasHeader(name)) reply.header(name, value);
}
