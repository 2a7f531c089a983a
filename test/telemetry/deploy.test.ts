import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/load.ts';
import { dashboardExprs, dashboardFiles, PROMETHEUS_DIR, ruleExprs, ruleFiles } from './deploy-files.ts';
import { familyOf, metricNames, unknownMetrics } from './promql.ts';

/**
 * The shipped Grafana dashboards and Prometheus rule files: their shape, the extraction of metric names
 * from their PromQL (the check that they use only real metrics runs against a live gateway in
 * metrics-traffic.test.ts), and that the burn-rate alerts use the status page's SLO numbers.
 */

function hasPromtool(): boolean {
  try {
    execFileSync('promtool', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('metric names in PromQL', () => {
  it('finds metrics, not functions, keywords, labels, durations or Grafana variables', () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (model, le) (rate(holdfast_request_duration_seconds_bucket{model=~"$model",flag!~"A|B"}[$__rate_interval])))',
      ),
    ).toEqual(new Set(['holdfast_request_duration_seconds_bucket']));
    expect(
      metricNames(
        'count by (model) (holdfast_deployment_health{state=~"ejected|blocked"} == 1) == on (model) group_left count by (model) (up offset 5m)',
      ),
    ).toEqual(new Set(['holdfast_deployment_health', 'up']));
    expect(
      metricNames(
        'sum(rate(a_total[5m])) / ignoring (x) sum(rate(b_total[5m:30s])) > bool 0.5 and c unless d',
      ),
    ).toEqual(new Set(['a_total', 'b_total', 'c', 'd']));
    expect(metricNames('label_replace(holdfast_x, "dst", "$1", "src", "(.*)") or vector(0)')).toEqual(
      new Set(['holdfast_x']),
    );
    expect(
      metricNames('holdfast:slo_errors:ratio_rate5m > (14.4 * 0.005) # a comment naming not_a_metric'),
    ).toEqual(new Set(['holdfast:slo_errors:ratio_rate5m']));
    // Grafana variable queries.
    expect(metricNames('label_values(holdfast_requests_total, model)')).toEqual(
      new Set(['holdfast_requests_total']),
    );
    expect(metricNames('label_values(holdfast_deployment_health{model=~"$model"}, deployment)')).toEqual(
      new Set(['holdfast_deployment_health']),
    );
    expect(metricNames('label_values(model)')).toEqual(new Set());
  });

  it('resolves histogram series to their family and reports a made-up metric', () => {
    const families = new Map([
      ['holdfast_requests_total', 'counter'],
      ['holdfast_request_duration_seconds', 'histogram'],
      ['holdfast_queue_length', 'gauge'],
    ]);
    expect(familyOf('holdfast_request_duration_seconds_bucket', families)).toBe(
      'holdfast_request_duration_seconds',
    );
    expect(familyOf('holdfast_request_duration_seconds_count', families)).toBe(
      'holdfast_request_duration_seconds',
    );
    expect(familyOf('holdfast_requests_total_count', families)).toBeUndefined();
    expect(familyOf('holdfast_queue_length_sum', families)).toBeUndefined();
    expect(familyOf('holdfast_request_duration_seconds_total', families)).toBeUndefined();
    const dashboard = {
      panels: [
        { type: 'row', panels: [{ targets: [{ expr: 'sum(rate(holdfast_requests_total[5m]))' }] }] },
        {
          targets: [
            { expr: 'rate(holdfast_made_up_total[5m]) / rate(holdfast_request_duration_seconds_count[5m])' },
          ],
        },
      ],
      templating: {
        list: [{ type: 'query', query: { query: 'label_values(holdfast_invented_info, model)' } }],
      },
    };
    expect(unknownMetrics(dashboardExprs(dashboard), families)).toEqual([
      'holdfast_invented_info',
      'holdfast_made_up_total',
    ]);
    // A recording rule's name is known once a rule file defines it.
    expect(unknownMetrics(['holdfast:ratio > 1'], families, new Set(['holdfast:ratio']))).toEqual([]);
    expect(unknownMetrics(['holdfast:ratio > 1'], families)).toEqual(['holdfast:ratio']);
  });
});

describe('deploy/grafana dashboards', () => {
  it('are importable Grafana dashboards whose panels all query Prometheus', () => {
    const files = dashboardFiles();
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const d = JSON.parse(readFileSync(file, 'utf8')) as {
        uid: string;
        title: string;
        schemaVersion: number;
        __inputs: Array<{ type: string; pluginId: string }>;
        templating: { list: Array<{ name: string }> };
        panels: Array<{
          id: number;
          type: string;
          title: string;
          gridPos: { h: number; w: number; x: number; y: number };
          datasource?: { type: string; uid: string };
          targets?: Array<{ expr: string; refId: string }>;
        }>;
      };
      expect(d.uid).toMatch(/^[a-z0-9-]{1,40}$/);
      expect(d.title).toBeTruthy();
      expect(d.schemaVersion).toBeGreaterThanOrEqual(36);
      expect(d.__inputs).toContainEqual(
        expect.objectContaining({ type: 'datasource', pluginId: 'prometheus' }),
      );
      expect(d.templating.list.map((v) => v.name)).toContain('datasource');
      const ids = new Set<number>();
      for (const p of d.panels) {
        expect(ids.has(p.id), `duplicate panel id ${p.id}`).toBe(false);
        ids.add(p.id);
        expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
        if (p.type === 'row') continue;
        expect(p.title).toBeTruthy();
        expect(p.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
        expect(p.targets?.length, p.title).toBeGreaterThan(0);
        for (const t of p.targets ?? []) {
          expect(t.expr.trim()).not.toBe('');
          expect(t.refId).toMatch(/^[A-Z]$/);
        }
      }
      // What issue #8 asks the dashboard to show.
      const exprs = dashboardExprs(d).join('\n');
      for (const used of [
        'holdfast_requests_total',
        'holdfast_request_duration_seconds_bucket',
        'holdfast_time_to_first_token_seconds_bucket',
        'holdfast_deployment_health',
        'holdfast_deployment_ejections_total',
        'holdfast_deployment_concurrency_limit',
        'holdfast_deployment_in_flight',
        'holdfast_queue_length',
        'holdfast_queue_wait_seconds_bucket',
        'flag="RATE_LIMITED"',
        'holdfast_failovers_total',
      ])
        expect(exprs).toContain(used);
    }
  });
});

