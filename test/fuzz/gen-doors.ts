import fc from 'fast-check';
import {
  anyJson,
  contentType,
  gatewayAuth,
  type Json,
  malformedJson,
  mutate,
  mutation,
  nonBlank,
  steeringHeaders,
  text,
  toJsonText,
  weirdString,
} from './gen-common.ts';
import type { FuzzRequest } from './harness.ts';

/**
 * Requests for the two front doors. `valid*` bodies are ones the real OpenAI / Anthropic API would take
 * (so the gateway must answer them with a success, whichever dialect serves them upstream); the rest are
 * near misses, malformed bytes and odd headers, which must get a well-formed error in the caller's dialect.
 */

export interface FuzzCase {
  surface: string;
  req: FuzzRequest;
  /** A well-formed request: anything but a success is a failure. */
  expectSuccess?: boolean;
}

const MODELS = ['sim-openai', 'sim-anthropic'] as const;
const model = fc.constantFrom(...MODELS);
const toolName = fc.stringMatching(/^[a-zA-Z0-9_-]{1,24}$/);
const callId = fc.stringMatching(/^call_[a-zA-Z0-9]{4,12}$/);

const jsonSchema = fc.record(
  {
    type: fc.constant('object'),
    properties: fc.dictionary(
      fc.stringMatching(/^[a-z_]{1,10}$/),
      fc.record({ type: fc.constantFrom('string', 'number', 'boolean', 'integer') }),
      { maxKeys: 3 },
    ),
    required: fc.constant([] as string[]),
  },
  { requiredKeys: ['type'] },
);

const smallArgs = fc.dictionary(
  fc.stringMatching(/^[a-z_]{1,8}$/),
  fc.oneof(fc.string(), fc.integer(), fc.boolean()),
  {
    maxKeys: 3,
  },
);

const PNG_1PX =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=';

// ---- OpenAI ----

const oaTextParts = fc.array(fc.record({ type: fc.constant('text'), text }), { minLength: 1, maxLength: 3 });
const oaImagePart = fc.record(
  {
    type: fc.constant('image_url'),
    image_url: fc.record(
      {
        url: fc.constantFrom(
          'https://example.com/cat.png',
          `data:image/png;base64,${PNG_1PX}`,
          'http://127.0.0.1/x.jpg',
        ),
        detail: fc.constantFrom('auto', 'low', 'high'),
      },
      { requiredKeys: ['url'] },
    ),
  },
  { requiredKeys: ['type', 'image_url'] },
);
const oaUserContent = fc.oneof(
  nonBlank,
  fc.array(
    fc.oneof({ weight: 3, arbitrary: fc.record({ type: fc.constant('text'), text: nonBlank }) }, oaImagePart),
    {
      minLength: 1,
      maxLength: 3,
    },
  ),
);

type OaBlock =
  | { kind: 'user'; content: Json }
  | { kind: 'assistant'; content: Json }
  | { kind: 'tools'; calls: Array<{ id: string; name: string; args: string }>; results: Json[] };

function oaMessages(blocks: OaBlock[], toolNames: string[]): Json[] {
  const out: Json[] = [];
  for (const b of blocks) {
    if (b.kind === 'user') out.push({ role: 'user', content: b.content });
    else if (b.kind === 'assistant') out.push({ role: 'assistant', content: b.content });
    else {
      const calls = b.calls.map((c, i) => ({
        id: `${c.id}_${out.length}_${i}`,
        type: 'function',
        function: { name: toolNames[i % Math.max(1, toolNames.length)] ?? c.name, arguments: c.args },
      }));
      out.push({ role: 'assistant', content: null, tool_calls: calls });
      calls.forEach((c, i) => {
        out.push({ role: 'tool', tool_call_id: c.id, content: b.results[i % b.results.length] ?? 'ok' });
      });
    }
  }
  return out;
}

const oaBlock: fc.Arbitrary<OaBlock> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('user' as const), content: oaUserContent }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('assistant' as const),
      content: fc.oneof(nonBlank, oaTextParts),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('tools' as const),
      calls: fc.array(
        fc.record({
          id: callId,
          name: toolName,
          args: fc.oneof(
            smallArgs.map((a) => JSON.stringify(a)),
            fc.constantFrom('{}', '{"a":', 'not json'),
          ),
        }),
        { minLength: 1, maxLength: 2 },
      ),
      results: fc.array(fc.oneof(nonBlank, oaTextParts), { minLength: 1, maxLength: 2 }),
    }),
  },
);

