import { z } from 'zod';
import { DEPLOYMENT_FAULT_KINDS, UPSTREAM_ERROR_KINDS } from '../core/upstream-error.ts';

/**
 * The one config schema (holdfast.yaml). snake_case on disk, validated once at startup, then frozen.
 * Defaults live here so the rest of the code reads fully-populated values.
 */

const timeouts = z
  .object({
    /** TCP connect. */
    connect_ms: z.number().int().positive().default(5_000),
    /** Request sent → response headers (for a stream: the first byte). */
    first_byte_ms: z.number().int().positive().default(60_000),
    /** Longest silence inside a streamed body. */
    idle_ms: z.number().int().positive().default(30_000),
    /** Whole call, end to end. */
    total_ms: z.number().int().positive().default(600_000),
  })
  .strict()
  .prefault({});

export const simulatorFaults = z
  .object({
    /** Refuse TCP connections (the port is closed). */
    refuse: z.boolean().default(false),
    /** Accept connections and never answer. */
    blackhole: z.boolean().default(false),
    /** Extra latency before the first byte, on top of ttft_ms. */
    slow_ms: z.number().int().min(0).default(0),
    /** Fraction of requests answered with one of error_statuses. */
    error_rate: z.number().min(0).max(1).default(0),
    /** HTTP statuses an injected error is drawn from (uniformly), e.g. [503] to drill one failure kind. */
    error_statuses: z.array(z.number().int().min(400).max(599)).nonempty().default([500, 502, 503]),
    /** Fraction of requests answered 429 with retry-after. */
    rate_limit_rate: z.number().min(0).max(1).default(0),
    /** Retry-after (seconds) on injected 429 and 529 answers; the gateway keeps traffic off that long. */
    retry_after_s: z.number().min(0).default(1),
    /** Fraction of requests answered 529 overloaded. */
    overloaded_rate: z.number().min(0).max(1).default(0),
    /** Drop the connection after this many streamed tokens. */
    cut_after_tokens: z.number().int().min(0).optional(),
    /** Stop sending (keep the connection open) after this many streamed tokens. */
    stall_after_tokens: z.number().int().min(0).optional(),
    /** Send one unparseable SSE chunk after this many streamed tokens. */
    malformed_after_tokens: z.number().int().min(0).optional(),
  })
  .strict();

export type SimulatorFaults = z.infer<typeof simulatorFaults>;

export const simulatorOptions = z
  .object({
    /** Which wire the simulated deployment speaks. */
    dialect: z.enum(['openai', 'anthropic']).default('openai'),
    /** Time to first token. */
    ttft_ms: z.number().int().min(0).default(40),
    /** Streaming speed; 0 sends every token at once. */
    tokens_per_sec: z.number().min(0).default(200),
    /** Length of an answer when max_tokens does not cut it shorter. */
    answer_tokens: z.number().int().positive().default(24),
    /** Concurrent requests served at full speed. */
    capacity: z.number().int().positive().default(64),
    /** Requests past capacity that are still taken (slower); beyond that: 429 (openai) / 529 (anthropic). */
    queue: z.number().int().min(0).default(64),
    /** Deterministic seed for fault sampling. */
    seed: z.number().int().default(1),
    faults: simulatorFaults.prefault({}),
  })
  .strict()
  .prefault({});

export type SimulatorOptions = z.infer<typeof simulatorOptions>;