describe('deploy/prometheus rule files', () => {
  const files = ruleFiles();

  it('have the shape Prometheus loads: groups of alerting and recording rules', () => {
    expect(files.length).toBeGreaterThan(0);
    const duration = /^(\d+(ms|s|m|h|d|w|y))+$/;
    const alerts = new Set<string>();
    for (const f of files) {
      expect(f.groups.length, f.file).toBeGreaterThan(0);
      const groupNames = new Set<string>();
      for (const g of f.groups) {
        expect(typeof g.name).toBe('string');
        expect(groupNames.has(g.name as string), `duplicate group ${String(g.name)}`).toBe(false);
        groupNames.add(g.name as string);
        if (g.interval !== undefined) expect(g.interval).toMatch(duration);
        expect(g.rules?.length).toBeGreaterThan(0);
        for (const r of g.rules ?? []) {
          expect(typeof r.expr === 'string' && r.expr.trim() !== '', JSON.stringify(r)).toBe(true);
          if (r.record !== undefined) {
            expect(r.alert).toBeUndefined();
            expect(r.record).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/);
            expect(r.for).toBeUndefined();
            expect(r.annotations).toBeUndefined();
            continue;
          }
          expect(r.alert).toMatch(/^[A-Za-z][A-Za-z0-9_]*$/);
          expect(alerts.has(r.alert as string), `duplicate alert ${String(r.alert)}`).toBe(false);
          alerts.add(r.alert as string);
          expect(r.for).toMatch(duration);
          const labels = r.labels as Record<string, unknown>;
          expect(['page', 'ticket']).toContain(labels.severity);
          for (const v of Object.values(labels)) expect(typeof v).toBe('string');
          const notes = r.annotations as Record<string, unknown>;
          expect(typeof notes.summary).toBe('string');
          expect(typeof notes.description).toBe('string');
        }
      }
    }
    // The alerts issue #8 asks for.
    for (const name of [
      'HoldfastErrorBudgetBurnFast',
      'HoldfastErrorBudgetBurnSlow',
      'HoldfastLatencyBudgetBurnFast',
      'HoldfastLatencyBudgetBurnSlow',
      'HoldfastModelAllDeploymentsEjected',
      'HoldfastQueueWaitHigh',
      'HoldfastStoreDown',
    ])
      expect(alerts).toContain(name);
    // Recording rules are defined before anything uses them, and every one is used.
    const { exprs, recorded } = ruleExprs(files);
    const used = new Set(exprs.flatMap((e) => [...metricNames(e)]));
    for (const r of recorded) expect(used, r).toContain(r);
    // promtool is not a dependency (nor installed for this test); where it is installed, it checks too.
    if (hasPromtool())
      for (const f of files) execFileSync('promtool', ['check', 'rules', f.file], { cwd: PROMETHEUS_DIR });
  });

  it("burn-rate alerts use the status page's SLO, windows and burn factors", () => {
    const c = buildConfig(
      { models: [{ name: 'm', deployments: [{ id: 'd', provider: 'simulator', model: 'm' }] }] },
      {},
    );
    const { availability, latency_ms, latency_target } = c.status.slo;
    const { fast, slow, min_failures, min_requests } = c.status.rules;
    const text = files.map((f) => f.text).join('\n');
    const window = (s: number): string =>
      s % 3600 === 0 ? `${s / 3600}h` : s % 60 === 0 ? `${s / 60}m` : `${s}s`;
    const budget = Number((1 - availability).toFixed(6));
    for (const pair of [fast, slow]) {
      expect(text).toContain(
        `holdfast:slo_errors:ratio_rate${window(pair.short_s)} > (${pair.burn} * ${budget})`,
      );
      expect(text).toContain(
        `holdfast:slo_errors:ratio_rate${window(pair.long_s)} > (${pair.burn} * ${budget})`,
      );
      const slowAt = Math.min(pair.burn * (1 - latency_target), 0.99).toFixed(2);
      expect(text).toContain(`holdfast:slo_slow:ratio_rate${window(pair.short_s)} > ${slowAt}`);
      expect(text).toContain(`holdfast:slo_slow:ratio_rate${window(pair.long_s)} > ${slowAt}`);
      expect(text).toContain(`holdfast:slo_errors:increase${window(pair.short_s)} >= ${min_failures}`);
      expect(text).toContain(`holdfast:slo_slow:increase${window(pair.short_s)} >= ${min_failures}`);
      expect(text).toContain(`holdfast:slo_streams:increase${window(pair.short_s)} >= ${min_requests}`);
      for (const w of [pair.short_s, pair.long_s])
        expect(text).toContain(`holdfast:slo_requests:increase${window(w)} >= ${min_requests}`);
      for (const w of [pair.short_s, pair.long_s]) expect(text).toContain(`[${window(w)}]`);
    }
    expect(text).toContain(`le="${latency_ms / 1000}"`);
    // The alert's `for` is the delay of the status page's automatic incidents.
    expect(text).toContain(`for: ${window(c.status.incidents.open_after_s)}`);
  });
});
