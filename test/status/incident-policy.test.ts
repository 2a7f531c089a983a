import { describe, expect, it } from 'vitest';
import { type ComponentNow, IncidentPolicy, type OpenIncident } from '../../src/status/incident-policy.ts';
import type { ComponentStatus } from '../../src/status/statuspage.ts';

const opts = { auto: true, openAfterMs: 120_000, quietMs: 600_000 };

function world() {
  const policy = new IncidentPolicy(opts);
  const comps = new Map<string, ComponentNow>([
    ['a', { name: 'A', status: 'operational', badSince: undefined }],
    ['b', { name: 'B', status: 'operational', badSince: undefined }],
  ]);
  const open: OpenIncident[] = [];
  const set = (k: string, status: ComponentStatus, badSince?: number) =>
    comps.set(k, { name: k.toUpperCase(), status, badSince });
  const step = (now: number, urgent: string[] = []) => {
    const actions = policy.decide(now, comps, open, (k) => `${k} says hi.`, new Set(urgent));
    for (const a of actions) {
      if (a.kind === 'open')
        open.push({
          id: `i${open.length}`,
          auto: true,
          status: 'investigating',
          impact: a.impact,
          impactOverridden: false,
          componentKeys: a.keys,
        });
      if (a.kind === 'update') {
        const i = open.find((x) => x.id === a.id)!;
        Object.assign(i, {
          status: a.status,
          componentKeys: [...i.componentKeys, ...a.addKeys],
          ...(a.impact ? { impact: a.impact } : {}),
        });
      }
      if (a.kind === 'resolve')
        open.splice(
          open.findIndex((x) => x.id === a.id),
          1,
        );
    }
    return actions;
  };
  return { policy, comps, open, set, step };
}

describe('incident state machine', () => {
  it('opens only after the threshold, with impact from the statuses', () => {
    const w = world();
    w.set('a', 'partial_outage', 0);
    expect(w.step(60_000)).toEqual([]);
    const [open] = w.step(120_000);
    expect(open).toMatchObject({ kind: 'open', keys: ['a'], impact: 'major', name: 'Partial outage: A' });
  });

  it('opens at once when reports corroborate; a maintenance is never an incident', () => {
    const w = world();
    w.set('a', 'degraded_performance', 0);
    expect(w.step(1_000, ['a'])[0]).toMatchObject({ kind: 'open', impact: 'minor' });
    const v = world();
    v.set('b', 'under_maintenance', 0);
    expect(v.step(999_000)).toEqual([]);
  });

  it('updates on every change, joins new components, escalates impact, monitors, relapses, resolves after quiet', () => {
    const w = world();
    w.set('a', 'partial_outage', 0);
    w.step(120_000);
    w.step(121_000); // baseline
    w.set('a', 'major_outage', 0);
    const [esc] = w.step(122_000);
    expect(esc).toMatchObject({
      kind: 'update',
      status: 'investigating',
      impact: 'critical',
      affected: [{ key: 'a', old: 'partial_outage', new: 'major_outage' }],
    });
    w.set('b', 'degraded_performance', 100_000);
    const [join] = w.step(230_000);
    expect(join).toMatchObject({ kind: 'update', addKeys: ['b'] });
    expect(w.open).toHaveLength(1);
    w.set('a', 'operational');
    w.set('b', 'operational');
    const [mon] = w.step(300_000);
    expect(mon).toMatchObject({ kind: 'update', status: 'monitoring' });
    w.set('a', 'degraded_performance', 400_000);
    const [relapse] = w.step(400_000);
    expect(relapse).toMatchObject({ kind: 'update', status: 'investigating' });
    w.set('a', 'operational');
    w.step(500_000);
    expect(w.step(500_000 + 599_000)).toEqual([]);
    const [res] = w.step(500_000 + 600_000);
    expect(res).toMatchObject({ kind: 'resolve' });
    expect(w.open).toEqual([]);
  });

  it("leaves operators' incidents alone, and does not duplicate them", () => {
    const w = world();
    w.open.push({
      id: 'op',
      auto: false,
      status: 'identified',
      impact: 'major',
      impactOverridden: true,
      componentKeys: ['a'],
    });
    w.set('a', 'major_outage', 0);
    expect(w.step(999_000)).toEqual([]);
    w.set('a', 'operational');
    expect(w.step(9_999_000)).toEqual([]);
  });
});
