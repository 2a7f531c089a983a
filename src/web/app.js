// Holdfast Chat: the single-page app. Preact + htm, no build step (docs/chat-ui.md).

import { html } from 'htm/preact';
import { render } from 'preact';
import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { get, onUnauthorized, post, setCsrfToken } from './api.js';
import { AuthView } from './views/auth.js';
import { StatusBanner, useServiceStatus } from './views/banner.js';
import { CharacterForm } from './views/character-form.js';
import { CharactersView } from './views/characters.js';
import { ChatView } from './views/chat.js';
import { ConversationList, ConversationsView } from './views/conversations.js';
import { PersonasView } from './views/personas.js';
import { ReportDialog } from './views/report.js';

function parseRoute(hash) {
  const path = hash.replace(/^#/, '') || '/';
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'c' && parts[1]) return { name: 'chat', id: parts[1] };
  if (parts[0] === 'characters' && parts[1] === 'new') return { name: 'character-new' };
  if (parts[0] === 'characters' && parts[1]) return { name: 'character-edit', id: parts[1] };
  if (parts[0] === 'personas') return { name: 'personas' };
  if (parts[0] === 'chats') return { name: 'chats' };
  return { name: 'characters' };
}

export function navigate(path) {
  if (location.hash !== `#${path}`) location.hash = path;
}

function useRoute() {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

function App() {
  const [me, setMe] = useState(undefined); // undefined: asking; null: signed out
  const route = useRoute();
  const [models, setModels] = useState([]);
  const [conversations, setConversations] = useState(null);
  const [menuOpen, setMenuOpen] = useState(false);
  const [report, setReport] = useState(false);
  const [activeModel, setActiveModel] = useState(null);
  const [activeConversation, setActiveConversation] = useState(null);

  const signedIn = useCallback((answer) => {
    setCsrfToken(answer.csrfToken);
    setMe(answer.user);
  }, []);

  useEffect(() => {
    get('/api/auth/me', { allowUnauthorized: true })
      .then(signedIn)
      .catch(() => setMe(null));
    return onUnauthorized(() => {
      setCsrfToken(null);
      setMe(null);
    });
  }, [signedIn]);

  const refreshConversations = useCallback(() => {
    return get('/api/conversations')
      .then((d) => setConversations(d.conversations ?? []))
      .catch(() => {});
  }, []);

  useEffect(() => {
    if (!me) return;
    refreshConversations();
    get('/api/models')
      .then((d) => setModels(d.models ?? []))
      .catch(() => {});
  }, [me, refreshConversations]);

  useEffect(() => setMenuOpen(false), [route]);
  useEffect(() => {
    if (route.name !== 'chat') {
      setActiveModel(null);
      setActiveConversation(null);
    }
  }, [route]);

  const status = useServiceStatus(!!me);
  const watchedModel = activeModel ?? models[0]?.name ?? null;

  const signOut = async () => {
    try {
      await post('/api/auth/logout');
    } catch {
      // signed out locally either way
    }
    setCsrfToken(null);
    setMe(null);
    setConversations(null);
    navigate('/');
  };

  const ctx = useMemo(
    () => ({
      me,
      models,
      conversations,
      refreshConversations,
      navigate,
      setActiveModel,
      setActiveConversation,
      refreshStatus: status.refresh,
    }),
    [me, models, conversations, refreshConversations, status.refresh],
  );

  if (me === undefined) return html`<p class="boot" role="status">Loading…</p>`;
  if (me === null) {
    return html`<div class="auth-page">
      <${AuthView} onSignedIn=${signedIn} />
      <button type="button" class="link-button auth-report" onClick=${() => setReport(true)}>
        Trouble signing in? Report a problem
      </button>
      ${report && html`<${ReportDialog} signedOut onClose=${() => setReport(false)} />`}
    </div>`;
  }

  let view;
  switch (route.name) {
    case 'chat':
      view = html`<${ChatView} key=${route.id} id=${route.id} app=${ctx} />`;
      break;
    case 'character-new':
      view = html`<${CharacterForm} app=${ctx} />`;
      break;
    case 'character-edit':
      view = html`<${CharacterForm} key=${route.id} id=${route.id} app=${ctx} />`;
      break;
    case 'personas':
      view = html`<${PersonasView} app=${ctx} />`;
      break;
    case 'chats':
      view = html`<${ConversationsView} app=${ctx} />`;
      break;
    default:
      view = html`<${CharactersView} app=${ctx} />`;
  }

  const navLink = (href, label, active) =>
    html`<a href=${`#${href}`} class=${active ? 'nav-link active' : 'nav-link'} aria-current=${active ? 'page' : undefined}
      >${label}</a
    >`;

  return html`<div class=${menuOpen ? 'layout menu-open' : 'layout'}>
    <a class="skip-link" href="#main" onClick=${(e) => {
      e.preventDefault();
      document.getElementById('main')?.focus();
    }}>Skip to content</a>
    <header class="topbar">
      <button
        type="button"
        class="icon-button menu-button"
        aria-label="Menu"
        aria-expanded=${menuOpen}
        aria-controls="sidebar"
        onClick=${() => setMenuOpen(!menuOpen)}
      >
        ☰
      </button>
      <a class="brand" href="#/">Holdfast</a>
      <span class="spacer"></span>
      <button type="button" class="button subtle report-button" onClick=${() => setReport(true)}>
        Report a problem
      </button>
      <span class="who" title=${me.email}>${me.name || me.email}</span>
      <button type="button" class="button subtle topbar-signout" onClick=${signOut}>Sign out</button>
    </header>
    <nav id="sidebar" class="sidebar" aria-label="Main">
      <div class="nav-links">
        ${navLink('/', 'Characters', route.name === 'characters' || route.name.startsWith('character-'))}
        ${navLink('/chats', 'Chats', route.name === 'chats')}
        ${navLink('/personas', 'Persona', route.name === 'personas')}
      </div>
      <h2 class="sidebar-title">Recent chats</h2>
      <${ConversationList} app=${ctx} compact currentId=${route.name === 'chat' ? route.id : null} />
      <div class="sidebar-account">
        <span class="muted small">Signed in as ${me.email}</span>
        <button type="button" class="button" onClick=${signOut}>Sign out</button>
      </div>
    </nav>
    <div class="scrim" onClick=${() => setMenuOpen(false)} aria-hidden="true"></div>
    <main id="main" tabindex="-1">
      <${StatusBanner} status=${status} model=${watchedModel} />
      ${view}
    </main>
    ${
      report &&
      html`<${ReportDialog}
        model=${watchedModel}
        conversationId=${activeConversation}
        onClose=${() => setReport(false)}
      />`
    }
  </div>`;
}

render(html`<${App} />`, document.getElementById('root'));
