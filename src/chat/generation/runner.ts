import { setTimeout as sleep } from 'node:timers/promises';
import { type StoreGuard, StoreUnavailableError } from '../../stores/outage/port.ts';
import type { Character } from '../cards/index.ts';
import type { CharacterStore } from '../characters/store.ts';
import { buildContext } from '../conversations/context.ts';
import {
  type ConversationRecord,
  type ConversationStore,
  type MessageMeta,
  type MessageRecord,
  type MessageStatus,
  pathTo,
} from '../conversations/store.ts';
import type { ChatUser } from '../session.ts';
import { completeOnce, type GatewayEvent, type GatewayTarget, streamCompletion } from './gateway-client.ts';
import type { GenerationHub } from './hub.ts';
import type { ChatOutcomes } from './outcomes.ts';

/** Gateway refusals worth trying again by themselves: capacity, not the request. */
const RETRYABLE = new Set([
  'rate_limited',
  'load_shed',
  'queue_timeout',
  'no_healthy_upstream',
  'overloaded',
  'upstream_error',
  'upstream_timeout',
  'shutting_down',
]);

export interface GeneratorOptions {
  conversations: ConversationStore;
  characters: CharacterStore;
  hub: GenerationHub;
  gateway: GatewayTarget;
  /** The gateway's outcome records, to learn of failovers after the answer started. */
  outcomes?: ChatOutcomes;
  budgetFor(model: string): number;
  maxAnswerTokens: number;
  /** Turns that no longer fit the context: left out, or summarised (one extra model call, then cached). */
  overflow?: 'drop' | 'summarise';
  /** Automatic retries of a refused answer (each after the gateway's retry-after, shown as a countdown). */
  maxRetries?: number;
  /** Longest pause honoured from a retry-after; a longer one fails the answer with the gateway's reason. */
  maxRetryWaitSec?: number;
  onError?: (err: unknown, messageId: string) => void;
  /** PostgreSQL's outage guard: character cards are then remembered for answers during an outage. */
  guard?: StoreGuard;
}

/** Character cards remembered for answers while PostgreSQL is unreachable (by user and character). */
const MAX_CARDS = 200;

interface Job {
  ac: AbortController;
  reason: 'stop' | 'shutdown' | undefined;
  done: Promise<void>;
}

/**
 * Runs answers as jobs that do not depend on any browser: started when the user's message is stored,
 * they keep going when the tab closes, and end complete, incomplete (stopped, cut off, shut down) or
 * failed. A partial answer is always kept as text, never replaced by an error message.
 */
export class Generator {
  readonly #o: GeneratorOptions;
  readonly #jobs = new Map<string, Job>();
  readonly #cards = new Map<string, Character>();
  /** Shutting down: this replica may no longer accept the job's own calls to the gateway. */
  #closing = false;

  constructor(opts: GeneratorOptions) {
    this.#o = opts;
  }

  isRunning(messageId: string): boolean {
    return this.#jobs.has(messageId);
  }

