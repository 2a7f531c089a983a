import type { ChatResponse, FinishReason, StreamEvent, TextPart, ToolCallPart, Usage } from './chat.ts';

/** Folds an event stream into one response; used by unary doors and by tests. */
export class ResponseCollector {
  id = '';
  model = '';
  readonly content: Array<TextPart | ToolCallPart> = [];
  finishReason: FinishReason | undefined;
  stopSequence: string | undefined;
  readonly usage: Usage = { inputTokens: 0, outputTokens: 0 };
  readonly #tools = new Map<number, ToolCallPart>();

  push(ev: StreamEvent): void {
    switch (ev.type) {
      case 'start':
        if (ev.id) this.id = ev.id;
        if (ev.model) this.model = ev.model;
        break;
      case 'text': {
        const last = this.content.at(-1);
        if (last?.type === 'text') last.text += ev.text;
        else this.content.push({ type: 'text', text: ev.text });
        break;
      }
      case 'tool_call_start': {
        const part: ToolCallPart = { type: 'tool_call', id: ev.id, name: ev.name, arguments: '' };
        this.#tools.set(ev.index, part);
        this.content.push(part);
        break;
      }
      case 'tool_call_delta': {
        const part = this.#tools.get(ev.index);
        if (part) part.arguments += ev.argumentsDelta;
        break;
      }
      case 'usage':
        if (ev.usage.inputTokens !== undefined) this.usage.inputTokens = ev.usage.inputTokens;
        if (ev.usage.outputTokens !== undefined) this.usage.outputTokens = ev.usage.outputTokens;
        break;
      case 'finish':
        this.finishReason = ev.reason;
        this.stopSequence = ev.stopSequence;
        break;
    }
  }

  /** Plain text of the answer so far (what a failover continuation must reproduce). */
  text(): string {
    return this.content.map((p) => (p.type === 'text' ? p.text : '')).join('');
  }

  result(): ChatResponse {
    return {
      id: this.id,
      model: this.model,
      content: this.content,
      finishReason: this.finishReason ?? 'end_turn',
      ...(this.stopSequence !== undefined ? { stopSequence: this.stopSequence } : {}),
      usage: this.usage,
    };
  }
}

export async function collect(events: AsyncIterable<StreamEvent>): Promise<ChatResponse> {
  const c = new ResponseCollector();
  for await (const ev of events) c.push(ev);
  return c.result();
}

/** Turns a finished response back into events (how a unary upstream answer joins the one stream path). */
export function* responseToEvents(res: ChatResponse): Generator<StreamEvent> {
  yield { type: 'start', id: res.id, model: res.model };
  let toolIndex = 0;
  for (const part of res.content) {
    if (part.type === 'text') {
      if (part.text) yield { type: 'text', text: part.text };
    } else {
      const index = toolIndex++;
      yield { type: 'tool_call_start', index, id: part.id, name: part.name };
      if (part.arguments) yield { type: 'tool_call_delta', index, argumentsDelta: part.arguments };
    }
  }
  yield { type: 'usage', usage: res.usage };
  yield {
    type: 'finish',
    reason: res.finishReason,
    ...(res.stopSequence !== undefined ? { stopSequence: res.stopSequence } : {}),
  };
}
