import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import {
  commentText,
  configJsonSchema,
  extractDescriptions,
  renderReference,
  sections,
} from '../scripts/config-doc.ts';
import { configSchema } from '../src/config/schema.ts';

const doc = readFileSync(new URL('../docs/config.md', import.meta.url), 'utf8');
const schemaText = readFileSync(new URL('../src/config/schema.ts', import.meta.url), 'utf8');

/** The reference's table rows, read back from the doc: path → cells. */
function docRows(): Map<string, { type: string; default: string; allowed: string; description: string }> {
  const rows = new Map<string, { type: string; default: string; allowed: string; description: string }>();
  for (const line of doc.split('\n')) {
    const m = /^\| `([^`]+)` \| (.*) \|$/.exec(line);
    if (!m) continue;
    const [type, dflt, allowed, description] = m[2]!.split(/(?<!\\)\| /).map((c) => c.trim());
    rows.set(m[1]!, { type: type!, default: dflt!, allowed: allowed!, description: description! });
  }
  return rows;
}

/**
 * Every leaf field of the zod schema, found by walking `_zod.def` (independently of the JSON Schema
 * the script renders from): objects are followed, list items add `[]`, everything else is a leaf.
 */
function zodLeaves(schema: z.core.$ZodType, path = ''): string[] {
  const def = schema._zod.def as z.core.$ZodTypeDef & {
    innerType?: z.core.$ZodType;
    in?: z.core.$ZodType;
    element?: z.core.$ZodType;
    shape?: Record<string, z.core.$ZodType>;
  };
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
      return zodLeaves(def.innerType!, path);
    case 'pipe':
      return zodLeaves(def.in!, path);
    case 'object':
      return Object.entries(def.shape!).flatMap(([k, v]) => zodLeaves(v, path ? `${path}.${k}` : k));
    case 'array': {
      const inner = zodLeaves(def.element!, `${path}[]`);
      return inner.length === 1 && inner[0] === `${path}[]` ? [path] : inner;
    }
    default:
      return [path];
  }
}

/** Every optional object and list given with only its required fields, so all defaults are filled. */
const fullInput = {
  models: [{ name: 'm', deployments: [{ id: 'd', provider: 'simulator', model: 'x' }] }],
  chat: { oidc: { issuer: 'https://idp.example', client_id: 'c', redirect_uri: 'https://h.example/cb' } },
  status: {
    components: [{ key: 'k', name: 'K' }],
    notifications: { smtp: { host: 'smtp.example', from: 'status@example.com' } },
    export: { s3: { bucket: 'b' } },
  },
};

function valueAt(tree: unknown, path: string): unknown {
  let v: unknown = tree;
  for (const part of path.split('.')) {
    const key = part.replace(/\[\]$/, '');
    v = (v as Record<string, unknown> | undefined)?.[key];
    if (part.endsWith('[]')) v = (v as unknown[] | undefined)?.[0];
  }
  return v;
}

describe('docs/config.md', () => {
  it('carries exactly the rendered reference (run `npm run docs:config` after changing the schema)', () => {
    expect(doc).toContain(renderReference());
  });

  it('has a row for every leaf field of the schema, and no other rows', () => {
    const leaves = zodLeaves(configSchema);
    expect(leaves.length).toBeGreaterThan(100);
    expect([...docRows().keys()].sort()).toEqual([...leaves].sort());
  });

  it("shows each default as the schema's parsed default, and no default where the schema has none", () => {
    const parsed = configSchema.parse(fullInput);
    const rows = docRows();
    let checked = 0;
    for (const [path, row] of rows) {
      const actual = valueAt(parsed, path);
      if (row.default === '—') {
        expect(actual, path).toBeUndefined();
      } else if (row.default === '**required**') {
        expect(valueAt(fullInput, path), `${path} is required, so the test input gives it`).toBeDefined();
      } else {
        const shown = /^`(.*)`$/.exec(row.default)?.[1];
        expect(shown, `${path}: default cell ${row.default}`).toBeDefined();
        expect(JSON.parse(shown!), path).toEqual(actual);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(80);
  });

  it('states the rules of a few fields the way the schema enforces them', () => {
    const rows = docRows();
    expect(rows.get('server.port')).toMatchObject({
      type: 'integer',
      default: '`8080`',
      allowed: '0 to 65535',
    });
    expect(rows.get('models[].deployments[].provider')).toMatchObject({
      default: '**required**',
      allowed: 'one of `openai`, `anthropic`, `simulator`',
    });
    expect(rows.get('auth.admin_key')?.allowed).toBe('at least 16 characters');
    expect(rows.get('server.open_mode')?.type).toBe('boolean or `"auto"`');
    expect(rows.get('chat.context_tokens')?.type).toBe('map of string to integer');
  });

  it('links the prose to the validator and the lookup order', () => {
    expect(doc).toContain('holdfast check-config');
    expect(doc).toContain('$HOLDFAST_CONFIG');
    expect(doc).toContain('${NAME:-fallback}');
  });
});

describe('description extraction', () => {
  const real = extractDescriptions(schemaText);

  it('finds the comments of the real schema at their field paths', () => {
    expect(real.get('models[].deployments[].timeouts.connect_ms')).toBe('TCP connect.');
    expect(real.get('models[].retry.max_attempts')).toBe(
      'Upstream attempts per request, all groups included (the first try counts).',
    );
    expect(real.get('status.rules.slow')).toMatch(/^Catches smouldering trouble: degraded_performance\. The/);
    // An object key naming a schema const gets the const's comment after its own.
    expect(real.get('limits.ip')).toBe("Per client IP address. One scope's limits; unset means unlimited.");
    // The file's header comment is separated by a blank line from `const timeouts`: not a description.
    expect(real.get('models[].deployments[].timeouts')).toBeUndefined();
  });

  it('describes only paths the schema has', () => {
    const paths = new Set<string>();
    for (const s of sections(configJsonSchema())) {
      paths.add(s.key);
      paths.add(s.path);
      for (const f of s.fields) paths.add(f.path);
    }
    for (const p of real.keys()) expect(paths, p).toContain(p);
    expect(real.size).toBeGreaterThan(90);
  });

  it('follows consts, shorthand keys, helpers, lists and unions; ignores method arguments', () => {
    const source = `
