/**
 * OpenAI Chat Completions wire shapes (as documented at platform.openai.com/docs/api-reference/chat),
 * plus the few extensions the OpenAI-compatible servers we talk to add (vLLM, Ollama, llama.cpp).
 * Only what Holdfast reads or writes is typed; everything else on the wire is ignored.
 */

// ---- request ----

export interface WireTextPart {
  type: 'text';
  text: string;
}

export interface WireImagePart {
  type: 'image_url';
  image_url: { url: string; detail?: 'auto' | 'low' | 'high' };
}

/** Only valid in assistant messages: a refusal the model gave earlier. */
export interface WireRefusalPart {
  type: 'refusal';
  refusal: string;
}

export interface WireToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface WireSystemMessage {
  role: 'system' | 'developer';
  content: string | WireTextPart[];
  name?: string;
}

export interface WireUserMessage {
  role: 'user';
  content: string | Array<WireTextPart | WireImagePart>;
  name?: string;
}

export interface WireAssistantMessage {
  role: 'assistant';
  content?: string | Array<WireTextPart | WireRefusalPart> | null;
  refusal?: string | null;
  tool_calls?: WireToolCall[];
  name?: string;
}

export interface WireToolMessage {
  role: 'tool';
  tool_call_id: string;
  content: string | WireTextPart[];
}

export type WireMessage = WireSystemMessage | WireUserMessage | WireAssistantMessage | WireToolMessage;

export interface WireTool {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean };
}

export type WireToolChoice = 'auto' | 'none' | 'required' | { type: 'function'; function: { name: string } };

export type WireResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | {
      type: 'json_schema';
      json_schema: {
        name: string;
        description?: string;
        schema?: Record<string, unknown>;
        strict?: boolean | null;
      };
    };

export interface WireChatRequest {
  model: string;
  messages: WireMessage[];
  tools?: WireTool[];
  tool_choice?: WireToolChoice;
  parallel_tool_calls?: boolean;
  response_format?: WireResponseFormat;
  stop?: string | string[] | null;
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  seed?: number | null;
  user?: string;
  n?: number | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean } | null;
  /** vLLM: the final assistant message is a partial answer to continue. */
  continue_final_message?: boolean;
  /** vLLM: must be false together with continue_final_message. */
  add_generation_prompt?: boolean;
}

// ---- response ----

export type WireFinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'function_call';

export interface WireUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface WireResponseMessage {
  role: 'assistant';
  content: string | null;
  refusal: string | null;
  tool_calls?: WireToolCall[];
}

export interface WireChoice {
  index: number;
  message: WireResponseMessage;
  logprobs: null;
  finish_reason: WireFinishReason;
  /** vLLM extension: the stop string that ended the answer (absent on OpenAI). */
  stop_reason?: string | number | null;
}

export interface WireChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  system_fingerprint: string | null;
  choices: WireChoice[];
  usage: WireUsage;
}

// ---- stream ----

export interface WireToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function?: { name?: string; arguments?: string };
}

export interface WireDelta {
  role?: 'assistant';
  content?: string | null;
  refusal?: string | null;
  tool_calls?: WireToolCallDelta[];
}

export interface WireChunkChoice {
  index: number;
  delta: WireDelta;
  logprobs: null;
  finish_reason: WireFinishReason | null;
  /** vLLM extension: the stop string that ended the answer (absent on OpenAI). */
  stop_reason?: string | number | null;
}

export interface WireChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  system_fingerprint: string | null;
  choices: WireChunkChoice[];
  /** Present (null) on every chunk when include_usage is set; filled on the last one. */
  usage?: WireUsage | null;
}

// ---- error ----

export interface WireErrorBody {
  error: {
    message: string;
    type: string;
    param: string | null;
    code: string | null;
  };
}
