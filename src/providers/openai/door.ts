import type { IncomingHttpHeaders } from 'node:http';
import { z } from 'zod';
import type {
  ChatRequest,
  ChatResponse,
  FinishReason,
  ImagePart,
  Message,
  ResponseFormat,
  TextPart,
  ToolCallPart,
  ToolChoice,
  ToolResultPart,
  Usage,
} from '../../core/chat.ts';
import type { Door, RateLimitState, RenderContext, StreamRenderer } from '../../core/door.ts';
import { type ErrorCode, HoldfastError } from '../../core/errors.ts';
import { randomId } from '../../core/ids.ts';
import { assertShallow } from '../../core/json-depth.ts';
import { sseFrame } from '../sse.ts';
import type {
  WireChatCompletion,
  WireChatCompletionChunk,
  WireDelta,
  WireErrorBody,
  WireFinishReason,
  WireToolCall,
  WireUsage,
} from './wire.ts';

// ---- request schema ----

/** Marks a zod issue as "valid shape, but a value Holdfast cannot honour". */
const UNSUPPORTED = { holdfast: 'unsupported_parameter' } as const;

function unsupported(message: string): { message: string; params: typeof UNSUPPORTED } {
  return { message, params: UNSUPPORTED };
}

/** A field we accept only when absent or null (features we cannot serve). */
function onlyAbsent(message: string) {
  return z
    .unknown()
    .refine((v) => v === null, unsupported(message))
    .optional();
}

const DATA_URL = /^data:([^;,]+)((?:;[^;,]*)*);base64,([A-Za-z0-9+/=\s]*)$/s;

export function parseDataUrl(url: string): { mediaType: string; data: string } | undefined {
  const m = DATA_URL.exec(url);
  if (!m) return undefined;
  return { mediaType: m[1]!.toLowerCase(), data: m[3]!.replace(/\s+/g, '') };
}

function isImageUrl(url: string): boolean {
  if (url.startsWith('data:')) return parseDataUrl(url)?.mediaType.startsWith('image/') ?? false;
  if (!URL.canParse(url)) return false;
  const protocol = new URL(url).protocol;
  return protocol === 'http:' || protocol === 'https:';
}

/** OpenAI's own rule for function and schema names. */
const NAME = /^[a-zA-Z0-9_-]{1,64}$/;

const textPart = z.object({ type: z.literal('text'), text: z.string() });
const imagePart = z.object({
  type: z.literal('image_url'),
  image_url: z.object({
    url: z.string().refine(isImageUrl, 'Expected an http(s) URL or a base64 data:image/... URL.'),
    detail: z.enum(['auto', 'low', 'high']).optional(),
  }),
});
const refusalPart = z.object({ type: z.literal('refusal'), refusal: z.string() });

const textContent = z.union([z.string(), z.array(z.discriminatedUnion('type', [textPart]))]);

const systemMessage = z.object({
  role: z.enum(['system', 'developer']),
  content: textContent,
  name: z.string().optional(),
});

const userMessage = z.object({
  role: z.literal('user'),
  content: z.union([z.string(), z.array(z.discriminatedUnion('type', [textPart, imagePart])).min(1)]),
  name: z.string().optional(),
});

const toolCall = z.object({
  id: z.string().min(1),
  type: z.literal('function'),
  function: z.object({ name: z.string().min(1), arguments: z.string() }),
});

const assistantMessage = z.object({
  role: z.literal('assistant'),
  content: z.union([z.string(), z.array(z.discriminatedUnion('type', [textPart, refusalPart]))]).nullish(),
  refusal: z.string().nullish(),
  tool_calls: z.array(toolCall).nullish(),
  function_call: onlyAbsent('The legacy `function_call` message field is not supported; use `tool_calls`.'),
  audio: onlyAbsent('Audio messages are not supported.'),
  name: z.string().optional(),
});

const toolMessage = z.object({
  role: z.literal('tool'),
  tool_call_id: z.string().min(1),
  content: textContent,
});

const message = z.discriminatedUnion('role', [systemMessage, userMessage, assistantMessage, toolMessage]);

const tool = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('function'),
    function: z.object({
      name: z.string().regex(NAME, 'Expected 1-64 letters, digits, _ or -.'),
      description: z.string().optional(),
      parameters: z.record(z.string(), z.unknown()).optional(),
      strict: z.boolean().nullish(),
    }),
  }),
]);

