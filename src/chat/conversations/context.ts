import { buildPromptParts, type Character, type PromptPart, selectLorebookEntries } from '../cards/index.ts';
import type { MessageRecord, Persona } from './store.ts';

export interface WireMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ContextReport {
  budgetTokens: number;
  usedTokens: number;
  /** Oldest turns left out of the prompt. */
  droppedCount: number;
  /** Of those, how many a summary stands in for. */
  summarisedCount: number;
}

export interface ContextInput {
  character: Character | null;
  persona: Persona | null;
  /** The branch up to (not including) the answer being written, root first. */
  history: readonly MessageRecord[];
  /** Continue: the answer's text so far, sent as the start of the assistant's turn. */
  prefill?: string;
  budgetTokens: number;
  maxAnswerTokens: number;
  countTokens?: (text: string) => number;
  /** A summary of turns that no longer fit, if one was made; used when it covers exactly those turns. */
  summary?: { text: string; coversThrough: string };
}

export interface BuiltContext {
  messages: WireMessage[];
  report: ContextReport;
  /** Turns that did not fit, oldest first (what a summary would have to cover). */
  dropped: MessageRecord[];
}

/** About four characters a token for English text: good enough to budget with, never sent anywhere. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4) + 4;
}

/**
 * Fits a conversation into its model's token budget. Always sent: the pinned character parts (system
 * prompt, description, persona, post-history instructions), the newest turn, and the answer's prefill.
 * Then as many recent turns as fit, newest first; then the optional parts (example dialogue, lorebook
 * entries) in their drop order. Older turns are dropped, or stood in for by a summary when one covers
 * them, and the report says so, so the UI can show that older turns are summarised.
 */
export function buildContext(input: ContextInput): BuiltContext {
  const count = input.countTokens ?? estimateTokens;
  const personaName = input.persona?.name?.trim() || 'User';
  const turns = input.history.filter((m) => m.role !== 'system' && m.content.trim() !== '');
  let before: PromptPart[] = [];
  let after: PromptPart[] = [];
  if (input.character) {
    const lore = selectLorebookEntries(input.character.characterBook, {
      messages: turns.map((m) => m.content),
      countTokens: count,
    });
    const parts = buildPromptParts({
      character: input.character,
      persona: { name: personaName, description: input.persona?.description ?? '' },
      lore,
    });
    before = parts.beforeHistory;
    after = parts.afterHistory;
  } else if (input.persona?.description) {
    before = [
      {
        kind: 'persona',
        text: `About the user (${personaName}): ${input.persona.description}`,
        pinned: true,
      },
    ];
  }

  const budget = input.budgetTokens;
  let used = input.maxAnswerTokens;
  for (const p of [...before, ...after]) if (p.pinned) used += count(p.text);
  if (input.prefill) used += count(input.prefill);

  // Newest first; the newest turn goes in whatever it costs (without it there is nothing to answer).
  const kept: MessageRecord[] = [];
  let i = turns.length - 1;
  for (; i >= 0; i--) {
    const cost = count(turns[i]!.content);
    if (kept.length > 0 && used + cost > budget) break;
    used += cost;
    kept.push(turns[i]!);
  }
  kept.reverse();
  const dropped = turns.slice(0, i + 1);

  let summarised = 0;
  let summaryMessage: WireMessage | undefined;
  const last = dropped.at(-1);
  if (last && input.summary && input.summary.coversThrough === last.id) {
    const text = `Summary of the earlier conversation:\n${input.summary.text}`;
    summaryMessage = { role: 'system', content: text };
    used += count(text);
    summarised = dropped.length;
  }

  // Optional parts fill what is left, the most valuable (highest drop order) first.
  const optional = before.filter((p) => !p.pinned).sort((a, b) => (b.dropOrder ?? 0) - (a.dropOrder ?? 0));
  const included = new Set<PromptPart>(before.filter((p) => p.pinned));
  for (const p of optional) {
    const cost = count(p.text);
    if (used + cost > budget) continue;
    used += cost;
    included.add(p);
  }

  const messages: WireMessage[] = [];
  const system = before
    .filter((p) => included.has(p))
    .map((p) => p.text)
    .filter((t) => t.trim() !== '')
    .join('\n\n');
  if (system) messages.push({ role: 'system', content: system });
  if (summaryMessage) messages.push(summaryMessage);
  for (const m of kept)
    messages.push({ role: m.role === 'assistant' ? 'assistant' : 'user', content: m.content });
  const post = after
    .map((p) => p.text)
    .filter((t) => t.trim() !== '')
    .join('\n\n');
  if (post) messages.push({ role: 'system', content: post });
  if (input.prefill) messages.push({ role: 'assistant', content: input.prefill });

  return {
    messages,
    report: {
      budgetTokens: budget,
      usedTokens: used,
      droppedCount: dropped.length,
      summarisedCount: summarised,
    },
    dropped,
  };
}
