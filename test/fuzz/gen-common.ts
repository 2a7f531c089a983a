import fc from 'fast-check';

/**
 * Building blocks shared by every surface's generators: awkward strings and numbers, JSON values with
 * traps in them (prototype keys, deep nesting, numbers JSON.stringify cannot write), structural
 * mutations of a valid body, malformed JSON text, odd content types and headers.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

// ---- raw JSON tokens ----

/**
 * Text JSON.stringify cannot produce (`1e999`, an own `__proto__` key, 100k levels of nesting) travels
 * inside the value as a marked string and is spliced in by `toJsonText`.
 */
const RAW = '\u0001raw:';
export function rawToken(text: string): string {
  return `${RAW}${text}\u0001`;
}
const OPEN = '"\\u0001raw:';
const CLOSE = '\\u0001"';

export function toJsonText(value: unknown): string {
  const text = JSON.stringify(value) ?? 'null';
  // indexOf, not a regex: raw tokens can be megabytes long.
  let out = '';
  let from = 0;
  for (let at = text.indexOf(OPEN); at >= 0; at = text.indexOf(OPEN, from)) {
    const end = text.indexOf(CLOSE, at + OPEN.length);
    out += text.slice(from, at) + (JSON.parse(`"${text.slice(at + OPEN.length, end)}"`) as string);
    from = end + CLOSE.length;
  }
  return out + text.slice(from);
}

// ---- strings ----

/** Any UTF-16 code unit, lone surrogates included. */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((n) => String.fromCharCode(n));

export const SPECIAL_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff',
  '\uffff',
  '\ufeff',
  '\u202e',
  '\r\n',
  'null',
  'undefined',
  'NaN',
  'true',
  '[object Object]',
  '__proto__',
  'constructor',
  'prototype',
  'hasOwnProperty',
  'toString',
  '../../../etc/passwd',
  '%00',
  '%ff',
  '<script>alert(1)</script>',
  "'; DROP TABLE users; --",
  '${process.env}',
  '{{admin}}',
  'Ω≈ç√∫˜µ≤≥÷',
  '👩‍👩‍👧‍👦',
  'ﷺ',
  'Z̴̡̪̫͖̩̑̓̏a̷̧̛̞l̶g̵o',
] as const;

export const weirdString: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: fc.string({ maxLength: 24 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 24 }) },
  { weight: 2, arbitrary: fc.string({ unit: codeUnit, maxLength: 8 }) },
  { weight: 3, arbitrary: fc.constantFrom(...SPECIAL_STRINGS) },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 200_000 }).map((n) => 'x'.repeat(n)) },
);

/** Printable text, for places that must be valid (message contents, names). */
export const text = fc.oneof(
  { weight: 4, arbitrary: fc.string({ minLength: 1, maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }) },
  { weight: 1, arbitrary: fc.constantFrom('Hello', 'Tell me a story.', 'ünïcödé ✓', '日本語のテキスト') },
);
export const nonBlank = text.filter((s) => s.trim() !== '');

// ---- numbers ----

export const weirdNumber: fc.Arbitrary<number | string> = fc.oneof(
  { weight: 3, arbitrary: fc.integer() },
  { weight: 2, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      0,
      -0,
      -1,
      1,
      0.5,
      2 ** 31,
      2 ** 32,
      2 ** 53,
      2 ** 53 + 2,
      -(2 ** 53),
      1e308,
      -1e308,
      5e-324,
    ),
  },
  // Only in JSON text: JSON.parse turns these into Infinity, -Infinity and -0.
  { weight: 1, arbitrary: fc.constantFrom('1e999', '-1e999', '-0.0', '1E+400').map(rawToken) },
);

// ---- JSON values ----

/** Keys that attack prototypes, as own keys (JSON.parse makes `__proto__` an own property). */
export const POLLUTION = [
  '{"__proto__":{"hfPolluted":true}}',
  '{"constructor":{"prototype":{"hfPolluted":true}}}',
  '{"__proto__":{"__proto__":{"hfPolluted":true}}}',
  '{"__proto__":null}',
  '{"__proto__":[]}',
  '{"prototype":{"hfPolluted":true}}',
] as const;

/** Nesting deep enough to break recursive code (each level is 2 bytes: far below any body limit). */
export const deepNesting = fc
  .tuple(fc.constantFrom('[', '{"a":'), fc.integer({ min: 100, max: 200_000 }))
  .map(([open, n]) =>
    rawToken(open === '[' ? '['.repeat(n) + ']'.repeat(n) : `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`),
  );

export const weirdKey = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', '', '0') },
);

export const anyJson: fc.Arbitrary<Json> = fc.letrec<{ value: Json }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 3, arbitrary: fc.constantFrom(null, true, false) },
    { weight: 3, arbitrary: weirdNumber as fc.Arbitrary<Json> },
    { weight: 4, arbitrary: weirdString },
    { weight: 1, arbitrary: fc.constantFrom(...POLLUTION).map(rawToken) },
    { weight: 1, arbitrary: deepNesting },
    { weight: 2, arbitrary: fc.array(tie('value'), { maxLength: 4 }) },
    { weight: 2, arbitrary: fc.dictionary(weirdKey, tie('value'), { maxKeys: 4 }) },
  ),
})).value;

