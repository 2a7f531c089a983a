import type { Dispatcher } from 'undici';
import type { DeploymentConfig } from '../../config/schema.ts';
import type {
  ChatRequest,
  ChatResponse,
  FinishReason,
  ImagePart,
  StreamEvent,
  TextPart,
} from '../../core/chat.ts';
import { responseToEvents } from '../../core/collect.ts';
import { type CallContext, type EventBatch, eventStream, type ProviderAdapter } from '../../core/provider.ts';
import { UpstreamError } from '../../core/upstream-error.ts';
import {
  createDispatcher,
  postJson,
  readText,
  transportError,
  type UpstreamResponse,
  upstreamTarget,
} from '../http-call.ts';
import { parseSseBatches } from '../sse.ts';
import { classifyAnthropicError, classifyAnthropicStreamError, parseErrorBody } from './classify.ts';
import { argumentsObject } from './door.ts';
import type {
  WireAssistantBlock,
  WireImageBlock,
  WireImageMediaType,
  WireMessage,
  WireMessagesRequest,
  WireStopReason,
  WireTextBlock,
  WireTool,
  WireToolChoice,
  WireUserBlock,
} from './wire.ts';

/** Anthropic requires max_tokens; OpenAI callers often leave it out. */
export const DEFAULT_MAX_TOKENS = 4096;

/** A unary answer is small, but tool-heavy ones can pass the 1 MiB error-body default. */
const MAX_UNARY_BODY = 32 << 20;

export interface AnthropicAdapterOptions {
  /** Share a pool (tests, or several deployments behind one proxy); the adapter then does not close it. */
  dispatcher?: Dispatcher;
}

export interface BuiltRequest {
  body: WireMessagesRequest;
  /**
   * Whitespace cut from the end of the prefill (the Messages API refuses a final assistant turn that ends
   * in whitespace). The caller's partial did include it, so it is dropped from the start of the answer.
   */
  prefillTrim: string;
}

// ---- request ----

function imageBlock(part: ImagePart): WireImageBlock {
  const s = part.source;
  if (s.kind === 'base64') {
    return {
      type: 'image',
      source: { type: 'base64', media_type: s.mediaType as WireImageMediaType, data: s.data },
    };
  }
  // OpenAI callers inline images as data: URLs, which Anthropic's url source does not take.
  const data = /^data:([^;,]+);base64,(.*)$/s.exec(s.url);
  if (data?.[1] && data[2] !== undefined) {
    return {
      type: 'image',
      source: { type: 'base64', media_type: data[1] as WireImageMediaType, data: data[2] },
    };
  }
  return { type: 'image', source: { type: 'url', url: s.url } };
}

function resultContent(parts: Array<TextPart | ImagePart>): Array<WireTextBlock | WireImageBlock> {
  const out: Array<WireTextBlock | WireImageBlock> = [];
  for (const p of parts) {
    if (p.type === 'image') out.push(imageBlock(p));
    else if (p.text) out.push({ type: 'text', text: p.text });
  }
  return out;
}

type Turn = { role: 'user'; content: WireUserBlock[] } | { role: 'assistant'; content: WireAssistantBlock[] };

function jsonInstruction(req: ChatRequest): string | undefined {
  const f = req.responseFormat;
  if (!f || f.type === 'text') return undefined;
  const base =
    'Respond with a single valid JSON object and nothing else: no prose before or after it, no code fences.';
  if (f.type === 'json_object') return base;
  return `${base} The object must conform to this JSON Schema:\n${JSON.stringify(f.schema)}`;
}

/** Cuts trailing whitespace off the final assistant turn, block by block; returns what was cut. */
function trimPrefill(turns: Turn[]): string {
  const last = turns.at(-1);
  if (last?.role !== 'assistant') return '';
  let cut = '';
  for (;;) {
    const block = last.content.at(-1);
    if (block?.type !== 'text') break;
    const kept = block.text.trimEnd();
    cut = block.text.slice(kept.length) + cut;
    if (kept) {
      block.text = kept;
      break;
    }
    last.content.pop();
  }
  if (last.content.length === 0) turns.pop();
  return cut;
}

