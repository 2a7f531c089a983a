import fc from 'fast-check';

/**
 * Bytes for a bare TCP connection: request lines, headers and bodies that are not (quite) HTTP, which
 * inject() cannot send because it builds a valid request object first.
 */

const token = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,16}$/);

const method = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'HEAD', 'PATCH') },
  {
    weight: 2,
    arbitrary: fc.constantFrom('get', 'G ET', '', 'PRI', 'CONNECT', 'TRACE', 'M-SEARCH', 'POST\0'),
  },
  { weight: 1, arbitrary: token },
);

const target = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      '/v1/chat/completions',
      '/v1/messages',
      '/v1/models',
      '/api/auth/login',
      '/api/conversations',
      '/api/v2/reports',
      '/admin/chaos/sim-oa',
      '/admin/status/incidents',
      '/health/ready',
    ),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '*',
      'http://evil.example/x',
      '//',
      '/%',
      '/%zz',
      '/\0',
      '/a b',
      '',
      `/${'a'.repeat(20_000)}`,
      '/v1/messages?%ff',
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 30 }) },
);

const version = fc.oneof(
  { weight: 6, arbitrary: fc.constant('HTTP/1.1') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'HTTP/1.0',
      'HTTP/2.0',
      'HTTP/1',
      'HTTP/9.9',
      'http/1.1',
      '',
      'HTTP/1.1 x',
      'HTTP/1.10',
    ),
  },
);

const JSON_BODY = '{"model":"sim-openai","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}';

const bodyBytes = fc.oneof(
  { weight: 4, arbitrary: fc.constant(JSON_BODY) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  { weight: 1, arbitrary: fc.constantFrom('', '{', '\0\0\0', '{"a":"\udc00"}') },
);

type Header = [string, string];

const header: fc.Arbitrary<Header> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom<Header>(
      ['content-type', 'application/json'],
      ['authorization', 'Bearer hf-admin-fuzz-key-0123456789'],
      ['anthropic-version', '2023-06-01'],
    ),
  },
  {
    weight: 3,
    arbitrary: fc.oneof(
      fc.integer({ min: -5, max: 1_000 }).map((n): Header => ['content-length', String(n)]),
      fc.constantFrom<Header>(
        ['content-length', '1e3'],
        ['content-length', '99999999999999999999'],
        ['content-length', '0x10'],
        ['content-length', ' 5'],
        ['content-length', '5, 6'],
        ['transfer-encoding', 'chunked'],
        ['transfer-encoding', 'chunked, identity'],
        ['transfer-encoding', 'xchunked'],
        ['transfer-encoding', 'gzip'],
        ['expect', '100-continue'],
        ['connection', 'close'],
        ['connection', 'upgrade'],
        ['upgrade', 'websocket'],
        ['content-encoding', 'gzip'],
        ['x-request-id', '\u00ff\u00fe'],
      ),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom<Header>(
      ['x-a', 'a\0b'],
      ['x-a', 'a\rb'],
      ['x-a', 'line\r\n folded'],
      ['bad header', 'v'],
      ['', 'v'],
      ['x-\u00e9', 'v'],
      ['x-big', 'a'.repeat(20_000)],
      ['cookie', `${'a=b; '.repeat(3_000)}`],
    ),
  },
  { weight: 1, arbitrary: fc.tuple(token, fc.string({ unit: 'binary-ascii', maxLength: 40 })) },
);

const chunked = fc.oneof(
  fc.constant(`${JSON_BODY.length.toString(16)}\r\n${JSON_BODY}\r\n0\r\n\r\n`),
  fc.constantFrom(
    'zz\r\nabc\r\n0\r\n\r\n',
    '5\r\nab\r\n',
    'ffffffffffffffff\r\nx\r\n',
    '3;ext=1\r\nabc\r\n0\r\n\r\n',
    '0\r\n',
    '-1\r\n\r\n',
  ),
);

export const rawRequests: fc.Arbitrary<Buffer> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .record({
        method,
        target,
        version,
        eol: fc.constantFrom('\r\n', '\r\n', '\n'),
        host: fc.boolean(),
        headers: fc.array(header, { maxLength: 5 }),
        body: fc.oneof(bodyBytes, chunked),
        cut: fc.option(fc.nat(), { nil: undefined }),
      })
      .map(({ method, target, version, eol, host, headers, body, cut }) => {
        const lines = [
          `${method} ${target} ${version}`,
          ...(host ? ['host: 127.0.0.1'] : []),
          ...headers.map(([k, v]) => `${k}: ${v}`),
        ];
        const bytes = Buffer.from(`${lines.join(eol)}${eol}${eol}${body}`, 'latin1');
        return cut === undefined ? bytes : bytes.subarray(0, cut % (bytes.length + 1));
      }),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 1_000 }).map((b) => Buffer.from(b)) },
  {
    weight: 1,
    // Two requests in one write (pipelining), the second one broken.
    arbitrary: fc
      .string({ unit: 'binary-ascii', maxLength: 40 })
      .map((junk) =>
        Buffer.from(
          `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nauthorization: Bearer hf-admin-fuzz-key-0123456789\r\ncontent-length: ${JSON_BODY.length}\r\n\r\n${JSON_BODY}${junk}\r\n\r\n`,
          'latin1',
        ),
      ),
  },
);