  /** Starts the job for a queued answer (`continue`: append to its existing text). */
  start(messageId: string, user: ChatUser, opts: { continue?: boolean } = {}): void {
    if (this.#jobs.has(messageId)) return;
    const ac = new AbortController();
    const job: Job = { ac, reason: undefined, done: Promise.resolve() };
    this.#jobs.set(messageId, job);
    job.done = this.#run(messageId, user, job, opts.continue ?? false)
      .catch((err) => this.#o.onError?.(err, messageId))
      .finally(() => this.#jobs.delete(messageId));
  }

  /**
   * Stops a running answer; its text so far stays, status incomplete. Returns its final state, or
   * undefined when no job for it runs here.
   */
  async stop(
    messageId: string,
  ): Promise<{ status: MessageStatus; content: string; meta: MessageMeta } | undefined> {
    const job = this.#jobs.get(messageId);
    if (!job) return undefined;
    job.reason = 'stop';
    job.ac.abort();
    await job.done;
    return this.#o.hub.final(messageId);
  }

  /**
   * Shutdown: running answers get up to `graceMs` to finish, then the rest end incomplete
   * (continuable), their text flushed.
   */
  async close(graceMs = 0): Promise<void> {
    this.#closing = true;
    if (graceMs > 0 && this.#jobs.size > 0) {
      const all = Promise.allSettled([...this.#jobs.values()].map((j) => j.done));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([all, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
    }
    for (const job of this.#jobs.values()) {
      job.reason = 'shutdown';
      job.ac.abort();
    }
    await Promise.allSettled([...this.#jobs.values()].map((j) => j.done));
  }

  async #run(messageId: string, user: ChatUser, job: Job, continuing: boolean): Promise<void> {
    const { conversations, hub } = this.#o;
    const message = await conversations.messageById(messageId);
    if (!message) return;
    const conversation = await conversations.get(message.conversationId, user.id);
    const all = await conversations.messages(conversation.id);
    const history = message.parentId ? pathTo(all, message.parentId) : [];
    const prefill = continuing ? message.content : '';
    const baseSeq = continuing ? await conversations.lastSeq(messageId) : 0;
    let meta: MessageMeta = { ...(continuing ? message.meta : {}), model: conversation.model };
    delete meta.error;
    delete meta.stopped;
    delete meta.interrupted;
    delete meta.retryAt;
    hub.open(messageId, { baseSeq, text: prefill, status: 'queued', meta });

    const character = await this.#character(conversation, user);
    const contextInput = {
      character,
      persona: conversation.persona,
      history,
      ...(prefill ? { prefill } : {}),
      budgetTokens: this.#o.budgetFor(conversation.model),
      maxAnswerTokens: this.#o.maxAnswerTokens,
    };
    let built = buildContext(contextInput);
    const lastDropped = built.dropped.at(-1);
    if (lastDropped && this.#o.overflow === 'summarise') {
      const summary =
        lastDropped.meta.summary ??
        (await this.#summarise(conversation, built.dropped, user, messageId, job.ac.signal));
      if (summary)
        built = buildContext({ ...contextInput, summary: { text: summary, coversThrough: lastDropped.id } });
    }

    const maxRetries = this.#o.maxRetries ?? 5;
    const maxWait = this.#o.maxRetryWaitSec ?? 60;
    let produced = prefill.length > 0;
    let wroteThisRun = false;
    const set = (
      patch: MessageMeta,
      status: 'queued' | 'streaming' = wroteThisRun ? 'streaming' : 'queued',
    ): void => {
      meta = { ...meta, ...patch };
      hub.setStatus(messageId, status, meta);
    };

    try {
      for (let attempt = 0; ; attempt++) {
        let refused: Extract<GatewayEvent, { type: 'refused' }> | undefined;
        let broke: Extract<GatewayEvent, { type: 'error' }> | undefined;
        const requestId = `chat_${messageId}_${attempt}`;
        for await (const ev of streamCompletion(
          this.#o.gateway,
          {
            model: conversation.model,
            messages: built.messages,
            maxTokens: this.#o.maxAnswerTokens,
            user: user.id,
            requestId,
          },
          job.ac.signal,
        )) {
          switch (ev.type) {
            case 'headers':
              set({
                ...(ev.deployment ? { deployment: ev.deployment } : {}),
                ...(ev.failedOver ? { failedOver: true } : {}),
              });
              break;
            case 'queue':
              set({ queue: { position: ev.position, etaMs: ev.etaMs } });
              break;
            case 'text':
              if (!wroteThisRun) {
                wroteThisRun = true;
                const { queue: _q, retryAt: _r, ...rest } = meta;
                meta = rest;
                hub.setStatus(messageId, 'streaming', meta);
              }
              produced = true;
              hub.append(messageId, ev.text);
              break;
            case 'finish':
              meta = { ...meta, finishReason: ev.reason };
              break;
            case 'usage':
              meta = { ...meta, usage: { inputTokens: ev.inputTokens, outputTokens: ev.outputTokens } };
              break;
            case 'refused':
              refused = ev;
              break;
            case 'error':
              broke = ev;
              break;
          }
        }
        if (broke) {
          // The gateway already tried every way to finish it (failover, continuation): keep what came.
          await hub.finish(messageId, produced ? 'incomplete' : 'failed', {
            ...meta,
            error: { code: broke.code, message: broke.message },
          });
          return;
        }
        if (!refused) {
          const outcome = await this.#o.outcomes?.wait(requestId, 250);
          if (outcome && outcome.failovers > 0) {
            meta = {
              ...meta,
              failedOver: true,
              ...(outcome.deployment ? { deployment: outcome.deployment } : {}),
            };
          }
          await hub.finish(messageId, 'complete', meta);
          return;
        }
        const wait = refused.retryAfterSec ?? 2;
        if (!RETRYABLE.has(refused.code) || attempt >= maxRetries || wait > maxWait) {
          const { queue: _q, retryAt: _r, ...rest } = meta;
          await hub.finish(messageId, produced ? 'incomplete' : 'failed', {
            ...rest,
            error: { code: refused.code, message: refused.message },
          });
          return;
        }
        // Tell the user when the next try happens, and wait for it (a stop cancels the wait).
        set({ retryAt: Date.now() + wait * 1000, error: { code: refused.code, message: refused.message } });
        await sleep(wait * 1000, undefined, { signal: job.ac.signal });
        const { error: _e, ...rest } = meta;
        meta = rest;
      }
    } catch (err) {
      // While shutting down, a call this replica can no longer take (its listener is closed) is an
      // interruption like any other: the answer stays continuable, on another replica.
      if (!job.ac.signal.aborted && !this.#closing) {
        await hub.finish(messageId, produced ? 'incomplete' : 'failed', {
          ...meta,
          error: { code: 'internal', message: 'The answer could not be completed.' },
        });
        throw err;
      }
      const { queue: _q, retryAt: _r, ...rest } = meta;
      await hub.finish(
        messageId,
        'incomplete',
        job.reason === 'stop' ? { ...rest, stopped: true } : { ...rest, interrupted: true },
      );
    }
  }

  /**
   * Summarises the turns that no longer fit, building on the newest earlier summary among them, and
   * caches it on the last of them so later answers reuse it until more turns drop out.
   */
  async #summarise(
    conversation: ConversationRecord,
    dropped: readonly MessageRecord[],
    user: ChatUser,
    messageId: string,
    signal: AbortSignal,
  ): Promise<string | undefined> {
    let from = 0;
    let earlier = '';
    for (let i = dropped.length - 1; i >= 0; i--) {
      const s = dropped[i]!.meta.summary;
      if (s) {
        earlier = s;
        from = i + 1;
        break;
      }
    }
    const transcript = dropped
      .slice(from)
      .map((m) => `${m.role === 'user' ? 'User' : 'Assistant'}: ${m.content}`)
      .join('\n\n');
    const text = await completeOnce(
      this.#o.gateway,
      {
        model: conversation.model,
        maxTokens: 400,
        user: user.id,
        requestId: `chat_${messageId}_summary`,
        messages: [
          {
            role: 'system',
            content:
              'Summarise the conversation below in at most 200 words. Keep names, facts, decisions and open questions; write plain prose.',
          },
          {
            role: 'user',
            content: earlier ? `Summary so far:\n${earlier}\n\nThen:\n${transcript}` : transcript,
          },
        ],
      },
      signal,
    ).catch(() => undefined);
    if (text) await this.#o.conversations.setSummary(dropped.at(-1)!.id, text);
    return text;
  }

  async #character(conversation: ConversationRecord, user: ChatUser): Promise<Character | null> {
    if (!conversation.characterId) return null;
    const id = conversation.characterId;
    const key = `${user.id}:${id}`;
    const guard = this.#o.guard;
    try {
      const get = () => this.#o.characters.get(id, user);
      const { character } = await (guard ? guard.read(get) : get());
      if (guard) {
        this.#cards.delete(key);
        this.#cards.set(key, character);
        if (this.#cards.size > MAX_CARDS) this.#cards.delete(this.#cards.keys().next().value!);
      }
      return character;
    } catch (err) {
      // The database unreachable: the card as last read.
      if (err instanceof StoreUnavailableError) return this.#cards.get(key) ?? null;
      // Deleted since: the conversation goes on without its card.
      this.#cards.delete(key);
      return null;
    }
  }
}

export type { MessageRecord };
