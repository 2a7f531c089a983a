// Create / edit a character: every field of the card model in docs/characters.md that a person writes.
// Fields the form does not show (lorebook, extensions, V3 extras) are kept as they were.

import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { get, post, put } from '../api.js';
import { Avatar, ErrorText, readAsDataUrl } from '../components.js';

export function emptyCharacter(name = '') {
  return {
    name,
    avatar: null,
    description: '',
    personality: '',
    scenario: '',
    greeting: '',
    alternateGreetings: [],
    exampleDialogue: '',
    systemPrompt: '',
    postHistoryInstructions: '',
    creatorNotes: '',
    tags: [],
    creator: '',
    characterVersion: '',
    characterBook: null,
    extensions: {},
    assets: null,
    nickname: null,
    creatorNotesMultilingual: null,
    source: null,
    groupOnlyGreetings: [],
    creationDate: null,
    modificationDate: null,
    extra: {},
  };
}

const TEXT_FIELDS = [
  ['description', 'Description', 'Who they are, what they look like. Sent to the model.', 5],
  ['personality', 'Personality', 'A short summary of their temperament.', 3],
  ['scenario', 'Scenario', 'Where and when the conversation takes place.', 3],
  ['greeting', 'Greeting', 'Their first message. {{user}} and {{char}} are replaced by names.', 4],
];

const ADVANCED_FIELDS = [
  ['exampleDialogue', 'Example dialogue', 'Sample exchanges; separate blocks with <START>.', 6],
  [
    'systemPrompt',
    'System prompt',
    "Replaces the app's system prompt; {{original}} stands for the app's.",
    4,
  ],
  ['postHistoryInstructions', 'Post-history instructions', 'Sent after the conversation, every turn.', 3],
  ['creatorNotes', 'Creator notes', 'For people browsing cards; never sent to a model.', 3],
];

