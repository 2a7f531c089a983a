import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The newcomer docs link to each other and to the detailed pages; a renamed page or heading must not
 * leave them pointing nowhere. Checks relative links and their #anchors (GitHub's heading slugs).
 */

const ROOT = resolve(import.meta.dirname, '../..');
const DOCS = ['quickstart', 'concepts', 'api', 'operations', 'troubleshooting'].map((d) => `docs/${d}.md`);

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchors(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  return new Set([...text.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug(m[1]!)));
}

describe('newcomer docs links', () => {
  for (const doc of DOCS) {
    it(`${doc}: every relative link and anchor resolves`, () => {
      const text = readFileSync(join(ROOT, doc), 'utf8').replace(/```[\s\S]*?```/g, '');
      const links = [...text.matchAll(/\]\(([^)\s]+)\)/g)]
        .map((m) => m[1]!)
        .filter((l) => !/^[a-z]+:/.test(l));
      expect(links.length).toBeGreaterThan(0);
      for (const link of links) {
        const [path, anchor] = link.split('#') as [string, string | undefined];
        const target = path === '' ? join(ROOT, doc) : resolve(dirname(join(ROOT, doc)), path);
        expect(existsSync(target), `${doc} → ${link}`).toBe(true);
        if (anchor) expect(anchors(target), `${doc} → ${link}`).toContain(anchor);
      }
    });
  }
});
