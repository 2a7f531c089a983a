import type { ChatRequest, Message } from './chat.ts';

/**
 * How a partial assistant answer is continued on a deployment that has no native prefill: the partial is
 * sent as the last assistant turn, followed by this user instruction. The simulator recognises the exact
 * text, so failover tests can check a continued answer byte for byte.
 */
export const CONTINUE_INSTRUCTION =
  'Continue your previous answer exactly from where it stopped. Do not repeat any of it and do not add any preamble.';

/** Rewrites a continuation request into the explicit-instruction form (for providers without prefill). */
export function withContinueInstruction(req: ChatRequest): ChatRequest {
  if (!req.continueFinalMessage) return req;
  const instruction: Message = { role: 'user', content: [{ type: 'text', text: CONTINUE_INSTRUCTION }] };
  return { ...req, continueFinalMessage: false, messages: [...req.messages, instruction] };
}

/**
 * The inverse, for servers (the simulator): if a request asks to continue a partial answer by either
 * route, returns the conversation before the partial and the partial text.
 */
export function splitContinuation(req: ChatRequest): { history: Message[]; partial: string } | undefined {
  const msgs = req.messages;
  let end = msgs.length;
  const last = msgs[end - 1];
  if (!req.continueFinalMessage) {
    const isInstruction =
      last?.role === 'user' &&
      last.content.length === 1 &&
      last.content[0]?.type === 'text' &&
      last.content[0].text === CONTINUE_INSTRUCTION;
    if (!isInstruction) {
      // Anthropic semantics: a trailing assistant message is a prefill.
      if (last?.role !== 'assistant') return undefined;
    } else {
      end -= 1;
    }
  }
  const partialMsg = msgs[end - 1];
  if (partialMsg?.role !== 'assistant') return undefined;
  const partial = partialMsg.content.map((p) => (p.type === 'text' ? p.text : '')).join('');
  return { history: msgs.slice(0, end - 1), partial };
}
