/** Hour of the week in UTC, 0 (Monday 00:00) to 167. */
export function hourOfWeek(at: number): number {
  const d = new Date(at);
  return ((d.getUTCDay() + 6) % 7) * 24 + d.getUTCHours();
}

export interface SpikeRules {
  windowMs: number;
  minReports: number;
  spikeFactor: number;
  baselineWeeks: number;
}

export interface ReportReading {
  key: string;
  /** Counted reports (one per user or IP) in the current window. */
  count: number;
  /** The usual count per window at this hour of the week. */
  baseline: number;
  spike: boolean;
}

/**
 * The usual number of counted reports per window at an hour of the week, from the totals seen at that
 * hour over the last `baselineWeeks` weeks (hours with no reports count as zero: quiet is usual too).
 */
export function baselinePerWindow(totalAtHour: number, rules: SpikeRules): number {
  const windowsPerHour = 3_600_000 / rules.windowMs;
  return totalAtHour / (rules.baselineWeeks * windowsPerHour);
}

/**
 * A spike is many reports (so three friends cannot make one) that are also far above what this hour of
 * the week usually sees (so a busy Monday morning is not an outage).
 */
export function isSpike(count: number, baseline: number, rules: SpikeRules): boolean {
  return count >= rules.minReports && count >= rules.spikeFactor * baseline;
}

export function readReports(
  counts: ReadonlyMap<string, number>,
  history: ReadonlyMap<string, number>,
  rules: SpikeRules,
): ReportReading[] {
  const out: ReportReading[] = [];
  for (const [key, count] of counts) {
    const baseline = baselinePerWindow(history.get(key) ?? 0, rules);
    out.push({ key, count, baseline, spike: isSpike(count, baseline, rules) });
  }
  return out;
}
