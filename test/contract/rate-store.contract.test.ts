import { Redis } from 'ioredis';
import { describe } from 'vitest';
import { MemoryRateStore } from '../../src/overload/rate-store.ts';
import { RedisRateStore } from '../../src/stores/redis/rate-store.ts';
import { deletePrefix, keysUnder, redisAvailable, SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.ts';
import { rateStoreContract } from './rate-store-contract.ts';

rateStoreContract('memory', async () => {
  const store = new MemoryRateStore();
  return {
    store,
    rateKeys: async () => store.stats().rateKeys,
    slotKeys: async () => store.stats().concurrencyKeys,
    close: async () => {},
  };
});

const redisUp = await redisAvailable();

describe.skipIf(!redisUp)('Redis adapter (skipped when no Redis answers at 127.0.0.1:6379)', () => {
  rateStoreContract('redis', async () => {
    const prefix = uniquePrefix('rate-contract');
    const redis = new Redis(SHARED_REDIS_URL);
    const store = new RedisRateStore({ redis, prefix, replicaId: 'r1', replicaTtlMs: 5_000 });
    return {
      store,
      rateKeys: async () => (await keysUnder(redis, `${prefix}rate:`)).length,
      slotKeys: async () => (await keysUnder(redis, `${prefix}slots:`)).length,
      close: async () => {
        redis.disconnect();
        await deletePrefix(SHARED_REDIS_URL, prefix);
      },
    };
  });
});
