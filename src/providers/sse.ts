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
  const decoder = new TextDecoder();
  let buf = '';
  let event: string | undefined;
  let data: string[] = [];
  for await (const chunk of body) {
    buf += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    let start = 0;
    for (;;) {
      let i = start;
      while (i < buf.length && buf[i] !== '\n' && buf[i] !== '\r') i++;
      if (i >= buf.length) break;
      // A CR at the very end may be the first half of CRLF: wait for more bytes.
      if (buf[i] === '\r' && i + 1 >= buf.length) break;
      const line = buf.slice(start, i);
      start = buf[i] === '\r' && buf[i + 1] === '\n' ? i + 2 : i + 1;
      if (line === '') {
        if (data.length > 0) yield { event, data: data.join('\n') };
        event = undefined;
        data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') data.push(value);
      else if (field === 'event') event = value;
    }
    buf = buf.slice(start);
  }
}

export function sseFrame(data: string, event?: string): string {
  return event === undefined ? `data: ${data}\n\n` : `event: ${event}\ndata: ${data}\n\n`;
}
