import { html } from 'htm/preact';
import { get } from '../api.js';
import { ErrorNote, HealthBadge, ms, relative, Updated } from '../format.js';
import { useNow, usePoll } from '../hooks.js';

const KIND_TEXT = {
  connection: 'connection failed',
  timeout: 'timed out',
  server: 'server error',
  overloaded: 'overloaded',
  rate_limited: 'rate limited',
  quota_exhausted: 'quota exhausted',
  auth: 'upstream auth failed',
  protocol: 'protocol error',
  not_found: 'not found',
};

/** Why a deployment is out of rotation, in one line, from what the engine and the last failure say. */
export function why(d, now) {
  const f = d.lastFailure;
  const last = f
    ? `last failure: ${KIND_TEXT[f.kind] ?? f.kind}${f.status ? ` (${f.status})` : ''}${f.midStream ? ' mid-stream' : ''}, ${relative(f.at, now)}`
    : null;
  const chaos = d.faults.length > 0 ? `chaos: ${d.faults.map((x) => x.kind).join(', ')}` : null;
  const parts = [];
  if (d.drained) parts.push('draining for a maintenance window');
  if (d.health === 'ejected')
    parts.push(
      `ejected until ${new Date(d.ejectedUntil).toLocaleTimeString()} (${relative(d.ejectedUntil, now)})`,
    );
  if (d.health === 'probing') parts.push('back on trial: one request at a time until it answers');
  if (d.health === 'blocked' && d.blockedUntil)
    parts.push(`paused by retry-after until ${new Date(d.blockedUntil).toLocaleTimeString()}`);
  if (d.health === 'suspect') parts.push('its last attempt failed; the balancer avoids it');
  if (d.consecutiveFailures > 0) parts.push(`${d.consecutiveFailures} failures in a row`);
  if (d.health !== 'healthy' || d.drained) {
    if (last) parts.push(last);
  }
  if (chaos) parts.push(chaos);
  return parts.join(' · ');
}

function LimitBar({ inflight, limit }) {
  if (!limit) return html`<span>${inflight} in flight</span>`;
  const share = Math.min(1, inflight / Math.max(1, limit.limit));
  return html`<div class="limit" title=${`adaptive limit ${limit.limit} (estimate ${limit.estimate.toFixed(1)})`}>
    <span>${inflight} / ${limit.limit}</span>
    <span class="meter" aria-hidden="true"><span class=${share >= 1 ? 'full' : ''} style=${{ width: `${share * 100}%` }}></span></span>
  </div>`;
}

function Latency({ l }) {
  const stream = l.ttftP50 !== null ? `${ms(l.ttftP50)} / ${ms(l.ttftP95)}` : null;
  const unary = l.unaryP50 !== null ? `${ms(l.unaryP50)} / ${ms(l.unaryP95)}` : null;
  return html`<div class="latency">
    ${stream && html`<div>TTFT p50/p95 ${stream}</div>`}
    ${unary && html`<div>unary p50/p95 ${unary}</div>`}
    <div class=${stream || unary ? 'muted' : ''}>EWMA ${l.ewmaMs > 0 ? ms(l.ewmaMs) : '—'}</div>
  </div>`;
}

function ModelCard({ m, now }) {
  const q = m.queue;
  return html`<section class="panel" aria-labelledby=${`m-${m.name}`} data-model=${m.name}>
    <div class="panel-head">
      <h2 id=${`m-${m.name}`}>${m.name}</h2>
      <div class="facts">
        ${m.fallbacks.length > 0 && html`<span>falls back to ${m.fallbacks.join(', ')}</span>`}
        <span title="retries allowed: ratio of recent requests">retries ${m.retryBudget.retries}/${m.retryBudget.requests} (budget ${Math.round(m.retryBudget.ratio * 100)}%)</span>
        <span>hedges ${m.hedgeBudget.hedges}/${m.hedgeBudget.requests} (budget ${Math.round(m.hedgeBudget.ratio * 100)}%)</span>
        ${q && html`<span>${q.inflight}/${q.capacity} admitted · ${q.queued} queued</span>`}
      </div>
    </div>
    <div class="scroll">
      <table class="table">
        <thead><tr><th>Deployment</th><th>Health</th><th>In flight / limit</th><th>Latency (last min)</th><th>Ejections</th></tr></thead>
        <tbody>
          ${m.deployments.map(
            (d) => html`<tr data-deployment=${d.id} data-health=${d.health}>
              <td><strong>${d.id}</strong><div class="muted small">${d.provider} · ${d.region} · tier ${d.tier}${d.weight !== 1 ? ` · weight ${d.weight}` : ''}</div></td>
              <td><${HealthBadge} state=${d.health} drained=${d.drained} /><div class="small why">${why(d, now)}</div></td>
              <td><${LimitBar} inflight=${d.inflight} limit=${d.limit} /></td>
              <td><${Latency} l=${d.latency} /></td>
              <td>${d.ejections}</td>
            </tr>`,
          )}
        </tbody>
      </table>
    </div>
  </section>`;
}

export function DeploymentsView() {
  const { data, error, at } = usePoll(() => get('/admin/api/deployments'), 2000);
  const now = useNow();
  return html`<div class="page-head"><h1>Deployments</h1><${Updated} at=${at} now=${now} /></div>
    <p class="muted intro">Live health of every deployment, refreshed every 2 s. A deployment is <em>suspect</em> after
      a failure, <em>ejected</em> after repeated ones (then <em>probing</em> with one trial request at a
      time), and <em>paused</em> when the provider asked for a retry-after.</p>
    <${ErrorNote} error=${error} />
    ${data?.models.map((m) => html`<${ModelCard} key=${m.name} m=${m} now=${now} />`)}`;
}