const toolChoice = z.union([
  z.enum(['auto', 'none', 'required']),
  z.discriminatedUnion('type', [
    z.object({ type: z.literal('function'), function: z.object({ name: z.string() }) }),
  ]),
]);

const responseFormat = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text') }),
  z.object({ type: z.literal('json_object') }),
  z.object({
    type: z.literal('json_schema'),
    json_schema: z.object({
      name: z.string().regex(NAME, 'Expected 1-64 letters, digits, _ or -.'),
      description: z.string().optional(),
      schema: z.record(z.string(), z.unknown()).optional(),
      strict: z.boolean().nullish(),
    }),
  }),
]);

const positiveInt = z.number().int().positive().nullish();

/**
 * Keys are checked in this order, so `model` and `messages` problems are reported first. Unknown keys are
 * stripped: clients send vendor extras and OpenAI ignores what it does not know.
 */
const chatRequest = z.object({
  model: z.string().min(1),
  messages: z.array(message).min(1),
  tools: z.array(tool).nullish(),
  tool_choice: toolChoice.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  response_format: responseFormat.nullish(),
  stop: z.union([z.string(), z.array(z.string()).max(4)]).nullish(),
  max_tokens: positiveInt,
  max_completion_tokens: positiveInt,
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  seed: z.number().int().nullish(),
  // Validated so callers get a clear error, but the internal model has no penalties to carry them.
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  user: z.string().nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  n: positiveInt.refine(
    (v) => v == null || v === 1,
    unsupported('Only n=1 is supported; send separate requests.'),
  ),
  logprobs: z
    .boolean()
    .nullish()
    .refine((v) => v !== true, unsupported('logprobs are not supported.')),
  top_logprobs: z
    .number()
    .int()
    .min(0)
    .nullish()
    .refine((v) => !v, unsupported('top_logprobs are not supported.')),
  modalities: z
    .array(z.string())
    .nullish()
    .refine((v) => !v?.some((m) => m !== 'text'), unsupported('Only text output is supported.')),
  audio: onlyAbsent('Audio output is not supported.'),
  functions: onlyAbsent('The legacy `functions` parameter is not supported; use `tools`.'),
  function_call: onlyAbsent('The legacy `function_call` parameter is not supported; use `tool_choice`.'),
  continue_final_message: z.boolean().nullish(),
});

type ParsedRequest = z.infer<typeof chatRequest>;

// ---- zod issue → registry error ----

type Path = ReadonlyArray<PropertyKey>;

function dotted(path: Path): string {
  return path.map(String).join('.');
}

