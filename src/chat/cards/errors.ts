/**
 * Card errors carry a stable `code` (for the API to map onto its own error registry) and, for schema
 * failures, the dotted path of the offending field. The message always starts with the code so a log line
 * or a toast is self-explanatory on its own.
 */
export type CardErrorCode =
  /** Bytes are neither PNG, .charx (zip) nor JSON. */
  | 'card_unknown_format'
  /** Over a size, count or depth limit (see CARD_LIMITS). */
  | 'card_too_large'
  /** Not valid UTF-8 or not valid JSON. */
  | 'card_not_json'
  /** A PNG chunk's base64 payload is corrupt. */
  | 'card_bad_encoding'
  /** `spec` names something other than a V2/V3 character card. */
  | 'card_unsupported_spec'
  /** The JSON does not match the card schema; `path` names the field. */
  | 'card_invalid'
  /** Broken PNG structure: signature, truncated or oversized chunk, CRC mismatch. */
  | 'png_invalid'
  /** A sound PNG with no `ccv3` or `chara` text chunk. */
  | 'png_no_card'
  /** Broken or unsupported .charx archive, or one without card.json. */
  | 'charx_invalid'
  /** A greeting index that the character does not have. */
  | 'greeting_not_found';

export interface CardIssue {
  /** Dotted path into the card JSON (`data.character_book.entries.2.keys`), '' for the whole value. */
  path: string;
  message: string;
}

export class CardError extends Error {
  readonly code: CardErrorCode;
  /** Path of the first issue, when the error is about one field. */
  readonly path: string | undefined;
  /** Every schema issue found, so an editor can highlight them all at once. */
  readonly issues: readonly CardIssue[];

  constructor(
    code: CardErrorCode,
    detail: string,
    opts: { path?: string; issues?: CardIssue[]; cause?: unknown } = {},
  ) {
    const where = opts.path ? `${opts.path}: ` : '';
    super(`${code}: ${where}${detail}`, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = 'CardError';
    this.code = code;
    this.path = opts.path;
    this.issues = opts.issues ?? (opts.path !== undefined ? [{ path: opts.path, message: detail }] : []);
  }
}

export function isCardError(err: unknown): err is CardError {
  return err instanceof CardError;
}
