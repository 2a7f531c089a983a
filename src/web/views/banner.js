// "Honest in trouble": the service banner, fed by GET /api/status every 10 seconds.

import { html } from 'htm/preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { get } from '../api.js';
import { formatDuration } from '../components.js';

export const STATUS_POLL_MS = 10_000;

/**
 * `{models, storage, error, refresh}` from /api/status, refreshed every 10 s (and when the tab becomes
 * visible again, or `refresh()` is called: a send answered with `savingDelayed`).
 */
export function useServiceStatus(enabled) {
  const [state, setState] = useState({ models: [], storage: null, error: null });
  const pollRef = useRef(() => {});
  useEffect(() => {
    if (!enabled) return undefined;
    let stopped = false;
    let timer = null;
    const poll = async () => {
      clearTimeout(timer);
      try {
        const d = await get('/api/status');
        if (!stopped) setState({ models: d.models ?? [], storage: d.storage ?? null, error: null });
      } catch (err) {
        if (!stopped) setState((s) => ({ models: s.models, storage: s.storage, error: err }));
      }
      if (!stopped) timer = setTimeout(poll, STATUS_POLL_MS);
    };
    pollRef.current = poll;
    const onVisible = () => document.visibilityState === 'visible' && poll();
    poll();
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      stopped = true;
      pollRef.current = () => {};
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [enabled]);
  const refresh = useCallback(() => pollRef.current(), []);
  return { ...state, refresh };
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
  // PostgreSQL unreachable (docs/postgres-outage.md): what users write is kept on the server for now.
  const storage = status.storage;
  const saving =
    storage?.savingDelayed &&
    html`<div class=${`banner banner-${storage.state === 'full' ? 'down' : 'degraded'}`} data-testid="storage-banner">
      <strong>${storage.state === 'full' ? 'Saving is unavailable.' : 'Saving is delayed.'}</strong>
      ${' '}${
        storage.state === 'full'
          ? "The database is unreachable and the server can't hold more unsaved messages; new messages are refused until it is back."
          : 'The database is unreachable. Your messages are kept on the server and saved when it is back.'
      }
    </div>`;
  // The live region is always in the page so that screen readers announce the banner when it appears.
  return html`<div class="banner-slot" role="status" aria-live="polite">
    ${body && html`<div class=${`banner banner-${level}`} data-testid="status-banner">${body}</div>`}
    ${saving}
  </div>`;
}