export function CharacterForm({ id, app }) {
  const [character, setCharacter] = useState(id ? null : emptyCharacter());
  const [editable, setEditable] = useState(!id);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState(false);

  useEffect(() => {
    if (!id) return;
    get(`/api/characters/${encodeURIComponent(id)}`)
      .then((d) => {
        setCharacter({ ...emptyCharacter(), ...d.character });
        setEditable(!!d.mine);
      })
      .catch(setError);
  }, [id]);

  if (!character) {
    return html`<section class="page"><${ErrorText} error=${error} />${!error && html`<p class="muted" role="status">Loading…</p>`}</section>`;
  }

  const set = (field, value) => {
    setSaved(false);
    setCharacter((c) => ({ ...c, [field]: value }));
  };
  const greetings = character.alternateGreetings ?? [];

  const onAvatar = async (e) => {
    const file = e.currentTarget.files?.[0];
    if (!file) return;
    if (!file.type.startsWith('image/')) return setError('The avatar must be an image.');
    if (file.size > 4 * 1024 * 1024) return setError('The avatar must be smaller than 4 MB.');
    set('avatar', await readAsDataUrl(file));
  };

  const save = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const body = {
      character: {
        ...character,
        name: character.name.trim(),
        alternateGreetings: greetings.filter((g) => g.trim() !== ''),
      },
    };
    try {
      if (id && editable) {
        const d = await put(`/api/characters/${encodeURIComponent(id)}`, body);
        setCharacter({ ...emptyCharacter(), ...d.character });
        setSaved(true);
      } else {
        const d = await post('/api/characters', body);
        app.navigate(`/characters/${encodeURIComponent(d.id)}`);
      }
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const field = ([key, label, hint, rows]) => html`<div class="field">
    <label for=${`cf-${key}`}>${label}</label>
    <textarea
      id=${`cf-${key}`}
      rows=${rows}
      readonly=${!editable}
      aria-describedby=${`cf-${key}-hint`}
      value=${character[key] ?? ''}
      onInput=${(e) => set(key, e.currentTarget.value)}
    ></textarea>
    <p class="hint" id=${`cf-${key}-hint`}>${hint}</p>
  </div>`;

  const title = id ? (editable ? `Edit ${character.name}` : character.name) : 'New character';
  return html`<section class="page narrow" aria-labelledby="cf-title">
    <div class="page-head">
      <h1 id="cf-title">${title}</h1>
      ${
        id &&
        html`<div class="actions">
          ${['v2', 'v3', 'png'].map(
            (f) =>
              html`<a class="button subtle" download href=${`/api/characters/${encodeURIComponent(id)}/export?format=${f}`}
                >Export ${f.toUpperCase()}</a
              >`,
          )}
        </div>`
      }
    </div>
    ${!editable && html`<p class="notice">This is a shipped example. Save a copy to make it your own.</p>`}
    <form class="form character-form" onSubmit=${save}>
      <div class="avatar-row">
        <${Avatar} name=${character.name} src=${character.avatar} size=${72} />
        <div class="field grow">
          <label for="cf-name">Name</label>
          <input
            id="cf-name"
            required
            maxlength="200"
            readonly=${!editable}
            value=${character.name}
            onInput=${(e) => set('name', e.currentTarget.value)}
          />
        </div>
      </div>
      ${
        editable &&
        html`<div class="field">
          <label for="cf-avatar">Avatar image</label>
          <input id="cf-avatar" type="file" accept="image/png,image/jpeg,image/webp,image/gif" onChange=${onAvatar} />
          ${character.avatar && html`<button type="button" class="link-button" onClick=${() => set('avatar', null)}>Remove avatar</button>`}
        </div>`
      }
      ${TEXT_FIELDS.map(field)}
      <fieldset class="field">
        <legend>Alternate greetings</legend>
        ${greetings.map(
          (g, i) => html`<div class="alt-greeting">
            <label class="visually-hidden" for=${`cf-alt-${i}`}>Alternate greeting ${i + 1}</label>
            <textarea
              id=${`cf-alt-${i}`}
              rows="3"
              readonly=${!editable}
              value=${g}
              onInput=${(e) =>
                set(
                  'alternateGreetings',
                  greetings.map((x, j) => (j === i ? e.currentTarget.value : x)),
                )}
            ></textarea>
            ${
              editable &&
              html`<button
                type="button"
                class="button subtle"
                aria-label=${`Remove alternate greeting ${i + 1}`}
                onClick=${() =>
                  set(
                    'alternateGreetings',
                    greetings.filter((_, j) => j !== i),
                  )}
              >
                Remove
              </button>`
            }
          </div>`,
        )}
        ${
          editable &&
          html`<button type="button" class="button" onClick=${() => set('alternateGreetings', [...greetings, ''])}>
            Add a greeting
          </button>`
        }
      </fieldset>
      <div class="field">
        <label for="cf-tags">Tags</label>
        <input
          id="cf-tags"
          readonly=${!editable}
          value=${(character.tags ?? []).join(', ')}
          onChange=${(e) =>
            set(
              'tags',
              e.currentTarget.value
                .split(',')
                .map((t) => t.trim())
                .filter(Boolean),
            )}
        />
        <p class="hint">Comma-separated.</p>
      </div>
      <details class="advanced" open=${!!(character.systemPrompt || character.exampleDialogue)}>
        <summary>Advanced: example dialogue, prompts, notes</summary>
        ${ADVANCED_FIELDS.map(field)}
      </details>
      <${ErrorText} error=${error} />
      ${saved && html`<p class="notice" role="status">Saved.</p>`}
      <div class="actions sticky-actions">
        <a class="button" href="#/">Back</a>
        <button type="submit" class="button primary" disabled=${busy}>
          ${busy ? 'Saving…' : editable ? (id ? 'Save' : 'Create character') : 'Save a copy'}
        </button>
      </div>
    </form>
  </section>`;
}
