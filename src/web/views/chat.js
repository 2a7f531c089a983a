// The chat view: the current branch of the conversation tree, streaming answers, the composer.

import { html } from 'htm/preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, del, get, newKey, patch, post } from '../api.js';
import { Avatar, ErrorText, formatDuration, useNow } from '../components.js';
import { clearDraft, loadDraft, saveDraft } from '../drafts.js';
import { renderMarkdown } from '../markdown.js';
import { attachStream, isActive } from '../stream.js';

const ROOT = '\u0000root';

/** parentId → children, oldest first. */
export function childrenIndex(messages) {
  const index = new Map();
  for (const m of Object.values(messages)) {
    const k = m.parentId ?? ROOT;
    if (!index.has(k)) index.set(k, []);
    index.get(k).push(m);
  }
  for (const list of index.values()) {
    list.sort((a, b) =>
      a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : 1,
    );
  }
  return index;
}

/** The newest leaf under `id` (following the newest child at each step). */
export function deepestLeaf(index, id) {
  let cur = id;
  for (let guard = 0; guard < 100_000; guard++) {
    const kids = index.get(cur);
    if (!kids?.length) return cur;
    cur = kids[kids.length - 1].id;
  }
  return cur;
}

/** Root → leaf along parent links. */
export function branchPath(messages, leafId) {
  const path = [];
  const seen = new Set();
  let cur = leafId ? messages[leafId] : null;
  while (cur && !seen.has(cur.id)) {
    seen.add(cur.id);
    path.push(cur);
    cur = cur.parentId ? messages[cur.parentId] : null;
  }
  return path.reverse();
}

const byId = (list) => Object.fromEntries((list ?? []).map((m) => [m.id, m]));

