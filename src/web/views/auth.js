// Sign up / sign in.

import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { post } from '../api.js';
import { ErrorText, formatDuration, useNow } from '../components.js';

export function AuthView({ onSignedIn }) {
  const [mode, setMode] = useState('signin');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [lockedUntil, setLockedUntil] = useState(0);
  const now = useNow(lockedUntil > 0);

  useEffect(() => {
    if (lockedUntil && now >= lockedUntil) setLockedUntil(0);
  }, [now, lockedUntil]);

  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const answer =
        mode === 'signup'
          ? await post('/api/auth/signup', { email, password, name: name.trim() || email.split('@')[0] })
          : await post('/api/auth/login', { email, password });
      onSignedIn(answer);
    } catch (err) {
      if (err.code === 'login_throttled') setLockedUntil(Date.now() + (err.retryAfterSec ?? 60) * 1000);
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const signup = mode === 'signup';
  const locked = lockedUntil > now;
  return html`<section class="auth card" aria-labelledby="auth-title">
    <h1 id="auth-title" class="auth-brand">Holdfast</h1>
    <p class="muted">Characters and conversations that never lose a word.</p>
    <div class="tabs" role="tablist" aria-label="Account">
      <button type="button" role="tab" aria-selected=${!signup} class="tab" onClick=${() => setMode('signin')}>
        Sign in
      </button>
      <button type="button" role="tab" aria-selected=${signup} class="tab" onClick=${() => setMode('signup')}>
        Create account
      </button>
    </div>
    <form class="form" onSubmit=${submit}>
      ${
        signup &&
        html`<label for="auth-name">Name</label>
          <input id="auth-name" autocomplete="nickname" value=${name} onInput=${(e) => setName(e.currentTarget.value)} />`
      }
      <label for="auth-email">Email</label>
      <input
        id="auth-email"
        type="email"
        required
        autocomplete="email"
        value=${email}
        onInput=${(e) => setEmail(e.currentTarget.value)}
      />
      <label for="auth-password">Password</label>
      <input
        id="auth-password"
        type="password"
        required
        minlength=${signup ? 8 : undefined}
        autocomplete=${signup ? 'new-password' : 'current-password'}
        value=${password}
        onInput=${(e) => setPassword(e.currentTarget.value)}
      />
      ${signup && html`<p class="hint">At least 8 characters.</p>`}
      <${ErrorText} error=${error} />
      ${locked && html`<p class="hint" role="status">You can try again in ${formatDuration(lockedUntil - now)}.</p>`}
      <button type="submit" class="button primary wide" disabled=${busy || locked}>
        ${busy ? 'Please wait…' : signup ? 'Create account' : 'Sign in'}
      </button>
    </form>
  </section>`;
}
