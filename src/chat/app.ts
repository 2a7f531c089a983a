import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/schema.ts';
import type { Db } from '../stores/database.ts';
import { type StoreGuard, type StoreHealth, StoreUnavailableError } from '../stores/outage/port.ts';
import { type Accounts, createAccounts } from './accounts/index.ts';
import { registerCharacterRoutes } from './characters/routes.ts';
import { CharacterStore } from './characters/store.ts';
import { registerConversationRoutes } from './conversations/routes.ts';
import { ConversationStore } from './conversations/store.ts';
import { ChatError } from './errors.ts';
import { registerExportRoutes } from './export.ts';
import type { GatewayTarget } from './generation/gateway-client.ts';
import { GenerationHub } from './generation/hub.ts';
import { ChatOutcomes } from './generation/outcomes.ts';
import { Generator } from './generation/runner.ts';
import { registerStreamRoute } from './generation/stream-route.ts';
import { chatPlugin } from './http.ts';
import { registerReportRoutes } from './reports.ts';
import { requireSession } from './session.ts';
import { type ModelHealth, registerStatusRoute } from './status-route.ts';

export interface ChatAppOptions {
  db: Db;
  config: Config;
  gateway: GatewayTarget;
  health(): ModelHealth[];
  onError?: (err: unknown, what: string) => void;
  /**
   * PostgreSQL's outage layer (docs/postgres-outage.md): chat writes go through its buffer, reads of the
   * conversations in use fall back to memory, and signed-in sessions stay valid for `credentialsTtlMs`
   * past their last check. Absent on PGlite.
   */
  outage?: { guard: StoreGuard; health(): StoreHealth; credentialsTtlMs: number };
}

export interface ChatApp {
  /** The Fastify plugin with every /api/ route of the chat app. */
  plugin: (app: FastifyInstance) => Promise<void>;
  accounts: Accounts;
  conversations: ConversationStore;
  /** Seeds shipped characters and recovers answers a previous process left half-written. */
  start(): Promise<{ recovered: string[] }>;
  /**
   * Gives running answers up to `graceMs` to finish, stops the rest (incomplete, continuable, text
   * flushed) and closes readers' streams so their browsers reconnect.
   */
  close(graceMs?: number): Promise<void>;
}

export function createChatApp(opts: ChatAppOptions): ChatApp {
  const { db, config } = opts;
  const chat = config.chat;
  const onError = opts.onError ?? (() => {});
  const outage = opts.outage;
  const guard = outage?.guard;
  const accounts = createAccounts({
    db: db.kysely,
    chat,
    ...(outage ? { outage: { guard: outage.guard, knownMs: outage.credentialsTtlMs } } : {}),
  });
  const characters = new CharacterStore(db.kysely);
  const conversations = new ConversationStore(db.kysely, guard);
  /** How long a live answer's heartbeat may be silent before another node calls it interrupted. */
  const STALE_MS = chat.orphan_after_ms;
  const hub = new GenerationHub(conversations, {
    heartbeatMs: Math.floor(STALE_MS / 3),
    // A full outage buffer is logged once by the buffer itself; the hub retries quietly until it has room.
    onError: (e) => {
      if (!(e instanceof StoreUnavailableError)) onError(e, 'chunk flush');
    },
  });
  const budgetFor = (model: string): number => chat.context_tokens[model] ?? chat.default_context_tokens;
  const outcomes = new ChatOutcomes();
  const generator = new Generator({
    conversations,
    characters,
    hub,
    gateway: opts.gateway,
    outcomes,
    budgetFor,
    maxAnswerTokens: chat.max_answer_tokens,
    overflow: chat.overflow,
    onError: (e, id) => onError(e, `generation ${id}`),
    ...(guard ? { guard } : {}),
  });
  const sessionGuard = requireSession(accounts);
  const models = () => config.models.map((m) => ({ name: m.name, contextTokens: budgetFor(m.name) }));
  const defaultModel = (): string => chat.default_model ?? config.models[0]?.name ?? '';
  let sweeper: NodeJS.Timeout | undefined;
  let streams: { closeAll(): void } | undefined;

  const plugin = chatPlugin((app) => {
    accounts.register(app);
    registerCharacterRoutes(app, { guard: sessionGuard, characters, db: db.kysely });
    registerConversationRoutes(app, {
      guard: sessionGuard,
      db: db.kysely,
      conversations,
      characters,
      generator,
      models,
      defaultModel,
      budgetFor,
      maxAnswerTokens: chat.max_answer_tokens,
    });
    streams = registerStreamRoute(app, { guard: sessionGuard, conversations, hub });
    registerReportRoutes(app, { guard: sessionGuard, db: db.kysely, windowSec: chat.report_window_s });
    registerStatusRoute(app, {
      guard: sessionGuard,
      health: opts.health,
      ...(outage ? { storage: () => outage.health() } : {}),
    });
    registerExportRoutes(app, { guard: sessionGuard, db: db.kysely, conversations });
  });

  return {
    plugin,
    accounts,
    conversations,
    async start() {
      await characters.seedExamples();
      // Embedded (PGlite) the data directory is locked to this process: every live answer is an orphan.
      // On a shared PostgreSQL, other nodes may be writing theirs; only silent heartbeats are orphans.
      const shared = db.engine === 'postgres';
      const recovered = await conversations.recoverInterrupted(shared ? STALE_MS : 0);
      if (shared) {
        sweeper = setInterval(() => {
          // Heartbeats stop reaching the database during an outage (everyone's, not only this
          // replica's): nothing looks stale for real until the database has answered for STALE_MS.
          if (guard && (guard.down || guard.state !== 'ok' || Date.now() - guard.reachableSince < STALE_MS))
            return;
          conversations.recoverInterrupted(STALE_MS).catch((e) => {
            if (!(e instanceof ChatError && e.code === 'storage_unavailable')) onError(e, 'recovery sweep');
          });
        }, STALE_MS);
        sweeper.unref();
      }
      return { recovered };
    },
    async close(graceMs = 0) {
      clearInterval(sweeper);
      // Readers first: told to reconnect, they land on another replica (this one accepts no more
      // connections by now) and follow the answer from the database while it finishes here.
      streams?.closeAll();
      await generator.close(graceMs);
      await hub.flushAll();
      hub.close();
      outcomes.close();
      streams?.closeAll();
    },
  };
}