function valueAt(root: unknown, path: Path): unknown {
  let v = root;
  for (const key of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

/**
 * Picks the union branch the caller most likely meant: one that got past the outer shape (an issue with a
 * deeper path) beats one that failed on a value check, which beats a bare type mismatch.
 */
function bestBranch(branches: z.core.$ZodIssue[][]): z.core.$ZodIssue | undefined {
  let best: z.core.$ZodIssue | undefined;
  let bestScore = -1;
  for (const issues of branches) {
    const first = issues[0];
    if (!first) continue;
    const score = issues.some((i) => i.path.length > 0)
      ? 2
      : issues.some((i) => i.code !== 'invalid_type')
        ? 1
        : 0;
    if (score > bestScore) {
      best = issues.find((i) => i.path.length > 0) ?? first;
      bestScore = score;
    }
  }
  return best;
}

function expectedTypes(branches: z.core.$ZodIssue[][]): string {
  const types = branches.flatMap((issues) =>
    issues.flatMap((i) => (i.code === 'invalid_type' ? [i.expected] : [])),
  );
  return types.length > 0 ? [...new Set(types)].join(' or ') : 'a different type';
}

function issueToError(issue: z.core.$ZodIssue, base: Path, body: unknown): HoldfastError {
  const path = [...base, ...issue.path];
  const param = dotted(path);
  const value = valueAt(body, path);
  if (issue.code === 'invalid_union') {
    if (issue.discriminator !== undefined) {
      if (value === undefined)
        return new HoldfastError('missing_field', {
          param,
          message: `Missing required parameter: '${param}'.`,
        });
      if (typeof value !== 'string')
        return new HoldfastError('invalid_request', {
          param,
          message: `Invalid type for '${param}': expected a string.`,
        });
      return new HoldfastError('unsupported_parameter', {
        param,
        message: `Unsupported value for '${param}': '${value.slice(0, 64)}'. Supported: ${('options' in issue ? (issue.options ?? []) : []).map(String).join(', ')}.`,
      });
    }
    const inner = bestBranch(issue.errors);
    if (inner && (inner.path.length > 0 || inner.code !== 'invalid_type'))
      return issueToError(inner, path, body);
  }
  if (issue.code === 'custom' && issue.params?.holdfast === UNSUPPORTED.holdfast) {
    return new HoldfastError('unsupported_parameter', {
      param,
      message: `Unsupported value for '${param}': ${issue.message}`,
    });
  }
  if ((issue.code === 'invalid_type' || issue.code === 'invalid_union') && value === undefined) {
    return new HoldfastError('missing_field', { param, message: `Missing required parameter: '${param}'.` });
  }
  const detail = issue.code === 'invalid_union' ? `expected ${expectedTypes(issue.errors)}.` : issue.message;
  return new HoldfastError('invalid_request', { param, message: `Invalid value for '${param}': ${detail}` });
}

function invalid(code: ErrorCode, param: string, message: string): HoldfastError {
  return new HoldfastError(code, { param, message });
}

// ---- wire → internal ----

function textParts(content: string | Array<{ type: 'text'; text: string }>): TextPart[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  return content.map((p) => ({ type: 'text', text: p.text }));
}

function imagePartOf(url: string): ImagePart {
  const data = parseDataUrl(url);
  return { type: 'image', source: data ? { kind: 'base64', ...data } : { kind: 'url', url } };
}

function toMessages(wire: ParsedRequest['messages']): Message[] {
  const out: Message[] = [];
  let openToolTurn: { role: 'user'; content: Array<TextPart | ImagePart | ToolResultPart> } | undefined;
  for (const m of wire) {
    if (m.role === 'tool') {
      const part: ToolResultPart = {
        type: 'tool_result',
        toolCallId: m.tool_call_id,
        content: textParts(m.content),
      };
      // Consecutive tool answers belong to one turn (the reply to one assistant message's tool calls).
      if (openToolTurn) openToolTurn.content.push(part);
      else {
        openToolTurn = { role: 'user', content: [part] };
        out.push(openToolTurn);
      }
      continue;
    }
    openToolTurn = undefined;
    switch (m.role) {
      case 'system':
      case 'developer':
        out.push({ role: 'system', content: textParts(m.content) });
        break;
      case 'user':
        out.push({
          role: 'user',
          content:
            typeof m.content === 'string'
              ? [{ type: 'text', text: m.content }]
              : m.content.map((p) =>
                  p.type === 'text' ? { type: 'text', text: p.text } : imagePartOf(p.image_url.url),
                ),
        });
        break;
      case 'assistant': {
        const content: Array<TextPart | ToolCallPart> = [];
        if (typeof m.content === 'string') content.push({ type: 'text', text: m.content });
        else if (m.content) {
          for (const p of m.content)
            content.push({ type: 'text', text: p.type === 'text' ? p.text : p.refusal });
        } else if (m.refusal) content.push({ type: 'text', text: m.refusal });
        for (const tc of m.tool_calls ?? []) {
          content.push({
            type: 'tool_call',
            id: tc.id,
            name: tc.function.name,
            arguments: tc.function.arguments,
          });
        }
        out.push({ role: 'assistant', content });
        break;
      }
    }
  }
  return out;
}

function toToolChoice(tc: NonNullable<ParsedRequest['tool_choice']>): ToolChoice {
  return typeof tc === 'string' ? { type: tc } : { type: 'tool', name: tc.function.name };
}

function toResponseFormat(rf: NonNullable<ParsedRequest['response_format']>): ResponseFormat {
  if (rf.type !== 'json_schema') return { type: rf.type };
  const js = rf.json_schema;
  return {
    type: 'json_schema',
    name: js.name,
    schema: js.schema ?? {},
    ...(js.strict != null ? { strict: js.strict } : {}),
  };
}

function parseRequest(body: unknown, _headers: IncomingHttpHeaders): ChatRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HoldfastError('invalid_request', { message: 'The request body must be a JSON object.' });
  }
  assertShallow(body);
  const parsed = chatRequest.safeParse(body);
  if (!parsed.success) throw issueToError(parsed.error.issues[0]!, [], body);
  const r = parsed.data;

  const tools = r.tools ?? [];
  if (r.tool_choice != null && r.tool_choice !== 'auto' && r.tool_choice !== 'none' && tools.length === 0) {
    throw invalid(
      'invalid_request',
      'tool_choice',
      `tool_choice '${typeof r.tool_choice === 'string' ? r.tool_choice : 'function'}' requires 'tools'.`,
    );
  }
  if (typeof r.tool_choice === 'object' && r.tool_choice !== null) {
    const name = r.tool_choice.function.name;
    if (!tools.some((t) => t.function.name === name)) {
      throw invalid(
        'invalid_request',
        'tool_choice.function.name',
        `tool_choice names '${name}', which is not in 'tools'.`,
      );
    }
  }
  r.messages.forEach((m, i) => {
    if (m.role === 'assistant' && m.content == null && !m.refusal && !m.tool_calls?.length) {
      throw invalid(
        'missing_field',
        `messages.${i}.content`,
        `An assistant message needs 'content' or 'tool_calls'.`,
      );
    }
  });
  const continueFinal = r.continue_final_message === true;
  if (continueFinal && r.messages.at(-1)?.role !== 'assistant') {
    throw invalid(
      'invalid_request',
      'continue_final_message',
      'continue_final_message requires the last message to be from the assistant.',
    );
  }

  const maxTokens = r.max_completion_tokens ?? r.max_tokens;
  const stop = r.stop == null ? undefined : typeof r.stop === 'string' ? [r.stop] : r.stop;
  const req: ChatRequest = {
    model: r.model,
    messages: toMessages(r.messages),
    stream: r.stream === true,
  };
  if (tools.length > 0) {
    req.tools = tools.map((t) => ({
      name: t.function.name,
      ...(t.function.description !== undefined ? { description: t.function.description } : {}),
      parameters: t.function.parameters ?? { type: 'object', properties: {} },
    }));
  }
  if (r.tool_choice != null) req.toolChoice = toToolChoice(r.tool_choice);
  if (r.parallel_tool_calls != null) req.parallelToolCalls = r.parallel_tool_calls;
  if (r.response_format != null) req.responseFormat = toResponseFormat(r.response_format);
  if (stop && stop.length > 0) req.stop = stop;
  if (maxTokens != null) req.maxTokens = maxTokens;
  if (r.temperature != null) req.temperature = r.temperature;
  if (r.top_p != null) req.topP = r.top_p;
  if (r.seed != null) req.seed = r.seed;
  if (r.user != null) req.user = r.user;
  if (req.stream) req.includeUsage = r.stream_options?.include_usage === true;
  if (continueFinal) req.continueFinalMessage = true;
  return req;
}

