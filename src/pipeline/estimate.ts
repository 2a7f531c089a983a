import type { ChatRequest } from '../core/chat.ts';
import type { RequestContext } from './context.ts';

/** Tokens a request may use: the prompt (about four characters a token) plus its output allowance. */
export function estimateTokens(req: ChatRequest, defaultOutput: number): number {
  let chars = 0;
  for (const m of req.messages) {
    for (const p of m.content) {
      if (p.type === 'text') chars += p.text.length;
      else if (p.type === 'tool_call') chars += p.arguments.length + p.name.length;
      else if (p.type === 'tool_result')
        for (const c of p.content) chars += c.type === 'text' ? c.text.length : 1_000;
      // An image costs on the order of a thousand tokens with every provider.
      else chars += 4_000;
    }
  }
  for (const t of req.tools ?? [])
    chars += JSON.stringify(t.parameters).length + t.name.length + (t.description?.length ?? 0);
  return Math.ceil(chars / 4) + (req.maxTokens ?? defaultOutput);
}

/** The request's estimate, computed once and kept on the context (rate limits and admission both use it). */
export function tokenEstimate(ctx: RequestContext, defaultOutput: number): number {
  ctx.tokenEstimate ??= estimateTokens(ctx.request!, defaultOutput);
  return ctx.tokenEstimate;
}
