// "Report a problem": category + optional text → POST /api/reports.

import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { post } from '../api.js';
import { ErrorText, Modal } from '../components.js';

export const REPORT_CATEGORIES = [
  ['slow', 'It is slow'],
  ['error', 'I got an error'],
  ['wrong_answer', 'The answer is wrong or cut off'],
  ['cannot_sign_in', "I can't sign in"],
  ['other', 'Something else'],
];

export function ReportDialog({ onClose, model, conversationId, signedOut }) {
  const [category, setCategory] = useState(signedOut ? 'cannot_sign_in' : 'slow');
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);

  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = { category };
      if (text.trim()) body.text = text.trim();
      if (model) body.model = model;
      if (conversationId) body.conversationId = conversationId;
      const d = await post('/api/reports', body);
      setDone(d?.counted === false ? 'repeat' : 'counted');
    } catch (err) {
      if (err.code === 'report_throttled') setDone('repeat');
      else if (err.status === 401) setError('Sign in first, then report the problem, or try again later.');
      else setError(err);
    } finally {
      setBusy(false);
    }
  };

  if (done) {
    return html`<${Modal} title="Thank you" onClose=${onClose} labelledBy="report-title">
      <p role="status" data-testid="report-done">
        ${
          done === 'counted'
            ? 'Your report was sent. It feeds the status page, so others can see the problem too.'
            : 'Thanks, we already have a report from you in the last 10 minutes; this one was noted.'
        }
      </p>
      <div class="actions"><button type="button" class="button primary" onClick=${onClose}>Close</button></div>
    <//>`;
  }

  return html`<${Modal} title="Report a problem" onClose=${onClose} labelledBy="report-title">
    <form class="form" onSubmit=${submit}>
      <label for="report-category">What went wrong?</label>
      <select id="report-category" value=${category} onChange=${(e) => setCategory(e.currentTarget.value)}>
        ${REPORT_CATEGORIES.map(([v, label]) => html`<option value=${v}>${label}</option>`)}
      </select>
      <label for="report-text">Details <span class="hint">(optional)</span></label>
      <textarea
        id="report-text"
        rows="4"
        maxlength="2000"
        value=${text}
        onInput=${(e) => setText(e.currentTarget.value)}
      ></textarea>
      <${ErrorText} error=${error} />
      <div class="actions">
        <button type="button" class="button" onClick=${onClose}>Cancel</button>
        <button type="submit" class="button primary" disabled=${busy}>${busy ? 'Sending…' : 'Send report'}</button>
      </div>
    </form>
  <//>`;
}
