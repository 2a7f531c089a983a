import type { StreamEvent } from '../core/chat.ts';
import type { RequestContext } from './context.ts';

/**
 * The upstream half of the pipeline, undici-style: a Dispatch turns a routed request into the internal
 * event stream, and interceptors wrap it. The core dispatch is the resilience engine
 * (src/pipeline/resilient.ts); the chain is composed once at startup.
 */
export type Dispatch = (ctx: RequestContext) => AsyncIterable<StreamEvent>;
export type Interceptor = (next: Dispatch) => Dispatch;

export function composeDispatch(core: Dispatch, interceptors: readonly Interceptor[]): Dispatch {
  return interceptors.reduceRight<Dispatch>((next, wrap) => wrap(next), core);
}
