import { html } from 'htm/preact';

export function ms(v) {
  if (v === null || v === undefined) return '—';
  if (v >= 10_000) return `${(v / 1000).toFixed(1)} s`;
  return `${Math.round(v)} ms`;
}

/** "in 23 s", "4 min ago". */
export function relative(at, now = Date.now()) {
  if (at === null || at === undefined) return '—';
  const d = Math.round((at - now) / 1000);
  const abs = Math.abs(d);
  if (abs < 1) return 'just now';
  const text =
    abs < 90 ? `${abs} s` : abs < 5400 ? `${Math.round(abs / 60)} min` : `${Math.round(abs / 3600)} h`;
  return d >= 0 ? `in ${text}` : `${text} ago`;
}

export function clock(at) {
  if (at === null || at === undefined) return '—';
  return new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function dateTime(iso) {
  if (!iso) return '—';
  return new Date(iso).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}

const HEALTH_TEXT = {
  healthy: 'Healthy',
  suspect: 'Suspect',
  ejected: 'Ejected',
  probing: 'Probing',
  blocked: 'Paused',
};

export function HealthBadge({ state, drained }) {
  if (drained) return html`<span class="badge maintenance">Maintenance</span>`;
  return html`<span class=${`badge ${state}`}>${HEALTH_TEXT[state] ?? state}</span>`;
}

export function ErrorNote({ error }) {
  if (!error) return null;
  return html`<p class="error" role="alert">${error.message}</p>`;
}

export function Updated({ at, now }) {
  if (!at) return html`<span class="muted">Loading…</span>`;
  return html`<span class="muted live" title=${new Date(at).toLocaleString()}>Updated ${relative(at, now)}</span>`;
}
