import { severity } from './burn.ts';
import type { ComponentStatus } from './statuspage.ts';
import type { DayRecord } from './view.ts';

const DAY = 86_400_000;

export const dayOf = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

export interface DayTotals {
  worst: ComponentStatus;
  /** Seconds observed in each status. */
  seconds: Partial<Record<ComponentStatus, number>>;
}

/** Statuses that count as "up" in the uptime share (maintenance was announced and planned). */
const UP: ReadonlySet<ComponentStatus> = new Set<ComponentStatus>(['operational', 'under_maintenance']);

export function uptimeOf(t: DayTotals): number | null {
  let total = 0;
  let up = 0;
  for (const [s, sec] of Object.entries(t.seconds) as [ComponentStatus, number][]) {
    total += sec;
    if (UP.has(s)) up += sec;
  }
  return total > 0 ? up / total : null;
}

/**
 * Time spent in each status per component per UTC day: what the 90-day bars are drawn from. Time is
 * charged to the status the component had during it, split at midnight.
 */
export class DayBook {
  readonly #days = new Map<string, Map<string, DayTotals>>();
  readonly #dirty = new Set<string>();

  load(componentId: string, day: string, totals: DayTotals): void {
    this.#of(componentId).set(day, totals);
  }

  #of(id: string): Map<string, DayTotals> {
    let m = this.#days.get(id);
    if (!m) {
      m = new Map();
      this.#days.set(id, m);
    }
    return m;
  }

  accrue(componentId: string, status: ComponentStatus, from: number, to: number): void {
    let t = from;
    while (t < to) {
      const dayEnd = (Math.floor(t / DAY) + 1) * DAY;
      const until = Math.min(to, dayEnd);
      const day = dayOf(t);
      const m = this.#of(componentId);
      const totals = m.get(day) ?? { worst: 'operational', seconds: {} };
      totals.seconds[status] = (totals.seconds[status] ?? 0) + (until - t) / 1000;
      if (severity(status) > severity(totals.worst)) totals.worst = status;
      m.set(day, totals);
      this.#dirty.add(`${componentId}\u0000${day}`);
      t = until;
    }
    // Old days are in the database; memory keeps this one and the one before (a tick may straddle midnight).
    const m = this.#days.get(componentId);
    if (m && m.size > 2) for (const d of [...m.keys()].sort().slice(0, m.size - 2)) m.delete(d);
  }

  /** What memory holds for a component and day (today's running totals), if anything. */
  peek(componentId: string, day: string): DayTotals | undefined {
    const t = this.#days.get(componentId)?.get(day);
    return t ? { worst: t.worst, seconds: { ...t.seconds } } : undefined;
  }

  /** Rows changed since the last call. */
  takeDirty(): { componentId: string; day: string; totals: DayTotals }[] {
    const out: { componentId: string; day: string; totals: DayTotals }[] = [];
    for (const k of this.#dirty) {
      const [componentId, day] = k.split('\u0000') as [string, string];
      const totals = this.#days.get(componentId)?.get(day);
      if (totals)
        out.push({ componentId, day, totals: { worst: totals.worst, seconds: { ...totals.seconds } } });
    }
    this.#dirty.clear();
    return out;
  }
}

/** The last `days` UTC days ending today, oldest first, with gaps as "no data". */
export function dayRecords(days: number, now: number, stored: ReadonlyMap<string, DayTotals>): DayRecord[] {
  const out: DayRecord[] = [];
  for (let i = days - 1; i >= 0; i--) {
    const day = dayOf(now - i * DAY);
    const t = stored.get(day);
    out.push(t ? { day, worst: t.worst, uptime: uptimeOf(t) } : { day, worst: 'operational', uptime: null });
  }
  return out;
}