export const validOpenAIBody: fc.Arbitrary<Record<string, Json>> = fc
  .record(
    {
      model,
      system: fc.option(
        fc.record({ role: fc.constantFrom('system', 'developer'), content: fc.oneof(nonBlank, oaTextParts) }),
        { nil: undefined },
      ),
      blocks: fc.array(oaBlock, { minLength: 0, maxLength: 4 }),
      last: oaUserContent,
      tools: fc.uniqueArray(
        fc.record(
          {
            type: fc.constant('function'),
            function: fc.record(
              { name: toolName, description: text, parameters: jsonSchema, strict: fc.boolean() },
              { requiredKeys: ['name'] },
            ),
          },
          { requiredKeys: ['type', 'function'] },
        ),
        { maxLength: 3, selector: (t) => t.function.name },
      ),
      toolChoice: fc.constantFrom('auto', 'none', 'required', 'named', undefined),
      stop: fc.oneof(nonBlank, fc.array(nonBlank, { minLength: 1, maxLength: 4 })),
      max_tokens: fc.integer({ min: 1, max: 4_096 }),
      max_completion_tokens: fc.integer({ min: 1, max: 4_096 }),
      temperature: fc.double({ min: 0, max: 2, noNaN: true }),
      top_p: fc.double({ min: 0, max: 1, noNaN: true }),
      seed: fc.integer(),
      presence_penalty: fc.double({ min: -2, max: 2, noNaN: true }),
      frequency_penalty: fc.double({ min: -2, max: 2, noNaN: true }),
      user: text,
      stream: fc.boolean(),
      include_usage: fc.boolean(),
      n: fc.constant(1),
      logprobs: fc.constant(false),
      parallel_tool_calls: fc.boolean(),
      response_format: fc.oneof(
        fc.constant({ type: 'text' }),
        fc.constant({ type: 'json_object' }),
        fc.record({
          type: fc.constant('json_schema'),
          json_schema: fc.record({ name: toolName, schema: jsonSchema, strict: fc.boolean() }),
        }),
      ),
    },
    { requiredKeys: ['model', 'blocks', 'last', 'tools', 'toolChoice'] },
  )
  .map((g) => {
    const tools = g.tools as Array<{ function: { name: string } }>;
    const names = tools.map((t) => t.function.name);
    const messages: Json[] = [];
    if (g.system) messages.push(g.system as Json);
    messages.push(...oaMessages(g.blocks, names), { role: 'user', content: g.last as Json });
    const body: Record<string, Json> = { model: g.model, messages };
    if (tools.length > 0) {
      body.tools = g.tools as Json;
      if (g.toolChoice === 'named') body.tool_choice = { type: 'function', function: { name: names[0]! } };
      else if (g.toolChoice !== undefined) body.tool_choice = g.toolChoice;
    } else if (g.toolChoice === 'auto' || g.toolChoice === 'none') body.tool_choice = g.toolChoice;
    for (const k of [
      'stop',
      'max_tokens',
      'max_completion_tokens',
      'temperature',
      'top_p',
      'seed',
      'presence_penalty',
      'frequency_penalty',
      'user',
      'stream',
      'n',
      'logprobs',
      'parallel_tool_calls',
      'response_format',
    ] as const) {
      if (g[k] !== undefined) body[k] = g[k] as Json;
    }
    if (g.stream && g.include_usage !== undefined) body.stream_options = { include_usage: g.include_usage };
    return body;
  });

// ---- Anthropic ----

const anTextBlock = fc.record({ type: fc.constant('text'), text: nonBlank });
const anImageBlock = fc.oneof(
  fc.constant({ type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG_1PX } }),
  fc.constant({ type: 'image', source: { type: 'url', url: 'https://example.com/cat.png' } }),
);

type AnBlock =
  | { kind: 'user'; content: Json }
  | { kind: 'assistant'; content: Json }
  | { kind: 'tools'; calls: Array<{ id: string; name: string; input: Json }>; results: Json[] };

