import type { ChatRequest, StreamEvent } from './chat.ts';

export interface CallContext {
  /** Aborts the upstream call (caller went away, deadline, shutdown). */
  signal: AbortSignal;
  requestId: string;
}

/**
 * The provider port. One instance per deployment. `call` always yields the internal event stream: when
 * `req.stream` is false the adapter makes a unary upstream call and replays the answer as events, so the
 * pipeline has a single path. Failures are thrown as `UpstreamError` (classified by the adapter).
 */
export interface ProviderAdapter {
  /** The upstream model id this deployment serves (the public name is mapped to it). */
  readonly upstreamModel: string;
  call(req: ChatRequest, ctx: CallContext): AsyncIterable<StreamEvent>;
  /** Releases pooled connections. */
  close(): Promise<void>;
}