// ---- mutations of a valid value ----

export type Mutation =
  | { op: 'delete'; at: number }
  | { op: 'replace'; at: number; value: Json }
  | { op: 'add'; at: number; key: string; value: Json }
  | { op: 'wrap'; at: number }
  | { op: 'stringify'; at: number }
  | { op: 'repeat'; at: number; times: number };

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('delete' as const), at: fc.nat() }) },
  { weight: 5, arbitrary: fc.record({ op: fc.constant('replace' as const), at: fc.nat(), value: anyJson }) },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('add' as const), at: fc.nat(), key: weirdKey, value: anyJson }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('wrap' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('stringify' as const), at: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('repeat' as const),
      at: fc.nat(),
      times: fc.integer({ min: 2, max: 2_000 }),
    }),
  },
);

type Slot = { parent: Json[] | Record<string, Json> | undefined; key: string | number; value: Json };

function slots(root: Json): Slot[] {
  const out: Slot[] = [{ parent: undefined, key: '', value: root }];
  const walk = (v: Json): void => {
    if (Array.isArray(v)) {
      v.forEach((child, i) => {
        out.push({ parent: v, key: i, value: child });
        walk(child);
      });
    } else if (v !== null && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) {
        out.push({ parent: v, key: k, value: child });
        walk(child);
      }
    }
  };
  walk(root);
  return out;
}

/** Applies mutations to a copy; `undefined` means the whole body was deleted. */
export function mutate(valid: Json, mutations: readonly Mutation[]): Json | undefined {
  let root: Json | undefined = structuredClone(valid);
  for (const m of mutations) {
    if (root === undefined) return undefined;
    const all = slots(root);
    const slot = all[m.at % all.length]!;
    const set = (value: Json | undefined): void => {
      if (!slot.parent) {
        root = value;
        return;
      }
      if (Array.isArray(slot.parent)) {
        if (value === undefined) slot.parent.splice(slot.key as number, 1);
        else slot.parent[slot.key as number] = value;
      } else if (value === undefined) delete slot.parent[slot.key as string];
      else
        Object.defineProperty(slot.parent, slot.key, {
          value,
          enumerable: true,
          writable: true,
          configurable: true,
        });
    };
    switch (m.op) {
      case 'delete':
        set(undefined);
        break;
      case 'replace':
        set(m.value);
        break;
      case 'add':
        if (slot.value !== null && typeof slot.value === 'object' && !Array.isArray(slot.value))
          Object.defineProperty(slot.value, m.key, {
            value: m.value,
            enumerable: true,
            writable: true,
            configurable: true,
          });
        else if (Array.isArray(slot.value)) slot.value.push(m.value);
        else set(m.value);
        break;
      case 'wrap':
        set([slot.value]);
        break;
      case 'stringify':
        set(JSON.stringify(slot.value) ?? '');
        break;
      case 'repeat': {
        // Bounded to ~4 MB of JSON per mutation: bodies past the server's limit are a separate case, and
        // a few repeated 200 kB strings would otherwise pass V8's maximum string length.
        const size = Math.max(1, (JSON.stringify(slot.value) ?? '').length);
        const times = Math.max(2, Math.min(m.times, Math.floor(4_000_000 / size)));
        if (Array.isArray(slot.parent)) {
          const copies = Array.from({ length: times }, () => structuredClone(slot.value));
          slot.parent.splice(slot.key as number, 1, ...copies);
        } else if (typeof slot.value === 'string') set(slot.value.repeat(Math.min(times, 50)));
        break;
      }
    }
  }
  return root;
}

// ---- malformed JSON text ----

/** Breaks JSON text: cut it short, drop or insert a byte, or replace it with something that is not JSON. */
export function malformedJson(validText: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.oneof(
    validText.chain((t) => fc.nat({ max: Math.max(0, t.length - 1) }).map((n) => t.slice(0, n))),
    fc
      .tuple(validText, fc.nat(), fc.constantFrom('{', '}', '"', ',', ':', '\\', '\u0000', 'x', ']', ' '))
      .map(([t, at, c]) => t.slice(0, at % (t.length + 1)) + c + t.slice(at % (t.length + 1))),
    fc.tuple(validText, fc.nat()).map(([t, at]) => t.slice(0, at % t.length) + t.slice((at % t.length) + 1)),
    validText.map((t) => `\ufeff${t}`),
    validText.map((t) => `${t}${t}`),
    validText.map((t) => t.replace(/"/g, "'")),
    fc.constantFrom(
      '',
      ' ',
      '\n',
      'null',
      'true',
      '0',
      '-1',
      '"string"',
      '[]',
      '[{}]',
      '{',
      '}',
      '{}}',
      '{"a":1,}',
      '{a:1}',
      'NaN',
      'Infinity',
      '1e999',
      '{"model":"x"/*c*/}',
      '\u0000',
      'undefined',
      '{"__proto__":{"hfPolluted":true}}',
      '{"constructor":{"prototype":{"hfPolluted":true}}}',
    ),
    fc.string({ unit: 'binary', maxLength: 64 }),
  );
}

// ---- headers ----

export const contentType = fc.oneof(
  { weight: 8, arbitrary: fc.constant('application/json') },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      'application/json; charset=utf-8',
      'application/json; charset=utf-16',
      'APPLICATION/JSON',
      'text/plain',
      'text/html',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=xyz',
      'application/octet-stream',
      'image/png',
      'application/zip',
      'application/xml',
      'application/vnd.api+json',
      '*/*',
      'json',
      ';',
      '',
      'application/json; boundary=',
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 30 }) },
);