const anBlock: fc.Arbitrary<AnBlock> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('user' as const),
      content: fc.oneof(
        nonBlank,
        fc.array(fc.oneof({ weight: 3, arbitrary: anTextBlock }, anImageBlock), {
          minLength: 1,
          maxLength: 3,
        }),
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('assistant' as const),
      content: fc.oneof(
        nonBlank,
        fc
          .array(
            fc.oneof(
              { weight: 3, arbitrary: anTextBlock },
              {
                weight: 1,
                arbitrary: fc.record({
                  type: fc.constant('thinking'),
                  thinking: text,
                  signature: fc.constant('sig'),
                }),
              },
            ),
            { minLength: 1, maxLength: 3 },
          )
          .filter((bs) => bs.some((b) => b.type === 'text')),
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('tools' as const),
      calls: fc.array(fc.record({ id: callId, name: toolName, input: smallArgs as fc.Arbitrary<Json> }), {
        minLength: 1,
        maxLength: 2,
      }),
      results: fc.array(
        fc.oneof(
          nonBlank,
          fc.array(fc.oneof(anTextBlock, anImageBlock), { minLength: 1, maxLength: 2 }),
          fc.constant(null),
        ),
        { minLength: 1, maxLength: 2 },
      ),
    }),
  },
);

function anMessages(blocks: AnBlock[], toolNames: string[]): Json[] {
  const out: Json[] = [];
  for (const b of blocks) {
    if (b.kind === 'user' || b.kind === 'assistant') {
      out.push({ role: b.kind, content: b.content });
      continue;
    }
    const uses = b.calls.map((c, i) => ({
      type: 'tool_use',
      id: `toolu_${c.id}_${out.length}_${i}`,
      name: toolNames[i % Math.max(1, toolNames.length)] ?? c.name,
      input: c.input,
    }));
    out.push({ role: 'assistant', content: uses });
    out.push({
      role: 'user',
      content: uses.map((u, i) => {
        const r = b.results[i % b.results.length];
        return {
          type: 'tool_result',
          tool_use_id: u.id,
          ...(r === null || r === undefined ? {} : { content: r }),
        };
      }),
    });
  }
  return out;
}

export const validAnthropicBody: fc.Arbitrary<Record<string, Json>> = fc
  .record(
    {
      model,
      max_tokens: fc.integer({ min: 1, max: 8_192 }),
      system: fc.oneof(nonBlank, fc.array(anTextBlock, { minLength: 1, maxLength: 2 })),
      blocks: fc.array(anBlock, { maxLength: 4 }),
      last: fc.oneof(
        nonBlank,
        fc.array(fc.oneof({ weight: 3, arbitrary: anTextBlock }, anImageBlock), {
          minLength: 1,
          maxLength: 3,
        }),
      ),
      prefill: fc.option(nonBlank, { nil: undefined }),
      tools: fc.uniqueArray(
        fc.record(
          { name: toolName, description: text, input_schema: jsonSchema, type: fc.constant('custom') },
          { requiredKeys: ['name', 'input_schema'] },
        ),
        { maxLength: 3, selector: (t) => t.name },
      ),
      toolChoice: fc.constantFrom('auto', 'any', 'tool', 'none', undefined),
      disableParallel: fc.boolean(),
      stop_sequences: fc.array(nonBlank, { maxLength: 4 }),
      temperature: fc.double({ min: 0, max: 1, noNaN: true }),
      top_p: fc.double({ min: 0, max: 1, noNaN: true }),
      top_k: fc.integer({ min: 0, max: 500 }),
      metadata: fc.record({ user_id: fc.oneof(text, fc.constant(null)) }),
      stream: fc.boolean(),
      thinking: fc.constant({ type: 'disabled' }),
      output_config: fc.record(
        {
          format: fc.record({ type: fc.constant('json_schema'), schema: jsonSchema }),
          effort: fc.constantFrom('low', 'medium', 'high'),
        },
        { requiredKeys: [] },
      ),
      service_tier: fc.constantFrom('auto', 'standard_only'),
      speed: fc.constantFrom('standard', 'fast'),
    },
    { requiredKeys: ['model', 'max_tokens', 'blocks', 'last', 'tools', 'toolChoice'] },
  )
  .map((g) => {
    const names = g.tools.map((t) => t.name);
    const messages: Json[] = [...anMessages(g.blocks, names), { role: 'user', content: g.last as Json }];
    if (g.prefill !== undefined) messages.push({ role: 'assistant', content: g.prefill });
    const body: Record<string, Json> = { model: g.model, max_tokens: g.max_tokens, messages };
    if (g.tools.length > 0) {
      body.tools = g.tools as Json;
      const np: Record<string, Json> =
        g.disableParallel !== undefined && g.toolChoice !== 'none'
          ? { disable_parallel_tool_use: g.disableParallel }
          : {};
      if (g.toolChoice === 'tool') body.tool_choice = { type: 'tool', name: names[0]!, ...np };
      else if (g.toolChoice !== undefined) body.tool_choice = { type: g.toolChoice, ...np };
    } else if (g.toolChoice === 'auto' || g.toolChoice === 'none') body.tool_choice = { type: g.toolChoice };
    for (const k of [
      'system',
      'stop_sequences',
      'temperature',
      'top_p',
      'top_k',
      'metadata',
      'stream',
      'thinking',
      'output_config',
      'service_tier',
      'speed',
    ] as const) {
      if (g[k] !== undefined) body[k] = g[k] as Json;
    }
    return body;
  });

