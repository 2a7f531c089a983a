import fc from 'fast-check';
import { emptyCharacter } from '../../src/chat/cards/character.ts';
import { exportCardJson, exportCardPng } from '../../src/chat/cards/index.ts';
import {
  anyJson,
  contentType,
  gatewayAuth,
  headerValue,
  type Json,
  malformedJson,
  mutate,
  mutation,
  nonBlank,
  pathSegment,
  querySuffix,
  steeringHeaders,
  text,
  toJsonText,
  weirdString,
} from './gen-common.ts';
import type { FuzzCase } from './gen-doors.ts';

/**
 * Requests for the JSON APIs beside the doors: /v1/models, the chaos admin API, the status API (public
 * /api/v2 and operators' /admin/status), the chat app's /api, and odd paths anywhere. Each endpoint has a
 * generator of valid bodies; cases mix valid, mutated, malformed and missing bodies with the endpoint's
 * ways of authenticating (and failing to).
 */

interface Endpoint {
  method: string;
  /** May hold placeholders (`{{conv}}`), which a case sometimes swaps for an odd path segment. */
  path: string;
  body?: fc.Arbitrary<Json>;
  /** Bodies that are not JSON (card files), sent with their own content type. */
  files?: fc.Arbitrary<{ type: string; bytes: Uint8Array }>;
}

const SLOT = /\{\{(conv|msg|char|persona|incident|maintenance|component)\}\}/;

function endpointCases(
  surface: string,
  endpoints: readonly Endpoint[],
  auth: fc.Arbitrary<Record<string, string>>,
): fc.Arbitrary<FuzzCase> {
  return fc.constantFrom(...endpoints).chain((ep) => {
    const valid = ep.body ?? fc.constant(undefined);
    const body: fc.Arbitrary<{ text?: string | Uint8Array; type?: string }> = fc.oneof(
      { weight: 4, arbitrary: valid.map((b) => (b === undefined ? {} : { text: toJsonText(b) })) },
      {
        weight: 4,
        arbitrary: fc.tuple(valid, fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([b, ms]) => {
          const m = b === undefined ? undefined : mutate(b, ms);
          return m === undefined ? {} : { text: toJsonText(m) };
        }),
      },
      {
        weight: 1,
        arbitrary: malformedJson(valid.map((b) => toJsonText(b ?? {}))).map((t) => ({ text: t })),
      },
      { weight: 1, arbitrary: anyJson.map((v) => ({ text: toJsonText(v) })) },
      { weight: 1, arbitrary: fc.constant({}) },
      ...(ep.files ? [{ weight: 4, arbitrary: ep.files.map((f) => ({ text: f.bytes, type: f.type })) }] : []),
    );
    const path = fc.oneof(
      { weight: 5, arbitrary: fc.constant(ep.path) },
      {
        weight: 1,
        arbitrary: fc
          .tuple(pathSegment, fc.constantFrom('', '/', '//'))
          .map(([seg, tail]) => (SLOT.test(ep.path) ? ep.path.replace(SLOT, seg) : `${ep.path}${tail}`)),
      },
    );
    return fc
      .record({
        path,
        query: querySuffix,
        body,
        auth,
        type: fc.oneof(
          { weight: 6, arbitrary: fc.constant(undefined) },
          { weight: 1, arbitrary: contentType },
        ),
        extra: fc.oneof({ weight: 5, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: steeringHeaders }),
      })
      .map(({ path, query, body, auth, type, extra }): FuzzCase => {
        const headers: Record<string, string> = { ...extra, ...auth };
        const ct = type ?? body.type ?? (body.text !== undefined ? 'application/json' : undefined);
        if (ct !== undefined && body.text !== undefined) headers['content-type'] = ct;
        return {
          surface,
          req: {
            method: ep.method,
            url: path + query,
            headers,
            ...(body.text !== undefined ? { body: body.text } : {}),
          },
        };
      });
  });
}

// ---- /v1/models ----

