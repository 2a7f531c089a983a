// Markdown → sanitised HTML. Model output and character cards are untrusted: marked renders (raw HTML in the
// text is escaped and shown as text), highlight.js colours code blocks (its output is escaped text in
// <span class>), and DOMPurify then removes anything that could still run: event handlers, javascript:/data:
// links, forms, frames, inline styles.

import DOMPurify from 'dompurify';
import hljs from 'highlight.js/core';
import bash from 'highlight.js/languages/bash.js';
import c from 'highlight.js/languages/c.js';
import cpp from 'highlight.js/languages/cpp.js';
import css from 'highlight.js/languages/css.js';
import diff from 'highlight.js/languages/diff.js';
import go from 'highlight.js/languages/go.js';
import java from 'highlight.js/languages/java.js';
import javascript from 'highlight.js/languages/javascript.js';
import json from 'highlight.js/languages/json.js';
import markdown from 'highlight.js/languages/markdown.js';
import plaintext from 'highlight.js/languages/plaintext.js';
import python from 'highlight.js/languages/python.js';
import rust from 'highlight.js/languages/rust.js';
import shell from 'highlight.js/languages/shell.js';
import sql from 'highlight.js/languages/sql.js';
import typescript from 'highlight.js/languages/typescript.js';
import xml from 'highlight.js/languages/xml.js';
import yaml from 'highlight.js/languages/yaml.js';
import { Marked } from 'marked';

const languages = {
  bash,
  c,
  cpp,
  css,
  diff,
  go,
  java,
  javascript,
  json,
  markdown,
  plaintext,
  python,
  rust,
  shell,
  sql,
  typescript,
  xml,
  yaml,
};
for (const [name, lang] of Object.entries(languages)) hljs.registerLanguage(name, lang);

const escapeHtml = (s) =>
  s.replace(
    /[&<>"']/g,
    (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch],
  );

const marked = new Marked({
  gfm: true,
  breaks: true,
  renderer: {
    // Raw HTML in model output or a card is shown as the text it is, never parsed as markup.
    html({ text, block }) {
      return block ? `<p>${escapeHtml(text.trim())}</p>\n` : escapeHtml(text);
    },
    code({ text, lang }) {
      const name = (lang ?? '').trim().split(/\s+/)[0]?.toLowerCase() ?? '';
      const known = name && hljs.getLanguage(name) ? name : '';
      const body = known
        ? hljs.highlight(text, { language: known, ignoreIllegals: true }).value
        : escapeHtml(text);
      const cls = known ? `hljs language-${escapeHtml(known)}` : 'hljs';
      const label = known ? `<span class="code-lang">${escapeHtml(known)}</span>` : '';
      return `<pre class="code">${label}<code class="${cls}">${body}</code></pre>\n`;
    },
  },
});

const purify = DOMPurify(globalThis.window);
const SAFE_URL = /^(?:https?:|mailto:|#|\/(?!\/))/i;
purify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {
    const href = node.getAttribute('href');
    if (href !== null && !SAFE_URL.test(href.trim())) node.removeAttribute('href');
    if (node.hasAttribute('href')) {
      node.setAttribute('target', '_blank');
      node.setAttribute('rel', 'noopener noreferrer nofollow');
    }
  }
  if (node.tagName === 'IMG') {
    const src = node.getAttribute('src') ?? '';
    // Remote images would leak the reader's address (and the CSP blocks them anyway): show the alt text.
    if (!/^data:image\/(png|jpe?g|gif|webp);/i.test(src)) node.removeAttribute('src');
    node.setAttribute('loading', 'lazy');
  }
});

const PURIFY_CONFIG = {
  USE_PROFILE: { html: true },
  FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select', 'option', 'iframe', 'svg', 'math'],
  FORBID_ATTR: ['style', 'id', 'name', 'srcset', 'formaction', 'action'],
  ALLOW_DATA_ATTR: false,
  ADD_ATTR: ['target'],
};

/** Sanitised HTML for a piece of untrusted Markdown. */
export function renderMarkdown(text) {
  if (!text) return '';
  let html;
  try {
    html = marked.parse(text, { async: false });
  } catch {
    html = `<p>${escapeHtml(text)}</p>`;
  }
  return purify.sanitize(html, PURIFY_CONFIG);
}

/** `{{char}}` / `{{user}}` (and the legacy `<BOT>` / `<USER>`) for display, in one pass. */
export function fillPlaceholders(text, char, user = 'you') {
  return String(text ?? '').replace(/\{\{\s*(char|user)\s*\}\}|<(BOT|USER)>/gi, (_m, a, b) =>
    (a ?? b).toLowerCase() === 'user' ? user : char,
  );
}

/** Plain text with no markup at all (for previews). */
export function plainText(text, max = 160) {
  const s = String(text ?? '')
    .replace(/\s+/g, ' ')
    .trim();
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
