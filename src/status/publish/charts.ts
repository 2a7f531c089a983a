import type { ComponentStatus } from '../statuspage.ts';
import type { DayRecord, LatencyPoint } from '../view.ts';
import { type Html, html, trusted } from './html.ts';
import { COMPONENT_LABEL, formatDay, formatPercent } from './labels.ts';

/** Mean of the days that have data; null when none has. */
export function uptimeShare(days: readonly DayRecord[]): number | null {
  const known = days.filter((d) => d.uptime !== null);
  if (known.length === 0) return null;
  return known.reduce((s, d) => s + (d.uptime ?? 0), 0) / known.length;
}

function dayTitle(d: DayRecord): string {
  const up = d.uptime === null ? 'no data' : `${formatPercent(d.uptime)} uptime`;
  const worst =
    d.uptime === null ? '' : d.worst === 'operational' ? '' : `, worst: ${COMPONENT_LABEL[d.worst]}`;
  return `${formatDay(d.day)}: ${up}${worst}`;
}

function dayClass(d: DayRecord): string {
  return d.uptime === null ? 'nodata' : (d.worst satisfies ComponentStatus);
}

/**
 * One bar per day, coloured by the day's worst status. Each bar carries a <title> (the tooltip); the
 * whole chart is one image to assistive technology, described by its summary, with the bad days listed
 * in text beside it.
 */
export function uptimeBars(days: readonly DayRecord[], label: string): Html {
  const n = days.length;
  if (n === 0) return html``;
  const w = 3;
  const gap = 2;
  const rects = days.map(
    (d, i) =>
      html`<rect class="day ${dayClass(d)}" x="${i * (w + gap)}" y="0" width="${w}" height="34" rx="1"><title>${dayTitle(d)}</title></rect>`,
  );
  return html`<svg class="bars" viewBox="0 0 ${n * (w + gap) - gap} 34" preserveAspectRatio="none" role="img" aria-label="${label}">${rects}</svg>`;
}

/** Days that were not fully operational, newest first, as text (the bars' accessible counterpart). */
export function badDays(days: readonly DayRecord[]): DayRecord[] {
  return days.filter((d) => d.uptime !== null && d.worst !== 'operational').reverse();
}

const CHART_W = 720;
const CHART_H = 160;

function niceMax(v: number): number {
  if (v <= 0) return 100;
  const mag = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= v) return m * mag;
  return 10 * mag;
}

function linePath(
  points: readonly LatencyPoint[],
  pick: (p: LatencyPoint) => number | null,
  max: number,
): string {
  const n = points.length;
  let d = '';
  let pen = false;
  points.forEach((p, i) => {
    const v = pick(p);
    if (v === null) {
      pen = false;
      return;
    }
    const x = n === 1 ? CHART_W / 2 : (i / (n - 1)) * CHART_W;
    const y = CHART_H - (Math.min(v, max) / max) * CHART_H;
    d += `${pen ? 'L' : 'M'}${x.toFixed(1)} ${y.toFixed(1)}`;
    pen = true;
  });
  return d;
}

function ms(v: number): string {
  return v >= 1000 ? `${(v / 1000).toFixed(v >= 10_000 ? 0 : 1)} s` : `${Math.round(v)} ms`;
}

/**
 * Response times (median and p95) as an inline SVG. The plot stretches to any width; its axis labels are
 * HTML around it so they stay readable on a phone. A table of the same numbers follows for screen readers.
 */
export function latencyChart(points: readonly LatencyPoint[], hours: number): Html {
  const known = points.filter((p) => p.p50Ms !== null || p.p95Ms !== null);
  if (known.length === 0) {
    return html`<p class="muted">No response-time data for the last ${hours} hours.</p>`;
  }
  const peak = Math.max(...known.map((p) => Math.max(p.p95Ms ?? 0, p.p50Ms ?? 0)));
  const max = niceMax(peak);
  const p50 = linePath(points, (p) => p.p50Ms, max);
  const p95 = linePath(points, (p) => p.p95Ms, max);
  const grid = [0.25, 0.5, 0.75].map((f) =>
    trusted(`<line class="grid" x1="0" x2="${CHART_W}" y1="${CHART_H * f}" y2="${CHART_H * f}"/>`),
  );
  const medians = known.map((p) => p.p50Ms).filter((v): v is number => v !== null);
  const median = medians.length ? medians.sort((a, b) => a - b)[Math.floor(medians.length / 2)]! : null;
  const summary = `Response times over the last ${hours} hours: median ${median === null ? 'unknown' : ms(median)}, highest p95 ${ms(peak)}.`;
  const rows = points
    .filter((p) => p.count > 0)
    .map(
      (p) =>
        html`<tr><td><time datetime="${p.at}">${p.at.slice(11, 16)} UTC</time></td><td>${p.p50Ms === null ? '–' : ms(p.p50Ms)}</td><td>${p.p95Ms === null ? '–' : ms(p.p95Ms)}</td><td>${p.count}</td></tr>`,
    );
  return html`<figure class="latency">
  <div class="plot">
    <div class="yaxis" aria-hidden="true"><span>${ms(max)}</span><span>${ms(max / 2)}</span><span>0</span></div>
    <svg viewBox="0 0 ${CHART_W} ${CHART_H}" preserveAspectRatio="none" role="img" aria-label="${summary}">
      ${grid}
      <path class="p95" d="${p95}" vector-effect="non-scaling-stroke"/>
      <path class="p50" d="${p50}" vector-effect="non-scaling-stroke"/>
    </svg>
  </div>
  <div class="xaxis" aria-hidden="true"><span>${hours} h ago</span><span>${hours / 2} h ago</span><span>now</span></div>
  <figcaption><span class="key p50">Median</span> <span class="key p95">95th percentile</span> <span class="muted">time to first token, all model traffic</span></figcaption>
  <details class="table"><summary>Show as a table</summary>
    <table><thead><tr><th scope="col">Hour</th><th scope="col">Median</th><th scope="col">p95</th><th scope="col">Requests</th></tr></thead><tbody>${rows}</tbody></table>
  </details>
</figure>`;
}
