import type { LatencyPoint } from './view.ts';

/** Four buckets per doubling from 1 ms: quantiles within ~19%, which is what a chart can show anyway. */
const PER_DOUBLING = 4;
const MAX_BUCKET = 24 * PER_DOUBLING;

export type SparseHistogram = Record<string, number>;

export function bucketOf(ms: number): number {
  if (!(ms > 1)) return 0;
  return Math.min(MAX_BUCKET, Math.ceil(Math.log2(ms) * PER_DOUBLING));
}

const upperBound = (b: number): number => 2 ** (b / PER_DOUBLING);

export function addTo(h: SparseHistogram, ms: number, n = 1): void {
  const b = String(bucketOf(ms));
  h[b] = (h[b] ?? 0) + n;
}

export function merge(into: SparseHistogram, from: SparseHistogram): void {
  for (const [b, n] of Object.entries(from)) into[b] = (into[b] ?? 0) + n;
}

export function countOf(h: SparseHistogram): number {
  let n = 0;
  for (const v of Object.values(h)) n += v;
  return n;
}

export function quantile(h: SparseHistogram, q: number): number | null {
  const total = countOf(h);
  if (total === 0) return null;
  const entries = Object.entries(h)
    .map(([b, n]) => [Number(b), n] as const)
    .sort((a, b) => a[0] - b[0]);
  let seen = 0;
  for (const [b, n] of entries) {
    seen += n;
    if (seen >= q * total) return Math.round(upperBound(b));
  }
  return Math.round(upperBound(entries[entries.length - 1]![0]));
}

const FIVE_MIN = 300_000;
const HOUR = 3_600_000;

/**
 * Response times per component in five-minute histograms, kept for two days in memory; hourly histograms
 * go to the daily rollups so the chart survives a restart.
 */
export class LatencyBook {
  readonly #buckets = new Map<string, Map<number, SparseHistogram>>();
  readonly #retainMs: number;
  /** Hours before this have only what the database kept. */
  readonly since: number;

  constructor(now: number, retainMs = 48 * HOUR) {
    this.#retainMs = retainMs;
    this.since = now;
  }

  observe(keys: readonly string[], ms: number, now: number): void {
    const slot = Math.floor(now / FIVE_MIN) * FIVE_MIN;
    for (const key of keys) {
      let m = this.#buckets.get(key);
      if (!m) {
        m = new Map();
        this.#buckets.set(key, m);
      }
      let h = m.get(slot);
      if (!h) {
        h = {};
        m.set(slot, h);
        for (const s of m.keys()) {
          if (s >= now - this.#retainMs) break;
          m.delete(s);
        }
      }
      addTo(h, ms);
    }
  }

  /** One key's histograms merged per hour, for the hours starting in [from, to). */
  hourly(key: string, from: number, to: number): Map<number, SparseHistogram> {
    const out = new Map<number, SparseHistogram>();
    for (const [slot, h] of this.#buckets.get(key) ?? []) {
      if (slot < from || slot >= to) continue;
      const hour = Math.floor(slot / HOUR) * HOUR;
      const acc = out.get(hour) ?? {};
      merge(acc, h);
      out.set(hour, acc);
    }
    return out;
  }

  /**
   * Points for the last `hours`: five-minute points up to 12 hours, hourly beyond. `stored` gives the
   * persisted hourly histograms for hours this process did not see.
   */
  points(
    key: string,
    hours: number,
    now: number,
    stored: ReadonlyMap<number, SparseHistogram>,
  ): LatencyPoint[] {
    const step = hours <= 12 ? FIVE_MIN : HOUR;
    const end = Math.floor(now / step) * step;
    const start = end - Math.ceil((hours * HOUR) / step) * step + step;
    const mine = this.#buckets.get(key) ?? new Map<number, SparseHistogram>();
    const out: LatencyPoint[] = [];
    for (let t = start; t <= end; t += step) {
      const h: SparseHistogram = {};
      for (let s = t; s < t + step; s += FIVE_MIN) {
        const got = mine.get(s);
        if (got) merge(h, got);
      }
      // An hour that began before this process started is the database's (it saw the whole hour).
      if (step === HOUR && t < this.since) {
        const old = stored.get(t);
        if (old) {
          for (const k of Object.keys(h)) delete h[k];
          merge(h, old);
        }
      }
      out.push({
        at: new Date(t).toISOString(),
        p50Ms: quantile(h, 0.5),
        p95Ms: quantile(h, 0.95),
        count: countOf(h),
      });
    }
    return out;
  }
}
