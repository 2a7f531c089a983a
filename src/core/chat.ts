/**
 * The one internal request/response/event model. Every front door translates its wire format into these
 * types and every provider adapter translates them out again, so the core never learns which dialect or
 * provider it is serving.
 */

export interface TextPart {
  type: 'text';
  text: string;
}

export type ImageSource = { kind: 'url'; url: string } | { kind: 'base64'; mediaType: string; data: string };

export interface ImagePart {
  type: 'image';
  source: ImageSource;
}

/** A call the assistant made to a tool. `arguments` is the raw JSON text, as models stream it. */
export interface ToolCallPart {
  type: 'tool_call';
  id: string;
  name: string;
  arguments: string;
}

/** The caller's answer to a tool call. Lives in a user message (Anthropic's model of it). */
export interface ToolResultPart {
  type: 'tool_result';
  toolCallId: string;
  content: Array<TextPart | ImagePart>;
  isError?: boolean;
}

export type Message =
  | { role: 'system'; content: TextPart[] }
  | { role: 'user'; content: Array<TextPart | ImagePart | ToolResultPart> }
  | { role: 'assistant'; content: Array<TextPart | ToolCallPart> };

export type Role = Message['role'];

export interface ToolDefinition {
  name: string;
  description?: string;
  /** JSON Schema of the arguments object. */
  parameters: Record<string, unknown>;
}

export type ToolChoice =
  | { type: 'auto' }
  | { type: 'none' }
  | { type: 'required' }
  | { type: 'tool'; name: string };

export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; name: string; schema: Record<string, unknown>; strict?: boolean };

export interface ChatRequest {
  /** The public model name the caller asked for (routing key). Adapters substitute the deployment's model. */
  model: string;
  messages: Message[];
  tools?: ToolDefinition[];
  toolChoice?: ToolChoice;
  parallelToolCalls?: boolean;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  seed?: number;
  stop?: string[];
  responseFormat?: ResponseFormat;
  stream: boolean;
  /** OpenAI `stream_options.include_usage`; Anthropic always reports usage. */
  includeUsage?: boolean;
  /** End-user id for abuse tracking (OpenAI `user`, Anthropic `metadata.user_id`). */
  user?: string;
  /**
   * The final assistant message is a partial answer to be continued, not a finished turn
   * (Anthropic prefill, vLLM `continue_final_message`). Set by doors and by mid-stream failover.
   */
  continueFinalMessage?: boolean;
}

export type FinishReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use' | 'content_filter';

export interface Usage {
  inputTokens: number;
  outputTokens: number;
}

/**
 * The internal event stream. Upstream adapters produce it (unary upstream answers too, so there is one
 * path); doors render it. Order: `start`, then any of text / tool_call_start / tool_call_delta, then
 * optional `usage`, then exactly one `finish`. Failures are thrown from the iterator, never emitted.
 */
export type StreamEvent =
  | { type: 'start'; id?: string; model?: string }
  | { type: 'text'; text: string }
  | { type: 'tool_call_start'; index: number; id: string; name: string }
  | { type: 'tool_call_delta'; index: number; argumentsDelta: string }
  | { type: 'usage'; usage: Partial<Usage> }
  | { type: 'finish'; reason: FinishReason; stopSequence?: string };

export interface ChatResponse {
  id: string;
  model: string;
  content: Array<TextPart | ToolCallPart>;
  finishReason: FinishReason;
  stopSequence?: string;
  usage: Usage;
}
