import type { IncomingHttpHeaders } from 'node:http';
import { z } from 'zod';
import type {
  ChatRequest,
  ChatResponse,
  FinishReason,
  ImagePart,
  Message,
  ResponseFormat,
  StreamEvent,
  TextPart,
  ToolCallPart,
  ToolChoice,
  ToolDefinition,
  ToolResultPart,
} from '../../core/chat.ts';
import type { Door, RateLimitState, RenderContext, StreamRenderer } from '../../core/door.ts';
import { ERRORS, type ErrorCode, HoldfastError } from '../../core/errors.ts';
import { randomId } from '../../core/ids.ts';
import { assertShallow } from '../../core/json-depth.ts';
import { sseFrame } from '../sse.ts';
import type {
  WireContentBlockDeltaEvent,
  WireContentBlockStartEvent,
  WireContentBlockStopEvent,
  WireErrorBody,
  WireMessageDeltaEvent,
  WireMessageResponse,
  WireMessageStartEvent,
  WireStopReason,
  WireTextBlock,
  WireToolUseBlock,
} from './wire.ts';

// ---- request schema ----

const textBlock = z.object({ type: z.literal('text'), text: z.string() });

const imageSource = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('base64'),
    media_type: z.enum(['image/jpeg', 'image/png', 'image/gif', 'image/webp']),
    data: z.string().min(1),
  }),
  z.object({ type: z.literal('url'), url: z.string().min(1) }),
]);

const imageBlock = z.object({ type: z.literal('image'), source: imageSource });

const toolUseBlock = z.object({
  type: z.literal('tool_use'),
  id: z.string().min(1),
  name: z.string().min(1),
  input: z.record(z.string(), z.unknown()),
});

const toolResultBlock = z.object({
  type: z.literal('tool_result'),
  tool_use_id: z.string().min(1),
  content: z.union([z.string(), z.array(z.discriminatedUnion('type', [textBlock, imageBlock]))]).optional(),
  is_error: z.boolean().optional(),
});

// Earlier turns' reasoning, echoed back by clients that replay whole assistant messages. Without thinking
// enabled Anthropic ignores them too, so they are accepted and dropped.
const thinkingBlock = z.object({ type: z.literal('thinking'), thinking: z.string() });
const redactedThinkingBlock = z.object({ type: z.literal('redacted_thinking'), data: z.string() });

const contentBlock = z.discriminatedUnion('type', [
  textBlock,
  imageBlock,
  toolUseBlock,
  toolResultBlock,
  thinkingBlock,
  redactedThinkingBlock,
]);
type ContentBlock = z.infer<typeof contentBlock>;

const message = z.object({
  // `system` turns are in the current SDK's MessageParam; they fold into the system prompt.
  role: z.enum(['user', 'assistant', 'system']),
  content: z.union([z.string(), z.array(contentBlock)]),
});

const tool = z.object({
  // Anything but `custom` is a server tool (web search, code execution...), checked after parsing.
  type: z.string().optional(),
  name: z.string().regex(/^[a-zA-Z0-9_-]{1,128}$/, 'must match ^[a-zA-Z0-9_-]{1,128}$'),
  description: z.string().optional(),
  input_schema: z.looseObject({ type: z.literal('object') }),
});

const toolChoice = z.discriminatedUnion('type', [
  z.object({ type: z.literal('auto'), disable_parallel_tool_use: z.boolean().optional() }),
  z.object({ type: z.literal('any'), disable_parallel_tool_use: z.boolean().optional() }),
  z.object({
    type: z.literal('tool'),
    name: z.string().min(1),
    disable_parallel_tool_use: z.boolean().optional(),
  }),
  z.object({ type: z.literal('none') }),
]);

