import { describe, expect, it } from 'vitest';
import { parseSse, type SseMessage, sseFrame } from '../../src/providers/sse.ts';

async function parse(chunks: string[]): Promise<SseMessage[]> {
  const out: SseMessage[] = [];
  const enc = new TextEncoder();
  async function* body(): AsyncGenerator<Uint8Array> {
    for (const c of chunks) yield enc.encode(c);
  }
  for await (const m of parseSse(body())) out.push(m);
  return out;
}

const transcript =
  ': comment\n\nevent: message_start\ndata: {"a":1}\n\ndata: line one\ndata: line two\n\nevent: ping\ndata:{"type":"ping"}\n\ndata: é ✓\n\n';
const expected: SseMessage[] = [
  { event: 'message_start', data: '{"a":1}' },
  { event: undefined, data: 'line one\nline two' },
  { event: 'ping', data: '{"type":"ping"}' },
  { event: undefined, data: 'é ✓' },
];

describe('parseSse', () => {
  it.each([
    ['LF', transcript],
    ['CRLF', transcript.replaceAll('\n', '\r\n')],
    ['CR', transcript.replaceAll('\n', '\r')],
  ])('parses %s line endings, split at every byte', async (_name, text) => {
    expect(await parse([text])).toEqual(expected);
    const bytes = new TextEncoder().encode(text);
    for (let i = 1; i < bytes.length; i++) {
      const dec = new TextDecoder();
      // Splits land inside multi-byte characters too: the parser must decode across chunks.
      const a = bytes.slice(0, i);
      const b = bytes.slice(i);
      const out: SseMessage[] = [];
      async function* body(): AsyncGenerator<Uint8Array> {
        yield a;
        yield b;
      }
      for await (const m of parseSse(body())) out.push(m);
      expect(out, `split at ${i} (${JSON.stringify(dec.decode(a))})`).toEqual(expected);
    }
  });

  it('drops a final message that never got its blank line', async () => {
    expect(await parse(['data: a\n\ndata: b\n'])).toEqual([{ event: undefined, data: 'a' }]);
  });

  it('round-trips frames written by sseFrame', async () => {
    expect(await parse([sseFrame('{"x":1}', 'delta'), sseFrame('[DONE]')])).toEqual([
      { event: 'delta', data: '{"x":1}' },
      { event: undefined, data: '[DONE]' },
    ]);
  });
});
