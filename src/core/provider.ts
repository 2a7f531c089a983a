import type { ChatRequest, StreamEvent } from './chat.ts';

export interface CallContext {
  /** Aborts the upstream call (caller went away, deadline, shutdown). */
  signal: AbortSignal;
  requestId: string;
}

/** Events in arrival order, as one upstream read delivered them. Never empty. */
export type EventBatch = readonly StreamEvent[];

/**
 * An event stream that can also be read a batch at a time. The pipeline reads batches: one upstream read
 * often carries dozens of events, and an async step per event per layer was most of a stream's cost.
 * Plain per-event iteration stays for wrappers (chaos) and tests.
 */
export interface EventStream extends AsyncIterable<StreamEvent> {
  batches(): AsyncIterator<EventBatch>;
}

/** Wraps a batch source as an EventStream (each iteration starts it afresh, as a generator would). */
export function eventStream(batches: () => AsyncIterator<EventBatch>): EventStream {
  return {
    batches,
    async *[Symbol.asyncIterator]() {
      const it = batches();
      try {
        for (let r = await it.next(); !r.done; r = await it.next()) yield* r.value;
      } finally {
        // Stopped early (or failed): let the source release its upstream connection.
        await it.return?.();
      }
    },
  };
}

function isEventStream(events: AsyncIterable<StreamEvent>): events is EventStream {
  return typeof (events as Partial<EventStream>).batches === 'function';
}

/** Reads any event stream a batch at a time: natively when it offers batches, else one event per batch. */
export function batchesOf(events: AsyncIterable<StreamEvent>): AsyncIterator<EventBatch> {
  if (isEventStream(events)) return events.batches();
  const it = events[Symbol.asyncIterator]();
  return {
    async next(): Promise<IteratorResult<EventBatch>> {
      const r = await it.next();
      return r.done ? { done: true, value: undefined } : { done: false, value: [r.value] };
    },
    async return(): Promise<IteratorResult<EventBatch>> {
      await it.return?.();
      return { done: true, value: undefined };
    },
  };
}

/**
 * The provider port. One instance per deployment. `call` always yields the internal event stream: when
 * `req.stream` is false the adapter makes a unary upstream call and replays the answer as events, so the
 * pipeline has a single path. Failures are thrown as `UpstreamError` (classified by the adapter). Adapters
 * return an `EventStream` so the pipeline can read it by batches; any AsyncIterable still works.
 */
export interface ProviderAdapter {
  /** The upstream model id this deployment serves (the public name is mapped to it). */
  readonly upstreamModel: string;
  call(req: ChatRequest, ctx: CallContext): AsyncIterable<StreamEvent>;
  /** Releases pooled connections. */
  close(): Promise<void>;
}
