import type {
  ComponentStatus,
  SpComponent,
  SpIncident,
  SpIncidentUpdate,
  SpSummary,
} from '../../../src/status/statuspage.ts';
import type { ComponentHistory, DayRecord, LatencyPoint, StatusView } from '../../../src/status/view.ts';

/**
 * A StatusView over plain objects, with the data a real page would have: components in two groups, an
 * active incident with updates (one carrying markup, which must come out escaped), a scheduled
 * maintenance, past incidents, 90 days of history and a day of response times.
 */
export const PAGE_ID = 'hfpage01';
const NOW = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000);
const iso = (msAgo: number) => new Date(NOW.getTime() - msAgo).toISOString();
const H = 3_600_000;
const D = 24 * H;

function component(id: string, name: string, position: number, over: Partial<SpComponent> = {}): SpComponent {
  return {
    id,
    name,
    status: 'operational',
    created_at: iso(200 * D),
    updated_at: iso(2 * H),
    position,
    description: null,
    showcase: true,
    start_date: null,
    group_id: null,
    page_id: PAGE_ID,
    group: false,
    only_show_if_degraded: false,
    ...over,
  };
}

function update(
  incidentId: string,
  n: number,
  status: SpIncidentUpdate['status'],
  body: string,
  at: string,
  affected: SpIncidentUpdate['affected_components'] = null,
): SpIncidentUpdate {
  return {
    id: `${incidentId}u${n}`,
    status,
    body,
    incident_id: incidentId,
    created_at: at,
    updated_at: at,
    display_at: at,
    affected_components: affected,
    deliver_notifications: true,
  };
}

export interface FakeData {
  page: SpSummary['page'];
  components: SpComponent[];
  incidents: SpIncident[];
  maintenances: SpIncident[];
  history: ComponentHistory[];
  latency: LatencyPoint[];
}

