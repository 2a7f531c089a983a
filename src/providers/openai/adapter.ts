import { randomUUID } from 'node:crypto';
import type { Dispatcher } from 'undici';
import type { DeploymentConfig } from '../../config/schema.ts';
import type {
  ChatRequest,
  ChatResponse,
  FinishReason,
  ImagePart,
  Message,
  StreamEvent,
  TextPart,
  ToolCallPart,
  Usage,
} from '../../core/chat.ts';
import { responseToEvents } from '../../core/collect.ts';
import { withContinueInstruction } from '../../core/continuation.ts';
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
import { classifyInBandError, classifyOpenAIError } from './classify.ts';
import type {
  WireChatRequest,
  WireImagePart,
  WireMessage,
  WireTextPart,
  WireToolCall,
  WireUsage,
} from './wire.ts';

const DEFAULT_AZURE_API_VERSION = '2024-10-21';
/** Unary answers are bounded; this is far above any real completion and stops a runaway upstream. */
const UNARY_BODY_LIMIT = 64 << 20;

// ---- internal → wire ----

function joinText(parts: ReadonlyArray<{ type: string; text?: string }>): string {
  return parts.map((p) => (p.type === 'text' ? (p.text ?? '') : '')).join('');
}

function wireImage(p: ImagePart): WireImagePart {
  const url = p.source.kind === 'url' ? p.source.url : `data:${p.source.mediaType};base64,${p.source.data}`;
  return { type: 'image_url', image_url: { url } };
}

/** A plain string when the content is one text part: the form every OpenAI-compatible server accepts. */
function userContent(parts: Array<TextPart | ImagePart>): WireMessage & { role: 'user' } {
  const only = parts[0];
  if (parts.length === 1 && only?.type === 'text') return { role: 'user', content: only.text };
  return {
    role: 'user',
    content: parts.map((p): WireTextPart | WireImagePart =>
      p.type === 'text' ? { type: 'text', text: p.text } : wireImage(p),
    ),
  };
}

export function toWireMessages(messages: Message[]): WireMessage[] {
  const out: WireMessage[] = [];
  for (const m of messages) {
    switch (m.role) {
      case 'system':
        out.push({ role: 'system', content: joinText(m.content) });
        break;
      case 'user': {
        const rest: Array<TextPart | ImagePart> = [];
        for (const p of m.content) {
          if (p.type !== 'tool_result') {
            rest.push(p);
            continue;
          }
          out.push({ role: 'tool', tool_call_id: p.toolCallId, content: joinText(p.content) });
          // OpenAI tool messages carry text only; images a tool returned travel in the user turn after them.
          for (const c of p.content) if (c.type === 'image') rest.push(c);
        }
        if (rest.length > 0) out.push(userContent(rest));
        break;
      }
      case 'assistant': {
        const calls: WireToolCall[] = m.content
          .filter((p): p is ToolCallPart => p.type === 'tool_call')
          .map((p) => ({
            id: p.id,
            type: 'function',
            function: { name: p.name, arguments: p.arguments || '{}' },
          }));
        const text = joinText(m.content);
        out.push({
          role: 'assistant',
          content: text === '' && calls.length > 0 ? null : text,
          ...(calls.length > 0 ? { tool_calls: calls } : {}),
        });
        break;
      }
    }
  }
  return out;
}

export function toWireRequest(
  input: ChatRequest,
  dep: Pick<DeploymentConfig, 'model' | 'continuation'>,
): WireChatRequest {
  const prefill = input.continueFinalMessage === true && dep.continuation === 'prefill';
  const req = prefill ? input : withContinueInstruction(input);
  const body: WireChatRequest = { model: dep.model, messages: toWireMessages(req.messages) };
  if (req.tools && req.tools.length > 0) {
    body.tools = req.tools.map((t) => ({
      type: 'function',
      function: {
        name: t.name,
        ...(t.description !== undefined ? { description: t.description } : {}),
        parameters: t.parameters,
      },
    }));
    // OpenAI rejects parallel_tool_calls without tools.
    if (req.parallelToolCalls !== undefined) body.parallel_tool_calls = req.parallelToolCalls;
  }
  if (req.toolChoice) {
    const tc = req.toolChoice;
    body.tool_choice = tc.type === 'tool' ? { type: 'function', function: { name: tc.name } } : tc.type;
  }
  if (req.responseFormat) {
    const rf = req.responseFormat;
    body.response_format =
      rf.type === 'json_schema'
        ? {
            type: 'json_schema',
            json_schema: {
              name: rf.name,
              schema: rf.schema,
              ...(rf.strict !== undefined ? { strict: rf.strict } : {}),
            },
          }
        : { type: rf.type };
  }
  if (req.stop && req.stop.length > 0) body.stop = req.stop;
  // max_tokens, not max_completion_tokens: vLLM, Ollama and llama.cpp all read it; OpenAI still accepts it.
  if (req.maxTokens !== undefined) body.max_tokens = req.maxTokens;
  if (req.temperature !== undefined) body.temperature = req.temperature;
  if (req.topP !== undefined) body.top_p = req.topP;
  if (req.seed !== undefined) body.seed = req.seed;
  if (req.user !== undefined) body.user = req.user;
  if (req.stream) {
    body.stream = true;
    // Always: accounting needs the usage even when the caller did not ask for it.
    body.stream_options = { include_usage: true };
  }
  if (prefill) {
    body.continue_final_message = true;
    body.add_generation_prompt = false;
  }
  return body;
}