export function ChatView({ id, app }) {
  const [conversation, setConversation] = useState(null);
  const [messages, setMessages] = useState({});
  const [character, setCharacter] = useState(null);
  const [loadError, setLoadError] = useState(null);
  const [error, setError] = useState(null);
  const [connection, setConnection] = useState({});
  const streams = useRef(new Map()); // message id → {close}
  const streamState = useRef(new Map()); // message id → {text, lastId}
  const pendingKeys = useRef(new Map()); // action → idempotency key, kept until acknowledged

  // ----- loading and streams -----

  const mergeMessage = useCallback((mid, update) => {
    setMessages((all) => (all[mid] ? { ...all, [mid]: update(all[mid]) } : all));
  }, []);

  const reload = useCallback(async () => {
    const d = await get(`/api/conversations/${encodeURIComponent(id)}`);
    setConversation(d.conversation);
    setMessages((old) => {
      const next = byId(d.messages);
      // Never let a refresh shorten text we have streamed but the server had not flushed yet.
      for (const [mid, m] of Object.entries(next)) {
        const mine = old[mid];
        if (mine && isActive(m) && (mine.content?.length ?? 0) > (m.content?.length ?? 0)) {
          next[mid] = { ...m, content: mine.content };
        }
      }
      return next;
    });
    return d;
  }, [id]);

  const attach = useCallback(
    (mid) => {
      if (streams.current.has(mid)) return;
      const initial = streamState.current.get(mid) ?? { text: '', lastId: 0 };
      const handle = attachStream(
        mid,
        {
          onText(text, lastId) {
            streamState.current.set(mid, { text, lastId });
            mergeMessage(mid, (m) => ({
              ...m,
              content: text.length >= (m.content?.length ?? 0) ? text : m.content,
              status: m.status === 'queued' ? 'streaming' : m.status,
            }));
          },
          onStatus(status, meta) {
            mergeMessage(mid, (m) => {
              const merged = { ...m.meta, ...meta };
              if (status !== 'queued' && !meta.queue) delete merged.queue;
              return { ...m, status: status ?? m.status, meta: merged };
            });
          },
          onDone(status, meta, text, lastId) {
            streams.current.delete(mid);
            streamState.current.set(mid, { text, lastId });
            setConnection((c) => ({ ...c, [mid]: 'open' }));
            mergeMessage(mid, (m) => {
              const merged = { ...m.meta, ...meta };
              delete merged.queue;
              if (!meta.retryAt) delete merged.retryAt;
              return {
                ...m,
                status,
                meta: merged,
                content: text.length >= (m.content?.length ?? 0) ? text : m.content,
              };
            });
            // Settle on the server's record (final text, title, usage) without disturbing the screen.
            reload().catch(() => {});
            app.refreshConversations();
          },
          onConnection(state) {
            setConnection((c) => (c[mid] === state ? c : { ...c, [mid]: state }));
          },
        },
        initial,
      );
      streams.current.set(mid, handle);
    },
    [mergeMessage, reload, app],
  );

  useEffect(() => {
    let cancelled = false;
    reload()
      .then((d) => {
        if (cancelled) return;
        // A reload in the middle of an answer: re-attach and pick up exactly where the stream is.
        for (const m of d.messages ?? []) if (isActive(m)) attach(m.id);
        if (d.conversation.characterId) {
          get(`/api/characters/${encodeURIComponent(d.conversation.characterId)}`)
            .then((c) => !cancelled && setCharacter(c.character))
            .catch(() => {});
        }
      })
      .catch((err) => !cancelled && setLoadError(err));
    return () => {
      cancelled = true;
      for (const h of streams.current.values()) h.close();
      streams.current.clear();
    };
  }, [id, reload, attach]);

  useEffect(() => {
    app.setActiveModel(conversation?.model ?? null);
    app.setActiveConversation(conversation?.id ?? null);
  }, [conversation?.model, conversation?.id, app]);

  // ----- the visible branch -----

  const index = useMemo(() => childrenIndex(messages), [messages]);
  const leafId = useMemo(() => {
    const cur = conversation?.currentLeafId;
    if (cur && messages[cur]) return cur;
    const roots = index.get(ROOT);
    return roots?.length ? deepestLeaf(index, roots[roots.length - 1].id) : null;
  }, [conversation, messages, index]);
  const path = useMemo(
    () => branchPath(messages, leafId).filter((m) => m.role !== 'system'),
    [messages, leafId],
  );
  const active = path.find(isActive) ?? null;

  const setLeaf = useCallback(
    (leaf) => {
      setConversation((c) => (c ? { ...c, currentLeafId: leaf } : c));
      patch(`/api/conversations/${encodeURIComponent(id)}`, { currentLeafId: leaf }).catch((err) =>
        setError(err),
      );
    },
    [id],
  );

  const addAnswer = (userMessage, assistantMessage) => {
    setMessages((all) => {
      const next = { ...all };
      if (userMessage) next[userMessage.id] = userMessage;
      if (assistantMessage) next[assistantMessage.id] = assistantMessage;
      return next;
    });
    if (assistantMessage) {
      setConversation((c) => (c ? { ...c, currentLeafId: assistantMessage.id } : c));
      if (isActive(assistantMessage)) attach(assistantMessage.id);
    }
  };

  // ----- actions -----

  /** Posts a user message; `action` names the idempotency key slot so a retry reuses the key. */
  const sendMessage = async (content, parentId, key) => {
    const d = await post(`/api/conversations/${encodeURIComponent(id)}/messages`, {
      content,
      idempotencyKey: key,
      ...(parentId ? { parentId } : {}),
    });
    addAnswer(d.userMessage, d.assistantMessage);
    app.refreshConversations();
    // Kept in the server's outage buffer: show the "saving is delayed" banner now, not at the next poll.
    if (d.savingDelayed) app.refreshStatus?.();
    return d;
  };

  const regenerate = async (m) => {
    setError(null);
    const slot = `regen:${m.id}`;
    const key = pendingKeys.current.get(slot) ?? newKey();
    pendingKeys.current.set(slot, key);
    try {
      const d = await post(`/api/messages/${encodeURIComponent(m.id)}/regenerate`, { idempotencyKey: key });
      pendingKeys.current.delete(slot);
      addAnswer(null, d.assistantMessage);
      setLeaf(d.assistantMessage.id);
    } catch (err) {
      if (!(err instanceof ApiError && err.retryable)) pendingKeys.current.delete(slot);
      setError(err);
    }
  };

  const stop = async (m) => {
    try {
      const d = await post(`/api/messages/${encodeURIComponent(m.id)}/stop`);
      if (d?.message) {
        mergeMessage(m.id, (old) => ({
          ...old,
          ...d.message,
          content:
            (d.message.content?.length ?? 0) >= (old.content?.length ?? 0) ? d.message.content : old.content,
        }));
      }
    } catch (err) {
      setError(err);
    }
  };

  const continueAnswer = async (m) => {
    setError(null);
    try {
      const d = await post(`/api/messages/${encodeURIComponent(m.id)}/continue`);
      mergeMessage(m.id, (old) => ({ ...old, ...d.message, content: old.content }));
      attach(m.id);
    } catch (err) {
      setError(err);
    }
  };

  const switchTo = (sibling) => setLeaf(deepestLeaf(index, sibling.id));

  const editAndSend = async (m, content, key) => {
    await sendMessage(content, m.parentId, key);
  };

  if (loadError) {
    return html`<section class="page">
      <${ErrorText} error=${loadError.status === 404 ? 'This chat does not exist (or is not yours).' : loadError} />
      <a class="button" href="#/chats">All chats</a>
    </section>`;
  }
  if (!conversation)
    return html`<section class="page"><p class="muted" role="status">Loading chat…</p></section>`;

  const ctx = conversation.context;
  const title = conversation.title || character?.name || 'Chat';
  const exportBase = `/api/conversations/${encodeURIComponent(id)}/export`;
  return html`<section class="chat" aria-labelledby="chat-title">
    <header class="chat-head">
      <${Avatar} name=${character?.name ?? title} src=${character?.avatar} size=${36} />
      <div class="grow chat-title-wrap">
        <h1 id="chat-title" class="chat-title">${title}</h1>
        <span class="muted small">${conversation.model}</span>
      </div>
      <details class="menu align-right">
        <summary class="button subtle" aria-label="Chat options">⋯</summary>
        <div class="menu-items">
          <a href=${`${exportBase}?format=md`} download>Export Markdown</a>
          <a href=${`${exportBase}?format=json`} download>Export JSON</a>
          <button
            type="button"
            class="danger"
            onClick=${async () => {
              if (!confirm('Delete this chat? This cannot be undone.')) return;
              try {
                await del(`/api/conversations/${encodeURIComponent(id)}`);
                app.refreshConversations();
                app.navigate('/chats');
              } catch (err) {
                setError(err);
              }
            }}
          >
            Delete chat
          </button>
        </div>
      </details>
    </header>
    <${MessageList}
      path=${path}
      index=${index}
      character=${character}
      me=${app.me}
      connection=${connection}
      context=${ctx}
      chatModel=${conversation.model}
      onSwitch=${switchTo}
      onRegenerate=${regenerate}
      onStop=${stop}
      onContinue=${continueAnswer}
      onEdit=${editAndSend}
    />
    <${ErrorText} error=${error} />
    <${Composer}
      conversationId=${id}
      parentId=${leafId}
      active=${active}
      onSend=${sendMessage}
      onStop=${() => active && stop(active)}
    />
  </section>`;
}

