// Conversation list (sidebar and a full page), import and export.

import { html } from 'htm/preact';
import { useRef, useState } from 'preact/hooks';
import { del, post } from '../api.js';
import { ErrorText, formatWhen } from '../components.js';

export function ConversationList({ app, compact, currentId }) {
  const list = app.conversations;
  if (list === null) return html`<p class="muted small">Loading…</p>`;
  if (list.length === 0) return html`<p class="muted small">No chats yet. Pick a character to start one.</p>`;
  const shown = compact ? list.slice(0, 30) : list;
  return html`<ul class=${compact ? 'conv-list compact' : 'conv-list'}>
    ${shown.map(
      (c) => html`<li>
        <a
          class=${c.id === currentId ? 'conv-link active' : 'conv-link'}
          aria-current=${c.id === currentId ? 'page' : undefined}
          href=${`#/c/${encodeURIComponent(c.id)}`}
        >
          <span class="conv-title">${c.title || 'Untitled chat'}</span>
          <span class="conv-when">${formatWhen(c.updatedAt)}</span>
        </a>
      </li>`,
    )}
  </ul>`;
}

export function ConversationsView({ app }) {
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState(null);
  const fileRef = useRef(null);

  const onImport = async (e) => {
    const file = e.currentTarget.files?.[0];
    e.currentTarget.value = '';
    if (!file) return;
    setError(null);
    try {
      const data = JSON.parse(await file.text());
      const d = await post('/api/import', data);
      setNotice(`Imported ${d.conversations} conversation${d.conversations === 1 ? '' : 's'}.`);
      app.refreshConversations();
    } catch (err) {
      setError(err instanceof SyntaxError ? 'That file is not a Holdfast export (not JSON).' : err);
    }
  };

  const remove = async (c) => {
    if (!confirm(`Delete "${c.title || 'Untitled chat'}"? This cannot be undone.`)) return;
    try {
      await del(`/api/conversations/${encodeURIComponent(c.id)}`);
      app.refreshConversations();
    } catch (err) {
      setError(err);
    }
  };

  const list = app.conversations ?? [];
  return html`<section class="page narrow" aria-labelledby="chats-title">
    <div class="page-head">
      <h1 id="chats-title">Chats</h1>
      <div class="actions">
        <a class="button" href="/api/export" download>Export all (JSON)</a>
        <button type="button" class="button" onClick=${() => fileRef.current?.click()}>Import</button>
        <input
          ref=${fileRef}
          type="file"
          class="visually-hidden"
          tabindex="-1"
          aria-label="Import conversations (JSON from Export all)"
          accept=".json,application/json"
          onChange=${onImport}
        />
      </div>
    </div>
    <${ErrorText} error=${error} />
    ${notice && html`<p class="notice" role="status">${notice}</p>`}
    ${app.conversations === null && html`<p class="muted" role="status">Loading…</p>`}
    ${app.conversations && list.length === 0 && html`<p class="muted">No chats yet. <a href="#/">Pick a character</a>.</p>`}
    <ul class="list">
      ${list.map(
        (c) => html`<li class="list-item">
          <a class="grow conv-link" href=${`#/c/${encodeURIComponent(c.id)}`}>
            <span class="conv-title">${c.title || 'Untitled chat'}</span>
            <span class="conv-when">${c.model} · ${formatWhen(c.updatedAt)}</span>
          </a>
          <button type="button" class="button subtle danger" onClick=${() => remove(c)} aria-label=${`Delete ${c.title || 'Untitled chat'}`}>
            Delete
          </button>
        </li>`,
      )}
    </ul>
  </section>`;
}
