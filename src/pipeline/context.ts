import type { IncomingHttpHeaders } from 'node:http';
import type { ChatRequest } from '../core/chat.ts';
import type { Door } from '../core/door.ts';
import type { DeploymentRuntime } from '../providers/registry.ts';

/** Who is calling: the admin key, a virtual key, or nobody (open mode). */
export type Caller =
  | { kind: 'admin' }
  | {
      kind: 'key';
      keyId: string;
      models: readonly string[];
      /** The key's own overrides of the configured per-key limits. */
      limits?: { rpm?: number; tpm?: number; concurrent?: number };
      /** Highest priority class the key may use (and its default). */
      priority?: 'critical' | 'interactive' | 'batch';
    }
  | { kind: 'open' }
  /** The built-in chat app, acting for the end user named in the request's `user` field. */
  | { kind: 'app' };

/** One public model and the deployments that serve it. */
export interface ModelRoute {
  readonly name: string;
  readonly ownedBy: string;
  readonly deployments: readonly DeploymentRuntime[];
}

/**
 * Everything one request accumulates on its way through the pipeline. Stages fill fields in order
 * (see `docs/architecture.md`, "Request lifecycle"); later stages may rely on earlier ones' fields.
 */
export interface RequestContext {
  readonly requestId: string;
  readonly door: Door;
  /** Epoch ms. */
  readonly startedAt: number;
  /** performance.now() at arrival, for latencies. */
  readonly t0: number;
  readonly headers: IncomingHttpHeaders;
  /** The client's address (the socket's; a proxy's X-Forwarded-For is not trusted by default). */
  readonly ip: string;
  /** Headers every answer carries (rate-limit state, …), whatever its outcome. */
  readonly responseHeaders: Record<string, string>;
  /** Called while the request waits for capacity (the waiting room): its place and expected wait. */
  onQueued?: (position: number, estimatedWaitMs: number) => void;
  /** Run once when the request ends, with the tokens it really used (limits release and refund here). */
  readonly onEnd: Array<(usage: { inputTokens: number; outputTokens: number }) => void>;
  readonly body: unknown;
  /** Aborts when the caller disconnects or shutdown runs out of patience. */
  readonly signal: AbortSignal;
  caller?: Caller;
  request?: ChatRequest;
  route?: ModelRoute;
  /** Tokens the request may use (prompt + output allowance), once estimated (src/pipeline/estimate.ts). */
  tokenEstimate?: number;
  /** Upstream attempts made so far (hedges included). */
  attempts: number;
  /** Times the request moved to another deployment: retries, fallbacks, mid-stream continuations, hedges. */
  failovers: number;
  /** A hedged second attempt was started. */
  hedged?: boolean;
  /** The deployment of the latest attempt. */
  deployment?: DeploymentRuntime;
}

/** A lifecycle stage: reads and fills the context, or throws a HoldfastError to end the request. */
export interface Stage {
  readonly name: string;
  run(ctx: RequestContext): void | Promise<void>;
}

/** A fresh context for an arriving request: every counter at zero, clocks read now. */
export function newRequestContext(init: {
  requestId: string;
  door: Door;
  headers: IncomingHttpHeaders;
  ip: string;
  body: unknown;
  signal: AbortSignal;
}): RequestContext {
  return {
    ...init,
    startedAt: Date.now(),
    t0: performance.now(),
    responseHeaders: {},
    onEnd: [],
    attempts: 0,
    failovers: 0,
  };
}