// ---- requests ----

/** A body over the default 10 MiB limit, built once. */
const HUGE = `{"model":"sim-openai","messages":[{"role":"user","content":"${'a'.repeat(10 * 1024 * 1024 + 16)}"}]}`;

interface DoorSpec {
  surface: string;
  path: string;
  valid: fc.Arbitrary<Record<string, Json>>;
  fixedHeaders: Record<string, string>;
}

function doorCases(spec: DoorSpec): fc.Arbitrary<FuzzCase> {
  const validAuth = fc.constantFrom<Record<string, string>>(
    { authorization: 'Bearer {{admin}}' },
    { authorization: 'Bearer {{key}}' },
    { 'x-api-key': '{{key}}' },
  );
  const post = (
    body: string | undefined,
    headers: Record<string, string>,
    expectSuccess = false,
  ): FuzzCase => ({
    surface: spec.surface,
    req: { method: 'POST', url: spec.path, headers, ...(body !== undefined ? { body } : {}) },
    ...(expectSuccess ? { expectSuccess } : {}),
  });
  const validText = spec.valid.map((b) => toJsonText(b));
  const oddHeaders = fc
    .tuple(gatewayAuth, steeringHeaders, fc.option(contentType, { nil: undefined }))
    .map(([a, s, ct]) => ({ ...s, ...a, ...(ct !== undefined ? { 'content-type': ct } : {}) }));
  return fc.oneof(
    // Well-formed: must succeed.
    {
      weight: 4,
      arbitrary: fc
        .tuple(spec.valid, validAuth)
        .map(([b, a]) =>
          post(toJsonText(b), { 'content-type': 'application/json', ...spec.fixedHeaders, ...a }, true),
        ),
    },
    // Near misses: one to three structural mutations of a valid body.
    {
      weight: 6,
      arbitrary: fc
        .tuple(spec.valid, fc.array(mutation, { minLength: 1, maxLength: 3 }), validAuth)
        .map(([b, ms, a]) => {
          const m = mutate(b, ms);
          return post(m === undefined ? undefined : toJsonText(m), {
            'content-type': 'application/json',
            ...spec.fixedHeaders,
            ...a,
          });
        }),
    },
    // Valid bodies with odd headers (auth forms, content types, versions, ids, deadlines).
    { weight: 3, arbitrary: fc.tuple(validText, oddHeaders).map(([b, h]) => post(b, h)) },
    // Malformed JSON bytes.
    {
      weight: 2,
      arbitrary: fc
        .tuple(malformedJson(validText), validAuth)
        .map(([b, a]) => post(b, { 'content-type': 'application/json', ...spec.fixedHeaders, ...a })),
    },
    // Any JSON at all.
    {
      weight: 1,
      arbitrary: fc
        .tuple(anyJson, validAuth)
        .map(([b, a]) =>
          post(toJsonText(b), { 'content-type': 'application/json', ...spec.fixedHeaders, ...a }),
        ),
    },
    // Other methods on the same path.
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
          validAuth,
          fc.option(weirdString, { nil: undefined }),
        )
        .map(([method, a, body]) => ({
          surface: spec.surface,
          req: {
            method,
            url: spec.path,
            headers: { ...spec.fixedHeaders, ...a },
            ...(body !== undefined && method !== 'GET' && method !== 'HEAD' ? { body } : {}),
          },
        })),
    },
    // Over the body limit.
    {
      weight: 1,
      arbitrary: fc.constant(null).map(() =>
        post(HUGE, {
          'content-type': 'application/json',
          ...spec.fixedHeaders,
          authorization: 'Bearer {{admin}}',
        }),
      ),
    },
  );
}

export const openaiCases = doorCases({
  surface: 'openai',
  path: '/v1/chat/completions',
  valid: validOpenAIBody,
  fixedHeaders: {},
});

export const anthropicCases = doorCases({
  surface: 'anthropic',
  path: '/v1/messages',
  valid: validAnthropicBody,
  fixedHeaders: { 'anthropic-version': '2023-06-01' },
});
