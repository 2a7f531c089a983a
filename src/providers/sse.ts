/** Server-sent events: one small parser and one writer, shared by every dialect. */

export interface SseMessage {
  event: string | undefined;
  data: string;
}

/**
 * Parses an SSE byte stream (per the WHATWG spec: LF, CRLF or CR line ends; multi-line data; comments).
 * Yields each dispatched message; a trailing message without its blank line is dropped, as browsers do.
 */
export async function* parseSse(body: AsyncIterable<Uint8Array | string>): AsyncGenerator<SseMessage> {
  for await (const batch of parseSseBatches(body)) yield* batch;
}

/**
 * The same parser, yielding the messages completed by each chunk of the body together (never an empty
 * array). One upstream read often carries many messages; handing them over at once saves an async step
 * per message, which was most of the per-event cost of a stream.
 */
export async function* parseSseBatches(
  body: AsyncIterable<Uint8Array | string>,
): AsyncGenerator<SseMessage[]> {
  const decoder = new TextDecoder();
  let buf = '';
  let event: string | undefined;
  let data: string[] = [];

  // Splits complete lines off `buf` into `out`; `final` settles a trailing CR that could be half of a CRLF.
  function drain(final: boolean, out: SseMessage[]): void {
    let start = 0;
    // CR line ends are rare; without any CR, indexOf('\n') finds every line end far faster.
    const hasCr = buf.includes('\r');
    for (;;) {
      let i: number;
      if (hasCr) {
        i = start;
        while (i < buf.length && buf.charCodeAt(i) !== 10 && buf.charCodeAt(i) !== 13) i++;
        if (i >= buf.length) break;
        if (buf.charCodeAt(i) === 13 && i + 1 >= buf.length && !final) break;
      } else {
        i = buf.indexOf('\n', start);
        if (i === -1) break;
      }
      const line = buf.slice(start, i);
      start = buf.charCodeAt(i) === 13 && buf.charCodeAt(i + 1) === 10 ? i + 2 : i + 1;
      if (line === '') {
        if (data.length > 0) out.push({ event, data: data.length === 1 ? data[0]! : data.join('\n') });
        event = undefined;
        data = [];
        continue;
      }
      if (line.charCodeAt(0) === 58) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.charCodeAt(0) === 32) value = value.slice(1);
      if (field === 'data') data.push(value);
      else if (field === 'event') event = value;
    }
    buf = buf.slice(start);
  }

  for await (const chunk of body) {
    buf += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    const out: SseMessage[] = [];
    drain(false, out);
    if (out.length > 0) yield out;
  }
  buf += decoder.decode();
  // A message still missing its blank line is dropped, as browsers do.
  const out: SseMessage[] = [];
  drain(true, out);
  if (out.length > 0) yield out;
}

export function sseFrame(data: string, event?: string): string {
  return event === undefined ? `data: ${data}\n\n` : `event: ${event}\ndata: ${data}\n\n`;
}
