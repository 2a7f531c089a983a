import { html } from 'htm/preact';
import { get } from '../api.js';
import { ErrorNote, ms, Updated } from '../format.js';
import { useNow, usePoll } from '../hooks.js';

const CLASSES = ['critical', 'interactive', 'batch'];

export function QueueView() {
  const { data, error, at } = usePoll(() => get('/admin/api/queue'), 2000);
  const now = useNow();
  return html`<div class="page-head"><h1>Queue</h1><${Updated} at=${at} now=${now} /></div>
    <p class="muted intro">Requests wait here when a model's deployments are at their adaptive concurrency
      limits. Waits are estimates for a request arriving now in each class; the queue sheds by CoDel,
      maximum wait and deadlines (docs/overload.md).</p>
    <${ErrorNote} error=${error} />
    ${data && !data.enabled && html`<p class="notice">Admission control is off (<code>admission.enabled: false</code>): nothing queues.</p>`}
    ${
      data?.enabled &&
      html`<section class="panel"><div class="scroll"><table class="table" id="queue-table">
        <thead><tr><th>Model</th><th>Admitted / capacity</th><th>Queued</th>
          ${CLASSES.map((c) => html`<th>${c}</th>`)}<th>Oldest wait</th></tr></thead>
        <tbody>
          ${data.models.map(
            (q) => html`<tr data-model=${q.model}>
              <td><strong>${q.model}</strong></td>
              <td>${q.inflight} / ${q.capacity}</td>
              <td>${q.queued}</td>
              ${CLASSES.map(
                (c) =>
                  html`<td>${q.byClass[c]} waiting<div class="muted small">~${ms(q.waitByClass?.[c] ?? q.estimatedWaitMs)}</div></td>`,
              )}
              <td>${ms(q.oldestWaitMs)}</td>
            </tr>`,
          )}
        </tbody>
      </table></div></section>`
    }`;
}