export const modelsCases: fc.Arbitrary<FuzzCase> = fc
  .record({
    id: fc.oneof(
      { weight: 2, arbitrary: fc.constant(undefined) },
      { weight: 2, arbitrary: fc.constantFrom('sim-openai', 'sim-anthropic') },
      { weight: 2, arbitrary: pathSegment },
    ),
    query: querySuffix,
    auth: gatewayAuth,
    extra: steeringHeaders,
    method: fc.constantFrom('GET', 'GET', 'GET', 'HEAD', 'POST', 'DELETE'),
  })
  .map(({ id, query, auth, extra, method }) => ({
    surface: 'models',
    req: {
      method,
      url: `/v1/models${id === undefined ? '' : `/${id}`}${query}`,
      headers: { ...extra, ...auth },
    },
  }));

// ---- chaos admin API ----

const faultSpec: fc.Arbitrary<Json> = fc.oneof(
  fc.record({
    kind: fc.constant('latency'),
    ms: fc.integer({ min: 1, max: 300_000 }),
    duration_s: fc.integer({ min: 1, max: 3600 }),
  }),
  fc.record(
    {
      kind: fc.constant('error'),
      status: fc.constantFrom(500, 502, 503),
      duration_s: fc.double({ min: 0.001, max: 3600, noNaN: true }),
      rate: fc.double({ min: 0, max: 1, noNaN: true }),
    },
    { requiredKeys: ['kind', 'duration_s'] },
  ),
  fc.record(
    {
      kind: fc.constant('rate_limit'),
      retry_after_s: fc.integer({ min: 0, max: 3600 }),
      duration_s: fc.integer({ min: 1, max: 3600 }),
    },
    { requiredKeys: ['kind', 'duration_s'] },
  ),
  fc.record({
    kind: fc.constantFrom('overloaded', 'refuse', 'blackhole'),
    duration_s: fc.integer({ min: 1, max: 3600 }),
  }),
  fc.record({
    kind: fc.constantFrom('cut', 'stall'),
    after_tokens: fc.integer({ min: 0, max: 1_000_000 }),
    duration_s: fc.integer({ min: 1, max: 3600 }),
  }),
);

/** The admin APIs: mostly the admin key, so cases get past authentication to the validation behind it. */
const adminAuth = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ authorization: 'Bearer {{admin}}' }) },
  { weight: 1, arbitrary: gatewayAuth },
);

const DEPLOYMENTS = ['sim-oa', 'sim-an'];
const deployment = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...DEPLOYMENTS) },
  { weight: 1, arbitrary: pathSegment },
);

export const chaosCases: fc.Arbitrary<FuzzCase> = fc
  .tuple(deployment, fc.constantFrom('chaos_1', 'chaos_999', '%00', ''))
  .chain(([dep, fault]) =>
    endpointCases(
      'chaos',
      [
        { method: 'GET', path: '/admin/chaos' },
        { method: 'GET', path: `/admin/chaos/${dep}` },
        { method: 'POST', path: `/admin/chaos/${dep}`, body: faultSpec },
        { method: 'DELETE', path: '/admin/chaos' },
        { method: 'DELETE', path: `/admin/chaos/${dep}` },
        { method: 'DELETE', path: `/admin/chaos/${dep}/${fault}` },
        { method: 'PUT', path: `/admin/chaos/${dep}`, body: faultSpec },
      ],
      adminAuth,
    ),
  );

// ---- status API ----

const isoish = fc.oneof(
  fc
    .date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true })
    .map((d) => d.toISOString()),
  fc.constantFrom('2030-01-01T00:00:00+02:00', '2030-13-01T00:00:00Z', 'tomorrow', '', '2030-01-01'),
);
const componentStatus = fc.constantFrom(
  'operational',
  'degraded_performance',
  'partial_outage',
  'major_outage',
  'under_maintenance',
);
const incidentStatus = fc.constantFrom('investigating', 'identified', 'monitoring', 'resolved');
const componentIds = fc.array(fc.oneof(fc.constant('{{component}}'), text), { maxLength: 3 });

