import type { OutcomeRecord } from '../telemetry/outcome.ts';
import { type BurnRules, type Finding, Hysteresis, judge, severity, worst } from './burn.ts';
import { CHAT_REQUEST_PREFIX, isSlow, PROBE_REQUEST_PREFIX, verdictFor } from './classify.ts';
import type { ComponentSpec } from './components.ts';
import type { ComponentStatus } from './statuspage.ts';
import { MemoryStatusTelemetry, type StatusTelemetry, type TelemetryShape } from './telemetry.ts';
import { bucketFor, type Tally } from './windows.ts';

export type DeploymentHealth = 'healthy' | 'probing' | 'ejected' | 'blocked' | 'suspect';

export interface DeploymentView {
  id: string;
  health: DeploymentHealth;
}

/** What the computer needs from the rest of the gateway at evaluation time. */
export interface EvalContext {
  /** The (not drained) deployments serving these model groups, with their health now. */
  deployments(models: readonly string[]): DeploymentView[];
  /** Component keys inside an active maintenance window. */
  maintenance: ReadonlySet<string>;
  /** Statuses operators confirmed from users' reports: a floor under the computed status. */
  floors: ReadonlyMap<string, ComponentStatus>;
  /** Whether these model groups' traffic has another group to fail over to (config fallbacks). */
  failover?(models: readonly string[]): boolean;
  /** Statuses operators set by hand during an incident: shown instead of everything else. */
  manual?: ReadonlyMap<string, ComponentStatus>;
}

export interface ComputerOptions {
  rules: BurnRules;
  holdMs: number;
  latencyMs: number;
  /** Consecutive failed probes of an idle component that make it a major outage. */
  probeFailures: number;
  /** Probe results older than this are forgotten. */
  probeStaleMs: number;
  /**
   * Where requests are counted and window sums come from (default: this process's memory). With
   * replicas, a shared adapter makes every replica judge the same numbers (docs/status.md#several-replicas).
   */
  telemetry?: StatusTelemetry;
}

/** The buckets the rules need: fine enough for the shortest window, long enough for the longest. */
export function telemetryShape(specs: readonly ComponentSpec[], rules: BurnRules): TelemetryShape {
  return {
    bucketMs: bucketFor(Math.min(rules.fast.shortMs, rules.slow.shortMs)),
    spanMs: Math.max(rules.fast.longMs, rules.slow.longMs),
    keys: specs.filter((s) => s.role !== 'group').map((s) => s.key),
  };
}

export interface Reading {
  key: string;
  /**
   * What the page shows: an operator's manual status first, then maintenance, then the worse of
   * telemetry (with hysteresis) and a floor.
   */
  status: ComponentStatus;
  /** The operator's manual status, when one is set. */
  manual?: ComponentStatus;
  /** Telemetry's status with hysteresis, before maintenance and floors. */
  computed: ComponentStatus;
  /** The raw, instantaneous status before hysteresis. */
  candidate: ComponentStatus;
  /** Since when the raw status has been non-operational without a break. */
  badSince: number | undefined;
  finding: Finding | undefined;
}

interface Recent {
  at: number;
  deployment: string | undefined;
  bad: boolean;
  failedOver: boolean;
}

interface Track {
  spec: ComponentSpec;
  hysteresis: Hysteresis;
  badSince: number | undefined;
  finding: Finding | undefined;
  candidate: ComponentStatus;
  probeFailures: number;
  lastProbeAt: number;
  recent: Recent[];
}

const RECENT_MAX = 256;

/**
 * Computes every component's status from the outcome records, in memory and without I/O: the service
 * feeds it records and asks it at each tick, tests feed it synthetic streams on a fake clock.
 */
export class StatusComputer {
  readonly #opts: ComputerOptions;
  readonly #telemetry: StatusTelemetry;
  readonly #tracks = new Map<string, Track>();
  readonly #byModel = new Map<string, Track[]>();
  readonly #platform: Track[] = [];
  readonly #chat: Track[] = [];