// ---- wire → internal ----

function mapFinish(
  reason: unknown,
  stopReason: unknown,
  stops: string[] | undefined,
): { reason: FinishReason; stopSequence?: string } {
  switch (reason) {
    case 'length':
      return { reason: 'max_tokens' };
    case 'tool_calls':
    case 'function_call':
      return { reason: 'tool_use' };
    case 'content_filter':
      return { reason: 'content_filter' };
    default:
      // vLLM names the stop string that ended the answer in `stop_reason`.
      if (typeof stopReason === 'string' && stops?.includes(stopReason)) {
        return { reason: 'stop_sequence', stopSequence: stopReason };
      }
      return { reason: 'end_turn' };
  }
}

function toUsage(u: Partial<WireUsage> | null | undefined): Partial<Usage> | undefined {
  if (!u || typeof u !== 'object') return undefined;
  const usage: Partial<Usage> = {};
  if (typeof u.prompt_tokens === 'number') usage.inputTokens = u.prompt_tokens;
  if (typeof u.completion_tokens === 'number') usage.outputTokens = u.completion_tokens;
  return usage;
}

/** Some servers (older Ollama) send tool arguments as an object rather than JSON text. */
function argumentsText(v: unknown): string {
  if (typeof v === 'string') return v;
  return v === undefined || v === null ? '' : JSON.stringify(v);
}

function callId(id: unknown): string {
  return typeof id === 'string' && id !== '' ? id : `call_${randomUUID().replaceAll('-', '')}`;
}

