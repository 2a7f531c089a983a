import type { Config } from '../config/schema.ts';
import type { BurnRules } from './burn.ts';
import type { PolicyOptions } from './incident-policy.ts';
import type { SpikeRules } from './reports-policy.ts';

/** The status config in milliseconds, read once. */
export interface StatusSettings {
  rules: BurnRules;
  holdMs: number;
  tickMs: number;
  latencyMs: number;
  incidents: PolicyOptions;
  probes: { enabled: boolean; intervalMs: number; failures: number };
  reports: SpikeRules;
}

export function statusSettings(status: Config['status']): StatusSettings {
  const r = status.rules;
  const pair = (p: { short_s: number; long_s: number; burn: number }) => ({
    shortMs: p.short_s * 1000,
    longMs: p.long_s * 1000,
    burn: p.burn,
  });
  return {
    rules: {
      fast: pair(r.fast),
      slow: pair(r.slow),
      availability: status.slo.availability,
      latencyTarget: status.slo.latency_target,
      majorErrorRatio: r.major_error_ratio,
      minRequests: r.min_requests,
      minFailures: r.min_failures,
    },
    holdMs: r.hold_s * 1000,
    tickMs: r.tick_ms,
    latencyMs: status.slo.latency_ms,
    incidents: {
      auto: status.incidents.auto,
      openAfterMs: status.incidents.open_after_s * 1000,
      quietMs: status.incidents.quiet_period_s * 1000,
    },
    probes: {
      enabled: status.probes.enabled,
      intervalMs: status.probes.interval_s * 1000,
      failures: status.probes.failures,
    },
    reports: {
      windowMs: status.reports.window_s * 1000,
      minReports: status.reports.min_reports,
      spikeFactor: status.reports.spike_factor,
      baselineWeeks: status.reports.baseline_weeks,
    },
  };
}