const requestSchema = z.strictObject({
  model: z.string().min(1),
  messages: z.array(message).min(1),
  max_tokens: z.number().int().min(1),
  system: z.union([z.string(), z.array(textBlock)]).optional(),
  stop_sequences: z.array(z.string()).optional(),
  temperature: z.number().min(0).max(1).optional(),
  top_p: z.number().min(0).max(1).optional(),
  // Accepted for compatibility; not every upstream has it and it only narrows sampling.
  top_k: z.number().int().min(0).optional(),
  metadata: z.object({ user_id: z.string().nullish() }).optional(),
  stream: z.boolean().optional(),
  tools: z.array(tool).optional(),
  tool_choice: toolChoice.optional(),
  thinking: z.looseObject({ type: z.string() }).optional(),
  output_config: z
    .object({
      format: z
        .object({ type: z.literal('json_schema'), schema: z.record(z.string(), z.unknown()) })
        .nullish(),
      // A hint about how hard to think; honouring it is best effort, so it is accepted and ignored.
      effort: z.string().nullish(),
    })
    .optional(),
  // Billing/placement hints that change nothing about the answer.
  service_tier: z.enum(['auto', 'standard_only']).optional(),
  inference_geo: z.string().nullish(),
  speed: z.enum(['standard', 'fast']).nullish(),
  cache_control: z.unknown().optional(),
  // Server-side features a gateway cannot provide across providers.
  container: z.unknown().optional(),
  mcp_servers: z.unknown().optional(),
  context_management: z.unknown().optional(),
});
type WireRequest = z.infer<typeof requestSchema>;

const UNSUPPORTED_FIELDS = ['container', 'mcp_servers', 'context_management'] as const;

// ---- request parsing ----