  constructor(
    specs: readonly ComponentSpec[],
    opts: ComputerOptions,
    initial?: ReadonlyMap<string, ComponentStatus>,
  ) {
    this.#opts = opts;
    this.#telemetry = opts.telemetry ?? new MemoryStatusTelemetry(telemetryShape(specs, opts.rules));
    for (const spec of specs) {
      if (spec.role === 'group') continue;
      const start = initial?.get(spec.key);
      const track: Track = {
        spec,
        hysteresis: new Hysteresis(
          opts.holdMs,
          start && start !== 'under_maintenance' ? start : 'operational',
        ),
        badSince: undefined,
        finding: undefined,
        candidate: 'operational',
        probeFailures: 0,
        lastProbeAt: Number.NEGATIVE_INFINITY,
        recent: [],
      };
      this.#tracks.set(spec.key, track);
      if (spec.role === 'api') this.#platform.push(track);
      if (spec.role === 'chat') this.#chat.push(track);
      for (const m of spec.models) {
        const list = this.#byModel.get(m) ?? [];
        list.push(track);
        this.#byModel.set(m, list);
      }
    }
  }

  /** Whether a record belongs to this gateway's config at all (several gateways may share a process). */
  knows(rec: OutcomeRecord): boolean {
    return rec.model !== undefined && this.#byModel.has(rec.model);
  }