// ---- internal → wire ----

export const FINISH_TO_OPENAI: Record<FinishReason, WireFinishReason> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  max_tokens: 'length',
  tool_use: 'tool_calls',
  content_filter: 'content_filter',
};

function wireUsage(u: Partial<Usage>): WireUsage {
  const prompt = u.inputTokens ?? 0;
  const completion = u.outputTokens ?? 0;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

function renderResponse(res: ChatResponse, ctx: RenderContext): WireChatCompletion {
  let text = '';
  const toolCalls: WireToolCall[] = [];
  for (const p of res.content) {
    if (p.type === 'text') text += p.text;
    else toolCalls.push({ id: p.id, type: 'function', function: { name: p.name, arguments: p.arguments } });
  }
  return {
    id: ctx.id,
    object: 'chat.completion',
    created: ctx.created,
    model: ctx.model,
    system_fingerprint: null,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: text === '' && toolCalls.length > 0 ? null : text,
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
          refusal: null,
        },
        logprobs: null,
        finish_reason: FINISH_TO_OPENAI[res.finishReason],
        // vLLM's extension names the stop sequence; OpenAI clients ignore it, Holdfast's adapter reads it.
        ...(res.stopSequence !== undefined ? { stop_reason: res.stopSequence } : {}),
      },
    ],
    usage: wireUsage(res.usage),
  };
}

function renderError(err: HoldfastError): WireErrorBody {
  return { error: { message: err.message, type: err.spec.openai, param: err.param ?? null, code: err.code } };
}

