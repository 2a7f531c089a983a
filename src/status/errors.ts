/** An error of the status API, answered as `{"error": {"code", "message"}}` with its HTTP status. */
export class StatusError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }

  toJSON(): { error: { code: string; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

export const notFound = (what: string): StatusError => new StatusError(404, 'not_found', what);
export const invalid = (what: string): StatusError => new StatusError(400, 'invalid_request', what);
export const conflict = (what: string): StatusError => new StatusError(409, 'conflict', what);
