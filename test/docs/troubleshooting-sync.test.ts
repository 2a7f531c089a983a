import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERRORS, type ErrorCode, HoldfastError } from '../../src/core/errors.ts';
import { DEPLOYMENT_FAULT_KINDS, UpstreamError } from '../../src/core/upstream-error.ts';
import { classify, flagFor } from '../../src/http/outcome.ts';
import { newRequestContext } from '../../src/pipeline/context.ts';
import { openaiDoor } from '../../src/providers/openai/door.ts';
import { OUTCOME_FLAGS, type OutcomeFlag } from '../../src/telemetry/outcome.ts';

/**
 * docs/troubleshooting.md has one section per outcome flag, in OUTCOME_FLAGS order, and an "At a glance"
 * table whose error codes are checked against the real classifier: a new flag, a renamed one, or an error
 * code that now lands under another flag fails here until the page says so.
 */

const doc = readFileSync(new URL('../../docs/troubleshooting.md', import.meta.url), 'utf8');
const PARTS = [
  'What it means.',
  'What the caller saw.',
  'Likely causes.',
  'What to check.',
  'What to change.',
] as const;

/** The `## FLAG` sections after the "At a glance" table, with their text. */
function flagSections(): Array<{ flag: string; text: string }> {
  const body = doc.slice(doc.indexOf('## At a glance'));
  return body
    .split(/^## /m)
    .slice(2)
    .map((chunk) => ({ flag: chunk.slice(0, chunk.indexOf('\n')).trim(), text: chunk }));
}

interface Row {
  flag: string;
  cls: string;
  codes: ErrorCode[];
}

function tableRows(): Row[] {
  const table = doc.slice(doc.indexOf('## At a glance'), doc.indexOf(`## ${OUTCOME_FLAGS[0]}\n`));
  return table
    .split('\n')
    .filter((l) => /^\| `[A-Z_]+` \|/.test(l))
    .map((l) => {
      const cells = l.split('|').map((c) => c.trim());
      return {
        flag: cells[1]!.replaceAll('`', ''),
        cls: cells[2]!,
        codes: [...cells[4]!.matchAll(/`([a-z_]+)`/g)].map((m) => m[1] as ErrorCode),
      };
    });
}

/** The situation in which each flag arises (attempts made, a hedge, headers already sent, caller gone). */
const SITUATION: Record<
  OutcomeFlag,
  { attempts: number; failovers: number; hedged?: boolean; headersSent?: boolean; cancelled?: boolean }
> = {
  OK: { attempts: 1, failovers: 0 },
  FAILED_OVER: { attempts: 2, failovers: 1 },
  HEDGED: { attempts: 2, failovers: 1, hedged: true },
  CLIENT_ERROR: { attempts: 1, failovers: 0 },
  RATE_LIMITED: { attempts: 0, failovers: 0 },
  SHED: { attempts: 0, failovers: 0 },
  QUEUE_TIMEOUT: { attempts: 0, failovers: 0 },
  CLIENT_CLOSED: { attempts: 1, failovers: 0, cancelled: true },
  NO_HEALTHY_UPSTREAM: { attempts: 1, failovers: 0 },
  UPSTREAM_ERROR: { attempts: 1, failovers: 0 },
  RETRY_EXHAUSTED: { attempts: 3, failovers: 2 },
  STREAM_INTERRUPTED: { attempts: 1, failovers: 0, headersSent: true },
  SHUTTING_DOWN: { attempts: 0, failovers: 0 },
  INTERNAL: { attempts: 1, failovers: 0 },
};

/**
 * The error as the gateway raises it: provider failures come wrapped around their UpstreamError (that is
 * what makes a provider's 429 an upstream failure, not our own rate limit); the rest are our own.
 */
function errorFor(code: ErrorCode, upstream: boolean): HoldfastError {
  if (upstream) {
    for (const kind of DEPLOYMENT_FAULT_KINDS) {
      const err = new UpstreamError({ kind, message: 'x' }).toHoldfastError();
      if (err.code === code) return err;
    }
  }
  return new HoldfastError(code);
}

function flagOf(code: ErrorCode | undefined, row: Row): OutcomeFlag {
  const s = SITUATION[row.flag as OutcomeFlag];
  const ctx = newRequestContext({
    requestId: 'req_doc',
    door: openaiDoor,
    headers: {},
    ip: '127.0.0.1',
    body: undefined,
    signal: new AbortController().signal,
  });
  ctx.attempts = s.attempts;
  ctx.failovers = s.failovers;
  if (s.hedged) ctx.hedged = true;
  const err = code === undefined ? undefined : errorFor(code, row.cls === 'upstream_error');
  return flagFor(classify(err, s.cancelled ?? false), err, ctx, s.headersSent ?? false);
}

describe('docs/troubleshooting.md', () => {
  it('has one section per outcome flag, in the order of OUTCOME_FLAGS', () => {
    expect(flagSections().map((s) => s.flag)).toEqual([...OUTCOME_FLAGS]);
  });

  it('says, for every flag, what it means, what the caller saw, causes, what to check and what to change', () => {
    for (const { flag, text } of flagSections()) {
      const found = PARTS.map((p) => text.indexOf(`**${p}**`));
      expect(
        found.every((i) => i > 0),
        `${flag} has all five parts`,
      ).toBe(true);
      expect(
        [...found].sort((a, b) => a - b),
        `${flag}'s parts are in order`,
      ).toEqual(found);
    }
  });

  it('has an "At a glance" row per flag, in the same order', () => {
    expect(tableRows().map((r) => r.flag)).toEqual([...OUTCOME_FLAGS]);
  });

  it("lists under each flag only error codes the classifier puts there, with the flag's outcome class", () => {
    for (const row of tableRows()) {
      const codes: Array<ErrorCode | undefined> = row.codes.length > 0 ? row.codes : [undefined];
      for (const code of codes) {
        expect(code === undefined || code in ERRORS, `${code} is a registered error code`).toBe(true);
        expect(flagOf(code, row), `${code ?? 'no error'} → ${row.flag}`).toBe(row.flag);
        const err = code === undefined ? undefined : errorFor(code, row.cls === 'upstream_error');
        expect(classify(err, SITUATION[row.flag as OutcomeFlag].cancelled ?? false)).toBe(row.cls);
      }
    }
  });

  it('names every error code that lands anywhere but CLIENT_ERROR, and every code a provider failure becomes', () => {
    const listed = new Set(tableRows().flatMap((r) => r.codes));
    // A plain 4xx is a CLIENT_ERROR whatever its code (the admin and chat APIs have more of them); any
    // other code is singled out by the classifier, or is a 5xx that would land in INTERNAL, so the page
    // must say where it goes.
    const plain: Row = { flag: 'UPSTREAM_ERROR', cls: '', codes: [] };
    const special = (Object.keys(ERRORS) as ErrorCode[]).filter((c) => flagOf(c, plain) !== 'CLIENT_ERROR');
    const fromProviders = DEPLOYMENT_FAULT_KINDS.map(
      (kind) => new UpstreamError({ kind, message: 'x' }).toHoldfastError().code,
    );
    expect([...new Set([...special, ...fromProviders])].filter((c) => !listed.has(c))).toEqual([]);
  });
});