export function buildAnthropicRequest(req: ChatRequest, model: string): BuiltRequest {
  const system: string[] = [];
  const turns: Turn[] = [];
  for (const m of req.messages) {
    if (m.role === 'system') {
      // Anthropic has one system prompt, so later system turns (OpenAI allows them anywhere) join it.
      const text = m.content.map((p) => p.text).join('');
      if (text) system.push(text);
      continue;
    }
    if (m.role === 'user') {
      const content: WireUserBlock[] = [];
      for (const p of m.content) {
        if (p.type === 'text') {
          if (p.text) content.push({ type: 'text', text: p.text });
        } else if (p.type === 'image') {
          content.push(imageBlock(p));
        } else {
          const c = resultContent(p.content);
          content.push({
            type: 'tool_result',
            tool_use_id: p.toolCallId,
            ...(c.length > 0 ? { content: c } : {}),
            ...(p.isError ? { is_error: true } : {}),
          });
        }
      }
      const prev = turns.at(-1);
      if (prev?.role === 'user') prev.content.push(...content);
      else if (content.length > 0) turns.push({ role: 'user', content });
    } else {
      const content: WireAssistantBlock[] = [];
      for (const p of m.content) {
        if (p.type === 'text') {
          if (p.text) content.push({ type: 'text', text: p.text });
        } else {
          content.push({ type: 'tool_use', id: p.id, name: p.name, input: argumentsObject(p.arguments) });
        }
      }
      const prev = turns.at(-1);
      if (prev?.role === 'assistant') prev.content.push(...content);
      else if (content.length > 0) turns.push({ role: 'assistant', content });
    }
  }
  for (const t of turns) {
    // Tool results must open the user turn that answers a tool_use; merged OpenAI `tool` messages and a
    // following user text can arrive in the other order.
    if (t.role === 'user') {
      t.content = [
        ...t.content.filter((b) => b.type === 'tool_result'),
        ...t.content.filter((b) => b.type !== 'tool_result'),
      ];
    }
  }
  const prefillTrim = trimPrefill(turns);

  const instruction = jsonInstruction(req);
  if (instruction) system.push(instruction);

  const tools: WireTool[] | undefined = req.tools?.map((t) => ({
    name: t.name,
    ...(t.description !== undefined ? { description: t.description } : {}),
    input_schema: { type: 'object', ...t.parameters },
  }));
  let toolChoice: WireToolChoice | undefined;
  if (tools && tools.length > 0) {
    const noParallel = req.parallelToolCalls === false ? { disable_parallel_tool_use: true } : {};
    const tc = req.toolChoice ?? { type: 'auto' };
    if (tc.type === 'none') toolChoice = { type: 'none' };
    else if (tc.type === 'required') toolChoice = { type: 'any', ...noParallel };
    else if (tc.type === 'tool') toolChoice = { type: 'tool', name: tc.name, ...noParallel };
    else if (req.toolChoice || req.parallelToolCalls === false) toolChoice = { type: 'auto', ...noParallel };
  }
  // Anthropic refuses stop sequences that are only whitespace (OpenAI callers often send "\n").
  const stop = req.stop?.filter((s) => s.trim() !== '');

  const body: WireMessagesRequest = {
    model,
    messages: turns as WireMessage[],
    max_tokens: req.maxTokens ?? DEFAULT_MAX_TOKENS,
    ...(system.length > 0 ? { system: system.join('\n\n') } : {}),
    ...(stop && stop.length > 0 ? { stop_sequences: stop } : {}),
    // OpenAI's range is 0..2; Anthropic's is 0..1.
    ...(req.temperature !== undefined ? { temperature: Math.min(1, Math.max(0, req.temperature)) } : {}),
    // Current Claude models refuse temperature and top_p together; temperature is the one callers mean.
    ...(req.topP !== undefined && req.temperature === undefined ? { top_p: req.topP } : {}),
    ...(req.user ? { metadata: { user_id: req.user } } : {}),
    ...(tools && tools.length > 0 ? { tools } : {}),
    ...(toolChoice ? { tool_choice: toolChoice } : {}),
    stream: req.stream,
  };
  return { body, prefillTrim };
}

