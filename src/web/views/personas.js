// The persona editor: who the user is in conversations ({{user}}).

import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { del, get, post, put } from '../api.js';
import { ErrorText } from '../components.js';

const blank = { id: null, name: '', description: '', isDefault: false };

export function PersonasView() {
  const [personas, setPersonas] = useState(null);
  const [edit, setEdit] = useState(blank);
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState(null);

  const load = () =>
    get('/api/personas')
      .then((d) => setPersonas(d.personas ?? []))
      .catch(setError);
  useEffect(() => {
    load();
  }, []);

  const save = async (e) => {
    e.preventDefault();
    setError(null);
    const body = { name: edit.name.trim(), description: edit.description, isDefault: edit.isDefault };
    try {
      if (edit.id) await put(`/api/personas/${encodeURIComponent(edit.id)}`, body);
      else await post('/api/personas', body);
      setNotice(`Saved ${body.name}.`);
      setEdit(blank);
      await load();
    } catch (err) {
      setError(err);
    }
  };

  const remove = async (p) => {
    if (!confirm(`Delete the persona ${p.name}?`)) return;
    try {
      await del(`/api/personas/${encodeURIComponent(p.id)}`);
      if (edit.id === p.id) setEdit(blank);
      await load();
    } catch (err) {
      setError(err);
    }
  };

  return html`<section class="page narrow" aria-labelledby="personas-title">
    <h1 id="personas-title">Persona</h1>
    <p class="muted">Characters call you by your persona's name; its description tells them about you.</p>
    ${personas === null && !error && html`<p class="muted" role="status">Loading…</p>`}
    ${
      personas?.length > 0 &&
      html`<ul class="list">
        ${personas.map(
          (p) => html`<li class="list-item">
            <div class="grow">
              <strong>${p.name}</strong> ${p.isDefault && html`<span class="tag">Default</span>`}
              <p class="muted small">${p.description}</p>
            </div>
            <button type="button" class="button subtle" onClick=${() => setEdit({ ...p })}>Edit</button>
            <button type="button" class="button subtle danger" onClick=${() => remove(p)}>Delete</button>
          </li>`,
        )}
      </ul>`
    }
    <form class="form card" onSubmit=${save} aria-labelledby="persona-form-title">
      <h2 id="persona-form-title">${edit.id ? `Edit ${edit.name}` : 'New persona'}</h2>
      <label for="persona-name">Name</label>
      <input
        id="persona-name"
        required
        maxlength="200"
        value=${edit.name}
        onInput=${(e) => setEdit({ ...edit, name: e.currentTarget.value })}
      />
      <label for="persona-description">About you</label>
      <textarea
        id="persona-description"
        rows="4"
        value=${edit.description}
        onInput=${(e) => setEdit({ ...edit, description: e.currentTarget.value })}
      ></textarea>
      <label class="checkbox">
        <input
          type="checkbox"
          checked=${edit.isDefault}
          onChange=${(e) => setEdit({ ...edit, isDefault: e.currentTarget.checked })}
        />
        Use by default in new chats
      </label>
      <${ErrorText} error=${error} />
      ${notice && html`<p class="notice" role="status">${notice}</p>`}
      <div class="actions">
        ${edit.id && html`<button type="button" class="button" onClick=${() => setEdit(blank)}>Cancel</button>`}
        <button type="submit" class="button primary">${edit.id ? 'Save' : 'Add persona'}</button>
      </div>
    </form>
  </section>`;
}
