import type { EventBatch } from '../core/provider.ts';
import type { RequestContext } from './context.ts';

/**
 * The upstream half of the pipeline, undici-style: a Dispatch turns a routed request into the internal
 * event stream, and interceptors wrap it. The core dispatch is the resilience engine
 * (src/pipeline/resilient.ts); the chain is composed once at startup. Events travel in batches (as one
 * upstream read delivered them, never empty), so each async layer costs a step per read, not per event.
 */
export type Dispatch = (ctx: RequestContext) => AsyncIterable<EventBatch>;
export type Interceptor = (next: Dispatch) => Dispatch;

export function composeDispatch(core: Dispatch, interceptors: readonly Interceptor[]): Dispatch {
  return interceptors.reduceRight<Dispatch>((next, wrap) => wrap(next), core);
}
