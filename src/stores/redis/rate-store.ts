import { type GcraResult, gcraRefund, gcraStep } from '../../overload/gcra.ts';
import {
  type GcraAllResult,
  type GcraCheck,
  planGcraAll,
  type RateStore,
} from '../../overload/rate-store.ts';
import { LuaScript, type Redis } from './client.ts';
import { type SharedKeys, sharedKeys } from './keys.ts';

/*
 * The GCRA step of src/overload/gcra.ts in Lua, the same double arithmetic in the same order (Redis's Lua
 * numbers are IEEE doubles), so a script's decision on a boundary is the one the memory store makes. The
 * script only decides and writes; it returns the TAT it read, and the answer (remaining, reset, retry-after)
 * is rebuilt in JS by gcraStep from that TAT, so both stores answer from one implementation.
 *
 * TATs are stored as '%.17g' text (Lua's tostring keeps only 14 digits, which would drift the state), with
 * an expiry at the moment the bucket is full again plus a margin: an idle key vanishes by itself, and a TAT
 * at or before now is never stored (it means "full bucket", the same as no key).
 */
const LUA_GCRA_CORE = `
local function slack(interval, now, tat)
  return interval * 1e-6 + math.max(math.abs(now), math.abs(tat)) * 2^-48
end
local function put(key, tat, now)
  if tat <= now then
    redis.call('DEL', key)
  else
    redis.call('SET', key, string.format('%.17g', tat), 'PX', math.ceil(tat - now) + 1000)
  end
end
-- Returns the new TAT when allowed, nil when not.
local function step(cur, now, period, limit, cost, burst)
  local interval = period / limit
  local tolerance = burst * interval
  local tat = now
  if cur then tat = math.max(cur, now) end
  local newTat = tat + cost * interval
  if newTat - now <= tolerance + slack(interval, now, newTat) then return newTat end
  return nil
end
`;

const GCRA = new LuaScript(`${LUA_GCRA_CORE}
local now = tonumber(ARGV[1])
local raw = redis.call('GET', KEYS[1])
local cur = false
if raw then cur = tonumber(raw) end
local newTat = step(cur, now, tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
if newTat then
  put(KEYS[1], newTat, now)
  return {1, raw}
end
return {0, raw}
`);

const GCRA_ALL = new LuaScript(`${LUA_GCRA_CORE}
local now = tonumber(ARGV[1])
local stored = {}
local staged = {}
local out = {1}
for i = 1, #KEYS do
  local key = KEYS[i]
  if stored[key] == nil then stored[key] = redis.call('GET', key) end
  out[i + 1] = stored[key]
  local cur = staged[key]
  if cur == nil and stored[key] then cur = tonumber(stored[key]) end
  local a = 4 * (i - 1) + 1
  local newTat = step(cur, now, tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4]))
  if newTat then staged[key] = newTat else out[1] = 0 end
end
if out[1] == 1 then
  for key, tat in pairs(staged) do put(key, tat, now) end
end
return out
`);

const REFUND = new LuaScript(`${LUA_GCRA_CORE}
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2]) / tonumber(ARGV[3])
put(KEYS[1], math.max(now, tonumber(raw) - tonumber(ARGV[4]) * interval), now)
return 1
`);

const CHARGE = new LuaScript(`${LUA_GCRA_CORE}
local raw = redis.call('GET', KEYS[1])
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2]) / tonumber(ARGV[3])
local tat = now
if raw then tat = math.max(tonumber(raw), now) end
put(KEYS[1], tat + tonumber(ARGV[4]) * interval, now)
return 1
`);

// Raises a TAT to at least ARGV[2], never lowers it: a replica restoring what a restarted Redis forgot.
const RAISE = new LuaScript(`${LUA_GCRA_CORE}
local now = tonumber(ARGV[1])
local tat = tonumber(ARGV[2])
if tat <= now then return 0 end
local raw = redis.call('GET', KEYS[1])
if raw and tonumber(raw) >= tat then return 0 end
put(KEYS[1], tat, now)
return 1
`);

/*
 * Concurrency slots: one hash per key, replica id → slots that replica holds. A replica that dies cannot
 * release its slots, so they count only while the replica is alive: its heartbeat in the membership sorted
 * set (Redis time, so replicas' clocks do not matter) must be younger than the replica TTL, else acquire
 * drops its field. The caller's own field always counts: it is alive, it is asking.
 */
const ACQUIRE = new LuaScript(`
local me = ARGV[1]
local max = tonumber(ARGV[2])
local t = redis.call('TIME')
local alive = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[3])
local fields = redis.call('HGETALL', KEYS[1])
local total = 0
for i = 1, #fields, 2 do
  local id = fields[i]
  local n = tonumber(fields[i + 1])
  if id ~= me then
    local seen = redis.call('ZSCORE', KEYS[2], id)
    if not seen or tonumber(seen) < alive then
      redis.call('HDEL', KEYS[1], id)
      n = 0
    end
  end
  total = total + n
end
if total >= max then return {0, total} end
redis.call('HINCRBY', KEYS[1], me, 1)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {1, total + 1}
`);

// Never below zero: a second release of the same slot must not hand out an extra one later.
const RELEASE = new LuaScript(`
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return n
`);

const SET_HELD = new LuaScript(`
local n = tonumber(ARGV[2])
if n > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], n)
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return n
`);

