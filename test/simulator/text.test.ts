import { describe, expect, it } from 'vitest';
import type { ChatRequest, Message } from '../../src/core/chat.ts';
import { CONTINUE_INSTRUCTION } from '../../src/core/continuation.ts';
import {
  conversationSeed,
  estimateInputTokens,
  mentionsTool,
  type SimulatedAnswer,
  simulateAnswer,
  tokenize,
} from '../../src/providers/simulator/text.ts';

const opts = { answerTokens: 24 };

function user(text: string): Message {
  return { role: 'user', content: [{ type: 'text', text }] };
}

function req(messages: Message[], extra: Partial<ChatRequest> = {}): ChatRequest {
  return { model: 'm', stream: false, messages, ...extra };
}

function textOf(a: SimulatedAnswer): string {
  return a.pieces.map((p) => (p.type === 'text' ? p.text : '')).join('');
}

const convo: Message[] = [
  { role: 'system', content: [{ type: 'text', text: 'Be brief.' }] },
  user('Tell me about the harbour.'),
];

describe('simulated text', () => {
  it('is deterministic: the same conversation gives the same answer', () => {
    const a = simulateAnswer(req(convo), opts);
    const b = simulateAnswer(req(structuredClone(convo)), opts);
    expect(a).toEqual(b);
    expect(textOf(a).length).toBeGreaterThan(40);
  });

  it('differs between conversations', () => {
    const texts = new Set(
      ['a', 'b', 'Say hello.', 'Say hello!', 'What is the weather?'].map((q) =>
        textOf(simulateAnswer(req([user(q)]), opts)),
      ),
    );
    expect(texts.size).toBe(5);
  });

  it('ignores what the two wires do not preserve: whitespace, part boundaries, repeated roles', () => {
    const split: Message[] = [
      {
        role: 'system',
        content: [
          { type: 'text', text: 'Be ' },
          { type: 'text', text: ' brief.' },
        ],
      },
      { role: 'user', content: [{ type: 'text', text: 'Tell me about' }] },
      { role: 'user', content: [{ type: 'text', text: 'the   harbour.\n' }] },
    ];
    expect(conversationSeed(split)).toBe(conversationSeed(convo));
    expect(textOf(simulateAnswer(req(split), opts))).toBe(textOf(simulateAnswer(req(convo), opts)));
  });

  it('gives answer_tokens word-ish tokens that read as sentences', () => {
    for (const q of ['one', 'two', 'three', 'four', 'five']) {
      const a = simulateAnswer(req([user(q)]), { answerTokens: 40 });
      expect(a.pieces).toHaveLength(40);
      expect(a.finishReason).toBe('end_turn');
      expect(a.usage.outputTokens).toBe(40);
      const tokens = a.pieces.map((p) => (p.type === 'text' ? p.text : ''));
      for (const t of tokens) expect(t).toMatch(/^(\s*[A-Za-z'-]+\.?|[.,])$/);
      const text = tokens.join('');
      expect(text).toMatch(/^[A-Z][\s\S]*\.$/);
      // Every sentence starts with a capital letter.
      for (const s of text.split(/(?<=\.)\s+/)) expect(s).toMatch(/^[A-Z]/);
    }
  });

  it('handles very short answers', () => {
    for (const n of [1, 2, 3, 4, 5]) {
      const a = simulateAnswer(req(convo), { answerTokens: n });
      expect(a.pieces).toHaveLength(n);
      expect(textOf(a)).toMatch(/^[A-Z].*\.$/);
    }
  });

  it('cuts at max_tokens with the same opening as the full answer', () => {
    const full = textOf(simulateAnswer(req(convo), opts));
    const cut = simulateAnswer(req(convo, { maxTokens: 7 }), opts);
    expect(cut.pieces).toHaveLength(7);
    expect(cut.finishReason).toBe('max_tokens');
    expect(full.startsWith(textOf(cut))).toBe(true);
    expect(cut.usage.outputTokens).toBe(7);
  });

  it('stops before a stop sequence and reports it', () => {
    const full = textOf(simulateAnswer(req(convo), opts));
    const stop = full.slice(30, 36);
    const a = simulateAnswer(req(convo, { stop: ['zzz', stop] }), opts);
    expect(a.finishReason).toBe('stop_sequence');
    expect(a.stopSequence).toBe(stop);
    expect(textOf(a)).toBe(full.slice(0, full.indexOf(stop)));
    expect(a.usage.outputTokens).toBe(a.pieces.length);
  });

  it('lets max_tokens win over a stop sequence it never reaches', () => {
    const full = textOf(simulateAnswer(req(convo), opts));
    const a = simulateAnswer(req(convo, { maxTokens: 2, stop: [full.slice(-5)] }), opts);
    expect(a.finishReason).toBe('max_tokens');
  });

  it('counts input tokens as characters / 4', () => {
    const a = simulateAnswer(req(convo), opts);
    expect(a.usage.inputTokens).toBe(
      Math.ceil(('Be brief.'.length + 'Tell me about the harbour.'.length) / 4),
    );
    expect(
      estimateInputTokens(
        req([
          { role: 'user', content: [{ type: 'image', source: { kind: 'url', url: 'https://x/y.png' } }] },
        ]),
      ),
    ).toBe(1 + 85);
  });

  it('splits any text into tokens that concatenate back to it', () => {
    for (const s of ['', 'Hello, world!', '  spaced  out  ', '{"a":[1,2]}', 'naïve café — ok…\n\nnew para']) {
      expect(tokenize(s).join('')).toBe(s);
    }
  });
});

describe('continuation', () => {
  const full = textOf(simulateAnswer(req(convo), opts));
  // Token boundaries, mid-word, just after a space, the very start and end.
  const cuts = [
    0,
    1,
    2,
    3,
    5,
    8,
    13,
    full.indexOf(' ') + 1,
    Math.floor(full.length / 2),
    full.length - 1,
    full.length,
  ];

  const routes: Record<string, (partial: string) => ChatRequest> = {
    'continue_final_message (vLLM)': (p) =>
      req([...convo, { role: 'assistant', content: [{ type: 'text', text: p }] }], {
        continueFinalMessage: true,
      }),
    'trailing assistant turn (Anthropic prefill)': (p) =>
      req([...convo, { role: 'assistant', content: [{ type: 'text', text: p }] }]),
    'explicit CONTINUE_INSTRUCTION': (p) =>
      req([
        ...convo,
        { role: 'assistant', content: [{ type: 'text', text: p }] },
        user(CONTINUE_INSTRUCTION),
      ]),
  };

  for (const [route, build] of Object.entries(routes)) {
    it(`reproduces the rest exactly via ${route}`, () => {
      for (const cut of cuts) {
        const partial = full.slice(0, cut);
        const a = simulateAnswer(build(partial), opts);
        expect(partial + textOf(a), `cut at ${cut}`).toBe(full);
        expect(a.finishReason).toBe('end_turn');
      }
    });
  }

  it('continues an answer that was cut by max_tokens to the same full answer', () => {
    const first = simulateAnswer(req(convo, { maxTokens: 9 }), opts);
    const rest = simulateAnswer(routes['explicit CONTINUE_INSTRUCTION']!(textOf(first)), opts);
    expect(textOf(first) + textOf(rest)).toBe(full);
    expect(first.pieces.length + rest.pieces.length).toBe(24);
  });

  it('applies max_tokens and stop sequences to the continued part only', () => {
    const partial = full.slice(0, 10);
    const a = simulateAnswer({ ...routes['continue_final_message (vLLM)']!(partial), maxTokens: 3 }, opts);
    expect(a.pieces).toHaveLength(3);
    expect(a.finishReason).toBe('max_tokens');
    expect(full.startsWith(partial + textOf(a))).toBe(true);
  });

  it('answers a partial it did not write deterministically, seeded by it', () => {
    const a = simulateAnswer(routes['continue_final_message (vLLM)']!('Completely different start'), opts);
    const b = simulateAnswer(
      routes['trailing assistant turn (Anthropic prefill)']!('Completely different start'),
      opts,
    );
    const c = simulateAnswer(routes['continue_final_message (vLLM)']!('Another start'), opts);
    expect(textOf(a)).toBe(textOf(b));
    expect(textOf(a)).not.toBe(textOf(c));
    expect(textOf(a)).toMatch(/^ [A-Z]/);
    expect(a.pieces).toHaveLength(24);
  });
});

describe('tools', () => {
  const weather = {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: {
      type: 'object',
      properties: {
        city: { type: 'string' },
        unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
        days: { type: 'integer', minimum: 1, maximum: 7 },
        detailed: { type: 'boolean' },
      },
      required: ['city', 'unit', 'days', 'detailed'],
    },
  };
  const search = {
    name: 'search_tides',
    parameters: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] },
  };
  const ask = (text: string, extra: Partial<ChatRequest> = {}): SimulatedAnswer =>
    simulateAnswer(req([user(text)], { tools: [weather, search], ...extra }), opts);

  function calls(a: SimulatedAnswer): Array<{ id: string; name: string; args: Record<string, unknown> }> {
    const out: Array<{ id: string; name: string; args: string }> = [];
    for (const p of a.pieces) {
      if (p.type === 'tool_call_start') out[p.index] = { id: p.id, name: p.name, args: '' };
      else if (p.type === 'tool_call_delta') out[p.index]!.args += p.argumentsDelta;
    }
    return out.map((c) => ({ ...c, args: JSON.parse(c.args) as Record<string, unknown> }));
  }

  it('calls a tool the user mentions (auto), with arguments from its schema', () => {
    const a = ask('What is the weather in Paris?');
    expect(a.finishReason).toBe('tool_use');
    const [call] = calls(a);
    expect(call?.name).toBe('get_weather');
    expect(call?.id).toMatch(/^call_[0-9a-f]{24}$/);
    expect(call?.args.city).toBe('Paris');
    expect(['celsius', 'fahrenheit']).toContain(call?.args.unit);
    expect(call?.args.days).toBeGreaterThanOrEqual(1);
    expect(call?.args.days).toBeLessThanOrEqual(7);
    expect(typeof call?.args.detailed).toBe('boolean');
    expect(a.usage.outputTokens).toBe(a.pieces.length);
    expect(ask('What is the weather in Paris?')).toEqual(a);
  });

  it('answers in text when no tool is mentioned (auto) or tools are off (none)', () => {
    expect(ask('Tell me a story.').finishReason).toBe('end_turn');
    expect(ask('What is the weather in Paris?', { toolChoice: { type: 'none' } }).finishReason).toBe(
      'end_turn',
    );
  });

  it('always calls a tool when required, and the named one when forced', () => {
    expect(calls(ask('Tell me a story.', { toolChoice: { type: 'required' } }))).toHaveLength(1);
    const forced = calls(ask('What is the weather?', { toolChoice: { type: 'tool', name: 'search_tides' } }));
    expect(forced.map((c) => c.name)).toEqual(['search_tides']);
    expect(forced[0]?.args.query).toBe('What is the weather?');
  });

  it('calls every mentioned tool in parallel unless parallel calls are off', () => {
    const both = calls(ask('Check the weather and search_tides please.'));
    expect(both.map((c) => c.name)).toEqual(['get_weather', 'search_tides']);
    expect(new Set(both.map((c) => c.id)).size).toBe(2);
    expect(
      calls(ask('Check the weather and search_tides please.', { parallelToolCalls: false })),
    ).toHaveLength(1);
  });

  it('quotes a tool result in its answer', () => {
    const messages: Message[] = [
      user('What is the weather in Paris?'),
      {
        role: 'assistant',
        content: [{ type: 'tool_call', id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', toolCallId: 'call_1', content: [{ type: 'text', text: 'Sunny, 21 C' }] },
        ],
      },
    ];
    const a = simulateAnswer(req(messages, { tools: [weather] }), opts);
    expect(a.finishReason).toBe('end_turn');
    expect(textOf(a)).toMatch(/^The get_weather tool returned "Sunny, 21 C"\. [A-Z]/);
    expect(a.pieces).toHaveLength(24);
  });

  it('recognises tool names by their meaningful words', () => {
    expect(mentionsTool('what is the weather like', 'get_weather')).toBe(true);
    expect(mentionsTool('please getWeather', 'getWeather')).toBe(true);
    expect(mentionsTool('search the web', 'web_search')).toBe(true);
    expect(mentionsTool('hello', 'get_weather')).toBe(false);
    expect(mentionsTool('forget it', 'get')).toBe(false);
    expect(mentionsTool('use get_weather now', 'get_weather')).toBe(true);
  });
});

describe('images and structured output', () => {
  it('mentions how many images it saw', () => {
    const img = {
      type: 'image' as const,
      source: { kind: 'url' as const, url: 'https://example.com/a.png' },
    };
    const one = simulateAnswer(req([{ role: 'user', content: [{ type: 'text', text: 'Look' }, img] }]), opts);
    const two = simulateAnswer(
      req([{ role: 'user', content: [img, { type: 'text', text: 'Look' }, img] }]),
      opts,
    );
    expect(textOf(one)).toMatch(/^I see one image\. /);
    expect(textOf(two)).toMatch(/^I see 2 images\. /);
  });

  it('answers json_object and json_schema formats with valid JSON', () => {
    const obj = JSON.parse(
      textOf(simulateAnswer(req(convo, { responseFormat: { type: 'json_object' } }), opts)),
    ) as { answer: string };
    expect(obj.answer).toMatch(/\.$/);
    const schema = {
      type: 'object',
      properties: {
        summary: { type: 'string' },
        score: { type: 'number', minimum: 0, maximum: 1 },
        tags: { type: 'array', items: { type: 'string' } },
      },
      required: ['summary', 'score', 'tags'],
    };
    const v = JSON.parse(
      textOf(
        simulateAnswer(req(convo, { responseFormat: { type: 'json_schema', name: 'r', schema } }), opts),
      ),
    ) as Record<string, unknown>;
    expect(typeof v.summary).toBe('string');
    expect(v.score).toBeGreaterThanOrEqual(0);
    expect(v.score).toBeLessThanOrEqual(1);
    expect(Array.isArray(v.tags)).toBe(true);
  });
});