import { z } from 'zod';

/** Header: not attached to the const below. */

const inner = z.object({
  /** Inner leaf. */
  leaf: z.number(),
});

/** A named piece. */
const piece = z.object({ /** Piece leaf. */ p: z.string() }).strict();

/** Made by a helper. */
function helper(n: number) {
  return z.object({
    /**
     * Two lines,
     * joined.
     */
    h: z.number().default(n),
  });
}

export const root = z
  .object({
    inner,
    /** Named. */
    named: piece.prefault({}),
    made: helper(3),
    list: z.array(z.object({ /** In a list. */ item: z.boolean() })),
    either: z.union([z.boolean(), z.object({ /** In a union. */ u: z.string() })]),
    'quoted-key': z.string(), // line comments are not descriptions
    /** Refined. */
    refined: z.string().refine((s) => s.length > 0, { /** not a field */ message: 'x' }),
  })
  .superRefine(() => {});
`;
    expect(Object.fromEntries(extractDescriptions(source, 'root'))).toEqual({
      'inner.leaf': 'Inner leaf.',
      named: 'Named. A named piece.',
      'named.p': 'Piece leaf.',
      made: 'Made by a helper.',
      'made.h': 'Two lines, joined.',
      'list[].item': 'In a list.',
      'either.u': 'In a union.',
      refined: 'Refined.',
    });
  });

  it('cleans comment markers', () => {
    expect(commentText('/** One line. */')).toBe('One line.');
    expect(commentText('/**\n   * First,\n   * second.\n   */')).toBe('First, second.');
  });
});
