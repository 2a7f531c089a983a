/** Helpers for the plain JSON objects that cards are made of. */

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Drops undefined values, so optional card fields are absent rather than present-but-undefined. */
export function defined<T extends Record<string, unknown>>(obj: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(obj) as Array<[keyof T, T[keyof T]]>) {
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/**
 * The entries of `obj` whose keys are not in `known`. A `__proto__` key (JSON.parse makes it an own
 * property) is dropped: assigning it would swap the copy's prototype instead of storing data.
 */
export function unknownKeys(obj: Record<string, unknown>, known: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (!known.includes(k) && k !== '__proto__') out[k] = v;
  }
  return out;
}