export const statusAdminCases: fc.Arbitrary<FuzzCase> = endpointCases(
  'status-admin',
  [
    { method: 'GET', path: '/admin/status/components' },
    { method: 'GET', path: '/admin/status/subscribers' },
    { method: 'GET', path: '/admin/status/incidents' },
    { method: 'GET', path: '/admin/status/incidents/{{incident}}' },
    {
      method: 'POST',
      path: '/admin/status/incidents',
      body: fc.record(
        {
          name: nonBlank,
          body: nonBlank,
          status: incidentStatus,
          impact: fc.constantFrom('none', 'minor', 'major', 'critical'),
          component_ids: componentIds,
          deliver_notifications: fc.boolean(),
        },
        { requiredKeys: ['name', 'body'] },
      ),
    },
    {
      method: 'PATCH',
      path: '/admin/status/incidents/{{incident}}',
      body: fc.record(
        { name: nonBlank, impact: fc.constantFrom('none', 'minor', 'major', 'critical', null) },
        { requiredKeys: [] },
      ),
    },
    {
      method: 'POST',
      path: '/admin/status/incidents/{{incident}}/updates',
      body: fc.record(
        {
          status: fc.oneof(
            incidentStatus,
            fc.constantFrom('scheduled', 'in_progress', 'verifying', 'completed'),
          ),
          body: nonBlank,
          deliver_notifications: fc.boolean(),
        },
        { requiredKeys: ['status', 'body'] },
      ),
    },
    {
      method: 'POST',
      path: '/admin/status/maintenances/{{maintenance}}/updates',
      body: fc.record(
        { status: fc.constantFrom('scheduled', 'in_progress', 'verifying', 'completed'), body: nonBlank },
        { requiredKeys: ['status', 'body'] },
      ),
    },
    {
      method: 'POST',
      path: '/admin/status/incidents/{{incident}}/merge',
      body: fc.record({ into: fc.constantFrom('{{incident}}', 'inc_nope') }),
    },
    {
      method: 'POST',
      path: '/admin/status/incidents/{{incident}}/postmortem',
      body: fc.record({ body: nonBlank }),
    },
    {
      method: 'PUT',
      path: '/admin/status/incidents/{{incident}}/components/{{component}}',
      body: fc.record({ status: componentStatus, body: text }, { requiredKeys: ['status'] }),
    },
    { method: 'DELETE', path: '/admin/status/incidents/{{incident}}/components/{{component}}' },
    {
      method: 'POST',
      path: '/admin/status/maintenances',
      body: fc.record({
        name: nonBlank,
        body: nonBlank,
        scheduled_for: isoish,
        scheduled_until: isoish,
        component_ids: fc.array(fc.oneof(fc.constant('{{component}}'), text), { minLength: 1, maxLength: 3 }),
      }),
    },
    { method: 'GET', path: '/admin/status/reports' },
    {
      method: 'POST',
      path: '/admin/status/reports/{{component}}/confirm',
      body: fc.record(
        { status: fc.constantFrom('degraded_performance', 'partial_outage', 'major_outage') },
        { requiredKeys: [] },
      ),
    },
    { method: 'DELETE', path: '/admin/status/reports/{{component}}/confirm' },
  ],
  adminAuth,
);

const V2_READS = [
  'summary.json',
  'status.json',
  'components.json',
  'incidents.json',
  'incidents/unresolved.json',
  'scheduled-maintenances.json',
  'scheduled-maintenances/upcoming.json',
  'scheduled-maintenances/active.json',
];

