import type { OutlierChangeListener } from '../../pipeline/resilient.ts';
import type { Clock } from '../../resilience/types.ts';
import { LuaScript, type Redis, withTimeout } from './client.ts';
import { type SharedKeys, sharedKeys } from './keys.ts';
import type { LogSink, RedisLink } from './link.ts';

/** The engine as ejection sharing sees it (src/pipeline/resilient.ts). */
export interface EjectionEngine {
  readonly clock: Clock;
  onOutlierChange(listener: OutlierChangeListener): () => void;
  applyRemote(id: string, untilMs: number | undefined): void;
}

/** What one replica says about one deployment; times are wall-clock ms. */
interface EjectionMessage {
  type: 'ejected' | 'restored';
  id: string;
  replica: string;
  until?: number;
  at: number;
}

export interface RemoteEjection {
  id: string;
  /** Latest end among the replicas that eject it (wall clock). */
  until: number;
  replicas: string[];
}

// The state hash lets a replica that joins (or reconnects) later learn what it missed on the channel. It
// lives as long as the longest ejection in it, so an idle cluster leaves nothing behind.
const PUBLISH_EJECTED = new LuaScript(`
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local ttl = tonumber(ARGV[3])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return redis.call('PUBLISH', KEYS[2], ARGV[2])
`);

const PUBLISH_RESTORED = new LuaScript(`
redis.call('HDEL', KEYS[1], ARGV[1])
return redis.call('PUBLISH', KEYS[2], ARGV[2])
`);

export interface SharedEjectionsOptions {
  redis: Redis;
  /** A second connection: one in subscriber mode can send nothing else. */
  subscriber: Redis;
  link: RedisLink;
  prefix: string;
  replicaId: string;
  /** The current engine (a config reload replaces it; the shared view is carried to the new one). */
  engine: () => EjectionEngine;
  logger?: LogSink;
}

/**
 * Ejection sharing: when this replica's engine ejects a deployment (or takes it back), the others hear it
 * on a pub/sub channel within milliseconds and treat it as ejected until the same moment; a hash holds
 * the live ejections for replicas that start or reconnect later. Each replica keeps its own outlier
 * detection: a remote ejection only adds to it, and ends at its deadline even if the "restored" message
 * is lost. While Redis is away nothing is shared; each replica ejects on its own evidence, as a single
 * node does.
 */
