import { z } from 'zod';
import { HoldfastError } from '../core/errors.ts';

/**
 * Chaos faults: failures injected into a deployment at runtime through the admin API, whatever its
 * provider. Every fault carries a duration and ends by itself, so a forgotten drill cannot leave
 * production broken.
 */

/** The longest a single fault may last. Longer outages are a config change, not a drill. */
export const MAX_DURATION_S = 3600;
/** Above this a latency fault is a blackhole in disguise; inject one of those instead. */
export const MAX_LATENCY_MS = 300_000;
export const MAX_TOKENS = 1_000_000;

const common = {
  duration_s: z.number().positive().max(MAX_DURATION_S),
  /** Share of requests that suffer the fault, drawn per request. */
  rate: z.number().min(0).max(1).default(1),
};

const retryAfter = z.number().min(0).max(MAX_DURATION_S);
const afterTokens = z.number().int().min(0).max(MAX_TOKENS);

export const faultSpecSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('latency'), ms: z.number().int().min(1).max(MAX_LATENCY_MS), ...common }),
  z.strictObject({ kind: z.literal('error'), status: z.literal([500, 502, 503]).default(500), ...common }),
  z.strictObject({ kind: z.literal('rate_limit'), retry_after_s: retryAfter.default(1), ...common }),
  z.strictObject({ kind: z.literal('overloaded'), retry_after_s: retryAfter.optional(), ...common }),
  z.strictObject({ kind: z.literal('refuse'), ...common }),
  z.strictObject({ kind: z.literal('blackhole'), ...common }),
  z.strictObject({ kind: z.literal('cut'), after_tokens: afterTokens, ...common }),
  z.strictObject({ kind: z.literal('stall'), after_tokens: afterTokens, ...common }),
]);

/** A validated fault spec, defaults filled in. */
export type FaultSpec = z.output<typeof faultSpecSchema>;
/** What a client may send (optional fields may be left out). */
export type FaultSpecInput = z.input<typeof faultSpecSchema>;
export type FaultKind = FaultSpec['kind'];

export const FAULT_KINDS: readonly FaultKind[] = faultSpecSchema.options.map((o) => o.shape.kind.value);

/** An injected fault: its spec plus identity and lifetime (epoch ms). `hits` counts requests it struck. */
export type ChaosFault = FaultSpec & {
  id: string;
  deployment: string;
  created: number;
  ends: number;
  hits: number;
};

function valueAt(root: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let v = root;
  for (const key of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

function issueToError(issue: z.core.$ZodIssue, body: unknown): HoldfastError {
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    const param = [...issue.path, key].map(String).join('.');
    const kind = valueAt(body, ['kind']);
    return new HoldfastError('invalid_request', {
      param,
      message: `Unknown field '${param}' for a '${String(kind)}' fault.`,
    });
  }
  const param = issue.path.map(String).join('.');
  const value = valueAt(body, issue.path);
  if (value === undefined && (issue.code === 'invalid_type' || issue.code === 'invalid_union')) {
    return new HoldfastError('missing_field', { param, message: `Missing required field: '${param}'.` });
  }
  if (issue.code === 'invalid_union' && param === 'kind') {
    // Only a string is quoted back: String() of a deeply nested array recurses until the stack overflows.
    const given =
      typeof value === 'string'
        ? `'${value.slice(0, 64)}'`
        : `(a ${Array.isArray(value) ? 'list' : typeof value})`;
    return new HoldfastError('unsupported_parameter', {
      param,
      message: `Unknown fault kind ${given}. Kinds: ${FAULT_KINDS.join(', ')}.`,
    });
  }
  return new HoldfastError('invalid_request', { param, message: `Invalid '${param}': ${issue.message}` });
}

/** Validates a fault spec; a bad one throws a 400 HoldfastError naming the field. */
export function parseFaultSpec(body: unknown): FaultSpec {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HoldfastError('invalid_request', { message: 'A fault spec must be a JSON object.' });
  }
  const parsed = faultSpecSchema.safeParse(body);
  if (!parsed.success) throw issueToError(parsed.error.issues[0]!, body);
  return parsed.data;
}

/** One line a human can read: `error rate=0.5 status=503`. */
export function describeFault(f: FaultSpec): string {
  const parts: string[] = [f.kind];
  if (f.rate !== 1) parts.push(`rate=${f.rate}`);
  switch (f.kind) {
    case 'latency':
      parts.push(`ms=${f.ms}`);
      break;
    case 'error':
      parts.push(`status=${f.status}`);
      break;
    case 'rate_limit':
      parts.push(`retry_after_s=${f.retry_after_s}`);
      break;
    case 'overloaded':
      if (f.retry_after_s !== undefined) parts.push(`retry_after_s=${f.retry_after_s}`);
      break;
    case 'cut':
    case 'stall':
      parts.push(`after_tokens=${f.after_tokens}`);
      break;
  }
  return parts.join(' ');
}
