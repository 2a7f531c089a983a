// "Honest in trouble": the service banner, fed by GET /api/status every 10 seconds.

import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { get } from '../api.js';
import { formatDuration } from '../components.js';

export const STATUS_POLL_MS = 10_000;

/** `{models, error}` from /api/status, refreshed every 10 s (and when the tab becomes visible again). */
export function useServiceStatus(enabled) {
  const [state, setState] = useState({ models: [], error: null });
  useEffect(() => {
    if (!enabled) return undefined;
    let stopped = false;
    let timer = null;
    const poll = async () => {
      clearTimeout(timer);
      try {
        const d = await get('/api/status');
        if (!stopped) setState({ models: d.models ?? [], error: null });
      } catch (err) {
        if (!stopped) setState((s) => ({ models: s.models, error: err }));
      }
      if (!stopped) timer = setTimeout(poll, STATUS_POLL_MS);
    };
    const onVisible = () => document.visibilityState === 'visible' && poll();
    poll();
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      stopped = true;
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [enabled]);
  return state;
}

export function StatusBanner({ status, model }) {
  const entry = status.models.find((m) => m.name === model);
  const unreachable = status.error && status.error.status === 0;
  let body = null;
  let level = 'degraded';
  if (unreachable) {
    level = 'down';
    body = html`<strong>Connection problem.</strong> We can't reach Holdfast right now; your drafts are kept in this
      browser and answers keep running on the server.`;
  } else if (entry && entry.status !== 'operational') {
    level = entry.status === 'down' ? 'down' : 'degraded';
    const wait = entry.queue?.estimatedWaitMs;
    body = html`<strong>${entry.status === 'down' ? `${entry.name} is down.` : `${entry.name} is degraded.`}</strong>
      ${' '}${entry.message || (entry.status === 'down' ? 'Answers may fail or wait for a backup.' : 'Answers may be slower than usual.')}
      ${entry.queue?.queued ? ` ${entry.queue.queued} in the queue` : ''}${wait ? `, about ${formatDuration(wait)} wait.` : ''}`;
  }
  // The live region is always in the page so that screen readers announce the banner when it appears.
  return html`<div class="banner-slot" role="status" aria-live="polite">
    ${body && html`<div class=${`banner banner-${level}`} data-testid="status-banner">${body}</div>`}
  </div>`;
}
