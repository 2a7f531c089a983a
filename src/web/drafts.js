// Composer drafts, per conversation, in localStorage: the text survives reloads, and so does the
// idempotency key of a send that was not acknowledged yet, so a retry can never post the message twice.

const PREFIX = 'holdfast:draft:';

function storage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null;
  }
}

/** `{text, key, keyText}`: `key` is the idempotency key minted for `keyText`, kept until acknowledged. */
export function loadDraft(conversationId) {
  const s = storage();
  if (!s || !conversationId) return { text: '', key: null, keyText: null };
  try {
    const v = JSON.parse(s.getItem(PREFIX + conversationId) ?? 'null');
    if (v && typeof v.text === 'string')
      return { text: v.text, key: v.key ?? null, keyText: v.keyText ?? null };
  } catch {
    // a corrupt draft is dropped
  }
  return { text: '', key: null, keyText: null };
}

export function saveDraft(conversationId, draft) {
  const s = storage();
  if (!s || !conversationId) return;
  try {
    if (!draft.text && !draft.key) s.removeItem(PREFIX + conversationId);
    else s.setItem(PREFIX + conversationId, JSON.stringify(draft));
  } catch {
    // storage full or disabled: the draft lives only in memory
  }
}

export function clearDraft(conversationId) {
  storage()?.removeItem(PREFIX + conversationId);
}
