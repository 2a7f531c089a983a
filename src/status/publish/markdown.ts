import { Marked, type Tokens } from 'marked';
import { escapeHtml, Html } from './html.ts';

/**
 * Postmortems are written in Markdown by operators and shown to the public, so the renderer is shut
 * down to what a document needs: raw HTML in the source comes out as text, links keep only http(s) and
 * mailto targets, images become their alt text (the page loads nothing from elsewhere), and headings
 * start at h3 so they sit under the page's own.
 */
const md = new Marked({ gfm: true, async: false });
md.use({
  renderer: {
    html({ text }: Tokens.HTML | Tokens.Tag): string {
      return escapeHtml(text);
    },
    link({ href, tokens }: Tokens.Link): string {
      const inner = this.parser.parseInline(tokens);
      if (!/^(https?:|mailto:)/i.test(href.trim())) return inner;
      return `<a href="${escapeHtml(href.trim())}" rel="nofollow noopener noreferrer">${inner}</a>`;
    },
    image({ text }: Tokens.Image): string {
      return escapeHtml(text);
    },
    heading({ tokens, depth }: Tokens.Heading): string {
      const level = Math.min(6, depth + 2);
      return `<h${level}>${this.parser.parseInline(tokens)}</h${level}>\n`;
    },
  },
});

export function markdown(source: string): Html {
  return new Html(md.parse(source, { async: false }));
}
