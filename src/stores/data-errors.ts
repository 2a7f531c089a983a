/**
 * PostgreSQL's SQLSTATE class 22, "data exception": the database refused a value itself (a NUL character
 * in text or JSON, a date out of its range, a number too large). Both engines (PGlite and Postgres) raise
 * it with the same code. The value came from the request, so the APIs answer 400 rather than 500.
 */
export function isDataException(err: unknown): boolean {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' && /^22[0-9A-Z]{3}$/.test(code);
}

/** What callers are told instead of the database's message (which would leak internals). */
export const DATA_EXCEPTION_MESSAGE =
  'The request holds a value that cannot be stored (such as a NUL character or a date out of range).';