export const statusApiCases: fc.Arbitrary<FuzzCase> = endpointCases(
  'status-api',
  [
    ...V2_READS.map((p) => ({ method: 'GET', path: `/api/v2/${p}` })),
    { method: 'OPTIONS', path: '/api/v2/reports' },
    {
      method: 'POST',
      path: '/api/v2/reports',
      body: fc.record(
        {
          component_id: fc.oneof(fc.constant('{{component}}'), text),
          category: fc.constantFrom('slow', 'error', 'wrong_answer', 'cannot_sign_in', 'other'),
          text,
        },
        { requiredKeys: ['component_id'] },
      ),
    },
    {
      method: 'POST',
      path: '/api/v2/subscribers',
      body: fc.record(
        {
          kind: fc.constantFrom('webhook', 'slack', 'discord', 'email'),
          // IP literals only: a subscriber's host is resolved, and the fuzzer must not wait on DNS.
          target: fc.constantFrom(
            'https://93.184.216.34/hook',
            'http://127.0.0.1/x',
            'ops@example.test',
            'not a url',
          ),
          secret: fc.string({ minLength: 16, maxLength: 40 }),
          components: fc.array(fc.oneof(fc.constant('{{component}}'), text), { maxLength: 3 }),
          component_updates: fc.boolean(),
        },
        { requiredKeys: ['kind', 'target'] },
      ),
    },
    { method: 'DELETE', path: '/api/v2/subscribers/sub_nope?token=x' },
  ],
  fc.constant({}),
);

// ---- chat API ----

