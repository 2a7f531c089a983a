import type { Priority } from '../../overload/queue.ts';
import type { QueueReport } from '../../pipeline/admission.ts';

const CLASSES: readonly Priority[] = ['critical', 'interactive', 'batch'];

/**
 * The waiting room across the cluster: each replica's queue report (carried by its heartbeat, so at most
 * one heartbeat old) added to this replica's live one, per model. Counts add up (in flight, capacity,
 * queued by class); the oldest wait is the oldest anywhere; the expected wait of a new request is the
 * mean of the replicas' (a load balancer sends it to any of them).
 */
export function clusterQueues(
  local: readonly QueueReport[],
  others: ReadonlyArray<readonly QueueReport[]>,
): QueueReport[] {
  return local.map((q) => {
    const all = [q, ...others.flatMap((r) => r.filter((o) => o.model === q.model))];
    if (all.length === 1) return q;
    const sum = (f: (r: QueueReport) => number) => all.reduce((n, r) => n + f(r), 0);
    const byClass = {} as Record<Priority, number>;
    for (const c of CLASSES) byClass[c] = sum((r) => r.byClass[c] ?? 0);
    return {
      model: q.model,
      inflight: sum((r) => r.inflight),
      capacity: sum((r) => r.capacity),
      queued: sum((r) => r.queued),
      byClass,
      oldestWaitMs: Math.max(...all.map((r) => r.oldestWaitMs)),
      estimatedWaitMs: Math.round(sum((r) => r.estimatedWaitMs) / all.length),
    };
  });
}

/** Another replica's reports as read from Redis: only well-formed entries count. */
export function parseQueueReports(raw: unknown): QueueReport[] {
  if (!Array.isArray(raw)) return [];
  const out: QueueReport[] = [];
  for (const r of raw) {
    if (r === null || typeof r !== 'object') continue;
    const o = r as Record<string, unknown>;
    const n = (k: string) =>
      typeof o[k] === 'number' && Number.isFinite(o[k]) ? (o[k] as number) : undefined;
    const byClassRaw = (o.byClass ?? {}) as Record<string, unknown>;
    const byClass = {} as Record<Priority, number>;
    for (const c of CLASSES) byClass[c] = typeof byClassRaw[c] === 'number' ? (byClassRaw[c] as number) : 0;
    const fields = [n('inflight'), n('capacity'), n('queued'), n('oldestWaitMs'), n('estimatedWaitMs')];
    if (typeof o.model !== 'string' || fields.some((f) => f === undefined)) continue;
    const [inflight, capacity, queued, oldestWaitMs, estimatedWaitMs] = fields as number[];
    out.push({
      model: o.model,
      inflight: inflight!,
      capacity: capacity!,
      queued: queued!,
      byClass,
      oldestWaitMs: oldestWaitMs!,
      estimatedWaitMs: estimatedWaitMs!,
    });
  }
  return out;
}
