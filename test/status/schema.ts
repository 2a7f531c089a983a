import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';

const SCHEMA = JSON.parse(readFileSync(new URL('./schema/statuspage-v2.json', import.meta.url), 'utf8')) as {
  $id: string;
};

// Formats by hand rather than another dependency: these three are all the schema uses.
const ajv = new Ajv({ strict: false, allErrors: true });
ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/);
ajv.addFormat('date', /^\d{4}-\d{2}-\d{2}$/);
ajv.addFormat('uri', /^https?:\/\/\S+$/);
ajv.addSchema(SCHEMA);

export const ENDPOINTS = [
  'status.json',
  'summary.json',
  'components.json',
  'incidents.json',
  'incidents/unresolved.json',
  'scheduled-maintenances.json',
  'scheduled-maintenances/upcoming.json',
  'scheduled-maintenances/active.json',
] as const;

/** Validation errors of one endpoint's body against the Statuspage schema (empty: valid). */
export function schemaErrors(endpoint: (typeof ENDPOINTS)[number], body: unknown): string[] {
  const pointer = endpoint.replaceAll('~', '~0').replaceAll('/', '~1');
  const validate = ajv.getSchema(`${SCHEMA.$id}#/endpoints/${pointer}`);
  if (!validate) throw new Error(`no schema for ${endpoint}`);
  if (validate(body)) return [];
  return (validate.errors ?? []).map((e) => `${endpoint}${e.instancePath} ${e.message}`);
}

/** Fetches every public endpoint and validates it; returns the bodies by endpoint. */
export async function validateAll(url: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const errors: string[] = [];
  for (const ep of ENDPOINTS) {
    const res = await fetch(`${url}/api/v2/${ep}`);
    if (res.status !== 200) errors.push(`${ep}: HTTP ${res.status}`);
    if (res.headers.get('access-control-allow-origin') !== '*') errors.push(`${ep}: no CORS *`);
    const body = (await res.json()) as unknown;
    out[ep] = body;
    errors.push(...schemaErrors(ep, body));
  }
  if (errors.length > 0) throw new Error(`Statuspage schema violations:\n${errors.join('\n')}`);
  return out;
}
