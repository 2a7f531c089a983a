/**
 * Span attribute names. The GenAI ones follow the OpenTelemetry GenAI semantic conventions; they are
 * spelled out here rather than imported because `@opentelemetry/semantic-conventions` marks them
 * incubating (deprecated there since they moved to their own repository), and its guidance is to copy
 * incubating names instead of depending on an entry point that changes in minor releases.
 */
export const GEN_AI = {
  operationName: 'gen_ai.operation.name',
  providerName: 'gen_ai.provider.name',
  /** The older name of gen_ai.provider.name; still what many backends key their GenAI views on. */
  system: 'gen_ai.system',
  requestModel: 'gen_ai.request.model',
  requestStream: 'gen_ai.request.stream',
  responseModel: 'gen_ai.response.model',
  finishReasons: 'gen_ai.response.finish_reasons',
  timeToFirstChunk: 'gen_ai.response.time_to_first_chunk',
  inputTokens: 'gen_ai.usage.input_tokens',
  outputTokens: 'gen_ai.usage.output_tokens',
} as const;

/** Holdfast's own attributes: what the GenAI conventions have no word for. */
export const HOLDFAST = {
  requestId: 'holdfast.request_id',
  flag: 'holdfast.flag',
  outcome: 'holdfast.outcome',
  dialect: 'holdfast.dialect',
  stream: 'holdfast.stream',
  failovers: 'holdfast.failovers',
  attempts: 'holdfast.attempts',
  ttftMs: 'holdfast.ttft_ms',
  finishReason: 'holdfast.finish_reason',
  keyId: 'holdfast.key_id',
  deployment: 'holdfast.deployment',
  provider: 'holdfast.provider',
  region: 'holdfast.region',
  attemptIndex: 'holdfast.attempt.index',
  attemptResult: 'holdfast.attempt.result',
  errorKind: 'holdfast.error_kind',
  midStream: 'holdfast.mid_stream',
  firstTokenMs: 'holdfast.first_token_ms',
} as const;

/** The span event marking the first token relayed to the caller (server span) or received (attempt). */
export const FIRST_TOKEN_EVENT = 'holdfast.first_token';
