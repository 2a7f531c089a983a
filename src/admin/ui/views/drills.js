import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { del, get, post } from '../api.js';
import { clock, ErrorNote, ms, relative } from '../format.js';
import { useNow, usePoll } from '../hooks.js';

const FLAG_CLASS = { OK: 'good', FAILED_OVER: 'warn', HEDGED: 'warn' };

function Stat({ label, value, tone }) {
  return html`<div class=${`stat ${tone ?? ''}`}><div class="stat-value">${value}</div><div class="stat-label">${label}</div></div>`;
}

/** Requests over the drill, one bar per bucket: answered directly, answered after failing over, failed. */
function Series({ report }) {
  const max = Math.max(1, ...report.series.map((p) => p.ok + p.failed));
  if (report.requests.total === 0)
    return html`<p class="muted">No requests to ${report.model} yet. Send some traffic to see what the gateway does.</p>`;
  return html`<figure class="series" aria-label="Requests over time">
    <div class="bars">
      ${report.series.map((p) => {
        const direct = p.ok - Math.min(p.ok, p.failedOver);
        const over = p.ok - direct;
        return html`<div class="col" title=${`${clock(p.at)}: ${p.ok} ok (${over} after failover), ${p.failed} failed`}>
          <span class="seg failed" style=${{ height: `${(p.failed / max) * 100}%` }}></span>
          <span class="seg over" style=${{ height: `${(over / max) * 100}%` }}></span>
          <span class="seg ok" style=${{ height: `${(direct / max) * 100}%` }}></span>
        </div>`;
      })}
    </div>
    <figcaption class="legend"><span class="key ok"></span>answered <span class="key over"></span>answered after failover <span class="key failed"></span>failed · ${report.bucketMs / 1000} s per bar</figcaption>
  </figure>`;
}

export function DrillReport({ report, now, onStop }) {
  const r = report.requests;
  const running = report.state === 'running';
  const flags = Object.entries(r.byFlag).sort((a, b) => b[1] - a[1]);
  return html`<section class="panel drill" aria-labelledby=${`drill-${report.id}`} data-drill=${report.id} data-state=${report.state}>
    <div class="panel-head">
      <h2 id=${`drill-${report.id}`}>${report.scenario.name}</h2>
      <span class=${`badge ${running ? 'running' : report.state}`}>${running ? 'Running' : report.state === 'stopped' ? 'Stopped' : 'Completed'}</span>
    </div>
    <p class="muted small">
      On <strong>${report.model}</strong> · started ${clock(report.startedAt)} · ${running ? html`ends ${relative(report.endsAt, now)}` : html`ended ${clock(report.endedAt)}`}
      ${Object.entries(report.targets)
        .filter(([role]) => role !== 'all')
        .map(([role, ids]) => html` · ${role}: ${ids.join(', ')}`)}
    </p>
    ${running && html`<p><button class="button danger" type="button" onClick=${onStop}>Stop drill</button></p>`}
    <div class="stats">
      <${Stat} label="requests" value=${r.total} />
      <${Stat} label="answered" value=${r.ok} tone="good" />
      <${Stat} label="failed" value=${r.failed} tone=${r.failed > 0 ? 'bad' : ''} />
      <${Stat} label="failovers" value=${r.failovers} tone=${r.failovers > 0 ? 'warn' : ''} />
      <${Stat} label="requests failed over" value=${r.failedOver} />
      <${Stat} label="ejections" value=${report.ejections} tone=${report.ejections > 0 ? 'warn' : ''} />
      <${Stat} label="latency p50 / p95" value=${r.latencyMs ? `${r.latencyMs.p50} / ${ms(r.latencyMs.p95)}` : '—'} />
    </div>
    <${Series} report=${report} />
    <div class="two">
      <div>
        <h3>Requests by outcome flag</h3>
        ${flags.length === 0 ? html`<p class="muted">None yet.</p>` : html`<ul class="chips flags">${flags.map(([f, n]) => html`<li class=${`chip ${FLAG_CLASS[f] ?? 'bad'}`} data-flag=${f}>${f} <strong>${n}</strong></li>`)}</ul>`}
        <h3>Answered by</h3>
        ${Object.keys(r.byDeployment).length === 0 ? html`<p class="muted">—</p>` : html`<ul class="chips">${Object.entries(r.byDeployment).map(([d, n]) => html`<li class="chip">${d} <strong>${n}</strong></li>`)}</ul>`}
      </div>
      <div>
        <h3>Timeline</h3>
        <ol class="timeline">
          ${report.timeline.map((e) => html`<li class=${`t-${e.type}`}><time>${clock(e.at)}</time> ${e.text}${e.until ? html` <span class="muted">(until ${clock(e.until)})</span>` : ''}</li>`)}
        </ol>
      </div>
    </div>
  </section>`;
}

