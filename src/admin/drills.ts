import { type ChaosFault, describeFault, type FaultSpecInput, MAX_DURATION_S } from '../chaos/faults.ts';
import { HoldfastError } from '../core/errors.ts';
import type { OutcomeFlag, OutcomeRecord } from '../telemetry/outcome.ts';
import { DRILL_SCENARIOS, type DrillScenario, type DrillStep, type DrillTarget } from './drill-scenarios.ts';

/** Where a drill's faults go: the chaos registry (the same one the chaos admin API drives). */
export interface DrillChaos {
  inject(deployment: string, spec: FaultSpecInput): ChaosFault;
  /** Ends one fault now; 0 when it had already ended. */
  clear(deployment: string, faultId: string): number;
}

export interface DrillHealth {
  id: string;
  state: string;
  /** Times ejected since the gateway started (the drill reports the difference). */
  ejections: number;
  /** Epoch ms an ejection or pause ends, when there is one. */
  until?: number;
}

/** What the runner may know about the gateway: read-only. */
export interface DrillGatewayView {
  /** The model group's deployments, preferred first (tier, then config order); undefined: no such model. */
  deploymentsOf(model: string): readonly string[] | undefined;
  /** Health of every deployment a drill on `model` can move traffic to (the group and its fallbacks). */
  health(model: string): readonly DrillHealth[];
}

export interface DrillRunnerOptions {
  chaos: DrillChaos;
  gateway: DrillGatewayView;
  /** Epoch milliseconds (drill times are shown as wall-clock times, like chaos faults). */
  now: () => number;
  scenarios?: readonly DrillScenario[];
  /** Finished drills kept for the console. */
  keep?: number;
  /** Called when a drill ends, however it ends (so the caller can stop its ticker and subscriptions). */
  onEnd?: (report: DrillReport) => void;
}

export type DrillState = 'running' | 'completed' | 'stopped';

export interface TimelineEntry {
  at: number;
  type: 'start' | 'fault' | 'skip' | 'health' | 'clear' | 'end';
  text: string;
  deployment?: string;
  faultId?: string;
  /** Health changes: from → to, and when an ejection or pause ends. */
  from?: string;
  to?: string;
  until?: number;
}

export interface DrillFault {
  id: string;
  deployment: string;
  kind: string;
  description: string;
  created: number;
  ends: number;
  /** Ended early by the drill (stopped, or the fault outlived the drill). */
  cleared: boolean;
}

export interface Quantiles {
  p50: number;
  p95: number;
}

export interface DrillRequests {
  total: number;
  ok: number;
  failed: number;
  /** Moves to another deployment, summed over requests (retries, fallbacks, continuations, hedges). */
  failovers: number;
  /** Requests that moved at least once. */
  failedOver: number;
  byFlag: Partial<Record<OutcomeFlag, number>>;
  /** Which deployment produced (or last tried to produce) each answer. */
  byDeployment: Record<string, number>;
  latencyMs: Quantiles | null;
  ttftMs: Quantiles | null;
}

export interface SeriesPoint {
  /** Epoch ms the bucket starts. */
  at: number;
  ok: number;
  failed: number;
  failedOver: number;
}

export interface DrillReport {
  id: string;
  scenario: { id: string; name: string; summary: string };
  model: string;
  state: DrillState;
  startedAt: number;
  endsAt: number;
  endedAt: number | null;
  /** The runner's clock when the report was made. */
  now: number;
  /** Which deployment each target role meant for this run. */
  targets: Partial<Record<DrillTarget, string[]>>;
  faults: DrillFault[];
  timeline: TimelineEntry[];
  requests: DrillRequests;
  /** New ejections among the group's (and its fallbacks') deployments during the drill. */
  ejections: number;
  bucketMs: number;
  series: SeriesPoint[];
}

export interface StartDrill {
  scenario: string;
  model: string;
  /** Shortens (or lengthens) the scenario; steps that would start after the end are skipped. */
  durationS?: number;
}