export class SharedEjections {
  readonly #redis: Redis;
  readonly #sub: Redis;
  readonly #link: RedisLink;
  readonly #keys: SharedKeys;
  readonly #me: string;
  readonly #engine: () => EjectionEngine;
  readonly #logger: LogSink | undefined;
  /** deployment → replica → until (wall clock). */
  readonly #remote = new Map<string, Map<string, number>>();
  /** This replica's own ejections as last shared: deployment → when and until (wall clock). */
  readonly #own = new Map<string, { at: number; until: number }>();
  #attached: EjectionEngine | undefined;
  #detach: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(opts: SharedEjectionsOptions) {
    this.#redis = opts.redis;
    this.#sub = opts.subscriber;
    this.#link = opts.link;
    this.#keys = sharedKeys(opts.prefix);
    this.#me = opts.replicaId;
    this.#engine = opts.engine;
    this.#logger = opts.logger;
  }

  async start(): Promise<void> {
    this.#attach();
    this.#sub.on('error', () => {});
    this.#sub.on('message', (channel: string, text: string) => {
      if (channel === this.#keys.ejectionEvents) this.#receive(text);
    });
    // On every (re)connection: what was missed on the channel meanwhile is in the hash.
    this.#sub.on('ready', () => void this.resync());
    this.#sub.subscribe(this.#keys.ejectionEvents).catch(() => {});
    this.#sub.connect().catch(() => {});
    // A reload swaps the engine; the check is cheap and keeps this module out of the reload path.
    this.#timer = setInterval(() => this.#attach(), 1_000);
    this.#timer.unref();
    await this.resync();
  }

  /** Remote ejections in force now. */
  remote(): RemoteEjection[] {
    const now = Date.now();
    const out: RemoteEjection[] = [];
    for (const [id, by] of this.#remote) {
      const live = [...by].filter(([, until]) => until > now);
      if (live.length > 0)
        out.push({ id, until: Math.max(...live.map(([, u]) => u)), replicas: live.map(([r]) => r) });
    }
    return out;
  }

  /** Ejections this replica made and shared, still in force. */
  own(): Array<{ id: string; at: number; until: number }> {
    const now = Date.now();
    return [...this.#own].filter(([, e]) => e.until > now).map(([id, e]) => ({ id, ...e }));
  }

  /** Reads the state hash and replaces the remote view with it. */
  async resync(): Promise<void> {
    if (this.#closed || this.#link.mode !== 'shared') return;
    let all: Record<string, string>;
    try {
      all = await withTimeout(this.#redis.hgetall(this.#keys.ejections), 1_000);
    } catch {
      return;
    }
    const touched = new Set(this.#remote.keys());
    this.#remote.clear();
    const now = Date.now();
    for (const text of Object.values(all)) {
      const m = parse(text);
      if (m?.type !== 'ejected' || m.replica === this.#me || m.until === undefined || m.until <= now)
        continue;
      this.#entry(m.id).set(m.replica, m.until);
      touched.add(m.id);
    }
    for (const id of touched) this.#apply(id);
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#detach?.();
  }

  #attach(): void {
    const engine = this.#engine();
    if (engine === this.#attached) return;
    this.#detach?.();
    this.#attached = engine;
    this.#detach = engine.onOutlierChange((id, to, ejectedUntil) =>
      this.#local(engine, id, to, ejectedUntil),
    );
    for (const id of this.#remote.keys()) this.#apply(id);
  }

  /** This replica's engine changed its mind about a deployment: tell the others. */
  #local(engine: EjectionEngine, id: string, to: string, ejectedUntil: number | undefined): void {
    if (this.#closed) return;
    const now = Date.now();
    if (to === 'ejected' && ejectedUntil !== undefined)
      this.#own.set(id, { at: now, until: now + Math.max(0, ejectedUntil - engine.clock.now()) });
    else if (to === 'healthy') this.#own.delete(id);
    if (this.#link.mode !== 'shared') return;
    const field = `${id}|${this.#me}`;
    let sent: Promise<unknown>;
    if (to === 'ejected' && ejectedUntil !== undefined) {
      const until = now + Math.max(0, ejectedUntil - engine.clock.now());
      const msg: EjectionMessage = { type: 'ejected', id, replica: this.#me, until, at: now };
      sent = PUBLISH_EJECTED.run(
        this.#redis,
        [this.#keys.ejections, this.#keys.ejectionEvents],
        [field, JSON.stringify(msg), Math.ceil(until - now) + 1_000],
      );
      this.#logger?.info(
        { deployment: id, until: new Date(until).toISOString() },
        'shared state: ejection shared',
      );
    } else if (to === 'healthy') {
      const msg: EjectionMessage = { type: 'restored', id, replica: this.#me, at: now };
      sent = PUBLISH_RESTORED.run(
        this.#redis,
        [this.#keys.ejections, this.#keys.ejectionEvents],
        [field, JSON.stringify(msg)],
      );
    } else {
      return;
    }
    // Background work with its own timeout: the request that triggered the ejection does not wait for it.
    withTimeout(sent, 1_000).catch((err: unknown) =>
      this.#logger?.warn({ deployment: id, err }, 'shared state: could not share an ejection'),
    );
  }

  #receive(text: string): void {
    const m = parse(text);
    if (!m || m.replica === this.#me) return;
    this.#attach();
    if (m.type === 'ejected' && m.until !== undefined) this.#entry(m.id).set(m.replica, m.until);
    else this.#remote.get(m.id)?.delete(m.replica);
    this.#apply(m.id);
  }

  #entry(id: string): Map<string, number> {
    let by = this.#remote.get(id);
    if (!by) {
      by = new Map();
      this.#remote.set(id, by);
    }
    return by;
  }

  /** Hands the engine the latest end among the replicas ejecting `id`, in its own clock. */
  #apply(id: string): void {
    const engine = this.#attached;
    const by = this.#remote.get(id);
    const now = Date.now();
    let until = 0;
    for (const [replica, u] of by ?? []) {
      if (u > now) until = Math.max(until, u);
      else by!.delete(replica);
    }
    if (by && by.size === 0) this.#remote.delete(id);
    engine?.applyRemote(id, until > now ? engine.clock.now() + (until - now) : undefined);
  }
}

function parse(text: string): EjectionMessage | undefined {
  try {
    const m = JSON.parse(text) as Partial<EjectionMessage>;
    if ((m.type !== 'ejected' && m.type !== 'restored') || typeof m.id !== 'string') return undefined;
    if (typeof m.replica !== 'string' || typeof m.at !== 'number') return undefined;
    if (m.until !== undefined && typeof m.until !== 'number') return undefined;
    return m as EjectionMessage;
  } catch {
    return undefined;
  }
}