function StartForm({ data, onStarted }) {
  const [scenario, setScenario] = useState(data.scenarios[0]?.id ?? '');
  const [model, setModel] = useState(data.models[0] ?? '');
  const [duration, setDuration] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const running = !!data.current;
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await post('/admin/api/drills', {
        scenario,
        model,
        ...(duration ? { duration_s: Number(duration) } : {}),
      });
      onStarted();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="panel form" onSubmit=${submit} aria-labelledby="run-h" id="run-drill">
    <h2 id="run-h">Run a saved drill</h2>
    ${error && html`<p class="error" role="alert">${error.message}</p>`}
    <fieldset class="scenarios">
      <legend class="sr-only">Scenario</legend>
      ${data.scenarios.map(
        (s) => html`<label class=${`scenario ${scenario === s.id ? 'chosen' : ''}`}>
          <input type="radio" name="scenario" value=${s.id} checked=${scenario === s.id} onChange=${() => setScenario(s.id)} />
          <span><strong>${s.name}</strong><span class="muted small">${s.summary}</span></span>
        </label>`,
      )}
    </fieldset>
    <div class="row3">
      <div class="field"><label for="drill-model">Model</label>
        <select id="drill-model" name="model" value=${model} onChange=${(e) => setModel(e.currentTarget.value)}>
          ${data.models.map((m) => html`<option value=${m}>${m}</option>`)}
        </select></div>
      <label class="field">Duration, seconds <input name="duration" type="number" min="1" max="3600" placeholder="as saved"
        value=${duration} onInput=${(e) => setDuration(e.currentTarget.value)} /></label>
    </div>
    <button class="button primary" type="submit" disabled=${busy || running}>${running ? 'A drill is running' : 'Start drill'}</button>
  </form>`;
}

const KIND_FIELDS = {
  latency: [['ms', 'Delay (ms)', 1000]],
  error: [['status', 'Status', 503]],
  rate_limit: [['retry_after_s', 'Retry-after (s)', 1]],
  overloaded: [],
  refuse: [],
  blackhole: [],
  cut: [['after_tokens', 'After tokens', 5]],
  stall: [['after_tokens', 'After tokens', 5]],
};

function InjectForm({ chaos, onDone }) {
  const [deployment, setDeployment] = useState(chaos.deployments[0] ?? '');
  const [kind, setKind] = useState('error');
  const [durationS, setDurationS] = useState('60');
  const [rate, setRate] = useState('1');
  const [params, setParams] = useState({});
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    setError(null);
    const spec = { kind, duration_s: Number(durationS), rate: Number(rate) };
    for (const [name, , dflt] of KIND_FIELDS[kind] ?? []) spec[name] = Number(params[name] ?? dflt);
    try {
      await post(`/admin/api/chaos/${encodeURIComponent(deployment)}`, spec);
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  return html`<form class="form" onSubmit=${submit} id="inject-fault">
    ${error && html`<p class="error" role="alert">${error.message}</p>`}
    <div class="row4">
      <div class="field"><label for="fault-deployment">Deployment</label>
        <select id="fault-deployment" name="deployment" value=${deployment} onChange=${(e) => setDeployment(e.currentTarget.value)}>
          ${chaos.deployments.map((d) => html`<option value=${d}>${d}</option>`)}</select></div>
      <div class="field"><label for="fault-kind">Fault</label>
        <select id="fault-kind" name="kind" value=${kind} onChange=${(e) => setKind(e.currentTarget.value)}>
          ${chaos.kinds.map((k) => html`<option value=${k}>${k}</option>`)}</select></div>
      <label class="field">For (s) <input name="duration_s" type="number" min="1" max="3600" value=${durationS} onInput=${(e) => setDurationS(e.currentTarget.value)} /></label>
      <label class="field">Share of requests <input name="rate" type="number" min="0" max="1" step="0.05" value=${rate} onInput=${(e) => setRate(e.currentTarget.value)} /></label>
      ${(KIND_FIELDS[kind] ?? []).map(
        ([
          name,
          label,
          dflt,
        ]) => html`<label class="field">${label} <input name=${name} type="number" value=${params[name] ?? dflt}
          onInput=${(e) => setParams({ ...params, [name]: e.currentTarget.value })} /></label>`,
      )}
    </div>
    <button class="button" type="submit">Inject fault</button>
  </form>`;
}

function FaultsPanel({ now, changed }) {
  const chaos = usePoll(() => get('/admin/api/chaos'), 2000);
  // A drill starting or ending changes the faults: show that now, not at the next poll.
  useEffect(() => {
    chaos.reload();
  }, [changed, chaos.reload]);
  const [error, setError] = useState(null);
  const end = async (path) => {
    setError(null);
    try {
      await del(path);
    } catch (err) {
      setError(err);
    }
    chaos.reload();
  };
  const faults = chaos.data?.faults ?? [];
  // Fault times are the gateway's clock; shift them onto the browser's for "ends in".
  const skew = chaos.data ? chaos.data.now - chaos.at : 0;
  return html`<section class="panel" aria-labelledby="faults-h" id="faults">
    <div class="panel-head"><h2 id="faults-h">Live faults</h2>
      ${faults.length > 0 && html`<button class="button quiet small" type="button" onClick=${() => end('/admin/api/chaos')}>End all</button>`}</div>
    <${ErrorNote} error=${error ?? chaos.error} />
    ${
      faults.length === 0
        ? html`<p class="muted">No faults. Every deployment is behaving as it really is.</p>`
        : html`<div class="scroll"><table class="table"><thead><tr><th>Deployment</th><th>Fault</th><th>Ends</th><th>Hits</th><th></th></tr></thead>
          <tbody>${faults.map(
            (
              f,
            ) => html`<tr data-fault=${f.id}><td>${f.deployment}</td><td>${f.kind}${f.rate !== 1 ? ` (${Math.round(f.rate * 100)}%)` : ''}${f.status ? ` ${f.status}` : ''}${f.ms ? ` +${f.ms} ms` : ''}</td>
              <td>${relative(f.ends - skew, now)}</td><td>${f.hits}</td>
              <td><button class="button quiet small" type="button" onClick=${() => end(`/admin/api/chaos/${encodeURIComponent(f.deployment)}/${encodeURIComponent(f.id)}`)}>End</button></td></tr>`,
          )}</tbody></table></div>`
    }
    <details><summary>Inject a single fault</summary>${chaos.data && html`<${InjectForm} chaos=${chaos.data} onDone=${chaos.reload} />`}</details>
  </section>`;
}

export function DrillsView() {
  const drills = usePoll(() => get('/admin/api/drills'), 1000);
  const now = useNow();
  const [error, setError] = useState(null);
  const [open, setOpen] = useState(null);
  const data = drills.data;
  const stop = async () => {
    setError(null);
    try {
      await post('/admin/api/drills/stop');
    } catch (err) {
      setError(err);
    }
    drills.reload();
  };
  // The running drill, or the one that just ended: its report stays on top until the next one starts.
  const shown = data?.current ?? data?.history[0] ?? null;
  const past = (data?.history ?? []).filter((r) => r.id !== shown?.id);
  return html`<h1>Chaos drills</h1>
    <p class="muted intro">Break a deployment on purpose, for a set time, and watch what the gateway does:
      faults go through the chaos API's registry and end by themselves; the report counts this model's
      requests from their outcome records.</p>
    <${ErrorNote} error=${error ?? drills.error} />
    ${shown && html`<${DrillReport} report=${shown} now=${now} onStop=${stop} />`}
    ${data && html`<${StartForm} data=${data} onStarted=${drills.reload} />`}
    <${FaultsPanel} now=${now} changed=${shown ? `${shown.id}:${shown.state}` : ''} />
    ${
      past.length > 0 &&
      html`<section class="panel" aria-labelledby="past-h"><h2 id="past-h">Past drills</h2>
        <ul class="list">${past.map(
          (r) => html`<li>
            <button class="link" type="button" onClick=${() => setOpen(open === r.id ? null : r.id)} aria-expanded=${open === r.id}>
              ${clock(r.startedAt)} · ${r.scenario.name} on ${r.model}</button>
            <span class="muted small"> ${r.state} · ${r.requests.total} requests, ${r.requests.failed} failed, ${r.requests.failovers} failovers, ${r.ejections} ejections</span>
            ${open === r.id && html`<${DrillReport} report=${r} now=${now} />`}
          </li>`,
        )}</ul></section>`
    }`;
}