/** Latency samples kept per drill, enough for stable p95s without growing without bound. */
const MAX_SAMPLES = 10_000;
const MAX_TIMELINE = 500;
/** The series has about this many points whatever the drill's length. */
const SERIES_POINTS = 60;

interface Run {
  id: string;
  scenario: DrillScenario;
  model: string;
  state: DrillState;
  startedAt: number;
  endsAt: number;
  endedAt: number | null;
  targets: Partial<Record<DrillTarget, string[]>>;
  pending: DrillStep[];
  faults: DrillFault[];
  timeline: TimelineEntry[];
  requests: Omit<DrillRequests, 'latencyMs' | 'ttftMs'>;
  latencies: number[];
  ttfts: number[];
  baseline: Map<string, number>;
  ejections: number;
  health: Map<string, string>;
  bucketMs: number;
  buckets: Map<number, SeriesPoint>;
}

/**
 * Runs one saved drill at a time: injects each step's fault through the chaos registry when it is due,
 * watches the drilled group's health, and tallies the outcome records of the drilled model, so the
 * console can show what the gateway did about the outage. No timers and no I/O of its own: the caller
 * calls `tick()` (a timer in production, a fake clock in tests) and feeds `observe()` from the outcome
 * channel.
 */
export class DrillRunner {
  readonly #chaos: DrillChaos;
  readonly #gateway: DrillGatewayView;
  readonly #now: () => number;
  readonly #scenarios: readonly DrillScenario[];
  readonly #keep: number;
  readonly #onEnd: ((r: DrillReport) => void) | undefined;
  #run: Run | undefined;
  #history: DrillReport[] = [];
  #seq = 0;

  constructor(o: DrillRunnerOptions) {
    this.#chaos = o.chaos;
    this.#gateway = o.gateway;
    this.#now = o.now;
    this.#scenarios = o.scenarios ?? DRILL_SCENARIOS;
    this.#keep = o.keep ?? 10;
    this.#onEnd = o.onEnd;
  }

  get scenarios(): readonly DrillScenario[] {
    return this.#scenarios;
  }

  get active(): boolean {
    return this.#run !== undefined;
  }

