/**
 * Anthropic Messages API wire shapes (POST /v1/messages, anthropic-version 2023-06-01), as documented at
 * docs.anthropic.com. Only what Holdfast reads or writes is typed; the many server-tool and beta blocks
 * appear only as the names the door refuses and the adapter skips.
 */

// ---- request ----

export interface WireTextBlock {
  type: 'text';
  text: string;
}

export type WireImageSource =
  | { type: 'base64'; media_type: WireImageMediaType; data: string }
  | { type: 'url'; url: string };

export type WireImageMediaType = 'image/jpeg' | 'image/png' | 'image/gif' | 'image/webp';

export interface WireImageBlock {
  type: 'image';
  source: WireImageSource;
}

export interface WireToolUseBlock {
  type: 'tool_use';
  id: string;
  name: string;
  /** The arguments object (Anthropic sends and takes parsed JSON, not text). */
  input: Record<string, unknown>;
}

export interface WireToolResultBlock {
  type: 'tool_result';
  tool_use_id: string;
  content?: string | Array<WireTextBlock | WireImageBlock>;
  is_error?: boolean;
}

export type WireUserBlock = WireTextBlock | WireImageBlock | WireToolResultBlock;
export type WireAssistantBlock = WireTextBlock | WireToolUseBlock;

export type WireMessage =
  | { role: 'user'; content: string | WireUserBlock[] }
  | { role: 'assistant'; content: string | WireAssistantBlock[] };

export interface WireTool {
  name: string;
  description?: string;
  input_schema: Record<string, unknown>;
}

export type WireToolChoice =
  | { type: 'auto'; disable_parallel_tool_use?: boolean }
  | { type: 'any'; disable_parallel_tool_use?: boolean }
  | { type: 'tool'; name: string; disable_parallel_tool_use?: boolean }
  | { type: 'none' };

export interface WireMessagesRequest {
  model: string;
  messages: WireMessage[];
  max_tokens: number;
  system?: string | WireTextBlock[];
  stop_sequences?: string[];
  temperature?: number;
  top_p?: number;
  top_k?: number;
  metadata?: { user_id?: string | null };
  tools?: WireTool[];
  tool_choice?: WireToolChoice;
  stream?: boolean;
}

// ---- response ----

export type WireStopReason =
  | 'end_turn'
  | 'max_tokens'
  | 'stop_sequence'
  | 'tool_use'
  | 'pause_turn'
  | 'refusal'
  | 'model_context_window_exceeded';

export interface WireUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

/** Response content: the two block kinds we map, plus any other kind (thinking, server tools), skipped. */
export type WireResponseBlock = WireTextBlock | WireToolUseBlock | { type: string };

export interface WireMessageResponse {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: WireResponseBlock[];
  stop_reason: WireStopReason | null;
  stop_sequence: string | null;
  usage: WireUsage;
}

// ---- streaming (each SSE `event:` name equals the data's `type`) ----

export interface WireMessageStartEvent {
  type: 'message_start';
  message: WireMessageResponse;
}

export interface WireContentBlockStartEvent {
  type: 'content_block_start';
  index: number;
  content_block: WireResponseBlock;
}

export type WireContentDelta =
  | { type: 'text_delta'; text: string }
  | { type: 'input_json_delta'; partial_json: string }
  | { type: 'thinking_delta'; thinking: string }
  | { type: 'signature_delta'; signature: string }
  | { type: 'citations_delta'; citation: unknown };

export interface WireContentBlockDeltaEvent {
  type: 'content_block_delta';
  index: number;
  delta: WireContentDelta;
}

export interface WireContentBlockStopEvent {
  type: 'content_block_stop';
  index: number;
}

export interface WireMessageDeltaEvent {
  type: 'message_delta';
  delta: { stop_reason: WireStopReason | null; stop_sequence: string | null };
  /** Cumulative. Newer API versions also repeat the input counts here. */
  usage: { output_tokens: number } & Partial<Omit<WireUsage, 'output_tokens'>>;
}

export interface WireMessageStopEvent {
  type: 'message_stop';
}

export interface WirePingEvent {
  type: 'ping';
}

export interface WireErrorEvent {
  type: 'error';
  error: WireErrorObject;
}

export type WireStreamEvent =
  | WireMessageStartEvent
  | WireContentBlockStartEvent
  | WireContentBlockDeltaEvent
  | WireContentBlockStopEvent
  | WireMessageDeltaEvent
  | WireMessageStopEvent
  | WirePingEvent
  | WireErrorEvent;

// ---- errors ----

export type WireErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'billing_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'timeout_error'
  | 'api_error'
  | 'overloaded_error';

export interface WireErrorObject {
  type: WireErrorType | (string & {});
  message: string;
  /** Machine-readable detail some errors carry (e.g. `enforced_spend_limit_reached`). */
  details?: { error_code?: string } | null;
}

/** The body of every non-2xx answer, and the data of an in-stream `event: error`. */
export interface WireErrorBody {
  type: 'error';
  error: WireErrorObject;
  request_id?: string | null;
}
