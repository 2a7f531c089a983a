import { Redis } from 'ioredis';
import { describe } from 'vitest';
import { MemoryStatusTelemetry, type StatusTelemetry } from '../../src/status/telemetry.ts';
import { RedisStatusTelemetry } from '../../src/stores/redis/status-telemetry.ts';
import { deletePrefix, redisAvailable, SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.ts';
import { statusTelemetryContract } from './status-telemetry-contract.ts';

statusTelemetryContract('memory', async () => {
  // One process is one node: every "replica" counts into the same memory.
  let only: MemoryStatusTelemetry | undefined;
  return {
    replica: async (shape) => {
      only ??= new MemoryStatusTelemetry(shape);
      return only;
    },
    settle: async () => {},
    close: async () => {},
  };
});

const redisUp = await redisAvailable();

describe.skipIf(!redisUp)('Redis adapter (skipped when no Redis answers at 127.0.0.1:6379)', () => {
  statusTelemetryContract('redis', async () => {
    const prefix = uniquePrefix('status-telemetry');
    const replicas: { t: RedisStatusTelemetry; redis: Redis }[] = [];
    return {
      replica: async (shape, clock): Promise<StatusTelemetry> => {
        const redis = new Redis(SHARED_REDIS_URL);
        const t = new RedisStatusTelemetry({
          redis,
          prefix,
          replicaId: `r${replicas.length + 1}`,
          shape,
          clock,
          timers: false,
        });
        await t.start();
        replicas.push({ t, redis });
        return t;
      },
      // Two rounds: in the first each replica writes (and reads those before it), in the second each reads all.
      settle: async () => {
        for (let round = 0; round < 2; round++) for (const r of replicas) await r.t.sync();
      },
      close: async () => {
        for (const r of replicas) {
          await r.t.close();
          r.redis.disconnect();
        }
        await deletePrefix(SHARED_REDIS_URL, prefix);
      },
    };
  });
});