// ---- response ----

const FINISH: Record<WireStopReason, FinishReason> = {
  end_turn: 'end_turn',
  max_tokens: 'max_tokens',
  stop_sequence: 'stop_sequence',
  tool_use: 'tool_use',
  refusal: 'content_filter',
  model_context_window_exceeded: 'max_tokens',
  // A server tool paused a long turn; for a plain chat caller the turn simply ended.
  pause_turn: 'end_turn',
};

function finishReason(stop: unknown): FinishReason {
  return typeof stop === 'string' && stop in FINISH ? FINISH[stop as WireStopReason] : 'end_turn';
}

type Json = Record<string, unknown>;

function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function protocol(message: string, midStream: boolean, cause?: unknown): UpstreamError {
  return new UpstreamError({
    kind: 'protocol',
    message,
    midStream,
    ...(cause !== undefined ? { cause } : {}),
  });
}

/** Input tokens as billed: the uncached part plus what was written to or read from the prompt cache. */
function inputTokens(usage: Json): number | undefined {
  const base = num(usage.input_tokens);
  if (base === undefined) return undefined;
  return base + (num(usage.cache_creation_input_tokens) ?? 0) + (num(usage.cache_read_input_tokens) ?? 0);
}

/** Drops the trimmed prefill whitespace from the start of the answer, however the text is chunked. */
function prefixTrimmer(cut: string): { text(t: string): string; stop(): void } {
  let pending = cut;
  return {
    text(t) {
      if (!pending) return t;
      let i = 0;
      while (i < t.length && i < pending.length && t[i] === pending[i]) i++;
      if (i === t.length && i < pending.length) {
        pending = pending.slice(i);
        return '';
      }
      // The model did not repeat (all of) the whitespace: keep what it wrote.
      pending = '';
      return t.slice(i);
    },
    stop() {
      pending = '';
    },
  };
}

export function parseMessageResponse(bodyText: string, prefillTrim = ''): ChatResponse {
  let msg: unknown;
  try {
    msg = JSON.parse(bodyText);
  } catch (err) {
    throw protocol('upstream answer is not valid JSON', false, err);
  }
  if (!isObj(msg) || !Array.isArray(msg.content))
    throw protocol('upstream answer is not a message object', false);
  const trim = prefixTrimmer(prefillTrim);
  const content: ChatResponse['content'] = [];
  for (const block of msg.content as unknown[]) {
    if (!isObj(block)) continue;
    if (block.type === 'text' && typeof block.text === 'string') {
      const text = trim.text(block.text);
      if (text) content.push({ type: 'text', text });
    } else if (block.type === 'tool_use' && typeof block.id === 'string' && typeof block.name === 'string') {
      trim.stop();
      content.push({
        type: 'tool_call',
        id: block.id,
        name: block.name,
        arguments: JSON.stringify(block.input ?? {}),
      });
    }
    // thinking, redacted_thinking and server-tool blocks have no place in the internal answer.
  }
  const usage = isObj(msg.usage) ? msg.usage : {};
  const finish = finishReason(msg.stop_reason);
  return {
    id: typeof msg.id === 'string' ? msg.id : '',
    model: typeof msg.model === 'string' ? msg.model : '',
    content,
    finishReason: finish,
    ...(finish === 'stop_sequence' && typeof msg.stop_sequence === 'string'
      ? { stopSequence: msg.stop_sequence }
      : {}),
    usage: { inputTokens: inputTokens(usage) ?? 0, outputTokens: num(usage.output_tokens) ?? 0 },
  };
}

/**
 * Turns Anthropic stream events into internal events. Pure (no I/O) so each wire quirk is testable; throws
 * UpstreamError for in-band errors and for events that do not make sense.
 */