function MessageList({ path, index, character, me, connection, context, chatModel, ...actions }) {
  const scroller = useRef(null);
  const stick = useRef(true);
  const last = path[path.length - 1];
  useEffect(() => {
    const el = scroller.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [path.length, last?.content, last?.status]);
  // The view also shrinks when a banner or an error appears above or below it: stay pinned to the end.
  useEffect(() => {
    const el = scroller.current;
    if (!el || typeof ResizeObserver === 'undefined') return undefined;
    const ro = new ResizeObserver(() => {
      if (stick.current) el.scrollTop = el.scrollHeight;
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  return html`<div
    class="messages"
    ref=${scroller}
    role="log"
    aria-live="polite"
    aria-relevant="additions text"
    aria-label="Conversation"
    onScroll=${(e) => {
      const el = e.currentTarget;
      stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
    }}
  >
    ${
      context &&
      (context.summarisedCount > 0 || context.droppedCount > 0) &&
      html`<p class="context-note" data-testid="context-note">
        ${context.summarisedCount > 0 ? `The ${context.summarisedCount} oldest messages are summarised to fit the model's memory.` : ''}
        ${
          // Summarised turns are among the dropped ones (a summary stands in for them): count the rest.
          context.droppedCount - context.summarisedCount > 0
            ? ` The ${context.droppedCount - context.summarisedCount} oldest messages no longer fit and are not sent to the model.`
            : ''
        }
      </p>`
    }
    ${path.map(
      (m) => html`<${MessageView}
        key=${m.id}
        message=${m}
        siblings=${index.get(m.parentId ?? ROOT) ?? [m]}
        character=${character}
        me=${me}
        connection=${connection[m.id]}
        isLast=${m === last}
        chatModel=${chatModel}
        ...${actions}
      />`,
    )}
  </div>`;
}

function MessageView({
  message: m,
  siblings,
  character,
  me,
  connection,
  isLast,
  chatModel,
  onSwitch,
  onRegenerate,
  onStop,
  onContinue,
  onEdit,
}) {
  const [editing, setEditing] = useState(false);
  const [editText, setEditText] = useState('');
  const [editError, setEditError] = useState(null);
  const editKey = useRef(null);
  const active = isActive(m);
  const meta = m.meta ?? {};
  const now = useNow(active && (!!meta.retryAt || !!meta.queue?.etaMs));
  const rendered = useMemo(
    () => (m.role === 'assistant' ? renderMarkdown(m.content) : null),
    [m.role, m.content],
  );

  const position = siblings.findIndex((s) => s.id === m.id);
  const who = m.role === 'user' ? me?.name || 'You' : character?.name || 'Assistant';

  const submitEdit = async (e) => {
    e.preventDefault();
    const text = editText.trim();
    if (!text) return;
    if (!editKey.current || editKey.current.text !== text) editKey.current = { text, key: newKey() };
    setEditError(null);
    try {
      await onEdit(m, text, editKey.current.key);
      editKey.current = null;
      setEditing(false);
    } catch (err) {
      setEditError(err);
    }
  };

  let notice = null;
  if (m.role === 'assistant') {
    if (meta.retryAt && meta.retryAt > now && m.status !== 'complete') {
      notice = html`<p class="msg-notice retry" data-testid="retry-countdown">
        The model is busy and asked us to wait. Retrying automatically in${' '}
        <strong>${formatDuration(meta.retryAt - now)}</strong>…
      </p>`;
    } else if (m.status === 'queued') {
      const q = meta.queue;
      notice = html`<p class="msg-notice waiting" data-testid="waiting-room">
        ${
          q
            ? html`<strong>Waiting room:</strong> you are number ${q.position} in line${q.etaMs ? `, about ${formatDuration(q.etaMs)}` : ''}. Your message is saved; the answer starts by itself.`
            : 'Waiting for the model…'
        }
      </p>`;
    } else if (m.status === 'incomplete') {
      notice = html`<p class="msg-notice incomplete">This answer is incomplete (stopped or cut off).</p>`;
    } else if (m.status === 'failed') {
      notice = html`<p class="msg-notice failed" role="alert">
        The answer failed: ${meta.error?.message ?? 'the model could not answer.'} Your message is saved; try again.
      </p>`;
    }
    if (connection === 'reconnecting' && active) {
      notice = html`${notice}<p class="msg-notice retry">Connection lost, reconnecting… nothing is lost.</p>`;
    }
  }

  return html`<article
    class=${`msg msg-${m.role} status-${m.status}`}
    data-testid="message"
    data-role=${m.role}
    data-status=${m.status}
    data-id=${m.id}
    aria-label=${`${who}`}
  >
    <div class="msg-avatar">
      ${m.role === 'user' ? html`<${Avatar} name=${who} size=${32} />` : html`<${Avatar} name=${who} src=${character?.avatar} size=${32} />`}
    </div>
    <div class="msg-body">
      <div class="msg-who">${who}</div>
      ${
        editing
          ? html`<form class="edit-form" onSubmit=${submitEdit}>
              <label class="visually-hidden" for=${`edit-${m.id}`}>Edit your message</label>
              <textarea
                id=${`edit-${m.id}`}
                rows="3"
                value=${editText}
                onInput=${(e) => setEditText(e.currentTarget.value)}
                onKeyDown=${(e) => {
                  if (e.key === 'Escape') setEditing(false);
                  else if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) submitEdit(e);
                }}
              ></textarea>
              <${ErrorText} error=${editError} />
              <div class="actions">
                <button type="button" class="button" onClick=${() => setEditing(false)}>Cancel</button>
                <button type="submit" class="button primary">Save & send</button>
              </div>
            </form>`
          : m.role === 'assistant'
            ? html`<div class=${active ? 'md streaming' : 'md'} data-testid="message-content" dangerouslySetInnerHTML=${{ __html: rendered }}></div>`
            : html`<div class="plain" data-testid="message-content">${m.content}</div>`
      }
      ${m.role === 'assistant' && !m.content && active && !notice && html`<p class="typing" aria-label="Writing">…</p>`}
      ${notice}
      ${
        m.role === 'assistant' &&
        meta.failedOver &&
        m.status === 'complete' &&
        html`<p class="msg-quiet" data-testid="failover-note">Completed by a backup model${
          // Name the backup only when it is another model than the chat's own (the server records the
          // chat's model; a backup deployment of the same model is still "a backup model").
          meta.model && meta.model !== chatModel ? ` (${meta.model})` : ''
        }.</p>`
      }
      ${
        !editing &&
        html`<div class="msg-actions">
          ${
            siblings.length > 1 &&
            html`<span class="siblings" role="group" aria-label="Versions">
              <button
                type="button"
                class="icon-button"
                aria-label="Previous version"
                disabled=${position <= 0}
                onClick=${() => onSwitch(siblings[position - 1])}
              >
                ‹
              </button>
              <span class="sibling-count" data-testid="sibling-count" aria-label=${`Version ${position + 1} of ${siblings.length}`}
                >${position + 1}/${siblings.length}</span
              >
              <button
                type="button"
                class="icon-button"
                aria-label="Next version"
                disabled=${position >= siblings.length - 1}
                onClick=${() => onSwitch(siblings[position + 1])}
              >
                ›
              </button>
            </span>`
          }
          ${
            m.role === 'user' &&
            html`<button
              type="button"
              class="link-button"
              onClick=${() => {
                setEditText(m.content);
                setEditing(true);
              }}
            >
              Edit
            </button>`
          }
          ${m.role === 'assistant' && active && html`<button type="button" class="link-button" onClick=${() => onStop(m)}>Stop</button>`}
          ${
            m.role === 'assistant' &&
            m.status === 'incomplete' &&
            html`<button type="button" class="link-button" onClick=${() => onContinue(m)}>Continue</button>`
          }
          ${
            m.role === 'assistant' &&
            !active &&
            m.parentId &&
            html`<button type="button" class="link-button" onClick=${() => onRegenerate(m)}>
              ${m.status === 'failed' ? 'Try again' : 'Regenerate'}
            </button>`
          }
          ${
            m.content &&
            !active &&
            html`<button type="button" class="link-button" onClick=${() => navigator.clipboard?.writeText(m.content)}>
              Copy
            </button>`
          }
        </div>`
      }
    </div>
    ${isLast && active && html`<span class="visually-hidden" role="status">${who} is writing…</span>`}
  </article>`;
}

function Composer({ conversationId, parentId, active, onSend, onStop }) {
  const [draft, setDraft] = useState(() => loadDraft(conversationId));
  const [sending, setSending] = useState(false);
  const [error, setError] = useState(null);
  const [retryAt, setRetryAt] = useState(0);
  const now = useNow(retryAt > 0);
  const ref = useRef(null);

  const update = (text) => {
    const next = { ...draft, text };
    setDraft(next);
    saveDraft(conversationId, next);
  };

  const send = async () => {
    const text = draft.text.trim();
    if (!text || sending || active) return;
    // The key belongs to this exact text: a retry of the same text reuses it (never a duplicate); edited text
    // after a failure is a different message and gets a new one.
    const key = draft.key && draft.keyText === text ? draft.key : newKey();
    const pending = { text: draft.text, key, keyText: text };
    setDraft(pending);
    saveDraft(conversationId, pending);
    setSending(true);
    setError(null);
    setRetryAt(0);
    try {
      await onSend(text, parentId, key);
      clearDraft(conversationId);
      setDraft({ text: '', key: null, keyText: null });
      ref.current?.focus();
    } catch (err) {
      setError(err);
      if (err instanceof ApiError && err.retryAfterSec) setRetryAt(Date.now() + err.retryAfterSec * 1000);
    } finally {
      setSending(false);
    }
  };

  // The gateway said retry-after: count down, then send again with the same key.
  useEffect(() => {
    if (retryAt && now >= retryAt) {
      setRetryAt(0);
      send();
    }
  }, [now, retryAt]);

  const onKeyDown = (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && !e.altKey && !e.ctrlKey && !e.metaKey) {
      e.preventDefault();
      send();
    } else if (e.key === 'Escape' && active) {
      e.preventDefault();
      onStop();
    }
  };

  return html`<form
    class="composer"
    onSubmit=${(e) => {
      e.preventDefault();
      send();
    }}
  >
    ${
      error &&
      html`<div class="composer-error" role="alert">
        <span>${error.message} Your message is kept${error.retryable ? '; sending again cannot duplicate it' : ''}.</span>
        ${retryAt > now && html`<span data-testid="send-countdown"> Retrying in ${formatDuration(retryAt - now)}…</span>`}
        ${error.retryable && !retryAt && html`<button type="submit" class="link-button">Retry</button>`}
      </div>`
    }
    <label for="composer-input" class="visually-hidden">Message</label>
    <textarea
      id="composer-input"
      ref=${ref}
      rows="1"
      placeholder="Message… (Enter to send, Shift+Enter for a new line)"
      value=${draft.text}
      onInput=${(e) => update(e.currentTarget.value)}
      onKeyDown=${onKeyDown}
      aria-describedby="composer-help"
    ></textarea>
    <span id="composer-help" class="visually-hidden">Enter sends, Shift+Enter adds a new line, Escape stops the answer.</span>
    ${
      active
        ? html`<button type="button" class="button stop" onClick=${onStop}>Stop</button>`
        : html`<button type="submit" class="button primary" disabled=${sending || !draft.text.trim()}>
            ${sending ? 'Sending…' : 'Send'}
          </button>`
    }
  </form>`;
}
