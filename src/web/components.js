// Small shared pieces: avatar, modal dialog, clock hook, formatting.

import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';

const PALETTE = ['#2f5d8a', '#7a3e9d', '#a4432b', '#2e7d5b', '#8a6d1f', '#3d5a80', '#9c2f5a', '#4b6b2a'];

function hue(name) {
  let h = 0;
  for (const ch of String(name ?? '')) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return PALETTE[h % PALETTE.length];
}

/** An avatar image (data: URLs only) or the initials on a colour derived from the name. */
export function Avatar({ name, src, size = 40 }) {
  const px = `${size}px`;
  if (typeof src === 'string' && src.startsWith('data:image/')) {
    return html`<img class="avatar" src=${src} alt="" width=${size} height=${size} style=${{ width: px, height: px }} />`;
  }
  const initials =
    String(name ?? '?')
      .split(/\s+/)
      .filter(Boolean)
      .slice(0, 2)
      .map((w) => w[0].toUpperCase())
      .join('') || '?';
  return html`<span
    class="avatar avatar-initials"
    aria-hidden="true"
    style=${{ width: px, height: px, background: hue(name), fontSize: `${Math.round(size * 0.4)}px` }}
    >${initials}</span
  >`;
}

/** A modal <dialog>: focus is trapped by the browser, Escape closes it. */
export function Modal({ title, onClose, children, labelledBy = 'modal-title', className = '' }) {
  const ref = useRef(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    return () => d?.open && d.close();
  }, []);
  return html`<dialog
    ref=${ref}
    class=${`modal ${className}`}
    aria-labelledby=${labelledBy}
    onCancel=${(e) => {
      e.preventDefault();
      onClose();
    }}
  >
    <div class="modal-head">
      <h2 id=${labelledBy}>${title}</h2>
      <button type="button" class="icon-button" aria-label="Close" onClick=${onClose}>×</button>
    </div>
    ${children}
  </dialog>`;
}

/** The current time, re-rendering every `ms` while `active`. */
export function useNow(active = true, ms = 1000) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!active) return undefined;
    setNow(Date.now());
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [active, ms]);
  return now;
}

export function formatDuration(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  const r = s % 60;
  return r ? `${m} min ${r} s` : `${m} min`;
}

export function formatWhen(iso) {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return '';
  const d = Date.now() - t;
  if (d < 60_000) return 'just now';
  if (d < 3_600_000) return `${Math.floor(d / 60_000)} min ago`;
  if (d < 86_400_000) return `${Math.floor(d / 3_600_000)} h ago`;
  return new Date(t).toLocaleDateString();
}

export function ErrorText({ error }) {
  if (!error) return null;
  return html`<p class="error" role="alert">${typeof error === 'string' ? error : error.message}</p>`;
}

/** Reads a File as a data: URL. */
export function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result));
    r.onerror = () => reject(r.error);
    r.readAsDataURL(file);
  });
}
