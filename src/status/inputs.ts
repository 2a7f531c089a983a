import { z } from 'zod';
import { HoldfastError } from '../core/errors.ts';
import { DATA_EXCEPTION_MESSAGE, isDataException } from '../stores/data-errors.ts';
import { StatusError } from './errors.ts';
import { TooMany } from './service.ts';

/** Request bodies of the admin API, shared by the JSON routes and the operator pages' forms. */
export const componentStatus = z.enum([
  'operational',
  'degraded_performance',
  'partial_outage',
  'major_outage',
  'under_maintenance',
]);
export const impact = z.enum(['none', 'minor', 'major', 'critical']);
export const incidentStatus = z.enum(['investigating', 'identified', 'monitoring', 'resolved']);
export const anyStatus = z.enum([
  'investigating',
  'identified',
  'monitoring',
  'resolved',
  'scheduled',
  'in_progress',
  'verifying',
  'completed',
]);

export const createIncident = z.object({
  name: z.string().min(1).max(300),
  body: z.string().min(1).max(20_000),
  status: incidentStatus.optional(),
  impact: impact.optional(),
  component_ids: z.array(z.string()).max(100).optional(),
  deliver_notifications: z.boolean().optional(),
});
export const editIncident = z.object({
  name: z.string().min(1).max(300).optional(),
  impact: impact.nullable().optional(),
});
export const postUpdate = z.object({
  status: anyStatus,
  body: z.string().min(1).max(20_000),
  deliver_notifications: z.boolean().optional(),
});
export const merge = z.object({ into: z.string().min(1) });
export const postmortem = z.object({ body: z.string().min(1).max(100_000) });
export const maintenance = z.object({
  name: z.string().min(1).max(300),
  body: z.string().min(1).max(20_000),
  scheduled_for: z.iso.datetime({ offset: true }),
  scheduled_until: z.iso.datetime({ offset: true }),
  component_ids: z.array(z.string()).min(1).max(100),
});
export const confirm = z.object({
  status: componentStatus.exclude(['operational', 'under_maintenance']).optional(),
});
export const manualStatus = z.object({
  status: componentStatus,
  /** A note for the incident's timeline (optional). */
  body: z.string().max(20_000).optional(),
});
export const publicReport = z.object({
  /** A component id (or its config key). */
  component_id: z.string().min(1).max(200),
  category: z.enum(['slow', 'error', 'wrong_answer', 'cannot_sign_in', 'other']).default('other'),
  text: z.string().max(2_000).default(''),
});

export function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  const first = r.error.issues[0];
  const where = first && first.path.length > 0 ? `${first.path.map(String).join('.')}: ` : '';
  throw new StatusError(400, 'invalid_request', `${where}${first?.message ?? 'invalid body'}`);
}

export function toStatusError(err: unknown): StatusError {
  if (err instanceof StatusError) return err;
  if (err instanceof TooMany) return new StatusError(429, 'too_many_reports', err.message);
  if (err instanceof HoldfastError) return new StatusError(err.status, err.code, err.message);
  if (isDataException(err)) return new StatusError(400, 'invalid_request', DATA_EXCEPTION_MESSAGE);
  const status = (err as { statusCode?: unknown }).statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500)
    return new StatusError(status, 'invalid_request', (err as Error).message);
  return new StatusError(500, 'internal', 'Something went wrong on our side.');
}