function fail(code: ErrorCode, param: string | undefined, message: string): never {
  throw new HoldfastError(code, {
    message: param ? `${param}: ${message}` : message,
    ...(param ? { param } : {}),
  });
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur = root;
  for (const key of path) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

/**
 * Zod reports a failed union as one issue holding every branch's issues. The useful one is the branch
 * that got furthest into the value (the array branch for an array, the matching block type), so descend
 * into it; a tie means no branch fits at all and the union's own path is the answer.
 */
function deepestIssue(
  issue: z.core.$ZodIssue,
  prefix: PropertyKey[],
): { issue: z.core.$ZodIssue; path: PropertyKey[] } {
  const path = [...prefix, ...issue.path];
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return { issue, path };
  let best: z.core.$ZodIssue | undefined;
  let tie = false;
  for (const branch of issue.errors) {
    const first = branch[0];
    if (!first) continue;
    if (!best || first.path.length > best.path.length) {
      best = first;
      tie = false;
    } else if (first.path.length === best.path.length) {
      tie = true;
    }
  }
  if (!best || tie) return { issue, path };
  return deepestIssue(best, path);
}

function issueToError(body: unknown, raw: z.core.$ZodIssue): HoldfastError {
  if (raw.code === 'unrecognized_keys') {
    const key = raw.keys[0] ?? '';
    const param = [...raw.path, key].join('.');
    return new HoldfastError('unsupported_parameter', {
      param,
      message: `${param}: Extra inputs are not permitted`,
    });
  }
  const { issue, path } = deepestIssue(raw, []);
  const param = path.map(String).join('.');
  const value = valueAt(body, path);
  const at = (code: ErrorCode, message: string) =>
    new HoldfastError(code, {
      message: param ? `${param}: ${message}` : message,
      ...(param ? { param } : {}),
    });
  if (value === undefined) return at('missing_field', 'Field required');
  // A `type` tag we have no branch for is a feature we do not offer (documents, server tools, file ids),
  // not a malformed request.
  const badTag =
    path.at(-1) === 'type' &&
    typeof value === 'string' &&
    issue.code === 'invalid_union' &&
    issue.discriminator !== undefined;
  if (badTag) return at('unsupported_parameter', `type '${value}' is not supported`);
  const message =
    issue.code === 'invalid_union' ? 'Invalid input: does not match any allowed shape' : issue.message;
  return at('invalid_request', message);
}

// A version date we can parse. Every version so far renders the same Messages shapes, so a well-formed
// newer date is served as 2023-06-01 rather than refused.
const VERSION = /^(\d{4})-(\d{2})-(\d{2})$/;

function checkVersion(headers: IncomingHttpHeaders): void {
  const raw = headers['anthropic-version'];
  const v = Array.isArray(raw) ? raw[0] : raw;
  if (v === undefined) return;
  const m = VERSION.exec(v.trim());
  const ok = m !== null && !Number.isNaN(Date.parse(`${m[1]}-${m[2]}-${m[3]}T00:00:00Z`));
  if (!ok)
    fail('invalid_request', 'anthropic-version', `'${v}' is not a valid version (expected e.g. 2023-06-01)`);
}

function textParts(content: string | Array<z.infer<typeof textBlock>>): TextPart[] {
  if (typeof content === 'string') return content ? [{ type: 'text', text: content }] : [];
  return content.filter((b) => b.text !== '').map((b) => ({ type: 'text', text: b.text }));
}

function imagePart(block: z.infer<typeof imageBlock>): ImagePart {
  const s = block.source;
  return {
    type: 'image',
    source:
      s.type === 'url'
        ? { kind: 'url', url: s.url }
        : { kind: 'base64', mediaType: s.media_type, data: s.data },
  };
}

function toolResultPart(block: z.infer<typeof toolResultBlock>): ToolResultPart {
  const c = block.content;
  const content =
    c === undefined
      ? []
      : typeof c === 'string'
        ? textParts(c)
        : c.map((b): TextPart | ImagePart =>
            b.type === 'text' ? { type: 'text', text: b.text } : imagePart(b),
          );
  return {
    type: 'tool_result',
    toolCallId: block.tool_use_id,
    content,
    ...(block.is_error !== undefined ? { isError: block.is_error } : {}),
  };
}

function wrongRole(param: string, type: string, role: string): never {
  fail('invalid_request', param, `'${type}' blocks are not allowed in ${role} messages`);
}

function mapMessage(m: z.infer<typeof message>, i: number, isLast: boolean): Message | undefined {
  const blocks: ContentBlock[] =
    typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content;
  const at = (j: number) => `messages.${i}.content.${j}.type`;
  let mapped: Message;
  if (m.role === 'system') {
    const content: TextPart[] = [];
    blocks.forEach((b, j) => {
      if (b.type !== 'text') wrongRole(at(j), b.type, 'system');
      if (b.text) content.push({ type: 'text', text: b.text });
    });
    return content.length > 0 ? { role: 'system', content } : undefined;
  }
  if (m.role === 'user') {
    const content: Array<TextPart | ImagePart | ToolResultPart> = [];
    blocks.forEach((b, j) => {
      if (b.type === 'text') {
        if (b.text) content.push({ type: 'text', text: b.text });
      } else if (b.type === 'image') content.push(imagePart(b));
      else if (b.type === 'tool_result') content.push(toolResultPart(b));
      else wrongRole(at(j), b.type, 'user');
    });
    mapped = { role: 'user', content };
  } else {
    const content: Array<TextPart | ToolCallPart> = [];
    blocks.forEach((b, j) => {
      if (b.type === 'text') {
        if (b.text) content.push({ type: 'text', text: b.text });
      } else if (b.type === 'tool_use') {
        content.push({ type: 'tool_call', id: b.id, name: b.name, arguments: JSON.stringify(b.input) });
      } else if (b.type !== 'thinking' && b.type !== 'redacted_thinking')
        wrongRole(at(j), b.type, 'assistant');
    });
    mapped = { role: 'assistant', content };
  }
  if (mapped.content.length === 0) {
    // An empty final assistant turn is a prefill of nothing; anywhere else Anthropic refuses it.
    if (isLast && m.role === 'assistant') return undefined;
    fail(
      'invalid_request',
      `messages.${i}.content`,
      'all messages must have non-empty content except for an optional final assistant message',
    );
  }
  return mapped;
}

function mapToolChoice(tc: NonNullable<WireRequest['tool_choice']>): ToolChoice {
  switch (tc.type) {
    case 'auto':
      return { type: 'auto' };
    case 'any':
      return { type: 'required' };
    case 'tool':
      return { type: 'tool', name: tc.name };
    case 'none':
      return { type: 'none' };
  }
}

function parseRequest(body: unknown, headers: IncomingHttpHeaders): ChatRequest {
  checkVersion(headers);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    fail('invalid_request', undefined, 'The request body must be a JSON object.');
  }
  assertShallow(body);
  // Required fields first, so a bare `{}` names what is missing rather than the first type error.
  for (const key of ['model', 'messages', 'max_tokens'] as const) {
    if ((body as Record<string, unknown>)[key] === undefined) fail('missing_field', key, 'Field required');
  }
  // Server tools have no input_schema, so they must be named for what they are before the schema
  // would call them malformed.
  const rawTools = (body as Record<string, unknown>).tools;
  if (Array.isArray(rawTools)) {
    rawTools.forEach((t: unknown, i) => {
      const type = typeof t === 'object' && t !== null ? (t as { type?: unknown }).type : undefined;
      if (typeof type === 'string' && type !== 'custom') {
        fail('unsupported_parameter', `tools.${i}.type`, `server tool '${type}' is not supported`);
      }
    });
  }
  const parsed = requestSchema.safeParse(body);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw first ? issueToError(body, first) : new HoldfastError('invalid_request');
  }
  const w = parsed.data;

  for (const key of UNSUPPORTED_FIELDS) {
    if (w[key] !== undefined && w[key] !== null)
      fail('unsupported_parameter', key, 'not supported by this gateway');
  }
  if (w.thinking && w.thinking.type !== 'disabled') {
    fail(
      'unsupported_parameter',
      'thinking.type',
      `extended thinking ('${w.thinking.type}') is not supported`,
    );
  }

  const messages: Message[] = [];
  const system = w.system === undefined ? [] : textParts(w.system);
  if (system.length > 0) messages.push({ role: 'system', content: system });
  w.messages.forEach((m, i) => {
    const mapped = mapMessage(m, i, i === w.messages.length - 1);
    if (mapped) messages.push(mapped);
  });
  if (!messages.some((m) => m.role !== 'system')) {
    fail('invalid_request', 'messages', 'at least one user or assistant message with content is required');
  }

  const tools: ToolDefinition[] | undefined = w.tools?.map((t) => ({
    name: t.name,
    ...(t.description !== undefined ? { description: t.description } : {}),
    parameters: t.input_schema,
  }));
  const format = w.output_config?.format;
  const responseFormat: ResponseFormat | undefined = format
    ? { type: 'json_schema', name: 'response', schema: format.schema }
    : undefined;
  const disableParallel =
    w.tool_choice && w.tool_choice.type !== 'none' && w.tool_choice.disable_parallel_tool_use;
  const user = w.metadata?.user_id;

  return {
    model: w.model,
    messages,
    maxTokens: w.max_tokens,
    stream: w.stream ?? false,
    // The Anthropic wire always carries usage, so ask upstreams that make it optional for it.
    includeUsage: true,
    ...(tools ? { tools } : {}),
    ...(w.tool_choice ? { toolChoice: mapToolChoice(w.tool_choice) } : {}),
    ...(disableParallel ? { parallelToolCalls: false } : {}),
    ...(w.temperature !== undefined ? { temperature: w.temperature } : {}),
    ...(w.top_p !== undefined ? { topP: w.top_p } : {}),
    ...(w.stop_sequences && w.stop_sequences.length > 0 ? { stop: w.stop_sequences } : {}),
    ...(responseFormat ? { responseFormat } : {}),
    ...(user ? { user } : {}),
    ...(messages.at(-1)?.role === 'assistant' ? { continueFinalMessage: true } : {}),
  };
}