  /** Feeds one finished request. `skipKeys`: components that must not learn from it (in maintenance). */
  observe(rec: OutcomeRecord, now: number, skipKeys?: ReadonlySet<string>): void {
    const slow = isSlow(rec, this.#opts.latencyMs);
    const feed = (t: Track): void => {
      if (skipKeys?.has(t.spec.key)) return;
      const v = verdictFor(rec.flag, t.spec.role);
      if (v === 'skip') return;
      this.#telemetry.add(t.spec.key, now, v === 'bad', slow);
      t.recent.push({
        at: now,
        deployment: rec.deployment,
        bad: v === 'bad',
        failedOver: rec.ok && rec.failovers > 0,
      });
      // shift(), not splice(): V8 trims the front of an array in place for shift, while a splice from
      // the front copied all 256 entries per request and track (~1 µs each).
      while (t.recent.length > RECENT_MAX) t.recent.shift();
    };
    const models = rec.model !== undefined ? this.#byModel.get(rec.model) : undefined;
    for (const t of models ?? []) {
      feed(t);
      if (rec.requestId.startsWith(PROBE_REQUEST_PREFIX)) {
        t.lastProbeAt = now;
        t.probeFailures = verdictFor(rec.flag, t.spec.role) === 'bad' ? t.probeFailures + 1 : 0;
      }
    }
    for (const t of this.#platform) feed(t);
    if (rec.requestId.startsWith(CHAT_REQUEST_PREFIX)) for (const t of this.#chat) feed(t);
  }

  /** Model groups whose components had fewer than `min` requests in the last `windowMs` (probe them). */
  idleModels(now: number, windowMs: number): string[] {
    const out: string[] = [];
    for (const [model, tracks] of this.#byModel)
      if (tracks.every((t) => this.#sum(t, now, windowMs).total < this.#opts.rules.minRequests))
        out.push(model);
    return out;
  }

  evaluate(now: number, ctx: EvalContext): Reading[] {
    const out: Reading[] = [];
    for (const t of this.#tracks.values()) {
      const found = judge((w) => this.#sum(t, now, w), this.#opts.rules);
      let candidate: ComponentStatus = found?.status ?? 'operational';
      let finding = found;
      const idle = this.#sum(t, now, this.#opts.rules.fast.shortMs).total < this.#opts.rules.minRequests;
      if (t.spec.models.length > 0) {
        // Busy or idle, the same deployments out of service say the same thing (docs/status.md).
        const health = this.#healthStatus(t, now, ctx, idle);
        if (severity(health) > severity(candidate)) {
          candidate = health;
          finding = {
            status: health,
            signal: idle ? 'idle' : 'redundancy',
            windowMs: 0,
            errorRatio: found?.errorRatio ?? 0,
            slowRatio: found?.slowRatio ?? 0,
            requests: found?.requests ?? 0,
          };
        }
      }
      t.candidate = candidate;
      t.finding = finding;
      if (candidate === 'operational') t.badSince = undefined;
      else t.badSince ??= now;
      t.hysteresis.step(candidate, now);
      const computed = t.hysteresis.status;
      const floor = ctx.floors.get(t.spec.key);
      const manual = ctx.manual?.get(t.spec.key);
      const status: ComponentStatus =
        manual ??
        (ctx.maintenance.has(t.spec.key) ? 'under_maintenance' : floor ? worst(computed, floor) : computed);
      out.push({
        key: t.spec.key,
        status,
        computed,
        candidate,
        badSince: t.badSince,
        finding,
        ...(manual ? { manual } : {}),
      });
    }
    return out;
  }

  #sum(t: Track, now: number, windowMs: number): Tally {
    return this.#telemetry.sum(t.spec.key, now, windowMs);
  }

  /**
   * What the group's deployments say, busy or idle alike: some of them out of service (ejected, or
   * blocked by a retry-after) is reduced redundancy, `degraded_performance`, even while every request
   * still succeeds on the others. Deployment health alone never says worse than that, except for an
   * idle group with every deployment ejected and no fallback group: a request would have nowhere to go,
   * and there is no traffic to say otherwise. Worse than degraded otherwise takes failing requests: the
   * burn rates of real traffic or, for idle components, the status system's own probes.
   */
  #healthStatus(t: Track, now: number, ctx: EvalContext, idle: boolean): ComponentStatus {
    let s: ComponentStatus = 'operational';
    const deps = ctx.deployments(t.spec.models);
    const ejected = deps.filter((d) => d.health === 'ejected').length;
    const out = deps.filter((d) => d.health === 'ejected' || d.health === 'blocked').length;
    const stranded = deps.length > 0 && ejected === deps.length && !(ctx.failover?.(t.spec.models) ?? false);
    if (idle && stranded) s = 'major_outage';
    else if (out > 0) s = 'degraded_performance';
    if (idle) {
      const fresh = now - t.lastProbeAt <= this.#opts.probeStaleMs;
      if (fresh && t.probeFailures >= this.#opts.probeFailures) s = 'major_outage';
    }
    return s;
  }

  /**
   * One sentence on what is going on with a component, for machine-written incident updates:
   * "Error rate on gpt-4o is 34% over the last 5 minutes; gpt-4o-east is ejected; traffic is failing
   * over to gpt-4o-west."
   */
  describe(key: string, now: number, ctx: EvalContext): string {
    const t = this.#tracks.get(key);
    if (!t) return '';
    const name = t.spec.name;
    const f = t.finding;
    const parts: string[] = [];
    const manual = ctx.manual?.get(key);
    if (manual) return `Our team has set the status of ${name} to ${MANUAL_LABEL[manual]}.`;
    if (!f || t.candidate === 'operational') parts.push(`${name} is answering normally again`);
    else if (f.signal === 'errors')
      parts.push(`Error rate on ${name} is ${pct(f.errorRatio)} over the last ${span(f.windowMs)}`);
    else if (f.signal === 'latency')
      parts.push(
        `${pct(f.slowRatio)} of requests to ${name} took longer than ${this.#opts.latencyMs} ms to start answering over the last ${span(f.windowMs)}`,
      );
    else if (f.signal === 'redundancy')
      parts.push(`Requests to ${name} are succeeding, but with less redundancy than usual`);
    else if (t.probeFailures >= this.#opts.probeFailures)
      parts.push(`${name} has little traffic and its last ${t.probeFailures} health probes failed`);
    else parts.push(`${name} has little traffic and some of its deployments are out of service`);
    if (t.spec.models.length > 0) {
      const deps = ctx.deployments(t.spec.models);
      const down = deps.filter(
        (d) => d.health === 'ejected' || d.health === 'blocked' || d.health === 'suspect',
      );
      if (down.length > 0 && t.candidate !== 'operational')
        parts.push(
          `${down.length} of ${deps.length} deployments failing (${down.map((d) => `${d.id}: ${d.health}`).join(', ')})`,
        );
      const since = now - this.#opts.rules.fast.longMs;
      const rescued = new Map<string, number>();
      for (const r of t.recent)
        if (r.at >= since && r.failedOver && r.deployment)
          rescued.set(r.deployment, (rescued.get(r.deployment) ?? 0) + 1);
      if (rescued.size > 0 && t.candidate !== 'operational')
        parts.push(`traffic is failing over to ${[...rescued.keys()].join(', ')}`);
    }
    return `${parts.join('; ')}.`;
  }

  keys(): string[] {
    return [...this.#tracks.keys()];
  }
}

const MANUAL_LABEL: Record<ComponentStatus, string> = {
  operational: 'operational',
  degraded_performance: 'degraded performance',
  partial_outage: 'partial outage',
  major_outage: 'major outage',
  under_maintenance: 'under maintenance',
};

function pct(r: number): string {
  const p = r * 100;
  return `${p >= 10 || p === 0 ? Math.round(p) : p.toFixed(1)}%`;
}

function span(ms: number): string {
  if (ms >= 3_600_000) return `${+(ms / 3_600_000).toFixed(1)} hours`;
  if (ms >= 60_000) return ms === 60_000 ? 'minute' : `${+(ms / 60_000).toFixed(1)} minutes`;
  return `${+(ms / 1000).toFixed(1)} seconds`;
}