export function fakeData(): FakeData {
  const models = component('grp_models', 'Models', 1, {
    group: true,
    components: ['cmp_gpt', 'cmp_claude', 'cmp_llama'],
  });
  const platform = component('grp_platform', 'Platform', 2, {
    group: true,
    components: ['cmp_api', 'cmp_chat'],
  });
  const gpt = component('cmp_gpt', 'gpt-4o', 1, {
    group_id: models.id,
    status: 'partial_outage',
    description: 'OpenAI-compatible chat model, two regions',
  });
  const claude = component('cmp_claude', 'claude-sonnet', 2, { group_id: models.id });
  const llama = component('cmp_llama', 'llama-3.1-70b', 3, {
    group_id: models.id,
    status: 'degraded_performance',
  });
  const api = component('cmp_api', 'API', 1, { group_id: platform.id });
  const chat = component('cmp_chat', 'Chat app', 2, { group_id: platform.id });
  const components = [models, gpt, claude, llama, platform, api, chat];

  const active: SpIncident = {
    id: 'inc_active',
    name: 'Elevated error rate on gpt-4o <eu-west>',
    status: 'identified',
    impact: 'major',
    created_at: iso(95 * 60_000),
    updated_at: iso(10 * 60_000),
    monitoring_at: null,
    resolved_at: null,
    started_at: iso(95 * 60_000),
    shortlink: `https://status.example.com/status/incidents/inc_active`,
    page_id: PAGE_ID,
    components: [gpt, llama],
    incident_updates: [
      update(
        'inc_active',
        3,
        'identified',
        'The eu-west deployment returns 503 for 34% of requests & traffic is failing over to us-east.\n\nRequests with <script>alert("x")</script> in them are fine.',
        iso(10 * 60_000),
        [{ code: gpt.id, name: gpt.name, old_status: 'degraded_performance', new_status: 'partial_outage' }],
      ),
      update('inc_active', 2, 'investigating', 'Error rate on gpt-4o is 12% and rising.', iso(60 * 60_000)),
      update(
        'inc_active',
        1,
        'investigating',
        'We are looking into elevated errors on gpt-4o.',
        iso(95 * 60_000),
      ),
    ],
  };
  const past: SpIncident = {
    id: 'inc_past',
    name: 'Slow responses from claude-sonnet',
    status: 'resolved',
    impact: 'minor',
    created_at: iso(3 * D),
    updated_at: iso(3 * D - 2 * H),
    monitoring_at: iso(3 * D - H),
    resolved_at: iso(3 * D - 2 * H),
    started_at: iso(3 * D),
    shortlink: 'https://status.example.com/status/incidents/inc_past',
    page_id: PAGE_ID,
    components: [claude],
    incident_updates: [
      update('inc_past', 3, 'resolved', 'Latency is back to normal.', iso(3 * D - 2 * H)),
      update('inc_past', 2, 'monitoring', 'A fix is in place; we are watching latency.', iso(3 * D - H)),
      update(
        'inc_past',
        1,
        'investigating',
        'Time to first token on claude-sonnet is above 8 s.',
        iso(3 * D),
      ),
    ],
    postmortem_body:
      '## What happened\n\nA **capacity change** upstream halved our quota <script>alert(1)</script>.\n\n- We now alert on quota headroom.\n- [Details](https://example.com/pm) and [not this](javascript:alert(1)).',
    postmortem_published_at: iso(2 * D),
  };
  const older: SpIncident = {
    ...past,
    id: 'inc_older',
    name: 'API returned 500 for key lookups',
    impact: 'critical',
    created_at: iso(40 * D),
    updated_at: iso(40 * D - H),
    resolved_at: iso(40 * D - H),
    started_at: iso(40 * D),
    monitoring_at: null,
    components: [api],
    postmortem_body: null,
    postmortem_published_at: null,
    incident_updates: [
      update(
        'inc_older',
        2,
        'resolved',
        'The database failover finished; lookups work again.',
        iso(40 * D - H),
      ),
      update('inc_older', 1, 'investigating', 'API calls fail with 500.', iso(40 * D)),
    ],
  };
  const scheduled: SpIncident = {
    id: 'mnt_next',
    name: 'Database upgrade',
    status: 'scheduled',
    impact: 'maintenance',
    created_at: iso(2 * D),
    updated_at: iso(2 * D),
    monitoring_at: null,
    resolved_at: null,
    started_at: iso(2 * D),
    shortlink: 'https://status.example.com/status/incidents/mnt_next',
    page_id: PAGE_ID,
    components: [api, chat],
    scheduled_for: new Date(NOW.getTime() + 2 * D).toISOString(),
    scheduled_until: new Date(NOW.getTime() + 2 * D + 2 * H).toISOString(),
    incident_updates: [
      update(
        'mnt_next',
        1,
        'scheduled',
        'We will upgrade the primary database. Chat history may be read-only for up to 10 minutes.',
        iso(2 * D),
      ),
    ],
  };
  const doneMaint: SpIncident = {
    ...scheduled,
    id: 'mnt_done',
    name: 'Load balancer replacement',
    status: 'completed',
    created_at: iso(20 * D),
    updated_at: iso(12 * D),
    started_at: iso(12 * D + H),
    resolved_at: iso(12 * D),
    scheduled_for: iso(12 * D + H),
    scheduled_until: iso(12 * D),
    incident_updates: [
      update('mnt_done', 2, 'completed', 'Done.', iso(12 * D)),
      update('mnt_done', 1, 'scheduled', 'Replacing the load balancer.', iso(20 * D)),
    ],
  };

  const history: ComponentHistory[] = components
    .filter((c) => !c.group)
    .map((c, ci) => ({
      componentId: c.id,
      days: Array.from({ length: 90 }, (_, i): DayRecord => {
        const day = new Date(NOW.getTime() - (89 - i) * D).toISOString().slice(0, 10);
        // The first two weeks of this component's history predate it (no data), then mostly good days.
        if (ci === 4 && i < 14) return { day, worst: 'operational', uptime: null };
        let worst: ComponentStatus = 'operational';
        let uptime = 1;
        if ((i * 7 + ci * 13) % 31 === 0) [worst, uptime] = ['degraded_performance', 0.995];
        if ((i + ci * 5) % 47 === 0) [worst, uptime] = ['partial_outage', 0.97];
        if (c.id === 'cmp_api' && i === 49) [worst, uptime] = ['major_outage', 0.958];
        if (c.id === 'cmp_claude' && i === 86) [worst, uptime] = ['degraded_performance', 0.99];
        if (c.id === 'cmp_gpt' && i === 89) [worst, uptime] = ['partial_outage', 0.94];
        return { day, worst, uptime };
      }),
    }));
  const latency: LatencyPoint[] = Array.from({ length: 24 }, (_, i) => {
    const bad = i >= 22;
    return {
      at: new Date(NOW.getTime() - (24 - i) * H).toISOString(),
      p50Ms: i === 5 ? null : 420 + Math.round(60 * Math.sin(i / 3)) + (bad ? 900 : 0),
      p95Ms: i === 5 ? null : 1300 + Math.round(200 * Math.cos(i / 4)) + (bad ? 2600 : 0),
      count: i === 5 ? 0 : 1800 + i * 10,
    };
  });
  return {
    page: {
      id: PAGE_ID,
      name: 'Holdfast Status',
      url: 'https://status.example.com/status',
      time_zone: 'Etc/UTC',
      updated_at: iso(10 * 60_000),
    },
    components,
    incidents: [active, past, older],
    maintenances: [scheduled, doneMaint],
    history,
    latency,
  };
}

const UNRESOLVED = new Set(['investigating', 'identified', 'monitoring']);
const SEV: Record<ComponentStatus, number> = {
  operational: 0,
  under_maintenance: 1,
  degraded_performance: 2,
  partial_outage: 3,
  major_outage: 4,
};

export class FakeView implements StatusView {
  data: FakeData;
  constructor(data: FakeData = fakeData()) {
    this.data = data;
  }
  async summary(): Promise<SpSummary> {
    const d = this.data;
    const worst = Math.max(0, ...d.components.filter((c) => !c.group).map((c) => SEV[c.status]));
    const [indicator, description] =
      worst >= 4
        ? (['critical', 'Major Service Outage'] as const)
        : worst === 3
          ? (['major', 'Partial System Outage'] as const)
          : worst === 2
            ? (['minor', 'Minor Service Outage'] as const)
            : (['none', 'All Systems Operational'] as const);
    return {
      page: d.page,
      status: { indicator, description },
      components: d.components,
      incidents: d.incidents.filter((i) => UNRESOLVED.has(i.status)),
      scheduled_maintenances: d.maintenances.filter((m) => m.status !== 'completed'),
    };
  }
  async components(): Promise<SpComponent[]> {
    return this.data.components;
  }
  async incidents(): Promise<SpIncident[]> {
    return this.data.incidents;
  }
  async maintenances(): Promise<SpIncident[]> {
    return this.data.maintenances;
  }
  async history(days: number): Promise<ComponentHistory[]> {
    return this.data.history.map((h) => ({ ...h, days: h.days.slice(-days) }));
  }
  async latency(): Promise<LatencyPoint[]> {
    return this.data.latency;
  }
}
