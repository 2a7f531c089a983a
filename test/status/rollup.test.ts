import { describe, expect, it } from 'vitest';
import { LatencyBook } from '../../src/status/latency.ts';
import { baselinePerWindow, hourOfWeek, isSpike } from '../../src/status/reports-policy.ts';
import { DayBook, dayRecords, uptimeOf } from '../../src/status/rollup.ts';

const MIDNIGHT = Date.parse('2030-01-08T00:00:00Z');

describe('daily rollups', () => {
  it('charges time to the status it was spent in, split at UTC midnight', () => {
    const book = new DayBook();
    book.accrue('c1', 'operational', MIDNIGHT - 3_600_000, MIDNIGHT - 600_000);
    book.accrue('c1', 'major_outage', MIDNIGHT - 600_000, MIDNIGHT + 600_000);
    const rows = book.takeDirty();
    const jan7 = rows.find((r) => r.day === '2030-01-07')!.totals;
    const jan8 = rows.find((r) => r.day === '2030-01-08')!.totals;
    expect(jan7).toEqual({ worst: 'major_outage', seconds: { operational: 3_000, major_outage: 600 } });
    expect(jan8).toEqual({ worst: 'major_outage', seconds: { major_outage: 600 } });
    expect(uptimeOf(jan7)).toBeCloseTo(3_000 / 3_600);
    expect(book.takeDirty()).toEqual([]);
  });

  it('fills the 90-day bars oldest first, with days without data as null uptime', () => {
    const days = dayRecords(
      90,
      MIDNIGHT + 1_000,
      new Map([['2030-01-08', { worst: 'under_maintenance', seconds: { under_maintenance: 10 } }]]),
    );
    expect(days).toHaveLength(90);
    expect(days.at(-1)).toEqual({ day: '2030-01-08', worst: 'under_maintenance', uptime: 1 });
    expect(days[0]).toEqual({ day: '2029-10-11', worst: 'operational', uptime: null });
  });

  it('keeps response-time points: five-minute up to 12 hours, hourly beyond, stored hours before start', () => {
    const start = MIDNIGHT + 3 * 3_600_000;
    const book = new LatencyBook(start);
    for (let i = 0; i < 100; i++) book.observe(['k'], i < 90 ? 100 : 2_000, start + i * 1_000);
    const short = book.points('k', 1, start + 120_000, new Map());
    expect(short).toHaveLength(12);
    const last = short.at(-1)!;
    expect(last.count).toBe(100);
    expect(last.p50Ms).toBeGreaterThanOrEqual(100);
    expect(last.p50Ms).toBeLessThan(130);
    expect(last.p95Ms).toBeGreaterThanOrEqual(2_000);
    const stored = new Map([[MIDNIGHT, { '20': 7 }]]);
    const long = book.points('k', 24, start + 120_000, stored);
    expect(long).toHaveLength(24);
    expect(long.find((p) => p.at === new Date(MIDNIGHT).toISOString())?.count).toBe(7);
  });
});

describe('report spikes', () => {
  const rules = { windowMs: 600_000, minReports: 5, spikeFactor: 3, baselineWeeks: 8 };
  it('compares with the usual count at this hour of the week', () => {
    expect(hourOfWeek(Date.parse('2030-01-07T00:30:00Z'))).toBe(0); // a Monday
    expect(hourOfWeek(Date.parse('2030-01-13T23:59:00Z'))).toBe(167);
    // 96 counted reports at this hour over 8 weeks = 2 per 10-minute window.
    const baseline = baselinePerWindow(96, rules);
    expect(baseline).toBe(2);
    expect(isSpike(5, baseline, rules)).toBe(false);
    expect(isSpike(6, baseline, rules)).toBe(true);
    expect(isSpike(4, 0, rules)).toBe(false);
    expect(isSpike(5, 0, rules)).toBe(true);
  });
});