const chatAuth: fc.Arbitrary<Record<string, string>> = fc.oneof(
  { weight: 10, arbitrary: fc.constant({ cookie: '{{cookie}}', 'x-csrf-token': '{{csrf}}' }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom<Record<string, string>>(
      {},
      { cookie: '{{cookie}}' },
      { cookie: '{{cookie}}', 'x-csrf-token': 'wrong' },
      { cookie: '{{cookie}}', 'x-csrf-token': '' },
      { cookie: 'hf_session=forged', 'x-csrf-token': '{{csrf}}' },
      { cookie: 'hf_session=', 'x-csrf-token': '{{csrf}}' },
      { cookie: '{{cookie}}; {{cookie}}x', 'x-csrf-token': '{{csrf}}' },
      { cookie: 'hf_session={{csrf}}', 'x-csrf-token': '{{csrf}}' },
      { authorization: 'Bearer {{admin}}' },
    ),
  },
  { weight: 1, arbitrary: headerValue.map((v) => ({ cookie: v, 'x-csrf-token': '{{csrf}}' })) },
);

const idemKey = fc.oneof(fc.stringMatching(/^[a-zA-Z0-9-]{8,40}$/), weirdString);

const character: fc.Arbitrary<Json> = fc.record(
  {
    name: nonBlank,
    description: text,
    personality: text,
    scenario: text,
    greeting: text,
    alternateGreetings: fc.array(text, { maxLength: 3 }),
    exampleDialogue: text,
    systemPrompt: text,
    tags: fc.array(text, { maxLength: 4 }),
    avatar: fc.constantFrom(null, 'data:image/png;base64,AAAA', 'https://example.com/a.png'),
    characterBook: fc.constantFrom<Json>(null, {
      extensions: {},
      extra: {},
      entries: [
        {
          keys: ['dragon'],
          content: 'Dragons are real.',
          extensions: {},
          enabled: true,
          insertionOrder: 0,
          extra: {},
        },
      ],
    }),
    extensions: fc.dictionary(fc.string({ maxLength: 6 }), text, { maxKeys: 2 }),
  },
  { requiredKeys: ['name'] },
);

const cardFiles: fc.Arbitrary<{ type: string; bytes: Uint8Array }> = fc
  .tuple(
    fc.record({ name: nonBlank, description: text, greeting: text }),
    fc.constantFrom('png', 'v2', 'v3'),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
    fc.option(fc.nat(), { nil: undefined }),
    fc.constantFrom('image/png', 'application/json', 'application/zip', 'application/octet-stream'),
  )
  .map(([c, format, flips, cut, type]) => {
    const ch = { ...emptyCharacter(c.name), description: c.description, greeting: c.greeting };
    const bytes =
      format === 'png'
        ? Buffer.from(exportCardPng(ch))
        : Buffer.from(exportCardJson(ch, format as 'v2' | 'v3'));
    for (const [at, v] of flips) bytes[at % bytes.length] = v;
    return { type, bytes: cut === undefined ? bytes : bytes.subarray(0, cut % (bytes.length + 1)) };
  });

const importFile: fc.Arbitrary<Json> = fc.record({
  version: fc.constant(1),
  conversations: fc.array(
    fc.record({
      title: text,
      model: fc.constantFrom('sim-openai', 'sim-anthropic', 'nope'),
      characterId: fc.constantFrom(null, '{{char}}', 'chr_nope'),
      currentLeafId: fc.constantFrom(null, 'm1', 'm2', 'zz'),
      messages: fc.constantFrom(
        [] as Json[],
        [{ id: 'm1', parentId: null, role: 'user', content: 'hi', status: 'complete', meta: {} }],
        [
          { id: 'm1', parentId: null, role: 'user', content: 'hi', status: 'complete', meta: {} },
          {
            id: 'm2',
            parentId: 'm1',
            role: 'assistant',
            content: 'hello',
            status: 'incomplete',
            meta: { model: 'x' },
          },
        ],
        [{ id: 'm1', parentId: 'm1', role: 'user', content: 'loop', status: 'complete', meta: {} }],
        [
          {
            id: 'm1',
            parentId: null,
            role: 'user',
            content: 'old',
            status: 'complete',
            meta: {},
            createdAt: '-010000-01-01T00:00:00Z',
          },
        ],
        [
          {
            id: 'm1',
            parentId: null,
            role: 'user',
            content: 'far',
            status: 'complete',
            meta: {},
            createdAt: '+275760-09-13T00:00:00Z',
          },
        ],
        [
          {
            id: 'm1',
            parentId: null,
            role: 'user',
            content: 'nul\u0000',
            status: 'complete',
            meta: { a: '\u0000' },
          },
        ],
        [
          { id: 'm1', parentId: null, role: 'user', content: 'a', status: 'complete', meta: {} },
          { id: 'm1', parentId: null, role: 'user', content: 'dup', status: 'complete', meta: {} },
        ],
      ),
    }),
    { maxLength: 3 },
  ),
});

export const chatApiCases: fc.Arbitrary<FuzzCase> = endpointCases(
  'chat-api',
  [
    {
      method: 'POST',
      path: '/api/auth/signup',
      body: fc.record({
        email: fc.emailAddress(),
        password: fc.string({ minLength: 8, maxLength: 20 }),
        name: text,
      }),
    },
    {
      method: 'POST',
      path: '/api/auth/login',
      body: fc.record({ email: fc.emailAddress(), password: text }),
    },
    { method: 'POST', path: '/api/auth/logout' },
    { method: 'GET', path: '/api/auth/me' },
    { method: 'GET', path: '/api/auth/oidc/start' },
    { method: 'GET', path: '/api/auth/oidc/callback?code=x&state=y' },
    { method: 'GET', path: '/api/characters' },
    { method: 'GET', path: '/api/characters/{{char}}' },
    { method: 'POST', path: '/api/characters', body: fc.record({ character }) },
    { method: 'PUT', path: '/api/characters/{{char}}', body: fc.record({ character }) },
    { method: 'DELETE', path: '/api/characters/{{char}}' },
    { method: 'POST', path: '/api/characters/import', files: cardFiles },
    { method: 'GET', path: '/api/characters/{{char}}/export' },
    { method: 'GET', path: '/api/personas' },
    {
      method: 'POST',
      path: '/api/personas',
      body: fc.record(
        { name: nonBlank, description: text, isDefault: fc.boolean() },
        { requiredKeys: ['name'] },
      ),
    },
    {
      method: 'PUT',
      path: '/api/personas/{{persona}}',
      body: fc.record(
        { name: nonBlank, description: text, isDefault: fc.boolean() },
        { requiredKeys: ['name'] },
      ),
    },
    { method: 'DELETE', path: '/api/personas/{{persona}}' },
    { method: 'GET', path: '/api/models' },
    { method: 'GET', path: '/api/conversations' },
    {
      method: 'POST',
      path: '/api/conversations',
      body: fc.record(
        {
          characterId: fc.constantFrom('{{char}}', 'chr_nope'),
          model: fc.constantFrom('sim-openai', 'sim-anthropic', 'nope'),
          personaId: fc.constantFrom('{{persona}}', 'per_nope'),
          greetingIndex: fc.integer({ min: 0, max: 3 }),
        },
        { requiredKeys: [] },
      ),
    },
    { method: 'GET', path: '/api/conversations/{{conv}}' },
    {
      method: 'PATCH',
      path: '/api/conversations/{{conv}}',
      body: fc.record(
        { title: nonBlank, currentLeafId: fc.constantFrom('{{msg}}', 'msg_nope') },
        { requiredKeys: [] },
      ),
    },
    { method: 'DELETE', path: '/api/conversations/{{conv}}' },
    {
      method: 'POST',
      path: '/api/conversations/{{conv}}/messages',
      body: fc.record(
        {
          content: nonBlank,
          idempotencyKey: idemKey,
          parentId: fc.constantFrom('{{msg}}', null, 'msg_nope'),
        },
        { requiredKeys: ['content', 'idempotencyKey'] },
      ),
    },
    {
      method: 'POST',
      path: '/api/messages/{{msg}}/regenerate',
      body: fc.record({ idempotencyKey: idemKey }),
    },
    { method: 'POST', path: '/api/messages/{{msg}}/stop' },
    { method: 'POST', path: '/api/messages/{{msg}}/continue' },
    { method: 'GET', path: '/api/messages/{{msg}}/stream' },
    { method: 'GET', path: '/api/conversations/{{conv}}/export' },
    { method: 'GET', path: '/api/export' },
    { method: 'POST', path: '/api/import', body: importFile },
    { method: 'GET', path: '/api/status' },
    {
      method: 'POST',
      path: '/api/reports',
      body: fc.record(
        {
          category: fc.constantFrom('slow', 'error', 'wrong_answer', 'cannot_sign_in', 'other'),
          text,
          model: text,
          conversationId: fc.constantFrom('{{conv}}', 'cnv_nope'),
        },
        { requiredKeys: ['category'] },
      ),
    },
  ],
  chatAuth,
);

// ---- odd paths and methods anywhere ----

const PREFIXES = [
  '',
  '/v1',
  '/v1/chat',
  '/v1/messages',
  '/v1/models',
  '/api',
  '/api/v2',
  '/api/conversations',
  '/admin',
  '/admin/chaos',
  '/admin/status',
  '/status',
  '/status/admin',
  '/status/incidents',
  '/status/badge',
  '/health',
  '/holdfast',
  '/app',
  '/vendor',
];

export const pathCases: fc.Arbitrary<FuzzCase> = fc
  .record({
    method: fc.constantFrom('GET', 'GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'),
    prefix: fc.constantFrom(...PREFIXES),
    segments: fc.array(pathSegment, { maxLength: 3 }),
    // (A backslash is not a URL inject() can build; the raw socket slice sends those.)
    slashes: fc.constantFrom('/', '/', '//', '/./'),
    query: querySuffix,
    auth: fc.oneof(gatewayAuth, chatAuth),
    extra: steeringHeaders,
    body: fc.option(fc.oneof(anyJson.map(toJsonText), weirdString), { nil: undefined }),
  })
  .map(({ method, prefix, segments, slashes, query, auth, extra, body }) => {
    const url = `${prefix}${segments.map((s) => `${slashes}${s}`).join('')}${query}` || '/';
    const withBody = body !== undefined && method !== 'GET' && method !== 'HEAD';
    return {
      surface: 'paths',
      req: {
        method,
        url: url.startsWith('/') ? url : `/${url}`,
        headers: { ...extra, ...auth, ...(withBody ? { 'content-type': 'application/json' } : {}) },
        ...(withBody ? { body } : {}),
      },
    };
  });
