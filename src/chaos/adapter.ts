import type { ChatRequest, StreamEvent } from '../core/chat.ts';
import type { CallContext, ProviderAdapter } from '../core/provider.ts';
import { UpstreamError } from '../core/upstream-error.ts';
import type { ChaosRegistry, RequestPlan } from './registry.ts';

export interface WithChaosOptions {
  /**
   * The deployment's `timeouts.first_byte_ms`. The HTTP transport turns a silent upstream into a timeout
   * after this long; a blackhole or an over-long latency fault does the same when it is given.
   */
  firstByteTimeoutMs?: number;
  /** The deployment's `timeouts.idle_ms`: how long a stall lasts before it becomes a timeout. */
  idleTimeoutMs?: number;
}

/**
 * Wraps a deployment's adapter so faults injected through the chaos API strike it, whatever its provider.
 * A fault looks to the core exactly like the real failure would (same UpstreamError kind, status,
 * retry-after, mid-stream flag, timing), so a drill exercises the real retry, failover and timeout code.
 */
export function withChaos(
  inner: ProviderAdapter,
  deploymentId: string,
  registry: ChaosRegistry,
  opts: WithChaosOptions = {},
): ProviderAdapter {
  return {
    upstreamModel: inner.upstreamModel,
    call(req, ctx) {
      // The hot path: without faults the inner stream is returned as is, not re-yielded through a generator.
      if (!registry.hasAny(deploymentId)) return inner.call(req, ctx);
      const plan = registry.decide(deploymentId);
      if (plan.faults.length === 0) return inner.call(req, ctx);
      return chaosCall(inner, req, ctx, plan, opts);
    },
    close: () => inner.close(),
  };
}

const TOKEN_EVENTS: ReadonlySet<StreamEvent['type']> = new Set(['text', 'tool_call_delta']);

async function* chaosCall(
  inner: ProviderAdapter,
  req: ChatRequest,
  ctx: CallContext,
  plan: RequestPlan,
  opts: WithChaosOptions,
): AsyncGenerator<StreamEvent> {
  const firstByte = opts.firstByteTimeoutMs;
  if (plan.latencyMs > 0) {
    if (firstByte !== undefined && plan.latencyMs >= firstByte) {
      await pause(firstByte, ctx.signal);
      throw timeout('UND_ERR_HEADERS_TIMEOUT', 'latency', false);
    }
    await pause(plan.latencyMs, ctx.signal);
  }
  if (plan.hang) {
    await pause(firstByte, ctx.signal);
    throw timeout('UND_ERR_HEADERS_TIMEOUT', 'blackhole', false);
  }
  if (plan.failWith) throw plan.failWith;

  const cutAt = plan.cutAfterTokens;
  const stallAt = plan.stallAfterTokens;
  if (cutAt === undefined && stallAt === undefined) {
    yield* inner.call(req, ctx);
    return;
  }
  // Whichever comes first strikes; on a tie the stall (the harder one to detect) wins.
  const stall = stallAt !== undefined && (cutAt === undefined || stallAt <= cutAt);
  const limit = (stall ? stallAt : cutAt) as number;

  if (!req.stream) {
    // A unary answer reaches the core only once its whole body is read, so a broken body means nothing
    // was delivered: the failure is not mid-stream, and the partial answer is never seen.
    const events: StreamEvent[] = [];
    let tokens = 0;
    for await (const ev of inner.call(req, ctx)) {
      if (TOKEN_EVENTS.has(ev.type) && ++tokens > limit) {
        if (stall) {
          await pause(opts.idleTimeoutMs, ctx.signal);
          throw timeout('UND_ERR_BODY_TIMEOUT', 'stall', false);
        }
        throw cut(false);
      }
      events.push(ev);
    }
    yield* events;
    return;
  }

  let tokens = 0;
  // Throwing inside the loop returns the inner iterator, which releases the real upstream connection.
  for await (const ev of inner.call(req, ctx)) {
    if (TOKEN_EVENTS.has(ev.type)) {
      if (tokens >= limit) {
        if (stall) {
          await pause(opts.idleTimeoutMs, ctx.signal);
          throw timeout('UND_ERR_BODY_TIMEOUT', 'stall', true);
        }
        throw cut(true);
      }
      tokens += 1;
    }
    yield ev;
  }
}

/**
 * Waits `ms` (forever when undefined). A caller abort rejects with the signal's own reason, untouched, as
 * the transport does: an abort is not the upstream's fault.
 */
function pause(ms: number | undefined, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      reject(signal.reason);
    };
    const timer =
      ms === undefined
        ? undefined
        : setTimeout(() => {
            signal.removeEventListener('abort', onAbort);
            resolve();
          }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Worded like the transport's own classification so logs read the same, plus the fault that caused it. */
function timeout(code: string, fault: string, midStream: boolean): UpstreamError {
  return new UpstreamError({
    kind: 'timeout',
    message: `upstream timeout: ${code} (chaos ${fault})`,
    providerCode: `chaos_${fault}`,
    midStream,
  });
}

function cut(midStream: boolean): UpstreamError {
  return new UpstreamError({
    kind: 'connection',
    message: 'upstream connection failure: ECONNRESET (chaos cut)',
    providerCode: 'chaos_cut',
    midStream,
  });
}