export const deploymentSchema = z
  .object({
    /** Unique across all models; names the deployment in logs, outcome records, health and chaos commands. */
    id: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only'),
    /**
     * Upstream wire: `openai` (also Azure OpenAI and OpenAI-compatible servers), `anthropic`, or
     * `simulator` (a fake upstream Holdfast starts on loopback, set up under `simulator`).
     */
    provider: z.enum(['openai', 'anthropic', 'simulator']),
    /** Required for openai/anthropic; the simulator gets a loopback URL at startup. */
    base_url: z.url().optional(),
    /**
     * Upstream credential: `Authorization: Bearer` (openai), `api-key` (Azure), `x-api-key` (anthropic).
     * Unset sends none (e.g. a local server). Keep it in the environment: `${OPENAI_API_KEY}`.
     */
    api_key: z.string().optional(),
    /** The model id upstream. */
    model: z.string().min(1),
    /** Free-form label recorded in attempt and request outcomes and shown at startup; not used in routing. */
    region: z.string().default('default'),
    /** Traffic share against the other deployments of its tier (2 gets about twice as much as 1). */
    weight: z.number().positive().default(1),
    /** Priority tier: 0 is preferred; higher tiers take traffic as lower tiers lose health (spill-over). */
    tier: z.number().int().min(0).default(0),
    /** Extra headers sent upstream (e.g. OpenAI-Organization, custom auth for a proxy). */
    headers: z.record(z.string(), z.string()).default({}),
    /** Pool size: max concurrent connections (= concurrent streams) to this deployment. */
    max_connections: z.number().int().positive().default(256),
    timeouts,
    /** Azure OpenAI: `api-version` query parameter. With azure_deployment, switches to Azure paths. */
    api_version: z.string().optional(),
    /** Azure OpenAI deployment name: POST {base_url}/openai/deployments/{name}/chat/completions. */
    azure_deployment: z.string().optional(),
    /** Anthropic `anthropic-version` header. */
    anthropic_version: z.string().default('2023-06-01'),
    /**
     * How to continue a partial answer here (mid-stream failover): `instruction` appends an explicit
     * user instruction (works on any chat model); `prefill` sends the partial as the final assistant turn
     * (Anthropic natively; vLLM via continue_final_message). Default: prefill for anthropic and the
     * simulator, instruction for openai.
     */
    continuation: z.enum(['instruction', 'prefill']).optional(),
    simulator: simulatorOptions,
  })
  .strict()
  .superRefine((d, ctx) => {
    if (d.provider !== 'simulator' && !d.base_url) {
      ctx.addIssue({
        code: 'custom',
        path: ['base_url'],
        message: `base_url is required for provider ${d.provider}`,
      });
    }
  });

export type DeploymentConfig = z.infer<typeof deploymentSchema>;

/** Upstream failure kinds (see src/core/upstream-error.ts), as config values. */
export const failureKind = z.enum(UPSTREAM_ERROR_KINDS);

/** By default a group falls back on anything that is the provider's fault, never on the caller's mistake. */
const DEFAULT_FALLBACK_ON = DEPLOYMENT_FAULT_KINDS;

function classSchema(targetWaitMs: number, maxWaitMs: number) {
  return z
    .object({
      /**
       * CoDel target (ms): once the class's oldest request has waited longer than this for 100 ms, queued
       * requests older than it are shed. Raise to queue more and shed less under sustained overload.
       */
      target_wait_ms: z.number().int().positive().default(targetWaitMs),
      /** Hard cap (ms) on a request's wait in this class; past it the request fails with `queue_timeout`. */
      max_wait_ms: z.number().int().positive().default(maxWaitMs),
    })
    .strict()
    .prefault({});
}

/** One multi-window burn-rate rule of the status system. */
function burnPair(shortS: number, longS: number, burn: number) {
  return z
    .object({
      /** Short window (seconds): the trouble is still on; also how soon the pair stops once it ends. */
      short_s: z.number().positive().default(shortS),
      /** Long window (seconds): the trouble is real, not a blip. */
      long_s: z.number().positive().default(longS),
      /**
       * Fires when the error budget (or slow-request budget) burns at least this many times faster than the
       * SLO allows in both windows. Lower fires on milder trouble.
       */
      burn: z.number().positive().default(burn),
    })
    .strict()
    .prefault({});
}

/** One scope's limits; unset means unlimited. */
const limitSchema = z
  .object({
    /** Requests per minute. */
    rpm: z.number().int().positive().optional(),
    /** Tokens per minute (prompt estimate + max output; corrected when usage arrives). */
    tpm: z.number().int().positive().optional(),
    /** Requests in flight at once. */
    concurrent: z.number().int().positive().optional(),
  })
  .strict()
  .prefault({});

export type LimitConfig = z.infer<typeof limitSchema>;