export interface RedisRateStoreOptions {
  redis: Redis;
  /** `shared_state.key_prefix`. */
  prefix: string;
  /** This replica's id: the owner of the concurrency slots it takes. */
  replicaId: string;
  /** A replica whose last heartbeat is older than this no longer holds slots. */
  replicaTtlMs: number;
  /**
   * Idle expiry of a concurrency hash, refreshed on every acquire. Longer than any request can last; dead
   * replicas' slots are freed by the liveness check, not by this.
   */
  slotTtlMs?: number;
}

/**
 * The rate store shared by replicas: every method is one Lua script, so each read-compute-write is atomic
 * across all of them.
 *
 * Time: GCRA runs on the `now` the caller passes (the replica's wall clock), not on Redis TIME. The port's
 * contract is "the caller's clock", which keeps the algorithm testable and identical in both stores; and
 * GCRA degrades gracefully under skew: a replica whose clock runs δ ahead sees each bucket δ/T units fuller
 * (T = period / limit), one behind sees it emptier. With NTP (milliseconds) and per-minute limits that is a
 * small fraction of one request; the membership heartbeat measures each replica's offset from Redis time and
 * warns past a second (docs/scale-out.md). Expiries carry a 1 s margin for the same reason.
 */
export class RedisRateStore implements RateStore {
  readonly #redis: Redis;
  readonly #keys: SharedKeys;
  readonly #me: string;
  readonly #ttl: number;
  readonly #slotTtl: number;

  constructor(opts: RedisRateStoreOptions) {
    this.#redis = opts.redis;
    this.#keys = sharedKeys(opts.prefix);
    this.#me = opts.replicaId;
    this.#ttl = opts.replicaTtlMs;
    this.#slotTtl = opts.slotTtlMs ?? 3_600_000;
  }

  async gcra(
    key: string,
    now: number,
    periodMs: number,
    limit: number,
    cost: number,
    burst?: number,
  ): Promise<GcraResult> {
    // Validates exactly as the memory store does (same RangeErrors) before anything is sent.
    gcraStep(undefined, now, periodMs, limit, cost, burst);
    const [allowed, raw] = (await GCRA.run(
      this.#redis,
      [this.#keys.rate(key)],
      [now, periodMs, limit, cost, burst ?? limit],
    )) as [number, string | null];
    const result = gcraStep(tat(raw), now, periodMs, limit, cost, burst);
    agree(result.allowed, allowed);
    return result;
  }

  async refund(key: string, now: number, periodMs: number, limit: number, cost: number): Promise<void> {
    gcraRefund(undefined, now, periodMs, limit, cost);
    await REFUND.run(this.#redis, [this.#keys.rate(key)], [now, periodMs, limit, cost]);
  }

  async charge(key: string, now: number, periodMs: number, limit: number, cost: number): Promise<void> {
    gcraRefund(undefined, now, periodMs, limit, cost);
    await CHARGE.run(this.#redis, [this.#keys.rate(key)], [now, periodMs, limit, cost]);
  }

  /**
   * Makes `key`'s bucket at least as full as a TAT this replica read from Redis earlier. After Redis
   * restarts empty, that puts back the usage from before the outage that no replay would restore.
   */
  async raise(key: string, tat: number, now: number): Promise<void> {
    await RAISE.run(this.#redis, [this.#keys.rate(key)], [now, tat]);
  }

  async gcraAll(checks: readonly GcraCheck[], now: number): Promise<GcraAllResult> {
    for (const c of checks) gcraStep(undefined, now, c.periodMs, c.limit, c.cost, c.burst);
    if (checks.length === 0) return { allowed: true, results: [] };
    const args: Array<string | number> = [now];
    for (const c of checks) args.push(c.periodMs, c.limit, c.cost, c.burst ?? c.limit);
    const out = (await GCRA_ALL.run(
      this.#redis,
      checks.map((c) => this.#keys.rate(c.key)),
      args,
    )) as Array<number | string | null>;
    const stored = new Map<string, number | undefined>();
    checks.forEach((c, i) => {
      stored.set(c.key, tat(out[i + 1] as string | null));
    });
    const plan = planGcraAll((k) => stored.get(k), checks, now);
    agree(plan.allowed, out[0] as number);
    return { allowed: plan.allowed, results: plan.results };
  }

  async acquire(key: string, max: number): Promise<{ allowed: boolean; inUse: number }> {
    const [allowed, inUse] = (await ACQUIRE.run(
      this.#redis,
      [this.#keys.slots(key), this.#keys.seen],
      [this.#me, max, this.#ttl, this.#slotTtl],
    )) as [number, number];
    return { allowed: allowed === 1, inUse };
  }

  async release(key: string): Promise<void> {
    await RELEASE.run(this.#redis, [this.#keys.slots(key)], [this.#me]);
  }

  /**
   * Sets how many slots of `key` this replica holds. After a Redis hiccup an acquire or release may or may
   * not have run (it timed out); the caller knows what it really holds and writes that, which is idempotent.
   */
  async setHeld(key: string, held: number): Promise<void> {
    await SET_HELD.run(this.#redis, [this.#keys.slots(key)], [this.#me, Math.max(0, held), this.#slotTtl]);
  }
}

function tat(raw: string | null | undefined): number | undefined {
  return raw === null || raw === undefined ? undefined : Number(raw);
}

/** Both sides compute the same doubles; if they ever disagree the answer is not trusted (caller falls back). */
function agree(js: boolean, lua: number): void {
  if (js !== (lua === 1)) throw new Error('rate store: the Lua and JS GCRA decisions disagree');
}
