import { describe, expect, it } from 'vitest';
import type { ChatRequest, StreamEvent } from '../../src/core/chat.ts';
import { Continuity, continuationRequest } from '../../src/pipeline/continuity.ts';

function feed(c: Continuity, evs: StreamEvent[]): StreamEvent[] {
  return evs.flatMap((e) => c.accept(e));
}
const text = (evs: StreamEvent[]): string => evs.map((e) => (e.type === 'text' ? e.text : '')).join('');

describe('Continuity', () => {
  it('passes a clean answer through, with one start and summed usage before finish', () => {
    const c = new Continuity();
    c.beginAttempt(false);
    const out = feed(c, [
      { type: 'start', id: 'a' },
      { type: 'text', text: 'Hello' },
      { type: 'text', text: ' world' },
      { type: 'usage', usage: { inputTokens: 5, outputTokens: 2 } },
      { type: 'finish', reason: 'end_turn' },
    ]);
    expect(out.map((e) => e.type)).toEqual(['start', 'text', 'text', 'usage', 'finish']);
    expect(out.at(-2)).toEqual({ type: 'usage', usage: { inputTokens: 5, outputTokens: 2 } });
    expect(c.text).toBe('Hello world');
  });

  it('splices a continuation: second start dropped, usage of both parts summed', () => {
    const c = new Continuity();
    c.beginAttempt(false);
    const a = feed(c, [
      { type: 'start', id: 'a' },
      { type: 'usage', usage: { inputTokens: 10 } },
      { type: 'text', text: 'The harbour' },
      { type: 'text', text: ' lights' },
    ]);
    c.failAttempt();
    c.beginAttempt(true);
    const b = feed(c, [
      { type: 'start', id: 'b' },
      { type: 'text', text: ' were bright tonight, and the pilot boats were all safely moored.' },
      { type: 'usage', usage: { inputTokens: 14, outputTokens: 12 } },
      { type: 'finish', reason: 'end_turn' },
    ]);
    expect(a.filter((e) => e.type === 'start')).toHaveLength(1);
    expect(b.filter((e) => e.type === 'start')).toHaveLength(0);
    expect(text([...a, ...b])).toBe(
      'The harbour lights were bright tonight, and the pilot boats were all safely moored.',
    );
    expect(b.find((e) => e.type === 'usage')).toEqual({
      type: 'usage',
      usage: { inputTokens: 24, outputTokens: 14 },
    });
  });

  it('drops text a continuation repeats at the seam (12+ characters), keeps short coincidences', () => {
    const c = new Continuity();
    c.beginAttempt(false);
    feed(c, [{ type: 'text', text: 'The keeper climbed the stairs of the old tower' }]);
    c.failAttempt();
    c.beginAttempt(true);
    const out = feed(c, [
      { type: 'text', text: 'the stairs of the old tower and lit the great lamp before the storm came in' },
      { type: 'finish', reason: 'end_turn' },
    ]);
    expect(c.text).toBe(
      'The keeper climbed the stairs of the old tower and lit the great lamp before the storm came in',
    );
    expect(text(out)).toBe(' and lit the great lamp before the storm came in');
  });

  it('holds tool calls until complete, and drops a call cut mid-arguments', () => {
    const c = new Continuity();
    c.beginAttempt(false);
    const a = feed(c, [
      { type: 'start' },
      { type: 'tool_call_start', index: 0, id: 'call_1', name: 'get_weather' },
      { type: 'tool_call_delta', index: 0, argumentsDelta: '{"ci' },
    ]);
    expect(a.map((e) => e.type)).toEqual(['start']);
    expect(c.emitted).toBe(false);
    c.failAttempt();
    c.beginAttempt(false);
    const b = feed(c, [
      { type: 'tool_call_start', index: 3, id: 'call_2', name: 'get_weather' },
      { type: 'tool_call_delta', index: 3, argumentsDelta: '{"city":' },
      { type: 'tool_call_delta', index: 3, argumentsDelta: '"Oslo"}' },
      { type: 'finish', reason: 'tool_use' },
    ]);
    expect(b.slice(0, 2)).toEqual([
      { type: 'tool_call_start', index: 0, id: 'call_2', name: 'get_weather' },
      { type: 'tool_call_delta', index: 0, argumentsDelta: '{"city":"Oslo"}' },
    ]);
    expect(c.completedTool).toBe(true);
  });

  it('counts received text events as output tokens of a cut attempt that reported none', () => {
    const c = new Continuity();
    c.beginAttempt(false);
    feed(c, [
      { type: 'text', text: 'a' },
      { type: 'text', text: 'b' },
      { type: 'text', text: 'c' },
    ]);
    c.failAttempt();
    c.beginAttempt(true);
    const out = feed(c, [
      { type: 'usage', usage: { inputTokens: 1, outputTokens: 2 } },
      { type: 'finish', reason: 'end_turn' },
    ]);
    expect(out.find((e) => e.type === 'usage')).toEqual({
      type: 'usage',
      usage: { inputTokens: 1, outputTokens: 5 },
    });
  });
});

describe('continuationRequest', () => {
  const base: ChatRequest = {
    model: 'm',
    stream: true,
    messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }],
  };

  it('appends the partial answer as a final assistant turn to continue', () => {
    const r = continuationRequest(base, 'Hello th');
    expect(r.continueFinalMessage).toBe(true);
    expect(r.messages.at(-1)).toEqual({ role: 'assistant', content: [{ type: 'text', text: 'Hello th' }] });
    expect(base.messages).toHaveLength(1);
  });

  it("joins the caller's own prefill and the partial into one assistant turn", () => {
    const prefilled: ChatRequest = {
      ...base,
      continueFinalMessage: true,
      messages: [...base.messages, { role: 'assistant', content: [{ type: 'text', text: '{"a":' }] }],
    };
    const r = continuationRequest(prefilled, ' 1, "b"');
    expect(r.messages).toHaveLength(2);
    expect(r.messages.at(-1)).toEqual({
      role: 'assistant',
      content: [{ type: 'text', text: '{"a": 1, "b"' }],
    });
  });
});