function protocolError(message: string, midStream: boolean, cause?: unknown): UpstreamError {
  return new UpstreamError({
    kind: 'protocol',
    message,
    midStream,
    ...(cause !== undefined ? { cause } : {}),
  });
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function firstChoice(chunk: Json): Json | undefined {
  const choices = chunk.choices;
  if (!Array.isArray(choices)) return undefined;
  const c = choices.find((x) => isObject(x) && (x.index === undefined || x.index === 0)) as unknown;
  return isObject(c) ? c : undefined;
}

export function completionToResponse(json: unknown, stops: string[] | undefined): ChatResponse {
  if (!isObject(json)) throw protocolError('upstream answer is not a JSON object', false);
  if (json.error !== undefined && json.error !== null) throw classifyInBandError(json, false);
  const choice = firstChoice(json);
  const message = choice?.message;
  if (!choice || !isObject(message)) throw protocolError('upstream answer has no choices[0].message', false);
  const content: Array<TextPart | ToolCallPart> = [];
  const text = typeof message.content === 'string' ? message.content : '';
  const refusal = typeof message.refusal === 'string' ? message.refusal : '';
  if (text || refusal) content.push({ type: 'text', text: text || refusal });
  if (Array.isArray(message.tool_calls)) {
    for (const tc of message.tool_calls as unknown[]) {
      if (!isObject(tc) || !isObject(tc.function)) continue;
      content.push({
        type: 'tool_call',
        id: callId(tc.id),
        name: typeof tc.function.name === 'string' ? tc.function.name : '',
        arguments: argumentsText(tc.function.arguments),
      });
    }
  }
  const usage = toUsage(json.usage as Partial<WireUsage> | undefined);
  const finish = mapFinish(choice.finish_reason, choice.stop_reason, stops);
  return {
    id: typeof json.id === 'string' ? json.id : '',
    model: typeof json.model === 'string' ? json.model : '',
    content,
    finishReason: finish.reason,
    ...(finish.stopSequence !== undefined ? { stopSequence: finish.stopSequence } : {}),
    usage: { inputTokens: usage?.inputTokens ?? 0, outputTokens: usage?.outputTokens ?? 0 },
  };
}

interface ToolSlot {
  index: number;
  id: string;
}

/**
 * Turns OpenAI chunks into internal events. Finish and usage are held back until the stream ends: OpenAI
 * sends usage in a chunk after the one carrying finish_reason, and the internal order is usage → finish.
 */
class ChunkMapper {
  #started = false;
  #output = false;
  #finish: { reason: FinishReason; stopSequence?: string } | undefined;
  #usage: Partial<Usage> | undefined;
  readonly #tools = new Map<number, ToolSlot>();
  #lastTool: ToolSlot | undefined;
  readonly #stops: string[] | undefined;

  constructor(stops: string[] | undefined) {
    this.#stops = stops;
  }

  /** True once text or a tool call has been emitted. */
  get output(): boolean {
    return this.#output;
  }

  get finished(): boolean {
    return this.#finish !== undefined;
  }

  #start(chunk: Json | undefined, out: StreamEvent[]): void {
    if (this.#started) return;
    this.#started = true;
    const id = typeof chunk?.id === 'string' && chunk.id !== '' ? chunk.id : undefined;
    const model = typeof chunk?.model === 'string' && chunk.model !== '' ? chunk.model : undefined;
    out.push({ type: 'start', ...(id ? { id } : {}), ...(model ? { model } : {}) });
  }

  /** Appends the events of one chunk to `out` (plain pushes: this runs for every chunk of every stream). */
  chunk(chunk: Json, out: StreamEvent[]): void {
    const usage = toUsage(chunk.usage as Partial<WireUsage> | undefined);
    if (usage) this.#usage = usage;
    const choice = firstChoice(chunk);
    // Azure opens with a chunk of prompt_filter_results and no choices; it says nothing about the answer.
    if (!choice) return;
    this.#start(chunk, out);
    const delta = isObject(choice.delta) ? choice.delta : {};
    const text = typeof delta.content === 'string' ? delta.content : '';
    const refusal = typeof delta.refusal === 'string' ? delta.refusal : '';
    if (text || refusal) {
      this.#output = true;
      out.push({ type: 'text', text: text + refusal });
    }
    if (Array.isArray(delta.tool_calls)) {
      for (const tc of delta.tool_calls as unknown[]) if (isObject(tc)) this.#toolCall(tc, out);
    }
    if (typeof choice.finish_reason === 'string' && choice.finish_reason !== '') {
      this.#finish = mapFinish(choice.finish_reason, choice.stop_reason, this.#stops);
    }
  }

  #toolCall(tc: Json, out: StreamEvent[]): void {
    const fn = isObject(tc.function) ? tc.function : {};
    let slot: ToolSlot | undefined;
    if (typeof tc.index === 'number') slot = this.#tools.get(tc.index);
    // Servers that omit `index` (some Gemini/Ollama builds): a new id starts a new call, otherwise continue.
    else if (this.#lastTool && (tc.id === undefined || tc.id === this.#lastTool.id)) slot = this.#lastTool;
    if (!slot) {
      const key = typeof tc.index === 'number' ? tc.index : -1 - this.#tools.size;
      slot = { index: this.#tools.size, id: callId(tc.id) };
      this.#tools.set(key, slot);
      this.#output = true;
      out.push({
        type: 'tool_call_start',
        index: slot.index,
        id: slot.id,
        name: typeof fn.name === 'string' ? fn.name : '',
      });
    }
    this.#lastTool = slot;
    const args = argumentsText(fn.arguments);
    if (args !== '') out.push({ type: 'tool_call_delta', index: slot.index, argumentsDelta: args });
  }

  /** Appends the closing events; nothing when the stream never said it was finished. */
  end(out: StreamEvent[]): void {
    if (!this.#finish) return;
    this.#start(undefined, out);
    if (this.#usage) out.push({ type: 'usage', usage: this.#usage });
    out.push({ type: 'finish', ...this.#finish });
  }
}

// ---- the adapter ----

export interface OpenAIAdapterOptions {
  /** Share a pool (tests, or several deployments on one host). Not closed by the adapter. */
  dispatcher?: Dispatcher;
}

function endpoint(dep: DeploymentConfig): { url: string; headers: Record<string, string> } {
  const base = (dep.base_url ?? '').replace(/\/+$/, '');
  if (dep.azure_deployment) {
    const version = encodeURIComponent(dep.api_version ?? DEFAULT_AZURE_API_VERSION);
    return {
      url: `${base}/openai/deployments/${encodeURIComponent(dep.azure_deployment)}/chat/completions?api-version=${version}`,
      headers: { ...(dep.api_key ? { 'api-key': dep.api_key } : {}), ...dep.headers },
    };
  }
  return {
    url: `${base}/chat/completions`,
    headers: { ...(dep.api_key ? { authorization: `Bearer ${dep.api_key}` } : {}), ...dep.headers },
  };
}

export function createOpenAIAdapter(dep: DeploymentConfig, opts: OpenAIAdapterOptions = {}): ProviderAdapter {
  const owned = opts.dispatcher === undefined;
  const dispatcher = opts.dispatcher ?? createDispatcher(dep);
  const { url, headers } = endpoint(dep);
  const target = upstreamTarget(url);
  // Built once: a request only chooses between them.
  const unaryHeaders = { 'content-type': 'application/json', ...headers };
  const streamHeaders = { ...unaryHeaders, accept: 'text/event-stream' };

  async function* batches(req: ChatRequest, ctx: CallContext): AsyncGenerator<EventBatch> {
    const res = await postJson({
      dispatcher,
      target,
      headers: req.stream ? streamHeaders : unaryHeaders,
      body: toWireRequest(req, dep),
      signal: ctx.signal,
      totalMs: dep.timeouts.total_ms,
    });
    let complete = false;
    try {
      if (res.status < 200 || res.status >= 300) {
        const text = await readText(res.body).catch((err: unknown) => {
          if (ctx.signal.aborted) throw err;
          return '';
        });
        complete = true;
        throw classifyOpenAIError(res.status, res.headers, text);
      }
      if (req.stream) yield* streamBatches(res, req, ctx);
      else yield [...responseToEvents(await unary(res, req, ctx))];
      complete = true;
    } finally {
      // Early return by the consumer, a caller abort or a failure: free the socket instead of leaving it
      // half-read in the pool.
      if (!complete && !res.body.destroyed) res.body.destroy();
    }
  }

  return {
    upstreamModel: dep.model,
    call: (req, ctx) => eventStream(() => batches(req, ctx)),
    async close() {
      if (owned) await dispatcher.close();
    },
  };
}

async function unary(res: UpstreamResponse, req: ChatRequest, ctx: CallContext): Promise<ChatResponse> {
  let text: string;
  try {
    text = await readText(res.body, UNARY_BODY_LIMIT);
  } catch (err) {
    // Nothing has reached the caller yet, so this is not mid-stream: a retry is invisible to them.
    throw transportError(err, { midStream: false, callerSignal: ctx.signal });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw protocolError('upstream answer is not valid JSON', false, err);
  }
  return completionToResponse(json, req.stop);
}

/** The events of one upstream read leave together (see EventBatch). */
async function* streamBatches(
  res: UpstreamResponse,
  req: ChatRequest,
  ctx: CallContext,
): AsyncGenerator<EventBatch> {
  const mapper = new ChunkMapper(req.stop);
  let done = false;
  try {
    for await (const messages of parseSseBatches(res.body)) {
      // After [DONE] keep reading to the end of the body so the connection goes back to the pool.
      if (done) continue;
      const out: StreamEvent[] = [];
      try {
        for (const msg of messages) {
          const data = msg.data.trim();
          if (data === '[DONE]') {
            done = true;
            if (!mapper.finished)
              throw protocolError('upstream stream ended with [DONE] but no finish_reason', true);
            mapper.end(out);
            break;
          }
          let chunk: unknown;
          try {
            chunk = JSON.parse(data);
          } catch (err) {
            throw protocolError('upstream sent an unparseable stream chunk', mapper.output, err);
          }
          if (!isObject(chunk))
            throw protocolError('upstream sent a stream chunk that is not an object', mapper.output);
          if (chunk.error !== undefined && chunk.error !== null)
            throw classifyInBandError(chunk, mapper.output);
          mapper.chunk(chunk, out);
        }
      } catch (err) {
        // What arrived before the bad frame still reaches the caller first, as it would event by event.
        if (out.length > 0) yield out;
        throw err;
      }
      if (out.length > 0) yield out;
    }
  } catch (err) {
    // The answer was already complete; a hiccup while draining the body is not the caller's problem.
    if (done && mapper.finished && !(err instanceof UpstreamError)) return;
    if (err instanceof UpstreamError) throw err;
    throw transportError(err, { midStream: true, callerSignal: ctx.signal });
  }
  if (done) return;
  // Some servers end the body without [DONE]; a finish_reason still makes the answer complete.
  if (!mapper.finished) throw protocolError('upstream stream ended before a finish_reason (truncated)', true);
  const out: StreamEvent[] = [];
  mapper.end(out);
  yield out;
}
