// The character list: shipped examples and mine; start a chat, edit, import, export.

import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { del, get, post } from '../api.js';
import { Avatar, ErrorText, Modal } from '../components.js';
import { fillPlaceholders, plainText } from '../markdown.js';

/** The media type the import endpoint wants, from the file's name and type. */
export function cardContentType(file) {
  const n = file.name.toLowerCase();
  if (n.endsWith('.png') || file.type === 'image/png') return 'image/png';
  if (n.endsWith('.charx') || n.endsWith('.zip')) return 'application/zip';
  return 'application/json';
}

export function CharactersView({ app }) {
  const [list, setList] = useState(null);
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState(null);
  const [starting, setStarting] = useState(null);
  const fileRef = useRef(null);

  const load = () =>
    get('/api/characters')
      .then((d) => setList(d.characters ?? []))
      .catch(setError);
  useEffect(() => {
    load();
  }, []);

  const onImport = async (e) => {
    const file = e.currentTarget.files?.[0];
    e.currentTarget.value = '';
    if (!file) return;
    setError(null);
    setNotice(null);
    try {
      const d = await post('/api/characters/import', file, { contentType: cardContentType(file) });
      setNotice(`Imported ${d.character?.name ?? 'the character'}.`);
      await load();
    } catch (err) {
      setError(err.code === 'card_invalid' ? `That card could not be imported: ${err.message}` : err);
    }
  };

  const remove = async (c) => {
    if (!confirm(`Delete ${c.name}? Conversations with it are kept.`)) return;
    try {
      await del(`/api/characters/${encodeURIComponent(c.id)}`);
      await load();
    } catch (err) {
      setError(err);
    }
  };

  const mine = (list ?? []).filter((c) => c.mine);
  const shipped = (list ?? []).filter((c) => !c.mine);

  const card = (c) => html`<li class="character-card" data-testid="character-card">
    <div class="character-head">
      <${Avatar} name=${c.name} src=${c.avatar} size=${56} />
      <div class="character-title">
        <h3>${c.name}</h3>
        ${c.shipped && html`<span class="tag">Example</span>`}
        ${(c.tags ?? []).slice(0, 3).map((t) => html`<span class="tag">${t}</span>`)}
      </div>
    </div>
    <p class="character-desc">${plainText(fillPlaceholders(c.description, c.name), 180) || html`<span class="muted">No description.</span>`}</p>
    <div class="actions">
      <button type="button" class="button primary" onClick=${() => setStarting(c)} aria-label=${`Chat with ${c.name}`}>
        Chat
      </button>
      <a class="button" href=${`#/characters/${encodeURIComponent(c.id)}`}>${c.mine ? 'Edit' : 'View'}</a>
      <details class="menu">
        <summary class="button" aria-label=${`Export ${c.name}`}>Export</summary>
        <div class="menu-items">
          ${['v2', 'v3', 'png'].map(
            (f) =>
              html`<a href=${`/api/characters/${encodeURIComponent(c.id)}/export?format=${f}`} download
                >${f === 'png' ? 'PNG card' : `${f.toUpperCase()} JSON`}</a
              >`,
          )}
        </div>
      </details>
      ${c.mine && html`<button type="button" class="button subtle danger" onClick=${() => remove(c)}>Delete</button>`}
    </div>
  </li>`;

  return html`<section class="page" aria-labelledby="characters-title">
    <div class="page-head">
      <h1 id="characters-title">Characters</h1>
      <div class="actions">
        <a class="button primary" href="#/characters/new">New character</a>
        <button type="button" class="button" onClick=${() => fileRef.current?.click()}>Import card</button>
        <input
          ref=${fileRef}
          type="file"
          class="visually-hidden"
          aria-label="Import a character card (PNG, JSON or .charx)"
          accept=".png,.json,.charx,image/png,application/json"
          onChange=${onImport}
          tabindex="-1"
        />
      </div>
    </div>
    <${ErrorText} error=${error} />
    ${notice && html`<p class="notice" role="status">${notice}</p>`}
    ${list === null && !error && html`<p class="muted" role="status">Loading characters…</p>`}
    ${
      list &&
      html`<h2 class="section-title">My characters</h2>
        ${mine.length ? html`<ul class="character-grid">${mine.map(card)}</ul>` : html`<p class="muted">None yet: create one, or import a card from another app.</p>`}
        <h2 class="section-title">Examples</h2>
        <ul class="character-grid">
          ${shipped.map(card)}
        </ul>`
    }
    ${starting && html`<${StartChat} character=${starting} app=${app} onClose=${() => setStarting(null)} />`}
  </section>`;
}

/** Picks greeting, model and persona, then creates the conversation. */
function StartChat({ character, app, onClose }) {
  const [full, setFull] = useState(null);
  const [personas, setPersonas] = useState([]);
  const [greetingIndex, setGreetingIndex] = useState(0);
  const [model, setModel] = useState(app.models[0]?.name ?? '');
  const [personaId, setPersonaId] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);

  useEffect(() => {
    get(`/api/characters/${encodeURIComponent(character.id)}`)
      .then((d) => setFull(d.character))
      .catch(setError);
    get('/api/personas')
      .then((d) => {
        const ps = d.personas ?? [];
        setPersonas(ps);
        setPersonaId(ps.find((p) => p.isDefault)?.id ?? '');
      })
      .catch(() => {});
  }, [character.id]);

  const greetings = full ? [full.greeting, ...(full.alternateGreetings ?? [])] : [];

  const start = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = { characterId: character.id, greetingIndex };
      if (model) body.model = model;
      if (personaId) body.personaId = personaId;
      const d = await post('/api/conversations', body);
      app.refreshConversations();
      onClose();
      app.navigate(`/c/${encodeURIComponent(d.conversation.id)}`);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return html`<${Modal} title=${`Chat with ${character.name}`} onClose=${onClose} labelledBy="start-title">
    <form class="form" onSubmit=${start}>
      ${
        greetings.length > 1 &&
        html`<fieldset class="greetings">
          <legend>Opening</legend>
          ${greetings.map(
            (g, i) => html`<label class="radio">
              <input
                type="radio"
                name="greeting"
                checked=${greetingIndex === i}
                onChange=${() => setGreetingIndex(i)}
              />
              <span>${plainText(fillPlaceholders(g, character.name), 140) || '(empty)'}</span>
            </label>`,
          )}
        </fieldset>`
      }
      ${
        app.models.length > 1 &&
        html`<label for="start-model">Model</label>
          <select id="start-model" value=${model} onChange=${(e) => setModel(e.currentTarget.value)}>
            ${app.models.map((m) => html`<option value=${m.name}>${m.name}</option>`)}
          </select>`
      }
      ${
        personas.length > 0 &&
        html`<label for="start-persona">You are</label>
          <select id="start-persona" value=${personaId} onChange=${(e) => setPersonaId(e.currentTarget.value)}>
            <option value="">(no persona)</option>
            ${personas.map((p) => html`<option value=${p.id}>${p.name}</option>`)}
          </select>`
      }
      <${ErrorText} error=${error} />
      <div class="actions">
        <button type="button" class="button" onClick=${onClose}>Cancel</button>
        <button type="submit" class="button primary" disabled=${busy}>${busy ? 'Starting…' : 'Start chat'}</button>
      </div>
    </form>
  <//>`;
}
