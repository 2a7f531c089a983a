import { html } from 'htm/preact';
import { get } from '../api.js';
import { dateTime, ErrorNote } from '../format.js';
import { usePoll } from '../hooks.js';

export function UsersView() {
  const { data, error } = usePoll(() => get('/admin/api/users'), 30_000);
  return html`<h1>Users</h1>
    <p class="muted intro">Chat app accounts. This list is read-only: the accounts module has no way yet to
      disable an account or change its role, and the console does not go around it.</p>
    <${ErrorNote} error=${error} />
    ${
      data &&
      html`<section class="panel">
        ${data.total > data.users.length && html`<p class="muted">Newest ${data.users.length} of ${data.total}.</p>`}
        ${
          data.users.length === 0
            ? html`<p class="muted">No accounts yet. The first person to sign up in the chat app becomes its admin.</p>`
            : html`<div class="scroll"><table class="table" id="users-table">
            <thead><tr><th>Name</th><th>Email</th><th>Role</th><th>Signs in with</th><th>Active sessions</th><th>Created</th></tr></thead>
            <tbody>${data.users.map(
              (u) => html`<tr data-user=${u.id}>
                <td>${u.name}</td><td>${u.email}</td>
                <td>${u.role === 'admin' ? html`<span class="badge admin">chat admin</span>` : 'user'}</td>
                <td>${[u.password && 'password', u.sso && 'single sign-on'].filter(Boolean).join(', ') || '—'}</td>
                <td>${u.sessions}</td><td>${dateTime(u.createdAt)}</td>
              </tr>`,
            )}</tbody></table></div>`
        }
      </section>`
    }`;
}
