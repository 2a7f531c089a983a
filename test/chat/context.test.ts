import { describe, expect, it } from 'vitest';
import { emptyCharacter } from '../../src/chat/cards/index.ts';
import { buildContext, estimateTokens } from '../../src/chat/conversations/context.ts';
import type { MessageRecord } from '../../src/chat/conversations/store.ts';

function turns(n: number, size = 400): MessageRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `m${i}`,
    conversationId: 'c',
    parentId: i === 0 ? null : `m${i - 1}`,
    role: i % 2 === 0 ? 'user' : 'assistant',
    content: `turn ${i} `.padEnd(size, 'x'),
    status: 'complete',
    meta: {},
    createdAt: new Date(0),
  }));
}

const character = {
  ...emptyCharacter('Maren'),
  description: 'A navigator who speaks in short sentences.',
  systemPrompt: 'You are {{char}}. Stay in character.',
  postHistoryInstructions: 'Answer {{user}} briefly.',
  exampleDialogue:
    '<START>\n{{user}}: Where to?\n{{char}}: North.\n<START>\n{{user}}: Why?\n{{char}}: Weather.',
};

describe('buildContext', () => {
  it('sends everything when it fits, character parts first and post-history last', () => {
    const built = buildContext({
      character,
      persona: { name: 'Tess', description: 'A deckhand.' },
      history: turns(4),
      budgetTokens: 10_000,
      maxAnswerTokens: 500,
    });
    expect(built.report.droppedCount).toBe(0);
    expect(built.messages[0]!.role).toBe('system');
    expect(built.messages[0]!.content).toContain('You are Maren');
    expect(built.messages[0]!.content).toContain('North.');
    expect(built.messages.at(-1)).toEqual({ role: 'system', content: 'Answer Tess briefly.' });
    expect(built.messages.filter((m) => m.role !== 'system')).toHaveLength(4);
    expect(built.report.usedTokens).toBeLessThanOrEqual(10_000);
  });

  it('over budget drops the oldest turns, keeps pinned parts and the newest turn, and says how many', () => {
    const history = turns(20);
    const built = buildContext({
      character,
      persona: { name: 'Tess', description: '' },
      history,
      budgetTokens: 1_500,
      maxAnswerTokens: 300,
    });
    expect(built.report.droppedCount).toBeGreaterThan(0);
    expect(built.dropped.map((m) => m.id)).toEqual(
      history.slice(0, built.report.droppedCount).map((m) => m.id),
    );
    const sent = built.messages.filter((m) => m.role !== 'system').map((m) => m.content);
    expect(sent.at(-1)).toBe(history.at(-1)!.content);
    // What is sent is a contiguous, most recent run of turns.
    expect(sent).toEqual(history.slice(built.report.droppedCount).map((m) => m.content));
    expect(built.messages[0]!.content).toContain('You are Maren');
    expect(built.report.usedTokens).toBeLessThanOrEqual(1_500);
  });

  it('drops example dialogue before it would exceed the budget, never the system prompt', () => {
    const wordy = {
      ...character,
      exampleDialogue: `<START>\n{{user}}: Where to?\n{{char}}: ${'North. '.repeat(100)}\n<START>\n{{user}}: Why?\n{{char}}: Weather.`,
    };
    const built = buildContext({
      character: wordy,
      persona: null,
      history: turns(2, 200),
      budgetTokens: 300,
      maxAnswerTokens: 100,
    });
    expect(built.messages[0]!.content).toContain('You are Maren');
    // The long first example does not fit; the short second one does.
    expect(built.messages[0]!.content).not.toContain('North. North.');
    expect(built.messages[0]!.content).toContain('Weather.');
    expect(built.messages.filter((m) => m.role !== 'system')).toHaveLength(2);
  });

  it('sends the newest turn even when it alone is over budget', () => {
    const built = buildContext({
      character: null,
      persona: null,
      history: turns(3, 8_000),
      budgetTokens: 500,
      maxAnswerTokens: 100,
    });
    expect(built.messages).toHaveLength(1);
    expect(built.report.droppedCount).toBe(2);
  });

  it('stands a summary in for the dropped turns when it covers exactly them', () => {
    const history = turns(12);
    const first = buildContext({
      character: null,
      persona: null,
      history,
      budgetTokens: 1_000,
      maxAnswerTokens: 100,
    });
    const last = first.dropped.at(-1)!;
    const withSummary = buildContext({
      character: null,
      persona: null,
      history,
      budgetTokens: 1_000,
      maxAnswerTokens: 100,
      summary: { text: 'They talked about tides.', coversThrough: last.id },
    });
    expect(withSummary.report.summarisedCount).toBe(first.report.droppedCount);
    expect(withSummary.messages.some((m) => m.content.includes('They talked about tides.'))).toBe(true);
    const stale = buildContext({
      character: null,
      persona: null,
      history,
      budgetTokens: 1_000,
      maxAnswerTokens: 100,
      summary: { text: 'old', coversThrough: 'm0' },
    });
    expect(stale.report.summarisedCount).toBe(0);
  });

  it('ends with the partial answer as the assistant turn when continuing', () => {
    const built = buildContext({
      character: null,
      persona: null,
      history: turns(1),
      prefill: 'Once upon',
      budgetTokens: 5_000,
      maxAnswerTokens: 100,
    });
    expect(built.messages.at(-1)).toEqual({ role: 'assistant', content: 'Once upon' });
  });

  it('estimates about four characters a token', () => {
    expect(estimateTokens('x'.repeat(400))).toBeGreaterThanOrEqual(100);
    expect(estimateTokens('x'.repeat(400))).toBeLessThan(110);
  });
});
