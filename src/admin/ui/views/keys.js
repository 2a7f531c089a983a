import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { del, get, post } from '../api.js';
import { dateTime, ErrorNote } from '../format.js';
import { usePoll } from '../hooks.js';

function NewKeyForm({ models, onCreated }) {
  const [name, setName] = useState('');
  const [scope, setScope] = useState('*');
  const [priority, setPriority] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const r = await post('/admin/api/keys', {
        name,
        models: [scope],
        ...(priority ? { priority } : {}),
      });
      setName('');
      onCreated(r);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="panel form" onSubmit=${submit} aria-labelledby="new-key-h" id="new-key">
    <h2 id="new-key-h">Create a key</h2>
    ${error && html`<p class="error" role="alert">${error.message}</p>`}
    <div class="row3">
      <label class="field">Name <input name="name" required maxlength="200" value=${name}
        placeholder="e.g. billing-service" onInput=${(e) => setName(e.currentTarget.value)} /></label>
      <div class="field"><label for="key-models">Models</label>
        <select id="key-models" name="models" value=${scope} onChange=${(e) => setScope(e.currentTarget.value)}>
          <option value="*">All models</option>
          ${models.map((m) => html`<option value=${m}>${m}</option>`)}
        </select></div>
      <div class="field"><label for="key-priority">Priority</label>
        <select id="key-priority" name="priority" value=${priority} onChange=${(e) => setPriority(e.currentTarget.value)}>
          <option value="">interactive (default)</option>
          <option value="critical">critical</option>
          <option value="batch">batch</option>
        </select></div>
    </div>
    <button class="button primary" type="submit" disabled=${busy}>Create key</button>
  </form>`;
}

/** The new secret, once: it is not stored and cannot be shown again. */
function Secret({ created, onDone }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(created.secret);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  };
  return html`<section class="panel secret" role="status" aria-labelledby="secret-h">
    <h2 id="secret-h">Key “${created.key.name}” created</h2>
    <p>Copy the secret now. Holdfast keeps only its hash, so it cannot be shown again.</p>
    <p class="secret-value"><code id="new-secret">${created.secret}</code></p>
    <p class="actions">
      <button class="button" type="button" onClick=${copy}>${copied ? 'Copied' : 'Copy'}</button>
      <button class="button quiet" type="button" onClick=${onDone}>I have stored it</button>
    </p>
  </section>`;
}

function RevokeButton({ k, onRevoked }) {
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState(null);
  if (k.revokedAt) return html`<span class="muted">revoked ${dateTime(k.revokedAt)}</span>`;
  const revoke = async () => {
    try {
      await del(`/admin/api/keys/${encodeURIComponent(k.id)}`);
      onRevoked();
    } catch (err) {
      setError(err);
    }
  };
  if (!confirming)
    return html`<button class="button danger small" type="button" onClick=${() => setConfirming(true)}>Revoke</button>`;
  return html`<span class="confirm">
    ${error ? html`<span class="error-text">${error.message}</span>` : 'Callers using it will be refused.'}
    <button class="button danger small" type="button" onClick=${revoke}>Confirm revoke</button>
    <button class="button quiet small" type="button" onClick=${() => setConfirming(false)}>Cancel</button>
  </span>`;
}

export function KeysView() {
  const keys = usePoll(() => get('/admin/api/keys'), 15_000);
  const models = usePoll(() => get('/admin/api/drills').then((d) => d.models), 60_000);
  const [created, setCreated] = useState(null);
  const list = keys.data?.keys ?? [];
  const active = list.filter((k) => !k.revokedAt).length;
  return html`<h1>Keys</h1>
    <p class="muted intro">Virtual API keys callers send as <code>Authorization: Bearer</code> or <code>x-api-key</code>;
      the same store as <code>holdfast keys</code>. A revoked key is refused by this
      gateway at once and by other replicas within 5 s.</p>
    ${created && html`<${Secret} created=${created} onDone=${() => setCreated(null)} />`}
    <${NewKeyForm} models=${models.data ?? []} onCreated=${(r) => {
      setCreated(r);
      keys.reload();
    }} />
    <${ErrorNote} error=${keys.error} />
    <section class="panel" aria-labelledby="keys-h">
      <h2 id="keys-h">${active} active ${active === 1 ? 'key' : 'keys'}${list.length > active ? `, ${list.length - active} revoked` : ''}</h2>
      ${
        list.length === 0
          ? html`<p class="muted">No keys yet.</p>`
          : html`<div class="scroll"><table class="table" id="keys-table">
          <thead><tr><th>Name</th><th>Prefix</th><th>Models</th><th>Priority</th><th>Created</th><th>Last used</th><th></th></tr></thead>
          <tbody>${[...list].reverse().map(
            (k) => html`<tr data-key=${k.id} data-name=${k.name} class=${k.revokedAt ? 'revoked' : ''}>
              <td><strong>${k.name}</strong></td><td><code>${k.prefix}…</code></td>
              <td>${k.models.includes('*') ? 'all' : k.models.join(', ')}</td>
              <td>${k.priority ?? 'interactive'}</td>
              <td>${dateTime(k.createdAt)}</td><td>${dateTime(k.lastUsedAt)}</td>
              <td><${RevokeButton} k=${k} onRevoked=${keys.reload} /></td>
            </tr>`,
          )}</tbody></table></div>`
      }
    </section>`;
}
