import { describe, expect, it } from 'vitest';
import { HoldfastError } from '../../src/core/errors.ts';
import { type KeyRecord, withKnownKeys } from '../../src/stores/keys.ts';
import { type BufferedWrite, type StoreGuard, StoreUnavailableError } from '../../src/stores/outage/port.ts';

/** API keys while PostgreSQL is unreachable (docs/postgres-outage.md): honoured for a bounded time. */

function record(id: string): KeyRecord {
  return {
    id,
    name: id,
    prefix: 'hf-x',
    models: ['*'],
    createdAt: new Date(0),
    lastUsedAt: null,
    revokedAt: null,
    limits: {},
    priority: null,
  };
}

function setup() {
  const keys = new Map<string, KeyRecord>([['hf-a', record('a')]]);
  const state = { down: false, now: 0 };
  const guard: StoreGuard = {
    state: 'ok',
    get down() {
      return state.down;
    },
    reachableSince: 0,
    async read(fn) {
      if (state.down) throw new StoreUnavailableError('unreachable');
      return fn();
    },
    async write(_w: BufferedWrite) {
      return 'stored';
    },
  };
  const lookup = withKnownKeys(
    { verifyKey: async (secret) => keys.get(secret) },
    { guard, ttlMs: 60_000, now: () => state.now },
  );
  return { keys, state, lookup };
}

const code = (e: unknown) => (e instanceof HoldfastError ? e.code : e);

describe('known keys during an outage', () => {
  it('honours a key verified within the TTL, and refuses others with store_unavailable, not a 401', async () => {
    const { state, lookup } = setup();
    expect((await lookup.verify('hf-a'))?.id).toBe('a');
    state.down = true;
    state.now = 59_000;
    expect((await lookup.verify('hf-a'))?.id).toBe('a');
    expect(code(await lookup.verify('hf-never-seen').catch((e: unknown) => e))).toBe('store_unavailable');
    state.now = 61_000;
    expect(code(await lookup.verify('hf-a').catch((e: unknown) => e))).toBe('store_unavailable');
  });

  it('forgets a key the database no longer knows, and everything on a local revocation', async () => {
    const { keys, state, lookup } = setup();
    keys.set('hf-b', record('b'));
    await lookup.verify('hf-a');
    await lookup.verify('hf-b');
    keys.delete('hf-a');
    expect(await lookup.verify('hf-a')).toBeUndefined();
    lookup.forget();
    state.down = true;
    expect(code(await lookup.verify('hf-a').catch((e: unknown) => e))).toBe('store_unavailable');
    expect(code(await lookup.verify('hf-b').catch((e: unknown) => e))).toBe('store_unavailable');
  });
});
