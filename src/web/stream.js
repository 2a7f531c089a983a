// Attaching to an answer's stream (GET /api/messages/:id/stream, docs/chat-api.md).
//
// EventSource reconnects by itself after a network drop and sends Last-Event-ID, so the server resumes after
// the last chunk we have. A new attachment (page load, Continue, a stream that failed for good) starts
// without Last-Event-ID and the server replays every chunk from 1: chunks are numbered per message, so an
// id we already rendered is skipped, and the text is rebuilt from chunks, never from guesses.

const FINAL = new Set(['complete', 'incomplete', 'failed']);

/**
 * Follows one message. `handlers.onText(text, lastId)`, `handlers.onStatus(status, meta)`,
 * `handlers.onDone(status, meta)`, `handlers.onConnection(state)` with state 'open' | 'reconnecting'.
 * `initial` = `{text, lastId}` of what is already rendered from this stream. Returns `{close()}`.
 */
export function attachStream(messageId, handlers, initial = { text: '', lastId: 0 }) {
  let text = initial.text;
  let lastId = initial.lastId;
  let es = null;
  let closed = false;
  let retryTimer = null;
  let attempt = 0;

  const open = () => {
    if (closed) return;
    es = new EventSource(`/api/messages/${encodeURIComponent(messageId)}/stream`);
    es.addEventListener('open', () => {
      attempt = 0;
      handlers.onConnection?.('open');
    });
    es.addEventListener('chunk', (ev) => {
      const id = Number(ev.lastEventId);
      if (Number.isFinite(id) && id > 0 && id <= lastId) return; // already rendered
      let piece = '';
      try {
        piece = JSON.parse(ev.data).text ?? '';
      } catch {
        return;
      }
      if (Number.isFinite(id) && id > 0) lastId = id;
      text += piece;
      handlers.onText?.(text, lastId);
    });
    es.addEventListener('status', (ev) => {
      try {
        const d = JSON.parse(ev.data);
        handlers.onStatus?.(d.status, d.meta ?? {});
      } catch {
        // ignore a malformed event
      }
    });
    es.addEventListener('done', (ev) => {
      let d = {};
      try {
        d = JSON.parse(ev.data);
      } catch {
        // a done without data still ends the stream
      }
      // Close before the server does, or EventSource would reconnect and replay the finished stream.
      stop();
      handlers.onDone?.(FINAL.has(d.status) ? d.status : 'complete', d.meta ?? {}, text, lastId);
    });
    es.addEventListener('error', () => {
      if (closed) return;
      handlers.onConnection?.('reconnecting');
      // CONNECTING: the browser retries by itself with Last-Event-ID. CLOSED (an HTTP error answer): retry
      // ourselves, with backoff; the server replays from chunk 1 and the ids above skip what we have.
      if (es && es.readyState === EventSource.CLOSED) {
        es = null;
        attempt += 1;
        const delay = Math.min(15_000, 1_000 * 2 ** Math.min(attempt - 1, 4));
        retryTimer = setTimeout(open, delay);
      }
    });
  };

  const stop = () => {
    closed = true;
    if (retryTimer) clearTimeout(retryTimer);
    es?.close();
    es = null;
  };

  open();
  return { close: stop };
}

export function isActive(message) {
  return message?.role === 'assistant' && (message.status === 'queued' || message.status === 'streaming');
}