function streamRenderer(ctx: RenderContext): StreamRenderer {
  let opened = false;
  // Upstreams number tool calls their own way (Anthropic counts content blocks); OpenAI clients expect 0..n.
  const toolIndex = new Map<number, number>();
  const usage: Partial<Usage> = ctx.inputTokens !== undefined ? { inputTokens: ctx.inputTokens } : {};

  const frame = (choices: WireChatCompletionChunk['choices'], extra?: { usage: WireUsage }): string => {
    const chunk: WireChatCompletionChunk = {
      id: ctx.id,
      object: 'chat.completion.chunk',
      created: ctx.created,
      model: ctx.model,
      system_fingerprint: null,
      choices,
      ...(ctx.includeUsage ? { usage: extra?.usage ?? null } : {}),
    };
    return sseFrame(JSON.stringify(chunk));
  };
  // Text deltas are nearly every frame of a stream: build them from a pre-serialised envelope (the same
  // bytes `frame` would produce) instead of stringifying the whole chunk each time.
  const head = `data: {"id":${JSON.stringify(ctx.id)},"object":"chat.completion.chunk","created":${ctx.created},"model":${JSON.stringify(ctx.model)},"system_fingerprint":null,"choices":[{"index":0,"delta":{"content":`;
  const tail = `},"logprobs":null,"finish_reason":null}]${ctx.includeUsage ? ',"usage":null' : ''}}\n\n`;
  const textFrame = (text: string): string => head + JSON.stringify(text) + tail;
  const delta = (d: WireDelta, finish: WireFinishReason | null = null): string =>
    frame([{ index: 0, delta: d, logprobs: null, finish_reason: finish }]);
  // The role chunk goes out with the first event, so a retry or failover before any output shows nothing.
  const open = (): string => {
    if (opened) return '';
    opened = true;
    return delta({ role: 'assistant', content: '' });
  };

  return {
    begin: () => '',
    event(ev) {
      switch (ev.type) {
        case 'start':
          return open();
        case 'text':
          return ev.text === '' ? open() : open() + textFrame(ev.text);
        case 'tool_call_start': {
          const index = toolIndex.size;
          toolIndex.set(ev.index, index);
          return (
            open() +
            delta({
              tool_calls: [
                { index, id: ev.id, type: 'function', function: { name: ev.name, arguments: '' } },
              ],
            })
          );
        }
        case 'tool_call_delta': {
          const index = toolIndex.get(ev.index);
          if (index === undefined || ev.argumentsDelta === '') return open();
          return open() + delta({ tool_calls: [{ index, function: { arguments: ev.argumentsDelta } }] });
        }
        case 'usage':
          if (ev.usage.inputTokens !== undefined) usage.inputTokens = ev.usage.inputTokens;
          if (ev.usage.outputTokens !== undefined) usage.outputTokens = ev.usage.outputTokens;
          return open();
        case 'finish':
          return (
            open() +
            frame([
              {
                index: 0,
                delta: {},
                logprobs: null,
                finish_reason: FINISH_TO_OPENAI[ev.reason],
                ...(ev.stopSequence !== undefined ? { stop_reason: ev.stopSequence } : {}),
              },
            ])
          );
      }
    },
    end() {
      const usageChunk = ctx.includeUsage ? frame([], { usage: wireUsage(usage) }) : '';
      return `${open()}${usageChunk}data: [DONE]\n\n`;
    },
    error: (err) => sseFrame(JSON.stringify(renderError(err))),
    keepAlive: () => ': keep-alive\n\n',
  };
}

/** Same look as OpenAI's ids (29 base62 characters), from a CSPRNG. */
function newId(): string {
  return randomId('chatcmpl-', 29);
}

/** OpenAI writes reset times as Go-style durations: `12ms`, `1.5s`, `6m0s`. */
export function formatResetDuration(ms: number): string {
  if (ms < 1_000) return `${Math.max(0, Math.ceil(ms))}ms`;
  const totalSec = ms / 1_000;
  if (totalSec < 60) return `${Number(totalSec.toFixed(3))}s`;
  const m = Math.floor(totalSec / 60);
  const sec = Math.round(totalSec - m * 60);
  return `${m}m${sec}s`;
}

function rateLimitHeaders(state: RateLimitState): Record<string, string> {
  const h: Record<string, string> = {};
  for (const [kind, v] of [
    ['requests', state.requests],
    ['tokens', state.tokens],
  ] as const) {
    if (!v) continue;
    h[`x-ratelimit-limit-${kind}`] = String(v.limit);
    h[`x-ratelimit-remaining-${kind}`] = String(Math.max(0, Math.floor(v.remaining)));
    h[`x-ratelimit-reset-${kind}`] = formatResetDuration(v.resetMs);
  }
  return h;
}

export const openaiDoor: Door = {
  rateLimitHeaders,
  dialect: 'openai',
  parseRequest,
  renderResponse,
  streamRenderer,
  renderError,
  newId,
};