/** Header values inject() can carry: visible ASCII, space and tab (raw bytes go over the socket slice). */
export const headerValue = fc.oneof(
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((n) => String.fromCharCode(n)), maxLength: 40 }),
  fc.constantFrom('', ' ', '\t', 'null', '0', '-1', '1e999', 'undefined', 'a'.repeat(4_000)),
);

/** Ways of presenting (or failing to present) a gateway key. */
export const gatewayAuth: fc.Arbitrary<Record<string, string>> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ authorization: 'Bearer {{admin}}' }) },
  { weight: 6, arbitrary: fc.constant({ authorization: 'Bearer {{key}}' }) },
  { weight: 3, arbitrary: fc.constant({ 'x-api-key': '{{key}}' }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom<Record<string, string>>(
      {},
      { authorization: 'Bearer' },
      { authorization: 'Bearer ' },
      { authorization: 'bearer    {{key}}   ' },
      { authorization: 'BEARER {{admin}}' },
      { authorization: 'Basic YWRtaW46YWRtaW4=' },
      { authorization: 'Bearer hf-not-a-real-key' },
      { authorization: 'Bearer {{key}}x' },
      { authorization: 'Token {{key}}' },
      { 'x-api-key': '' },
      { 'x-api-key': ' ' },
      { 'x-api-key': 'hf-wrong' },
      { authorization: 'Bearer {{key}}', 'x-api-key': 'hf-wrong' },
    ),
  },
  { weight: 1, arbitrary: headerValue.map((v) => ({ authorization: v })) },
  { weight: 1, arbitrary: headerValue.map((v) => ({ 'x-api-key': v })) },
);

/** Headers that steer the gateway (request id, deadline, priority, Anthropic's version). */
export const steeringHeaders: fc.Arbitrary<Record<string, string>> = fc
  .record(
    {
      'x-request-id': fc.oneof(headerValue, fc.constantFrom('req_1', 'a'.repeat(129), '../x', 'é')),
      'x-holdfast-deadline-ms': fc.oneof(
        fc.constantFrom('1', '0', '-1', '50', 'NaN', '1e999', '0x10', '99999999999999999999'),
        headerValue,
      ),
      'x-holdfast-priority': fc.oneof(fc.constantFrom('critical', 'interactive', 'batch'), headerValue),
      'anthropic-version': fc.oneof(
        fc.constantFrom('2023-06-01', '2023-01-01', '2099-12-31', '2023-02-30', '2023-6-1', '0000-00-00'),
        headerValue,
      ),
      'anthropic-beta': headerValue,
      accept: fc.constantFrom('application/json', 'text/event-stream', '*/*', 'text/html', ''),
      'accept-encoding': fc.constantFrom('gzip', 'br', 'identity', '*', 'gzip;q=0'),
      'x-forwarded-for': fc.constantFrom('1.2.3.4', 'garbage', '::1, 10.0.0.1', ''),
      'last-event-id': headerValue,
      'if-none-match': headerValue,
    },
    { requiredKeys: [] },
  )
  .map(
    (h) => Object.fromEntries(Object.entries(h).filter(([, v]) => v !== undefined)) as Record<string, string>,
  );

/** Paths with traps: encodings, traversal, doubled slashes, long segments, query strings. */
export const querySuffix = fc.oneof(
  { weight: 6, arbitrary: fc.constant('') },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '?',
      '?a=1',
      '?a=1&a=2',
      '?a[]=1&a[]=2',
      '?__proto__[hfPolluted]=1',
      '?constructor[prototype][hfPolluted]=1',
      '?format=png',
      '?format=md',
      '?format=json',
      '?format=%00',
      '?next=//evil.example',
      '?%ff=%ff',
      '?a=%',
      '?&&&',
      `?q=${'a'.repeat(5_000)}`,
      '#fragment',
    ),
  },
  {
    weight: 1,
    arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 20 }).map((s) => `?${encodeURIComponent(s)}`),
  },
);

export const pathSegment = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 12 }).map(encodeURIComponent),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '..',
      '.',
      '%2e%2e',
      '%2F',
      '%00',
      '%ff',
      '%',
      '%zz',
      '__proto__',
      'constructor',
      'undefined',
      'null',
      '0',
      '-1',
      'a'.repeat(300),
      '%E2%80%AE',
      '%F0%9F%92%A9',
      '%ED%A0%80',
    ),
  },
);