  /** Starts a drill; its first steps are applied before this returns. */
  start(input: StartDrill): DrillReport {
    if (this.#run) {
      throw new HoldfastError('conflict', {
        message: `Drill '${this.#run.scenario.name}' is still running; stop it first.`,
      });
    }
    const scenario = this.#scenarios.find((s) => s.id === input.scenario);
    if (!scenario) {
      throw new HoldfastError('not_found', {
        param: 'scenario',
        message: `No drill scenario '${input.scenario}'. Scenarios: ${this.#scenarios.map((s) => s.id).join(', ')}.`,
      });
    }
    const order = this.#gateway.deploymentsOf(input.model);
    if (!order || order.length === 0) {
      throw new HoldfastError('model_not_found', {
        param: 'model',
        message: `No model '${input.model}' to drill.`,
      });
    }
    const durationS = input.durationS ?? scenario.durationS;
    if (!(Number.isFinite(durationS) && durationS > 0 && durationS <= MAX_DURATION_S)) {
      throw new HoldfastError('invalid_request', {
        param: 'duration_s',
        message: `A drill lasts more than 0 and at most ${MAX_DURATION_S} seconds.`,
      });
    }
    const now = this.#now();
    const durationMs = Math.round(durationS * 1000);
    const health = this.#gateway.health(input.model);
    const targets: Partial<Record<DrillTarget, string[]>> = { all: [...order] };
    if (order[0] !== undefined) targets.primary = [order[0]];
    if (order[1] !== undefined) targets.secondary = [order[1]];
    const run: Run = {
      id: `drill_${now.toString(36)}_${++this.#seq}`,
      scenario,
      model: input.model,
      state: 'running',
      startedAt: now,
      endsAt: now + durationMs,
      endedAt: null,
      targets,
      pending: [...scenario.steps].sort((a, b) => a.atS - b.atS),
      faults: [],
      timeline: [],
      requests: { total: 0, ok: 0, failed: 0, failovers: 0, failedOver: 0, byFlag: {}, byDeployment: {} },
      latencies: [],
      ttfts: [],
      baseline: new Map(health.map((h) => [h.id, h.ejections])),
      ejections: 0,
      health: new Map(health.map((h) => [h.id, h.state])),
      bucketMs: Math.max(1000, Math.ceil(durationMs / SERIES_POINTS / 1000) * 1000),
      buckets: new Map(),
    };
    this.#run = run;
    this.#note(run, {
      at: now,
      type: 'start',
      text: `Drill started on ${input.model} for ${formatSeconds(durationS)}: ${scenario.name}.`,
    });
    this.tick();
    return this.#report(run);
  }

  /** Applies due steps, notes health changes, and ends the drill when its time is up. */
  tick(): void {
    const run = this.#run;
    if (!run) return;
    const now = this.#now();
    while (run.pending.length > 0 && run.startedAt + run.pending[0]!.atS * 1000 <= now) {
      const step = run.pending.shift()!;
      if (run.startedAt + step.atS * 1000 >= run.endsAt) continue;
      this.#apply(run, step, now);
    }
    this.#watch(run, now);
    if (now >= run.endsAt) this.#finish(run, 'completed', run.endsAt);
  }

  /** Ends the running drill now, clearing the faults it injected. Undefined when none is running. */
  stop(): DrillReport | undefined {
    const run = this.#run;
    if (!run) return undefined;
    this.tick();
    if (this.#run !== run) return this.#history[0];
    this.#finish(run, 'stopped', this.#now());
    return this.#history[0];
  }

  /** One finished request (from the `holdfast:request:outcome` channel). */
  observe(rec: OutcomeRecord): void {
    const run = this.#run;
    if (!run || rec.model !== run.model) return;
    const r = run.requests;
    r.total++;
    if (rec.ok) r.ok++;
    else r.failed++;
    r.failovers += rec.failovers;
    if (rec.failovers > 0) r.failedOver++;
    r.byFlag[rec.flag] = (r.byFlag[rec.flag] ?? 0) + 1;
    if (rec.deployment !== undefined)
      r.byDeployment[rec.deployment] = (r.byDeployment[rec.deployment] ?? 0) + 1;
    if (run.latencies.length < MAX_SAMPLES) run.latencies.push(rec.latencyMs);
    if (rec.ttftMs !== undefined && run.ttfts.length < MAX_SAMPLES) run.ttfts.push(rec.ttftMs);
    const now = this.#now();
    const index = Math.max(0, Math.floor((now - run.startedAt) / run.bucketMs));
    let b = run.buckets.get(index);
    if (!b) {
      b = { at: run.startedAt + index * run.bucketMs, ok: 0, failed: 0, failedOver: 0 };
      run.buckets.set(index, b);
    }
    if (rec.ok) b.ok++;
    else b.failed++;
    if (rec.failovers > 0) b.failedOver++;
  }

  /** The running drill, else the last one to finish, else undefined. */
  latest(): DrillReport | undefined {
    return this.#run ? this.#report(this.#run) : this.#history[0];
  }

  current(): DrillReport | undefined {
    return this.#run && this.#report(this.#run);
  }

  /** Finished drills, newest first. */
  history(): readonly DrillReport[] {
    return this.#history;
  }

  #apply(run: Run, step: DrillStep, now: number): void {
    const ids = run.targets[step.target];
    if (!ids || ids.length === 0) {
      this.#note(run, {
        at: now,
        type: 'skip',
        text: `Skipped "${step.note}": ${run.model} has no ${step.target} deployment.`,
      });
      return;
    }
    const remainingS = (run.endsAt - now) / 1000;
    const durationS = Math.min(step.forS ?? remainingS, remainingS);
    for (const id of ids) {
      try {
        const f = this.#chaos.inject(id, { ...step.fault, duration_s: durationS } as FaultSpecInput);
        run.faults.push({
          id: f.id,
          deployment: id,
          kind: f.kind,
          description: describeFault(f),
          created: f.created,
          ends: f.ends,
          cleared: false,
        });
        this.#note(run, {
          at: now,
          type: 'fault',
          deployment: id,
          faultId: f.id,
          text: `${step.note}: ${describeFault(f)} on ${id} for ${formatSeconds(durationS)}.`,
        });
      } catch (err) {
        this.#note(run, {
          at: now,
          type: 'skip',
          deployment: id,
          text: `Could not inject "${step.note}" on ${id}: ${err instanceof Error ? err.message : String(err)}`,
        });
      }
    }
  }

  #watch(run: Run, now: number): void {
    let ejections = 0;
    for (const h of this.#gateway.health(run.model)) {
      ejections += Math.max(0, h.ejections - (run.baseline.get(h.id) ?? h.ejections));
      const before = run.health.get(h.id);
      if (before !== undefined && before !== h.state) {
        this.#note(run, {
          at: now,
          type: 'health',
          deployment: h.id,
          from: before,
          to: h.state,
          ...(h.until !== undefined ? { until: h.until } : {}),
          text: `${h.id}: ${before} → ${h.state}.`,
        });
      }
      run.health.set(h.id, h.state);
    }
    run.ejections = Math.max(run.ejections, ejections);
  }

  #finish(run: Run, state: DrillState, at: number): void {
    const now = this.#now();
    for (const f of run.faults) {
      if (f.cleared || f.ends <= now) continue;
      f.cleared = this.#chaos.clear(f.deployment, f.id) > 0;
      if (f.cleared)
        this.#note(run, {
          at: now,
          type: 'clear',
          deployment: f.deployment,
          faultId: f.id,
          text: `Ended ${f.description} on ${f.deployment}.`,
        });
    }
    run.state = state;
    run.endedAt = at;
    this.#note(run, {
      at,
      type: 'end',
      text: state === 'stopped' ? 'Drill stopped by an operator.' : 'Drill completed.',
    });
    this.#run = undefined;
    const report = this.#report(run);
    this.#history.unshift(report);
    this.#history.length = Math.min(this.#history.length, this.#keep);
    this.#onEnd?.(report);
  }

  #note(run: Run, e: TimelineEntry): void {
    if (run.timeline.length < MAX_TIMELINE) run.timeline.push(e);
  }

  #report(run: Run): DrillReport {
    const now = this.#now();
    const last = Math.floor(((run.endedAt ?? Math.min(now, run.endsAt)) - run.startedAt) / run.bucketMs);
    const series: SeriesPoint[] = [];
    for (let i = 0; i <= last; i++) {
      const b = run.buckets.get(i);
      series.push(b ? { ...b } : { at: run.startedAt + i * run.bucketMs, ok: 0, failed: 0, failedOver: 0 });
    }
    return {
      id: run.id,
      scenario: { id: run.scenario.id, name: run.scenario.name, summary: run.scenario.summary },
      model: run.model,
      state: run.state,
      startedAt: run.startedAt,
      endsAt: run.endsAt,
      endedAt: run.endedAt,
      now,
      targets: structuredClone(run.targets),
      faults: run.faults.map((f) => ({ ...f })),
      timeline: run.timeline.map((e) => ({ ...e })),
      requests: {
        ...run.requests,
        byFlag: { ...run.requests.byFlag },
        byDeployment: { ...run.requests.byDeployment },
        latencyMs: quantiles(run.latencies),
        ttftMs: quantiles(run.ttfts),
      },
      ejections: run.ejections,
      bucketMs: run.bucketMs,
      series,
    };
  }
}

function quantiles(samples: readonly number[]): Quantiles | null {
  if (samples.length === 0) return null;
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))]!);
  return { p50: at(0.5), p95: at(0.95) };
}

function formatSeconds(s: number): string {
  if (s >= 120 && s % 60 === 0) return `${s / 60} min`;
  return `${Math.round(s * 10) / 10} s`;
}
