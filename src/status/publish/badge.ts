import type { ComponentStatus } from '../statuspage.ts';
import { escapeHtml } from './html.ts';
import { COMPONENT_COLOUR, COMPONENT_LABEL } from './labels.ts';

/**
 * Approximate advance widths of Verdana 11px (what shields-style badges are set in), so the two halves
 * fit their text without measuring fonts at run time. Unlisted characters count as 7px.
 */
const NARROW = new Set("fijlrtI!|.,:;'`() ".split(''));
const WIDE = new Set('mwMW@%'.split(''));

function textWidth(text: string): number {
  let w = 0;
  for (const ch of text) {
    if (NARROW.has(ch)) w += 4;
    else if (WIDE.has(ch)) w += 10;
    else if (ch >= 'A' && ch <= 'Z') w += 7.5;
    else w += 6.6;
  }
  return Math.ceil(w);
}

/** A shields-style flat badge: "<label> | <status>", the right half in the status colour. */
export function renderBadge(label: string, status: ComponentStatus | 'unknown'): string {
  const message = status === 'unknown' ? 'unknown' : COMPONENT_LABEL[status].toLowerCase();
  const colour = status === 'unknown' ? '#6e7781' : COMPONENT_COLOUR[status];
  const lw = textWidth(label) + 12;
  const mw = textWidth(message) + 12;
  const w = lw + mw;
  const l = escapeHtml(label);
  const m = escapeHtml(message);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="20" role="img" aria-label="${l}: ${m}">
<title>${l}: ${m}</title>
<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>
<clipPath id="r"><rect width="${w}" height="20" rx="3" fill="#fff"/></clipPath>
<g clip-path="url(#r)"><rect width="${lw}" height="20" fill="#555"/><rect x="${lw}" width="${mw}" height="20" fill="${colour}"/><rect width="${w}" height="20" fill="url(#s)"/></g>
<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">
<text x="${lw / 2}" y="15" fill="#010101" fill-opacity=".3">${l}</text><text x="${lw / 2}" y="14">${l}</text>
<text x="${lw + mw / 2}" y="15" fill="#010101" fill-opacity=".3">${m}</text><text x="${lw + mw / 2}" y="14">${m}</text>
</g>
</svg>
`;
}
