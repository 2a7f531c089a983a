import { describe, expect, it } from 'vitest';
import type { QueueReport } from '../../src/pipeline/admission.ts';
import { clusterQueues, parseQueueReports } from '../../src/stores/redis/queues.ts';

const q = (model: string, n: number, wait: number): QueueReport => ({
  model,
  inflight: n,
  capacity: 10,
  queued: n,
  byClass: { critical: 0, interactive: n, batch: 0 },
  oldestWaitMs: wait,
  estimatedWaitMs: wait,
});

describe('the waiting room across replicas', () => {
  it('adds up every replica’s queue per model; oldest is the oldest, expected wait the mean', () => {
    const merged = clusterQueues(
      [q('m', 2, 100), q('other', 1, 0)],
      [[q('m', 4, 300)], [q('m', 0, 0), q('x', 9, 9)]],
    );
    expect(merged).toEqual([
      {
        model: 'm',
        inflight: 6,
        capacity: 30,
        queued: 6,
        byClass: { critical: 0, interactive: 6, batch: 0 },
        oldestWaitMs: 300,
        estimatedWaitMs: 133,
      },
      q('other', 1, 0),
    ]);
  });

  it('reads only well-formed reports from another replica', () => {
    expect(parseQueueReports('nope')).toEqual([]);
    expect(
      parseQueueReports([{ model: 'm' }, null, 3, { ...q('m', 1, 5), byClass: { interactive: 1 } }]),
    ).toEqual([q('m', 1, 5)]);
    expect(parseQueueReports([{ ...q('m', 1, 5), queued: 'many' }])).toEqual([]);
  });
});
