/**
 * HTML built from tagged templates: every interpolated value is escaped unless it is already `Html`, so
 * operator-written incident text can never become markup.
 */
export class Html {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
  toString(): string {
    return this.value;
  }
}

type Part = Html | string | number | null | undefined | false | readonly Part[];

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes for element text and quoted attribute values, in HTML and XML alike. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function render(part: Part): string {
  if (part === null || part === undefined || part === false) return '';
  if (part instanceof Html) return part.value;
  if (Array.isArray(part)) return part.map(render).join('');
  return escapeHtml(String(part));
}

export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? '');
  return new Html(out);
}

/** Markup this module produced itself (or a constant): not escaped. */
export function trusted(markup: string): Html {
  return new Html(markup);
}

/**
 * Operator text (incident update bodies) as paragraphs: escaped, blank lines split paragraphs and single
 * newlines become line breaks. No Markdown, so nothing in it can carry a link or a script.
 */
export function paragraphs(text: string): Html {
  const paras = text
    .replace(/\r\n?/g, '\n')
    .split(/\n{2,}/)
    .map((p) => p.trim())
    .filter((p) => p !== '');
  return new Html(paras.map((p) => `<p>${escapeHtml(p).replaceAll('\n', '<br>')}</p>`).join(''));
}