export class AnthropicStreamDecoder {
  /** Some answer (text or a tool call) has been emitted. */
  outputStarted = false;
  finished = false;
  readonly #toolOf = new Map<number, number>();
  #nextTool = 0;
  #stop: FinishReason = 'end_turn';
  #stopSequence: string | undefined;
  readonly #trim: ReturnType<typeof prefixTrimmer>;

  constructor(prefillTrim = '') {
    this.#trim = prefixTrimmer(prefillTrim);
  }

  /** Decodes one SSE message; returns the internal events it yields (often none). */
  push(event: string | undefined, data: string): StreamEvent[] {
    let ev: unknown;
    try {
      ev = JSON.parse(data);
    } catch (err) {
      throw protocol(`unparseable stream event: ${data.slice(0, 200)}`, this.outputStarted, err);
    }
    if (!isObj(ev)) throw protocol('stream event is not an object', this.outputStarted);
    const type = typeof ev.type === 'string' ? ev.type : event;
    if (this.finished) return [];
    switch (type) {
      case 'message_start': {
        const m = ev.message;
        if (!isObj(m)) throw protocol('message_start without a message', this.outputStarted);
        const out: StreamEvent[] = [
          {
            type: 'start',
            ...(typeof m.id === 'string' ? { id: m.id } : {}),
            ...(typeof m.model === 'string' ? { model: m.model } : {}),
          },
        ];
        const input = isObj(m.usage) ? inputTokens(m.usage) : undefined;
        if (input !== undefined) out.push({ type: 'usage', usage: { inputTokens: input } });
        return out;
      }
      case 'content_block_start':
        return this.#blockStart(ev);
      case 'content_block_delta':
        return this.#blockDelta(ev);
      case 'message_delta': {
        const d = isObj(ev.delta) ? ev.delta : {};
        if (typeof d.stop_reason === 'string') this.#stop = finishReason(d.stop_reason);
        if (typeof d.stop_sequence === 'string') this.#stopSequence = d.stop_sequence;
        const u = isObj(ev.usage) ? ev.usage : {};
        const output = num(u.output_tokens);
        const input = inputTokens(u);
        if (output === undefined && input === undefined) return [];
        return [
          {
            type: 'usage',
            usage: {
              ...(output !== undefined ? { outputTokens: output } : {}),
              ...(input !== undefined ? { inputTokens: input } : {}),
            },
          },
        ];
      }
      case 'message_stop':
        this.finished = true;
        return [
          {
            type: 'finish',
            reason: this.#stop,
            ...(this.#stop === 'stop_sequence' && this.#stopSequence !== undefined
              ? { stopSequence: this.#stopSequence }
              : {}),
          },
        ];
      case 'error':
        throw classifyAnthropicStreamError(parseErrorBody(data), this.outputStarted);
      default:
        // ping, content_block_stop, and event types added after this was written.
        return [];
    }
  }

  #blockStart(ev: Json): StreamEvent[] {
    const block = ev.content_block;
    const index = num(ev.index);
    if (!isObj(block) || index === undefined)
      throw protocol('malformed content_block_start', this.outputStarted);
    if (block.type === 'text') {
      const text = typeof block.text === 'string' ? this.#trim.text(block.text) : '';
      return text ? this.#text(text) : [];
    }
    if (block.type !== 'tool_use') return [];
    if (typeof block.id !== 'string' || typeof block.name !== 'string') {
      throw protocol('tool_use block without id or name', this.outputStarted);
    }
    const tool = this.#nextTool++;
    this.#toolOf.set(index, tool);
    this.#trim.stop();
    this.outputStarted = true;
    const out: StreamEvent[] = [{ type: 'tool_call_start', index: tool, id: block.id, name: block.name }];
    // Streams open tool blocks with `input: {}` and send the arguments as deltas; honour a filled one too.
    if (isObj(block.input) && Object.keys(block.input).length > 0) {
      out.push({ type: 'tool_call_delta', index: tool, argumentsDelta: JSON.stringify(block.input) });
    }
    return out;
  }

