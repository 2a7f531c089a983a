// Holdfast admin console: Preact + htm, no build step (docs/admin-console.md).

import { html } from 'htm/preact';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, del, get, onSignedOut, post, setCsrfToken } from './api.js';
import { DeploymentsView } from './views/deployments.js';
import { DrillsView } from './views/drills.js';
import { IncidentsView } from './views/incidents.js';
import { KeysView } from './views/keys.js';
import { QueueView } from './views/queue.js';
import { UsersView } from './views/users.js';

const PAGES = [
  { id: 'deployments', title: 'Deployments', view: DeploymentsView },
  { id: 'queue', title: 'Queue', view: QueueView },
  { id: 'incidents', title: 'Incidents', view: IncidentsView },
  { id: 'drills', title: 'Chaos drills', view: DrillsView },
  { id: 'keys', title: 'Keys', view: KeysView },
  { id: 'users', title: 'Users', view: UsersView },
];

function pageOf(hash) {
  const id = hash.replace(/^#\/?/, '').split('/')[0];
  return PAGES.find((p) => p.id === id) ?? PAGES[0];
}

function usePage() {
  const [page, setPage] = useState(() => pageOf(location.hash));
  useEffect(() => {
    const on = () => setPage(pageOf(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return page;
}

function SignIn({ onSignedIn }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await post('/admin/api/session', { key }, { quiet401: true }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<main class="signin">
    <form class="panel form" onSubmit=${submit} aria-labelledby="signin-h">
      <h1 id="signin-h">Holdfast admin</h1>
      <p class="muted">Sign in with the gateway's admin key (<code>HOLDFAST_ADMIN_KEY</code>). The same
        sign-in opens the incident pages at <a href="/status/admin">/status/admin</a>.</p>
      ${error && html`<p class="error" role="alert">${error.message}</p>`}
      <label class="field">Admin key
        <input type="password" name="key" autocomplete="current-password" required value=${key}
          onInput=${(e) => setKey(e.currentTarget.value)} />
      </label>
      <button class="button primary" type="submit" disabled=${busy}>${busy ? 'Signing in…' : 'Sign in'}</button>
    </form>
  </main>`;
}

function App() {
  // undefined: asking; null: signed out; object: the session.
  const [session, setSession] = useState(undefined);
  const page = usePage();

  const signedIn = (s) => {
    setCsrfToken(s.csrfToken);
    setSession(s);
  };

  useEffect(() => {
    get('/admin/api/session', { quiet401: true })
      .then(signedIn)
      .catch((err) => setSession(err instanceof ApiError && err.status === 401 ? null : { error: err }));
    return onSignedOut(() => {
      setCsrfToken(null);
      setSession(null);
    });
  }, []);

  useEffect(() => {
    document.title = `${page.title} · Holdfast admin`;
  }, [page]);

  if (session === undefined) return html`<p class="boot" role="status">Loading…</p>`;
  if (session === null) return html`<${SignIn} onSignedIn=${signedIn} />`;
  if (session.error) return html`<main class="wrap"><p class="error">${session.error.message}</p></main>`;

  const signOut = async () => {
    try {
      await del('/admin/api/session');
    } finally {
      setCsrfToken(null);
      setSession(null);
    }
  };
  const View = page.view;
  return html`
    <header class="top">
      <div class="wrap topbar">
        <a class="brand" href="#/deployments">Holdfast<span class="tag">Admin</span></a>
        <nav class="tabs" aria-label="Console pages">
          ${PAGES.map(
            (p) =>
              html`<a href=${`#/${p.id}`} aria-current=${p.id === page.id ? 'page' : undefined}>${p.title}</a>`,
          )}
        </nav>
        <button class="button quiet" type="button" onClick=${signOut}>Sign out</button>
      </div>
    </header>
    <main class="wrap" id="main">
      <${View} key=${page.id} />
    </main>
  `;
}

render(html`<${App} />`, document.getElementById('root'));
