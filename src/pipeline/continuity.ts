import type { ChatRequest, Message, StreamEvent, TextPart, Usage } from '../core/chat.ts';

/** Overlaps shorter than this are left alone: "the the" can be real text. */
const MIN_OVERLAP = 12;
/** How much of a continuation is held back to look for a repeated tail. */
const OVERLAP_WINDOW = 64;

/**
 * Splices the attempts of one request into the single answer the caller sees. It keeps one `start`,
 * holds tool calls back until they are complete (so a call cut mid-arguments is dropped and redone,
 * never spliced), removes text a continuation repeats from the partial answer, and sums usage across
 * attempts. Pure: the dispatcher feeds it events and forwards what it returns.
 */
export class Continuity {
  /** Text the caller has received. */
  text = '';
  /** True once any content reached the caller (a failure now is mid-stream). */
  emitted = false;
  /** True once a whole tool call reached the caller: text-only continuation can no longer be exact. */
  completedTool = false;
  #startSent = false;
  #toolBase = 0;
  #pending = new Map<number, { id: string; name: string; args: string }>();
  #pendingOrder: number[] = [];
  #usage: Usage = { inputTokens: 0, outputTokens: 0 };
  #attemptUsage: Partial<Usage> = {};
  #attemptTextEvents = 0;
  #overlap: string | undefined;

  /** Called before each attempt; `continuing` means it was sent the partial answer to continue. */
  beginAttempt(continuing: boolean): void {
    this.#attemptUsage = {};
    this.#attemptTextEvents = 0;
    this.#pending.clear();
    this.#pendingOrder = [];
    this.#overlap = continuing && this.text.length >= MIN_OVERLAP ? '' : undefined;
  }

  /** A failed attempt: drop its unfinished tool calls, keep what it cost. */
  failAttempt(): void {
    this.#pending.clear();
    this.#pendingOrder = [];
    this.#overlap = undefined;
    this.#usage.inputTokens += this.#attemptUsage.inputTokens ?? 0;
    // A cut stream rarely reports usage: count what was received (about one token per text event).
    this.#usage.outputTokens += this.#attemptUsage.outputTokens ?? this.#attemptTextEvents;
  }

  /** `accept` over a batch: what the caller should see of it, in order (possibly nothing). */
  acceptAll(batch: readonly StreamEvent[]): StreamEvent[] {
    const out: StreamEvent[] = [];
    for (const ev of batch) this.#accept(ev, out);
    return out;
  }

  /** What the caller should see of one event from the current attempt, in order (possibly nothing). */
  accept(ev: StreamEvent): StreamEvent[] {
    const out: StreamEvent[] = [];
    this.#accept(ev, out);
    return out;
  }

  // Appends to `out` rather than returning arrays: this runs for every event of every answer.
  #accept(ev: StreamEvent, out: StreamEvent[]): void {
    switch (ev.type) {
      case 'start':
        if (this.#startSent) return;
        this.#startSent = true;
        out.push(ev);
        return;
      case 'text': {
        this.#attemptTextEvents += 1;
        this.#flushTools(out);
        if (this.#overlap !== undefined) {
          this.#overlap += ev.text;
          if (this.#overlap.length < OVERLAP_WINDOW) return;
          this.#releaseOverlap(out);
          return;
        }
        // Passed on as is: only a continuation's seam ever changes text.
        this.text += ev.text;
        this.emitted = true;
        out.push(ev);
        return;
      }
      case 'tool_call_start': {
        this.#releaseOverlap(out);
        this.#pending.set(ev.index, { id: ev.id, name: ev.name, args: '' });
        this.#pendingOrder.push(ev.index);
        return;
      }
      case 'tool_call_delta': {
        const p = this.#pending.get(ev.index);
        if (p) p.args += ev.argumentsDelta;
        return;
      }
      case 'usage':
        if (ev.usage.inputTokens !== undefined) this.#attemptUsage.inputTokens = ev.usage.inputTokens;
        if (ev.usage.outputTokens !== undefined) this.#attemptUsage.outputTokens = ev.usage.outputTokens;
        return;
      case 'finish': {
        this.#releaseOverlap(out);
        this.#flushTools(out);
        const usage: Usage = {
          inputTokens: this.#usage.inputTokens + (this.#attemptUsage.inputTokens ?? 0),
          outputTokens:
            this.#usage.outputTokens + (this.#attemptUsage.outputTokens ?? this.#attemptTextEvents),
        };
        out.push({ type: 'usage', usage }, ev);
        return;
      }
    }
  }

  #emitText(text: string): StreamEvent {
    this.text += text;
    this.emitted = true;
    return { type: 'text', text };
  }

  #releaseOverlap(out: StreamEvent[]): void {
    if (this.#overlap === undefined) return;
    let buf = this.#overlap;
    this.#overlap = undefined;
    // A model told to continue sometimes repeats the end of what it already said: drop the longest
    // repeated run (at least MIN_OVERLAP characters) at the seam.
    for (let k = Math.min(buf.length, this.text.length, OVERLAP_WINDOW); k >= MIN_OVERLAP; k--) {
      if (this.text.endsWith(buf.slice(0, k))) {
        buf = buf.slice(k);
        break;
      }
    }
    if (buf) out.push(this.#emitText(buf));
  }

  #flushTools(out: StreamEvent[]): void {
    if (this.#pendingOrder.length === 0) return;
    for (const key of this.#pendingOrder) {
      const p = this.#pending.get(key)!;
      const index = this.#toolBase++;
      out.push({ type: 'tool_call_start', index, id: p.id, name: p.name });
      if (p.args) out.push({ type: 'tool_call_delta', index, argumentsDelta: p.args });
    }
    this.#pending.clear();
    this.#pendingOrder = [];
    this.emitted = true;
    this.completedTool = true;
  }
}

/**
 * The request that continues a partial answer: the conversation plus everything the caller has seen as
 * the final assistant turn. If the caller itself prefilled the answer, its prefill and our partial form
 * one assistant turn. Each adapter decides how to send it (prefill, continue_final_message, instruction).
 */
export function continuationRequest(req: ChatRequest, partial: string): ChatRequest {
  const messages: Message[] = [...req.messages];
  let prefix = '';
  const last = messages.at(-1);
  if (req.continueFinalMessage && last?.role === 'assistant') {
    prefix = last.content.map((p) => (p.type === 'text' ? p.text : '')).join('');
    messages.pop();
  }
  const content: TextPart[] = [{ type: 'text', text: prefix + partial }];
  return { ...req, messages: [...messages, { role: 'assistant', content }], continueFinalMessage: true };
}