  #blockDelta(ev: Json): StreamEvent[] {
    const d = ev.delta;
    const index = num(ev.index);
    if (!isObj(d) || index === undefined) throw protocol('malformed content_block_delta', this.outputStarted);
    if (d.type === 'text_delta' && typeof d.text === 'string') {
      const text = this.#trim.text(d.text);
      return text ? this.#text(text) : [];
    }
    if (d.type === 'input_json_delta' && typeof d.partial_json === 'string') {
      const tool = this.#toolOf.get(index);
      if (tool === undefined || d.partial_json === '') return [];
      return [{ type: 'tool_call_delta', index: tool, argumentsDelta: d.partial_json }];
    }
    // thinking_delta, signature_delta, citations_delta.
    return [];
  }

  #text(text: string): StreamEvent[] {
    this.outputStarted = true;
    return [{ type: 'text', text }];
  }
}

// ---- transport ----

export function createAnthropicAdapter(
  dep: DeploymentConfig,
  opts: AnthropicAdapterOptions = {},
): ProviderAdapter {
  const owned = opts.dispatcher ? undefined : createDispatcher(dep);
  const dispatcher: Dispatcher = opts.dispatcher ?? owned!;
  const target = upstreamTarget(`${(dep.base_url ?? '').replace(/\/+$/, '')}/v1/messages`);
  const baseHeaders: Record<string, string> = {
    'content-type': 'application/json',
    ...(dep.api_key ? { 'x-api-key': dep.api_key } : {}),
    'anthropic-version': dep.anthropic_version,
    ...dep.headers,
  };
  // Built once: a request only chooses between them.
  const unaryHeaders = { ...baseHeaders, accept: 'application/json' };
  const streamHeaders = { ...baseHeaders, accept: 'text/event-stream' };

  async function* batches(req: ChatRequest, ctx: CallContext): AsyncGenerator<EventBatch> {
    const { body, prefillTrim } = buildAnthropicRequest(req, dep.model);
    const res = await postJson({
      dispatcher,
      target,
      headers: req.stream ? streamHeaders : unaryHeaders,
      body,
      signal: ctx.signal,
      totalMs: dep.timeouts.total_ms,
    });
    let done = false;
    try {
      if (res.status < 200 || res.status >= 300) {
        const text = await readBody(res, ctx, false);
        done = true;
        throw classifyAnthropicError(res.status, res.headers, text);
      }
      if (!req.stream) {
        const text = await readBody(res, ctx, false, MAX_UNARY_BODY);
        done = true;
        yield [...responseToEvents(parseMessageResponse(text, prefillTrim))];
        return;
      }
      const decoder = new AnthropicStreamDecoder(prefillTrim);
      try {
        // The events of one upstream read leave together (see EventBatch).
        for await (const messages of parseSseBatches(res.body)) {
          const out: StreamEvent[] = [];
          try {
            for (const msg of messages) for (const ev of decoder.push(msg.event, msg.data)) out.push(ev);
          } catch (err) {
            // What arrived before the bad event still reaches the caller first, as it would event by event.
            if (out.length > 0) yield out;
            throw err;
          }
          if (out.length > 0) yield out;
        }
      } catch (err) {
        if (err instanceof UpstreamError) throw err;
        throw transportError(err, { midStream: true, callerSignal: ctx.signal });
      }
      done = true;
      if (!decoder.finished) throw protocol('stream ended before message_stop', true);
    } finally {
      // An abandoned or failed body must not hold its pooled connection.
      if (!done && !res.body.destroyed) res.body.destroy();
    }
  }

  return {
    upstreamModel: dep.model,
    call: (req, ctx) => eventStream(() => batches(req, ctx)),
    async close() {
      await owned?.close();
    },
  };
}

async function readBody(
  res: UpstreamResponse,
  ctx: CallContext,
  midStream: boolean,
  limit?: number,
): Promise<string> {
  try {
    return await readText(res.body, limit);
  } catch (err) {
    throw transportError(err, { midStream, callerSignal: ctx.signal });
  }
}