export const modelSchema = z
  .object({
    /** Public model name callers use. */
    name: z.string().min(1),
    /** Shown in /v1/models. */
    owned_by: z.string().default('holdfast'),
    deployments: z.array(deploymentSchema).nonempty(),
    /** Other model groups to try, in order, when this one cannot answer. */
    fallbacks: z.array(z.string()).default([]),
    /** Failure kinds that may move a request to a fallback group (add context_too_long for a bigger model). */
    fallback_on: z
      .array(failureKind)
      .default([...DEFAULT_FALLBACK_ON])
      .refine((kinds) => !kinds.includes('bad_request') && !kinds.includes('content_filter'), {
        message: "a caller's own mistake (bad_request, content_filter) never falls back",
      }),
    /** A stream that breaks after output reached the caller: continue it elsewhere, or fail it in band. */
    mid_stream: z.enum(['continue', 'fail']).default('continue'),
    /** Default request deadline; callers may lower it with the `x-holdfast-deadline-ms` header. */
    deadline_ms: z.number().int().positive().default(300_000),
    retry: z
      .object({
        /** Upstream attempts per request, all groups included (the first try counts). */
        max_attempts: z.number().int().min(1).max(10).default(3),
        /** Retries may add at most this share of recent requests ([Envoy, Linkerd] retry budgets)… */
        budget_ratio: z.number().min(0).max(1).default(0.2),
        /** …but this many concurrent retries are always allowed… */
        min_concurrent: z.number().int().min(0).default(3),
        /** …and this many retries per second (Linkerd's floor), so small deployments are not starved. */
        min_retries_per_sec: z.number().min(0).default(10),
        /**
         * Before a retry or failover, wait a random time up to base × 2^(retry−1) ms (full jitter),
         * within the deadline. Raise to spread retries out more.
         */
        backoff_base_ms: z.number().int().min(0).default(25),
        /** Cap (ms) on that backoff ceiling, so later retries do not wait ever longer. */
        backoff_cap_ms: z.number().int().min(0).default(1_000),
      })
      .strict()
      .prefault({}),
    hedge: z
      .object({
        /** Start a second attempt elsewhere when the first has no first byte by the group's p95 TTFT. */
        enabled: z.boolean().default(true),
        /** Hedges may add at most this share of requests. */
        budget_ratio: z.number().min(0).max(1).default(0.05),
        /** Never hedge sooner than this. */
        min_delay_ms: z.number().int().min(0).default(50),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type ModelConfig = z.infer<typeof modelSchema>;

export const configSchema = z
  .object({
    server: z
      .object({
        /** Interface to listen on; `0.0.0.0` (or `::`) serves other machines. `--host` overrides it. */
        host: z.string().default('127.0.0.1'),
        /** TCP port to listen on; 0 picks a free one. `--port` overrides it. */
        port: z.number().int().min(0).max(65535).default(8080),
        /** Largest request body, in bytes; bigger ones get 413. Raise for long prompts or inline images. */
        body_limit_bytes: z
          .number()
          .int()
          .positive()
          .default(10 * 1024 * 1024),
        /** SIGTERM: how long in-flight requests and streams get to finish. */
        shutdown_grace_ms: z.number().int().min(0).default(30_000),
        /**
         * SIGTERM: how long a stopping replica fails /health/ready while it still accepts and serves
         * everything, before it stops accepting connections: give a load balancer time to stop sending
         * traffic (more than its health-check interval × failures to mark down). 0 stops at once.
         */
        drain_delay_ms: z.number().int().min(0).default(5_000),
        /**
         * Accept requests without an API key. `auto` = on only when bound to loopback and no admin key
         * is set (local demo); never implied on a public interface.
         */
        open_mode: z.union([z.boolean(), z.literal('auto')]).default('auto'),
        /** Seconds between SSE keep-alives while waiting on upstream. */
        keepalive_s: z.number().positive().default(15),
        /**
         * Behind a reverse proxy or load balancer: trust its X-Forwarded-For for the client address (per-IP
         * limits, login throttling). true trusts every hop; a list of addresses/CIDRs trusts those proxies
         * only. Off by default: a forged header must not pick the address.
         */
        trust_proxy: z.union([z.boolean(), z.array(z.string().min(1))]).default(false),
        /**
         * Time a client gets to send a request's headers, counted from connecting (or from a kept-alive
         * request's first byte); slower ones get 408 and are closed (slowloris). At most request_timeout_ms.
         */
        headers_timeout_ms: z.number().int().positive().default(10_000),
        /**
         * Time a client gets to send a whole request, headers and body; slower ones get 408 and are closed.
         * Only the request is timed: answers and SSE streams may take as long as they need.
         */
        request_timeout_ms: z.number().int().positive().default(120_000),
        /** A kept-alive connection with no request is closed after this; keep it above your load balancer's. */
        keep_alive_timeout_ms: z.number().int().positive().default(72_000),
        /**
         * A connection on which nothing moves either way for this long is closed, except while its answer
         * is still being worked on (a unary answer waiting on its upstream, a stream between events): this
         * catches clients that stop reading. 0 turns it off.
         */
        idle_timeout_ms: z.number().int().min(0).default(120_000),
        /** Largest request head (request line and headers), in bytes; bigger ones get 431. */
        max_header_bytes: z.number().int().positive().default(16_384),
        /** Request headers read per request; ones past this many are ignored. */
        max_headers: z.number().int().positive().default(100),
        /** Requests one kept-alive connection may carry before it is asked to close; 0 = no limit. */
        max_requests_per_socket: z.number().int().min(0).default(0),
        /**
         * Concurrent TCP connections per peer address; more are closed at once, unanswered. 0 turns it off.
         * Counted on the TCP peer, never on X-Forwarded-For: trusted proxies (trust_proxy) are exempt, and
         * with trust_proxy: true every peer is, so nobody is capped.
         */
        max_connections_per_ip: z.number().int().min(0).default(256),
        /** Peers the per-IP cap leaves alone: addresses, CIDRs or `loopback`/`linklocal`/`uniquelocal`. */
        connection_cap_exempt: z.array(z.string().min(1)).default(['loopback']),
        /**
         * Strict-Transport-Security max-age in seconds on every answer, for a gateway served over https
         * (directly or behind a TLS-terminating proxy); 0 sends none. Browsers ignore it over plain http.
         */
        hsts_max_age_s: z.number().int().min(0).default(0),
      })
      .strict()
      .refine((s) => s.headers_timeout_ms <= s.request_timeout_ms, {
        message: 'headers_timeout_ms must not exceed request_timeout_ms',
        path: ['headers_timeout_ms'],
      })
      .prefault({}),
    auth: z
      .object({
        /** Admin key (also a valid caller key). Usually `${HOLDFAST_ADMIN_KEY}`. */
        admin_key: z.string().min(16, 'admin_key must be at least 16 characters').optional(),
      })
      .strict()
      .prefault({}),
    store: z
      .object({
        /** postgres://… to use PostgreSQL; unset uses embedded PGlite in data_dir. */
        url: z.string().optional(),
        /**
         * Embedded PGlite's folder (created if missing; one process at a time); `memory://` keeps nothing
         * on disk. With url set, only the default home of outage_buffer.
         */
        data_dir: z.string().default('./data'),
        /**
         * PostgreSQL only: while the database is unreachable, chat messages and status telemetry are
         * kept in this bounded write-ahead buffer on local disk and replayed in order when it answers
         * (docs/postgres-outage.md).
         */
        outage_buffer: z
          .object({
            /** false: writes fail while PostgreSQL is unreachable, as they would without the buffer. */
            enabled: z.boolean().default(true),
            /**
             * The buffer's directory (one per replica: a directory another live process holds is skipped
             * for `<dir>-2`, `<dir>-3`…). Default: `<data_dir>/outage-buffer`.
             */
            dir: z.string().optional(),
            /** Most bytes buffered; new chat messages are refused from 90% (the rest is for answers running). */
            max_bytes: z
              .number()
              .int()
              .min(4096)
              .default(64 * 1024 * 1024),
            /** Most writes buffered, refused from 90% like max_bytes. */
            max_entries: z.number().int().min(10).default(200_000),
            /** always: each write is fsynced before it is acknowledged (group commit); never: left to the OS. */
            fsync: z.enum(['always', 'never']).default('always'),
            /** A query taking longer counts as the database being unreachable (and connecting is given as long). */
            timeout_ms: z.number().int().min(100).default(3_000),
            /**
             * How long an API key or chat session verified before the outage keeps working during it,
             * counted from its last successful check: the longest a revocation made elsewhere can go
             * unseen by a replica that cannot reach the database.
             */
            credentials_ttl_s: z.number().int().min(0).default(900),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    /** State shared by replicas through Redis (docs/scale-out.md). */
    shared_state: z
      .object({
        /**
         * redis://… (or rediss://) that every replica uses: rate limits, live replicas and ejections are
         * then cluster-wide. Unset, and no REDIS_URL in the environment: all of it stays in this process.
         */
        redis_url: z.string().optional(),
        /** Prefix of every key and channel, so several clusters (or test runs) can share one Redis. */
        key_prefix: z.string().min(1).default('holdfast:'),
        /** Longest a request waits on Redis; past it that request is answered from this replica's state. */
        timeout_ms: z.number().int().positive().default(10),
        /** Consecutive Redis failures or timeouts that switch the replica to local fallback. */
        fallback_after_failures: z.number().int().positive().default(3),
        /** While Redis is away it is retried with full-jitter backoff between these two delays. */
        reconnect_base_ms: z.number().int().positive().default(100),
        /** Longest wait between two reconnection attempts. */
        reconnect_cap_ms: z.number().int().positive().default(5_000),
        /** How often each replica tells Redis it is alive. */
        heartbeat_ms: z.number().int().positive().default(1_000),
        /**
         * A replica not heard from for this long is gone: it stops counting towards the live replicas that
         * share a limit during an outage, and its concurrency slots are freed.
         */
        replica_ttl_ms: z.number().int().positive().default(5_000),
        /** This replica's name among the others; default: host name, process id and a random suffix. */
        replica_id: z.string().min(1).optional(),
      })
      .strict()
      .prefault({}),
    limits: z
      .object({
        /** Defaults for every virtual key (the admin key and open mode are not limited per key). */
        key: limitSchema,
        /** Per end user (OpenAI `user`, Anthropic `metadata.user_id`). */
        user: limitSchema,
        /** Per client IP address. */
        ip: limitSchema,
        /** Output tokens assumed for a request without max_tokens when estimating its token cost. */
        default_output_tokens: z.number().int().positive().default(1_024),
      })
      .strict()
      .prefault({}),
    admission: z
      .object({
        /** Queue requests when no deployment has room (off: send everything straight through). */
        enabled: z.boolean().default(true),
        /** Each deployment's adaptive concurrency limit starts here and moves between min and max. */
        initial_limit: z.number().int().positive().default(16),
        /** Floor of each deployment's adaptive concurrency limit: overload cuts never go below it. */
        min_limit: z.number().int().positive().default(1),
        /** Ceiling of each deployment's adaptive concurrency limit: growth stops here. */
        max_limit: z.number().int().positive().default(512),
        /**
         * Queue budgets per class: CoDel keeps a standing queue's wait near target_wait_ms; nobody waits
         * past max_wait_ms. Interactive is kept short so admitted requests start nearly as fast as unloaded.
         */
        classes: z
          .object({
            critical: classSchema(1_000, 30_000),
            interactive: classSchema(100, 10_000),
            batch: classSchema(5_000, 120_000),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    chat: z
      .object({
        /** Serve the chat app (UI under /, API under /api/). */
        enabled: z.boolean().default(true),
        /** Model for new conversations; the first configured model when unset. */
        default_model: z.string().min(1).optional(),
        /** Token budget of a conversation's prompt per model (history beyond it is dropped or summarised). */
        context_tokens: z.record(z.string(), z.number().int().positive()).default({}),
        /** Budget for models not in context_tokens. */
        default_context_tokens: z.number().int().positive().default(8_192),
        /** Over budget: 'drop' the oldest turns, or 'summarise' them (one extra model call, cached). */
        overflow: z.enum(['drop', 'summarise']).default('drop'),
        /** Output tokens asked for per answer. */
        max_answer_tokens: z.number().int().positive().default(1_024),
        /** How long a sign-in lasts, in hours (session and cookie); not extended by use. */
        session_ttl_hours: z
          .number()
          .positive()
          .default(24 * 30),
        /** Mark session cookies Secure (set when the app is served over https, directly or by a proxy). */
        secure_cookies: z.boolean().default(false),
        /** Failed sign-ins per account and per IP before sign-in is refused for a while. */
        login_attempts: z.number().int().positive().default(5),
        /** Seconds an account or IP is locked after login_attempts failures (also their counting window). */
        login_lockout_s: z.number().int().positive().default(300),
        /** One counted problem report per user per this window. */
        report_window_s: z.number().int().positive().default(600),
        /**
         * On a shared PostgreSQL, an answer not written for this long is taken as orphaned (its replica
         * died): any replica's sweep, run this often, marks it incomplete and continuable. Live answers
         * write at least every third of it, so it bounds how long a crashed replica's answers look live.
         */
        orphan_after_ms: z.number().int().min(300).default(15_000),
        oidc: z
          .object({
            /** The provider's issuer URL; its /.well-known/openid-configuration must name the same issuer. */
            issuer: z.url(),
            /** This app's client id registered with the provider (checked as the ID token's audience). */
            client_id: z.string().min(1),
            /** Secret of a confidential client; unset: a public client (PKCE only). Keep it in the env. */
            client_secret: z.string().min(1).optional(),
            /** Where the provider sends the browser back: <public origin>/api/auth/oidc/callback */
            redirect_uri: z.url(),
            /** Scopes asked for at sign-in; `openid` is added when missing. */
            scopes: z.array(z.string()).default(['openid', 'email', 'profile']),
          })
          .strict()
          .optional(),
      })
      .strict()
      .prefault({}),
    status: z
      .object({
        /** Serve the status page, the Statuspage-compatible API and feeds, and open incidents automatically. */
        enabled: z.boolean().default(true),
        page: z
          .object({
            /** Title of the status page, its feeds, notifications and emails. */
            name: z.string().min(1).default('Holdfast Status'),
            /** Public URL of the status page (links in feeds, webhooks and emails). */
            url: z.url().default('http://127.0.0.1:8080/status'),
            /** IANA zone (e.g. `Europe/Berlin`) for times on the page and admin pages; also in the API. */
            time_zone: z.string().min(1).default('Etc/UTC'),
          })
          .strict()
          .prefault({}),
        /**
         * Components beyond the defaults (one per model group, grouped under "Models", plus "API" and
         * "Chat app" under "Platform"). `key` is what the stable id derives from: renaming keeps history.
         */
        components: z
          .array(
            z
              .object({
                /** Stable identifier the component's id derives from: change `name`, not this, to rename. */
                key: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/),
                /** Name shown on the page and in the API. */
                name: z.string().min(1),
                /** Text shown with the component on the page and in the API. */
                description: z.string().optional(),
                /** Name of the group to list it under (created if new); unset: top level. */
                group: z.string().optional(),
                /** Model groups whose traffic this component's status is computed from. */
                models: z.array(z.string()).default([]),
              })
              .strict(),
          )
          .default([]),
        slo: z
          .object({
            /** Share of requests that must succeed (server-side failures count, client errors do not). */
            availability: z.number().min(0.5).max(0.99999).default(0.995),
            /** A request is slow when its time to first token exceeds this… */
            latency_ms: z.number().int().positive().default(5_000),
            /** …and this share must not be slow. */
            latency_target: z.number().min(0.5).max(0.99999).default(0.95),
          })
          .strict()
          .prefault({}),
        /**
         * Multi-window burn-rate rules (Google SRE workbook): a pair fires when the error budget burns at
         * least `burn` times too fast over both its long and its short window. Windows may be fractions of
         * a second apart in tests; in production keep the defaults. docs/status.md explains the mapping.
         */
        rules: z
          .object({
            /** Catches a hard outage within a minute: partial_outage, or major_outage past major_error_ratio. */
            fast: burnPair(60, 300, 14.4),
            /**
             * Catches smouldering trouble: degraded_performance. The short window is 5 minutes rather than
             * the workbook's 30: a status page must stop saying "degraded" soon after the trouble ends.
             */
            slow: burnPair(300, 21_600, 6),
            /** Fast pair firing with at least this share of requests failing in its short window: major_outage. */
            major_error_ratio: z.number().min(0).max(1).default(0.5),
            /** A window with fewer requests says nothing; the component is idle (health and probes decide). */
            min_requests: z.number().int().positive().default(5),
            /** …and a pair needs at least this many failures in its short window (one unlucky request is not an outage). */
            min_failures: z.number().int().positive().default(3),
            /** Hysteresis: a status is lowered only after the worse condition stayed clear this long. */
            hold_s: z.number().positive().default(120),
            /** How often statuses are evaluated, persisted and published. */
            tick_ms: z.number().int().min(10).default(1_000),
          })
          .strict()
          .prefault({}),
        incidents: z
          .object({
            /** Open incidents automatically when a component leaves operational. */
            auto: z.boolean().default(true),
            /** …once its status has been computed non-operational for this long without a break. */
            open_after_s: z.number().positive().default(120),
            /** Resolve an automatic incident after its components stayed operational this long. */
            quiet_period_s: z.number().positive().default(600),
          })
          .strict()
          .prefault({}),
        /** Synthetic requests to components with no traffic, so "idle" is not "healthy by default". */
        probes: z
          .object({
            /** Send probes (real 1-token requests upstream); off: idle groups are judged by health alone. */
            enabled: z.boolean().default(true),
            /** Seconds between probe rounds (and each probe's timeout); lower finds idle outages sooner. */
            interval_s: z.number().positive().default(30),
            /** Consecutive failed probes of an idle component that make it a major outage. */
            failures: z.number().int().positive().default(2),
          })
          .strict()
          .prefault({}),
        reports: z
          .object({
            /** One counted report per user (or IP) per window. */
            window_s: z.number().int().positive().default(600),
            /** A spike: at least this many counted reports in the window… */
            min_reports: z.number().int().positive().default(5),
            /** …and this many times the hour-of-week baseline. */
            spike_factor: z.number().positive().default(3),
            /** Weeks of history the hour-of-week baseline averages over. */
            baseline_weeks: z.number().int().positive().default(8),
          })
          .strict()
          .prefault({}),
        notifications: z
          .object({
            /** Deliver webhooks to private, loopback and link-local addresses (off: SSRF protection). */
            allow_private_targets: z.boolean().default(false),
            /** Updates to one incident within this window go out as one message. */
            batch_window_s: z.number().int().min(0).default(30),
            /** Delivery attempts per notification (backing off exponentially) before it is marked failed. */
            max_attempts: z.number().int().positive().default(8),
            smtp: z
              .object({
                /** SMTP server for notification emails; setting smtp turns on email subscriptions. */
                host: z.string().min(1),
                /** SMTP port: 587 for STARTTLS submission, 465 with secure, 25 for a local relay. */
                port: z.number().int().positive().default(587),
                /** TLS from the first byte (port 465); false still upgrades with STARTTLS when offered. */
                secure: z.boolean().default(false),
                /** SMTP login user; unset sends without authentication. */
                user: z.string().optional(),
                /** SMTP password for user. Keep it in the environment. */
                pass: z.string().optional(),
                /** Sender address of notification emails, e.g. `Status <status@example.com>`. */
                from: z.string().min(3),
              })
              .strict()
              .optional(),
          })
          .strict()
          .prefault({}),
        /** Static copy of the page, API and feeds, rewritten on every change, served by any static host. */
        export: z
          .object({
            /** Folder the static copy is written to (files replaced atomically); unset: no folder export. */
            dir: z.string().min(1).optional(),
            s3: z
              .object({
                /** Bucket the static copy is uploaded to (only changed files, short cache lifetimes). */
                bucket: z.string().min(1),
                /** Key prefix (folder) inside the bucket; a trailing `/` is added when missing. */
                prefix: z.string().default(''),
                /** The bucket's region. */
                region: z.string().default('us-east-1'),
                /** Endpoint of an S3-compatible store (MinIO, R2, …); unset: AWS S3. */
                endpoint: z.url().optional(),
                /** With secret_access_key; both unset: the AWS SDK's default credentials (env, role). */
                access_key_id: z.string().optional(),
                /** Secret for access_key_id. Keep it in the environment. */
                secret_access_key: z.string().optional(),
                /** Bucket in the URL path, not the host name; many S3-compatible stores (MinIO) need it. */
                force_path_style: z.boolean().default(false),
              })
              .strict()
              .optional(),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    resilience: z
      .object({
        outlier: z
          .object({
            /** Deployment faults in a row (errors, timeouts, broken streams; not 429/529) that eject it. */
            consecutive_failures: z.number().int().min(1).default(5),
            /** Ejection time (ms) = this × a multiplier that grows per ejection and decays while healthy. */
            base_ejection_ms: z.number().int().min(0).default(30_000),
            /** Longest one ejection lasts (ms), however often the deployment has been ejected. */
            max_ejection_ms: z.number().int().min(0).default(300_000),
            /**
             * Most of a model group's deployments that may be ejected at once (one always may, but never the
             * last healthy one); 0 disables ejection. Groups with fallbacks use 100.
             */
            max_ejection_percent: z.number().min(0).max(100).default(50),
            /** Consecutive successful trial requests that bring an ejected deployment back. */
            probe_successes: z.number().int().min(1).default(3),
          })
          .strict()
          .prefault({}),
        /** First-byte timeout = clamp(p95 TTFT × multiplier, floor, the deployment's first_byte_ms). */
        first_byte: z
          .object({
            /** Lower bound (ms) of that timeout, so a usually fast deployment's one slow answer is not cut. */
            floor_ms: z.number().int().min(1).default(500),
            /**
             * The timeout as a multiple of the recent p95 TTFT; lower fails over from a stuck attempt sooner,
             * at the risk of cutting slow but healthy ones.
             */
            multiplier: z.number().min(1).default(3),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    /** Operational telemetry (docs/tracing.md). */
    telemetry: z
      .object({
        /** OpenTelemetry traces: one span per request, one child per upstream attempt (docs/tracing.md). */
        tracing: z
          .object({
            /** Off unless set: no spans are built and nothing is exported. */
            enabled: z.boolean().default(false),
            /**
             * OTLP/HTTP (JSON) collector URL, e.g. `http://otel-collector:4318`; a URL with no path gets
             * `/v1/traces`. Unset: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, then OTEL_EXPORTER_OTLP_ENDPOINT,
             * then `http://localhost:4318`.
             */
            otlp_endpoint: z.url().optional(),
            /** Headers sent with every export (e.g. a vendor's API key: `${OTLP_TOKEN}`). */
            headers: z.record(z.string(), z.string()).default({}),
            /** `service.name` of the spans. */
            service_name: z.string().min(1).default('holdfast'),
            /**
             * Share of new traces kept (0..1). A request that arrives with a `traceparent` follows the
             * caller's sampling decision instead.
             */
            sample_ratio: z.number().min(0).max(1).default(1),
          })
          .strict()
          .prefault({}),
        /** Prometheus metrics at GET /metrics (docs/metrics.md). */
        metrics: z
          .object({
            /** Serve /metrics and keep the counters (off: nothing is registered or subscribed). */
            enabled: z.boolean().default(true),
            /**
             * Serve /metrics without a key (scrapes from a private network). Off: the admin key is needed, as
             * `Authorization: Bearer …` or `x-api-key`, except in open mode.
             */
            public: z.boolean().default(false),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        /** Least severe log level written (pino, JSON to stdout); `debug` or `trace` to diagnose. */
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .strict()
      .prefault({}),
    models: z.array(modelSchema).nonempty(),
  })
  .strict()
  .superRefine((c, ctx) => {
    const all = new Set(c.models.map((m) => m.name));
    c.models.forEach((m, i) => {
      m.fallbacks.forEach((f, j) => {
        if (!all.has(f))
          ctx.addIssue({
            code: 'custom',
            path: ['models', i, 'fallbacks', j],
            message: `no model named ${f}`,
          });
        if (f === m.name)
          ctx.addIssue({
            code: 'custom',
            path: ['models', i, 'fallbacks', j],
            message: 'a model cannot fall back to itself',
          });
      });
    });
    const names = new Set<string>();
    const ids = new Set<string>();
    c.models.forEach((m, i) => {
      if (names.has(m.name))
        ctx.addIssue({
          code: 'custom',
          path: ['models', i, 'name'],
          message: `duplicate model name ${m.name}`,
        });
      names.add(m.name);
      m.deployments.forEach((d, j) => {
        if (ids.has(d.id))
          ctx.addIssue({
            code: 'custom',
            path: ['models', i, 'deployments', j, 'id'],
            message: `duplicate deployment id ${d.id}`,
          });
        ids.add(d.id);
      });
    });
  });

export type Config = z.infer<typeof configSchema>;
export type ResilienceConfig = Config['resilience'];
export type ConfigInput = z.input<typeof configSchema>;