// ---- rendering ----

const STOP: Record<FinishReason, WireStopReason> = {
  end_turn: 'end_turn',
  max_tokens: 'max_tokens',
  stop_sequence: 'stop_sequence',
  tool_use: 'tool_use',
  content_filter: 'refusal',
};

/** Tool arguments as the object Anthropic shows; a model that wrote broken JSON gets `{}`, not a 500. */
export function argumentsObject(args: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(args);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function renderResponse(res: ChatResponse, ctx: RenderContext): WireMessageResponse {
  const content: Array<WireTextBlock | WireToolUseBlock> = [];
  for (const part of res.content) {
    if (part.type === 'text') {
      if (part.text) content.push({ type: 'text', text: part.text });
    } else {
      content.push({
        type: 'tool_use',
        id: part.id,
        name: part.name,
        input: argumentsObject(part.arguments),
      });
    }
  }
  return {
    id: ctx.id,
    type: 'message',
    role: 'assistant',
    model: ctx.model,
    content,
    stop_reason: STOP[res.finishReason],
    stop_sequence: res.finishReason === 'stop_sequence' ? (res.stopSequence ?? null) : null,
    usage: { input_tokens: res.usage.inputTokens, output_tokens: res.usage.outputTokens },
  };
}

function frame(data: { type: string }): string {
  return sseFrame(JSON.stringify(data), data.type);
}

const PING = frame({ type: 'ping' });
const MESSAGE_STOP = frame({ type: 'message_stop' });

type OpenBlock = { kind: 'text'; index: number } | { kind: 'tool'; index: number };

/**
 * Renders internal events as Anthropic's stream. Anthropic numbers content blocks in order and never
 * interleaves them, so each text run or tool call becomes its own block and starting one closes the last.
 */
function streamRenderer(ctx: RenderContext): StreamRenderer {
  let nextIndex = 0;
  let open: OpenBlock | undefined;
  const toolBlocks = new Map<number, number>();
  let inputTokens = ctx.inputTokens;
  let outputTokens = 0;
  let stopped = false;

  const closeOpen = (): string => {
    if (!open) return '';
    const stop: WireContentBlockStopEvent = { type: 'content_block_stop', index: open.index };
    open = undefined;
    return frame(stop);
  };

  const startBlock = (
    kind: OpenBlock['kind'],
    block: WireContentBlockStartEvent['content_block'],
  ): string => {
    const out = closeOpen();
    const index = nextIndex++;
    open = { kind, index };
    const ev: WireContentBlockStartEvent = { type: 'content_block_start', index, content_block: block };
    return out + frame(ev);
  };

  const delta = (index: number, d: WireContentBlockDeltaEvent['delta']): string => {
    const ev: WireContentBlockDeltaEvent = { type: 'content_block_delta', index, delta: d };
    return frame(ev);
  };

  return {
    begin() {
      const start: WireMessageStartEvent = {
        type: 'message_start',
        message: {
          id: ctx.id,
          type: 'message',
          role: 'assistant',
          model: ctx.model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: ctx.inputTokens ?? 0, output_tokens: 1 },
        },
      };
      return frame(start) + PING;
    },
    event(ev: StreamEvent) {
      switch (ev.type) {
        case 'start':
          return '';
        case 'text': {
          if (ev.text === '') return '';
          const head = open?.kind === 'text' ? '' : startBlock('text', { type: 'text', text: '' });
          return head + delta(open?.index ?? 0, { type: 'text_delta', text: ev.text });
        }
        case 'tool_call_start': {
          const out = startBlock('tool', { type: 'tool_use', id: ev.id, name: ev.name, input: {} });
          toolBlocks.set(ev.index, open?.index ?? 0);
          return out;
        }
        case 'tool_call_delta': {
          const index = toolBlocks.get(ev.index);
          if (index === undefined || ev.argumentsDelta === '') return '';
          // Deltas carry their block index, so one for an earlier (already stopped) tool block still
          // lands on the right call in clients; Anthropic itself never sends that.
          return delta(index, { type: 'input_json_delta', partial_json: ev.argumentsDelta });
        }
        case 'usage':
          if (ev.usage.inputTokens !== undefined) inputTokens = ev.usage.inputTokens;
          if (ev.usage.outputTokens !== undefined) outputTokens = ev.usage.outputTokens;
          return '';
        case 'finish': {
          const md: WireMessageDeltaEvent = {
            type: 'message_delta',
            delta: {
              stop_reason: STOP[ev.reason],
              stop_sequence: ev.reason === 'stop_sequence' ? (ev.stopSequence ?? null) : null,
            },
            usage: {
              output_tokens: outputTokens,
              ...(inputTokens !== undefined ? { input_tokens: inputTokens } : {}),
            },
          };
          return closeOpen() + frame(md);
        }
      }
    },
    end() {
      if (stopped) return '';
      stopped = true;
      return closeOpen() + MESSAGE_STOP;
    },
    error(err: HoldfastError) {
      stopped = true;
      return frame(renderError(err));
    },
    keepAlive() {
      return PING;
    },
  };
}

function renderError(err: HoldfastError): WireErrorBody {
  return { type: 'error', error: { type: ERRORS[err.code].anthropic, message: err.message } };
}

/** Same look as Anthropic's ids (`msg_01` + 22 base62 characters). */
function newId(): string {
  return randomId('msg_01', 22);
}

/** Anthropic reports when each limit is full again as an RFC 3339 time. */
function rateLimitHeaders(state: RateLimitState): Record<string, string> {
  const h: Record<string, string> = {};
  for (const [kind, v] of [
    ['requests', state.requests],
    ['tokens', state.tokens],
  ] as const) {
    if (!v) continue;
    h[`anthropic-ratelimit-${kind}-limit`] = String(v.limit);
    h[`anthropic-ratelimit-${kind}-remaining`] = String(Math.max(0, Math.floor(v.remaining)));
    h[`anthropic-ratelimit-${kind}-reset`] = new Date(Date.now() + v.resetMs)
      .toISOString()
      .replace(/\.\d{3}Z$/, 'Z');
  }
  return h;
}

export const anthropicDoor: Door = {
  rateLimitHeaders,
  dialect: 'anthropic',
  parseRequest,
  renderResponse,
  streamRenderer,
  renderError,
  newId,
};
