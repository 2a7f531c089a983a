import { severity } from './burn.ts';
import type { ComponentStatus, Impact, IncidentStatus } from './statuspage.ts';

/** A component status change inside an incident update (Statuspage's affected_components). */
export interface Affected {
  key: string;
  old: ComponentStatus;
  new: ComponentStatus;
}

export interface OpenIncident {
  id: string;
  /** Opened by the system: the policy may update and resolve it. Operators' incidents are theirs. */
  auto: boolean;
  status: IncidentStatus;
  impact: Impact;
  impactOverridden: boolean;
  componentKeys: readonly string[];
}

export interface ComponentNow {
  name: string;
  /** Shown status; under_maintenance is planned, never an incident. */
  status: ComponentStatus;
  /** Since when telemetry has said non-operational without a break (undefined: it does not). */
  badSince: number | undefined;
}

export type IncidentAction =
  | { kind: 'open'; keys: string[]; name: string; impact: Impact; body: string; affected: Affected[] }
  | {
      kind: 'update';
      id: string;
      status: IncidentStatus;
      impact?: Impact;
      addKeys: string[];
      body: string;
      affected: Affected[];
    }
  | { kind: 'resolve'; id: string; body: string; affected: Affected[] };

export interface PolicyOptions {
  auto: boolean;
  openAfterMs: number;
  quietMs: number;
}

const IMPACT_RANK: Record<Impact, number> = { none: 0, maintenance: 0, minor: 1, major: 2, critical: 3 };

/** Statuspage's convention: degraded → minor, partial outage → major, major outage → critical. */
export function impactOf(status: ComponentStatus): Impact {
  switch (status) {
    case 'major_outage':
      return 'critical';
    case 'partial_outage':
      return 'major';
    case 'degraded_performance':
      return 'minor';
    default:
      return 'none';
  }
}

export function worseImpact(a: Impact, b: Impact): Impact {
  return IMPACT_RANK[b] > IMPACT_RANK[a] ? b : a;
}

const TITLE: Partial<Record<ComponentStatus, string>> = {
  major_outage: 'Major outage',
  partial_outage: 'Partial outage',
  degraded_performance: 'Degraded performance',
};

const isBad = (s: ComponentStatus): boolean => severity(s) > 0 && s !== 'under_maintenance';

/**
 * When the system opens, updates and resolves incidents on its own. Pure: it sees the components' state
 * and the open incidents, and answers with actions for the service to carry out; its memory is only
 * what each automatic incident last said about its components.
 *
 * - open: a component has been non-operational for `openAfterMs` without a break (a blip shows on the
 *   page but opens nothing), or at once when users' reports corroborate it (`urgent`). Components going
 *   bad while an automatic incident is open join that incident: one failure seen from several sides is
 *   one incident.
 * - update: whenever a component of the incident changes status (with a machine-written sentence).
 * - resolve: after every component has been operational for `quietMs`; a relapse before then reopens the
 *   investigation in the same incident.
 */
export class IncidentPolicy {
  readonly #opts: PolicyOptions;
  readonly #memory = new Map<
    string,
    { last: Map<string, ComponentStatus>; quietSince: number | undefined }
  >();

  constructor(opts: PolicyOptions) {
    this.#opts = opts;
  }

  decide(
    now: number,
    components: ReadonlyMap<string, ComponentNow>,
    open: readonly OpenIncident[],
    describe: (key: string) => string,
    urgent: ReadonlySet<string> = new Set(),
  ): IncidentAction[] {
    const actions: IncidentAction[] = [];
    const statusOf = (k: string): ComponentStatus => components.get(k)?.status ?? 'operational';
    for (const id of this.#memory.keys())
      if (!open.some((i) => i.id === id && i.auto)) this.#memory.delete(id);

    const covered = new Set(open.flatMap((i) => i.componentKeys));
    const due: string[] = [];
    if (this.#opts.auto)
      for (const [key, c] of components) {
        if (covered.has(key) || !isBad(c.status)) continue;
        const long = c.badSince !== undefined && now - c.badSince >= this.#opts.openAfterMs;
        if (long || urgent.has(key)) due.push(key);
      }

    const autoOpen = open.filter((i) => i.auto);
    const target = autoOpen[0];
    if (due.length > 0 && !target) {
      const worstStatus = due.map(statusOf).reduce((a, b) => (severity(b) > severity(a) ? b : a));
      const affected = due.map((key) => ({ key, old: 'operational' as const, new: statusOf(key) }));
      const names = due.map((k) => components.get(k)?.name ?? k);
      actions.push({
        kind: 'open',
        keys: due,
        name: `${TITLE[worstStatus] ?? 'Problems'}: ${names.join(', ')}`,
        impact: impactOf(worstStatus),
        body: `We are investigating. ${due.map(describe).join(' ')}`,
        affected,
      });
    }

    for (const inc of autoOpen) {
      const joining = inc === target ? due : [];
      const keys = [...inc.componentKeys, ...joining];
      let mem = this.#memory.get(inc.id);
      if (!mem) {
        // First sight of this incident (just opened, or after a restart): its components' statuses now
        // are the baseline, so nothing is announced twice.
        mem = { last: new Map(inc.componentKeys.map((k) => [k, statusOf(k)])), quietSince: undefined };
        this.#memory.set(inc.id, mem);
      }
      const affected: Affected[] = [];
      for (const k of keys) {
        const old = mem.last.get(k) ?? 'operational';
        const cur = statusOf(k);
        if (old !== cur) affected.push({ key: k, old, new: cur });
        mem.last.set(k, cur);
      }
      const anyBad = keys.some((k) => isBad(statusOf(k)));
      if (anyBad) mem.quietSince = undefined;
      else mem.quietSince ??= now;

      if (!anyBad && mem.quietSince !== undefined && now - mem.quietSince >= this.#opts.quietMs) {
        actions.push({
          kind: 'resolve',
          id: inc.id,
          body: `This incident has been resolved: every affected component has been operational for ${minutes(this.#opts.quietMs)}.`,
          affected,
        });
        this.#memory.delete(inc.id);
        continue;
      }
      if (affected.length === 0) continue;
      const impact = keys.map((k) => impactOf(statusOf(k))).reduce(worseImpact, inc.impact);
      const status: IncidentStatus = anyBad
        ? inc.status === 'monitoring'
          ? 'investigating'
          : inc.status
        : 'monitoring';
      const changed = affected.map((a) => a.key);
      const body = anyBad
        ? changed.map(describe).join(' ')
        : `${changed.map(describe).join(' ')} We are monitoring before resolving (${minutes(this.#opts.quietMs)} without trouble).`;
      actions.push({
        kind: 'update',
        id: inc.id,
        status,
        ...(!inc.impactOverridden && impact !== inc.impact ? { impact } : {}),
        addKeys: joining,
        body,
        affected,
      });
    }
    return actions;
  }
}

function minutes(ms: number): string {
  if (ms < 60_000) return `${Math.round(ms / 1000)} seconds`;
  const m = Math.round(ms / 60_000);
  return m === 1 ? '1 minute' : `${m} minutes`;
}
