import type {
  ChatRequest,
  FinishReason,
  ImageSource,
  Message,
  StreamEvent,
  ToolDefinition,
  ToolResultPart,
  Usage,
} from '../../core/chat.ts';
import { splitContinuation } from '../../core/continuation.ts';
import { digest, type Rng, rngFor } from './random.ts';

/**
 * The simulator's "model": a deterministic function from a conversation to an answer. Same conversation,
 * same answer, byte for byte, through either wire; a continued partial answer reproduces exactly the rest
 * of it. That is what lets failover tests check a spliced answer against an uninterrupted one.
 */

/** One emitted unit (a "token"): pacing, max_tokens, usage and mid-stream faults all count these. */
export type AnswerPiece = Extract<StreamEvent, { type: 'text' | 'tool_call_start' | 'tool_call_delta' }>;

export interface SimulatedAnswer {
  pieces: AnswerPiece[];
  finishReason: FinishReason;
  stopSequence?: string;
  usage: Usage;
}

export interface TextOptions {
  /** Natural answer length in tokens (before max_tokens cuts it). */
  answerTokens: number;
}

export function simulateAnswer(req: ChatRequest, opts: TextOptions): SimulatedAnswer {
  const inputTokens = estimateInputTokens(req);
  const limit = req.maxTokens ?? Number.POSITIVE_INFINITY;
  const cont = splitContinuation(req);
  const history = cont ? cont.history : req.messages;
  const partial = cont?.partial ?? '';

  let natural: Natural;
  if (partial === '') {
    natural = naturalAnswer(history, req, opts.answerTokens);
  } else {
    const full = naturalAnswer(history, req, opts.answerTokens);
    if (full.kind === 'text' && full.tokens.join('').startsWith(partial)) {
      natural = { kind: 'text', tokens: tokensAfter(full.tokens, partial.length) };
    } else {
      // Someone else's partial answer: still deterministic, seeded by both, and joined with a space.
      const seed = digest([...conversationKey(history), `partial:${partial}`]);
      const tokens = sentences(seed, opts.answerTokens, true);
      if (tokens[0] !== undefined && !/\s$/.test(partial)) tokens[0] = ` ${tokens[0].trimStart()}`;
      natural = { kind: 'text', tokens };
    }
  }

  if (natural.kind === 'tools') {
    const pieces: AnswerPiece[] = [];
    natural.calls.forEach((call, index) => {
      pieces.push({ type: 'tool_call_start', index, id: call.id, name: call.name });
      for (const chunk of tokenize(call.arguments))
        pieces.push({ type: 'tool_call_delta', index, argumentsDelta: chunk });
    });
    const cut = pieces.length > limit;
    const kept = cut ? pieces.slice(0, limit) : pieces;
    return {
      pieces: kept,
      finishReason: cut ? 'max_tokens' : 'tool_use',
      usage: { inputTokens, outputTokens: kept.length },
    };
  }

  let tokens = natural.tokens.slice(0, limit);
  let finishReason: FinishReason = tokens.length < natural.tokens.length ? 'max_tokens' : 'end_turn';
  const stop = firstStop(tokens.join(''), req.stop ?? []);
  let stopSequence: string | undefined;
  if (stop) {
    tokens = truncateAt(tokens, stop.index);
    finishReason = 'stop_sequence';
    stopSequence = stop.sequence;
  }
  return {
    pieces: tokens.map((text) => ({ type: 'text', text })),
    finishReason,
    ...(stopSequence !== undefined ? { stopSequence } : {}),
    usage: { inputTokens, outputTokens: tokens.length },
  };
}

type Natural =
  | { kind: 'text'; tokens: string[] }
  | { kind: 'tools'; calls: Array<{ id: string; name: string; arguments: string }> };

/** What the simulated model says after `history` when nothing cuts it short. */
function naturalAnswer(history: readonly Message[], req: ChatRequest, answerTokens: number): Natural {
  const key = conversationKey(history);
  const seed = digest(key);
  const last = history.at(-1);
  const lastUser = last?.role === 'user' ? last : undefined;
  const userText = lastUser
    ? normalizeWs(lastUser.content.map((p) => (p.type === 'text' ? p.text : '')).join(' '))
    : '';
  const toolResults = lastUser
    ? lastUser.content.filter((p): p is ToolResultPart => p.type === 'tool_result')
    : [];

  const calls = chooseTools(req, userText, toolResults.length > 0, seed);
  if (calls.length > 0) {
    return {
      kind: 'tools',
      calls: calls.map((tool, i) => {
        const ctx: SchemaContext = {
          rng: rngFor(seed, 'args', i, tool.name),
          userText,
          names: properNouns(userText),
        };
        const args = valueFor(tool.parameters, ctx, '', 0);
        const argsObject = typeof args === 'object' && args !== null && !Array.isArray(args) ? args : {};
        return {
          id: `call_${digest([seed, 'call', String(i), tool.name]).slice(0, 24)}`,
          name: tool.name,
          arguments: JSON.stringify(argsObject),
        };
      }),
    };
  }

  const format = req.responseFormat;
  if (format && format.type !== 'text') {
    const prose = sentences(seed, answerTokens, true).join('');
    const value =
      format.type === 'json_object'
        ? { answer: prose }
        : valueFor(
            format.schema,
            { rng: rngFor(seed, 'json'), userText, names: properNouns(userText), prose },
            '',
            0,
          );
    return { kind: 'text', tokens: tokenize(JSON.stringify(value)) };
  }

  const lead = leadIn(history, lastUser, toolResults);
  const leadTokens = tokenize(lead);
  if (leadTokens.length >= answerTokens) return { kind: 'text', tokens: leadTokens.slice(0, answerTokens) };
  return {
    kind: 'text',
    tokens: [...leadTokens, ...sentences(seed, answerTokens - leadTokens.length, leadTokens.length === 0)],
  };
}

/** The answer opens by acknowledging what it was given: images seen, tool results quoted. */
function leadIn(
  history: readonly Message[],
  lastUser: Extract<Message, { role: 'user' }> | undefined,
  toolResults: ToolResultPart[],
): string {
  const parts: string[] = [];
  if (lastUser) {
    let images = 0;
    for (const p of lastUser.content) {
      if (p.type === 'image') images++;
      else if (p.type === 'tool_result') images += p.content.filter((c) => c.type === 'image').length;
    }
    if (images === 1) parts.push('I see one image.');
    else if (images > 1) parts.push(`I see ${images} images.`);
  }
  for (const result of toolResults.slice(0, 2)) {
    const name = toolNameFor(history, result.toolCallId) ?? 'tool';
    const text = normalizeWs(result.content.map((c) => (c.type === 'text' ? c.text : '')).join(' '));
    if (!text) parts.push(`The ${name} tool returned nothing.`);
    else parts.push(`The ${name} tool ${result.isError ? 'failed with' : 'returned'} "${brief(text, 48)}".`);
  }
  return parts.join(' ');
}

function toolNameFor(history: readonly Message[], id: string): string | undefined {
  for (let i = history.length - 1; i >= 0; i--) {
    const m = history[i];
    if (m?.role !== 'assistant') continue;
    for (const p of m.content) if (p.type === 'tool_call' && p.id === id) return p.name;
  }
  return undefined;
}

function brief(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max);
  const space = cut.lastIndexOf(' ');
  return `${(space > max / 2 ? cut.slice(0, space) : cut).replace(/[\s,.;:]+$/, '')}…`;
}

// ---------------------------------------------------------------------------------------------------------
// Tools

const FILLER_WORDS = new Set([
  'get',
  'set',
  'fetch',
  'list',
  'find',
  'lookup',
  'look',
  'up',
  'search',
  'query',
  'run',
  'do',
  'make',
  'create',
  'read',
  'write',
  'call',
  'check',
  'update',
  'delete',
  'add',
  'remove',
  'the',
  'a',
  'an',
  'of',
  'for',
  'to',
  'by',
  'in',
  'on',
]);

/**
 * Whether the user's text asks for a tool: its exact name, or every meaningful word of the name
 * (`get_weather` is mentioned by "what is the weather…"), so demos behave like a real model would.
 */
export function mentionsTool(text: string, name: string): boolean {
  const lower = text.toLowerCase();
  const literal = name.toLowerCase().replace(/[^a-z0-9_]/g, (c) => `\\${c}`);
  if (new RegExp(`(^|[^a-z0-9_])${literal}($|[^a-z0-9_])`).test(lower)) return true;
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w && !FILLER_WORDS.has(w));
  if (words.length === 0) return false;
  const said = new Set(lower.split(/[^a-z0-9]+/));
  return words.every(
    (w) => said.has(w) || said.has(`${w}s`) || (w.endsWith('s') && said.has(w.slice(0, -1))),
  );
}

function chooseTools(
  req: ChatRequest,
  userText: string,
  hasResults: boolean,
  seed: string,
): ToolDefinition[] {
  const tools = req.tools ?? [];
  const choice = req.toolChoice ?? { type: 'auto' };
  if (tools.length === 0 || choice.type === 'none') return [];
  if (choice.type === 'tool') {
    return [
      tools.find((t) => t.name === choice.name) ?? { name: choice.name, parameters: { type: 'object' } },
    ];
  }
  // A finished tool round is answered in words unless the caller forces another call.
  if (hasResults && choice.type === 'auto') return [];
  const mentioned = tools.filter((t) => mentionsTool(userText, t.name));
  const picked =
    mentioned.length > 0 ? mentioned : choice.type === 'required' ? [rngFor(seed, 'tool').pick(tools)] : [];
  return req.parallelToolCalls === false ? picked.slice(0, 1) : picked;
}

interface SchemaContext {
  rng: Rng;
  userText: string;
  /** Capitalised words from the user's text (likely places and names), for string arguments. */
  names: string[];
  /** Prose to put in free-text string fields of a structured answer. */
  prose?: string;
}

const PLACES = ['Falmouth', 'Bergen', 'Hobart', 'Valparaiso', 'Reykjavik', 'Lisbon', 'Halifax', 'Dunedin'];

function properNouns(text: string): string[] {
  const out: string[] = [];
  for (const sentence of text.split(/[.!?]+\s*/)) {
    const words = sentence.split(/\s+/).filter(Boolean);
    for (const w of words.slice(1)) {
      const m = /^[A-Z][\p{L}'-]+/u.exec(w);
      if (m && !out.includes(m[0])) out.push(m[0]);
    }
  }
  return out;
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** A plausible value for a JSON Schema: enums, consts, formats, bounds and required properties honoured. */
function valueFor(schema: unknown, ctx: SchemaContext, key: string, depth: number): unknown {
  const s = asRecord(schema);
  if (!s || depth > 6) return depth > 6 ? null : stringFor({}, ctx, key);
  if ('const' in s) return s.const;
  if (Array.isArray(s.enum) && s.enum.length > 0) return ctx.rng.pick(s.enum);
  for (const k of ['anyOf', 'oneOf', 'allOf'] as const) {
    const options = s[k];
    if (Array.isArray(options) && options.length > 0) {
      const usable = options.find((o) => asRecord(o)?.type !== 'null') ?? options[0];
      return valueFor({ ...s, [k]: undefined, ...asRecord(usable) }, ctx, key, depth);
    }
  }
  let type = s.type;
  if (Array.isArray(type)) type = type.find((t) => t !== 'null') ?? type[0];
  if (type === undefined) type = s.properties ? 'object' : s.items ? 'array' : 'string';
  switch (type) {
    case 'object': {
      const props = asRecord(s.properties) ?? {};
      const required = new Set(
        Array.isArray(s.required) ? s.required.filter((r) => typeof r === 'string') : [],
      );
      const out: Record<string, unknown> = {};
      for (const [name, sub] of Object.entries(props)) {
        if (required.has(name) || ctx.rng.chance(0.5)) out[name] = valueFor(sub, ctx, name, depth + 1);
      }
      return out;
    }
    case 'array': {
      const min = num(s.minItems) ?? 1;
      const max = Math.max(min, Math.min(num(s.maxItems) ?? 2, min + 2));
      const n = ctx.rng.between(min, max);
      return Array.from({ length: n }, () => valueFor(s.items, ctx, key, depth + 1));
    }
    case 'integer': {
      const lo = Math.ceil(num(s.minimum) ?? (num(s.exclusiveMinimum) ?? 0) + 1);
      const hi = Math.floor(num(s.maximum) ?? (num(s.exclusiveMaximum) ?? lo + 100) - 1);
      return hi < lo ? lo : ctx.rng.between(lo, hi);
    }
    case 'number': {
      const lo = num(s.minimum) ?? num(s.exclusiveMinimum) ?? 0;
      const hi = num(s.maximum) ?? num(s.exclusiveMaximum) ?? lo + 100;
      return Math.round((lo + ctx.rng.next() * Math.max(0, hi - lo)) * 100) / 100;
    }
    case 'boolean':
      return ctx.rng.chance(0.5);
    case 'null':
      return null;
    default:
      return stringFor(s, ctx, key);
  }
}

function stringFor(s: Record<string, unknown>, ctx: SchemaContext, key: string): string {
  const r = ctx.rng;
  const k = key.toLowerCase();
  const day = `2025-${String(r.between(1, 12)).padStart(2, '0')}-${String(r.between(1, 28)).padStart(2, '0')}`;
  let v: string;
  switch (s.format) {
    case 'date':
      v = day;
      break;
    case 'date-time':
      v = `${day}T${String(r.between(0, 23)).padStart(2, '0')}:${String(r.between(0, 59)).padStart(2, '0')}:00Z`;
      break;
    case 'email':
      v = `${r.pick(AGENTS.nouns)}@harbor.example`;
      break;
    case 'uri':
    case 'url':
      v = `https://harbor.example/${r.pick(OBJECTS).noun}`;
      break;
    case 'uuid':
      v = digest([String(r.next())])
        .slice(0, 32)
        .replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-');
      break;
    default:
      if (/city|town|location|place|port|destination|origin|country|region|name/.test(k)) {
        v = ctx.names.length > 0 ? r.pick(ctx.names) : r.pick(PLACES);
      } else if (/query|question|prompt|text|message|input|search|^q$/.test(k)) {
        v = ctx.userText ? brief(ctx.userText, 80) : `${r.pick(WEATHER.adjs)} ${r.pick(WEATHER.nouns)}`;
      } else if (ctx.prose !== undefined && /answer|summary|content|description|body|reply/.test(k)) {
        v = ctx.prose;
      } else if (/date/.test(k)) {
        v = day;
      } else if (/(^|_)id$|Id$/.test(key)) {
        v = `sim_${digest([String(r.next())]).slice(0, 12)}`;
      } else {
        const obj = r.pick(OBJECTS);
        v = `${r.pick(obj.adjs)} ${obj.noun}`;
      }
  }
  const minLength = num(s.minLength);
  const maxLength = num(s.maxLength);
  if (minLength !== undefined && v.length < minLength) v = v.padEnd(minLength, '.');
  if (maxLength !== undefined && v.length > maxLength) v = v.slice(0, maxLength);
  return v;
}

// ---------------------------------------------------------------------------------------------------------
// Prose. A tiny grammar over a harbour-and-weather vocabulary: enough variety to read as sentences, exact
// control over the token count, and every sentence ends cleanly when the answer is not cut short.

interface Category {
  nouns: readonly string[];
  adjs: readonly string[];
  verbs: readonly string[];
  advs: readonly string[];
}

const WEATHER: Category = {
  nouns: [
    'fog',
    'wind',
    'tide',
    'swell',
    'squall',
    'sky',
    'sea',
    'rain',
    'current',
    'storm',
    'front',
    'mist',
  ],
  adjs: ['grey', 'cold', 'northern', 'restless', 'heavy', 'thin', 'late', 'steady', 'quiet', 'western'],
  verbs: [
    'lifted',
    'eased',
    'turned',
    'settled',
    'cleared',
    'shifted',
    'calmed',
    'passed',
    'returned',
    'faded',
  ],
  advs: ['slowly', 'again', 'overnight', 'early', 'steadily', 'briefly', 'gradually'],
};

const SHIPS: Category = {
  nouns: ['hull', 'keel', 'mast', 'ship', 'schooner', 'ferry', 'trawler', 'cutter', 'tug', 'beacon'],
  adjs: ['old', 'sturdy', 'patched', 'weathered', 'trusted', 'small', 'second', 'backup'],
  verbs: ['held', 'creaked', 'swayed', 'rolled', 'drifted', 'settled', 'answered', 'endured', 'recovered'],
  advs: ['firmly', 'again', 'quietly', 'steadily', 'gently', 'reliably'],
};

const AGENTS: Category = {
  nouns: [
    'captain',
    'crew',
    'navigator',
    'pilot',
    'lookout',
    'engineer',
    'helmsman',
    'keeper',
    'mate',
    'bosun',
  ],
  adjs: ['tired', 'careful', 'patient', 'young', 'calm', 'watchful', 'seasoned', 'steady'],
  verbs: ['waited', 'listened', 'rested', 'adjusted', 'prepared', 'paused', 'watched', 'persisted'],
  advs: ['again', 'carefully', 'quietly', 'calmly', 'patiently', 'briefly'],
};

interface ObjectWord {
  noun: string;
  adjs: readonly string[];
  verbs: readonly string[];
}

const OBJECTS: readonly ObjectWord[] = [
  {
    noun: 'sails',
    adjs: ['torn', 'spare', 'main', 'heavy'],
    verbs: ['trimmed', 'reefed', 'mended', 'raised', 'lowered'],
  },
  {
    noun: 'rigging',
    adjs: ['old', 'iced', 'new', 'loose'],
    verbs: ['checked', 'tightened', 'inspected', 'repaired'],
  },
  {
    noun: 'anchor',
    adjs: ['spare', 'heavy', 'second', 'main'],
    verbs: ['raised', 'lowered', 'secured', 'checked'],
  },
  {
    noun: 'lantern',
    adjs: ['brass', 'spare', 'storm', 'old'],
    verbs: ['lit', 'cleaned', 'trimmed', 'checked'],
  },
  {
    noun: 'charts',
    adjs: ['old', 'new', 'coastal', 'tidal'],
    verbs: ['studied', 'updated', 'checked', 'unrolled'],
  },
  {
    noun: 'compass',
    adjs: ['brass', 'spare', 'old', 'main'],
    verbs: ['checked', 'read', 'trusted', 'calibrated'],
  },
  {
    noun: 'hatches',
    adjs: ['forward', 'aft', 'cargo', 'main'],
    verbs: ['secured', 'sealed', 'checked', 'closed'],
  },
  {
    noun: 'rudder',
    adjs: ['main', 'spare', 'damaged', 'old'],
    verbs: ['tested', 'repaired', 'inspected', 'freed'],
  },
  {
    noun: 'pumps',
    adjs: ['bilge', 'backup', 'spare', 'main'],
    verbs: ['tested', 'primed', 'repaired', 'started'],
  },
  {
    noun: 'radio',
    adjs: ['backup', 'spare', 'old', 'main'],
    verbs: ['tested', 'repaired', 'tuned', 'checked'],
  },
  {
    noun: 'moorings',
    adjs: ['stern', 'bow', 'spare', 'old'],
    verbs: ['doubled', 'checked', 'secured', 'tightened'],
  },
  {
    noun: 'course',
    adjs: ['safe', 'new', 'northern', 'planned'],
    verbs: ['plotted', 'held', 'corrected', 'logged'],
  },
  {
    noun: 'logbook',
    adjs: ['ship', 'daily', 'old', 'open'],
    verbs: ['updated', 'signed', 'checked', 'read'],
  },
  {
    noun: 'barometer',
    adjs: ['brass', 'old', 'cabin', 'falling'],
    verbs: ['tapped', 'read', 'watched', 'checked'],
  },
  {
    noun: 'generator',
    adjs: ['backup', 'spare', 'diesel', 'main'],
    verbs: ['tested', 'started', 'serviced', 'refuelled'],
  },
  {
    noun: 'lines',
    adjs: ['mooring', 'spare', 'wet', 'heavy'],
    verbs: ['coiled', 'secured', 'doubled', 'checked'],
  },
];

const PHRASES = [
  'through the night',
  'near the harbor',
  'along the coast',
  'past the headland',
  'across the channel',
  'before the storm',
  'after the squall',
  'beyond the breakwater',
  'toward the lighthouse',
  'under heavy clouds',
  'in the lee',
  'off the point',
  'during the watch',
  'despite the swell',
  'with the tide',
  'at first light',
].map((p) => p.split(' '));

const OPENERS = ['Meanwhile', 'Later', 'Soon', 'Still', 'Afterwards', 'Fortunately', 'Eventually', 'Happily'];
const CONNECTORS = ['and', 'but', 'so', 'while'];
const ONE_WORD = ['Understood.', 'Aye.', 'Steady.', 'Clear.', 'Ready.', 'Noted.'];
const TWO_WORDS = [
  ['Seas', 'calm.'],
  ['Skies', 'clear.'],
  ['Winds', 'light.'],
  ['Decks', 'dry.'],
  ['All', 'secure.'],
  ['Course', 'held.'],
];

/** A clause of exactly `c` words (3 ≤ c ≤ 14), without final punctuation. */
function clause(r: Rng, c: number): string[] {
  const transitive = c > 11 || (c >= 5 && r.chance(0.55));
  const base = transitive ? 5 : 3;
  const optional = transitive ? ['subjectAdj', 'objectAdj', 'adverb'] : ['subjectAdj', 'adverb'];
  const rem = c - base;
  // How many three-word phrases, so the one-word extras can make up the exact count.
  const phraseCounts = [0, 1, 2].filter((p) => rem - 3 * p >= 0 && rem - 3 * p <= optional.length);
  const phrases = r.pick(phraseCounts);
  const extras = new Set(shuffled(r, optional).slice(0, rem - 3 * phrases));

  const cat = transitive ? AGENTS : r.pick([WEATHER, SHIPS, AGENTS]);
  const words = ['the'];
  if (extras.has('subjectAdj')) words.push(r.pick(cat.adjs));
  words.push(r.pick(cat.nouns));
  if (transitive) {
    const obj = r.pick(OBJECTS);
    words.push(r.pick(obj.verbs), 'the');
    if (extras.has('objectAdj')) words.push(r.pick(obj.adjs));
    words.push(obj.noun);
  } else {
    words.push(r.pick(cat.verbs));
  }
  if (extras.has('adverb')) words.push(r.pick(cat.advs));
  for (const phrase of shuffled(r, PHRASES).slice(0, phrases)) words.push(...phrase);
  return words;
}

/** A sentence of exactly `k` tokens (k ≥ 4), the final '.' included. */
function sentence(r: Rng, k: number): string[] {
  let body = k - 1;
  const words: string[] = [];
  if (body >= 5 && r.chance(0.2)) {
    words.push(r.pick(OPENERS), ',');
    body -= 2;
  }
  if (body > 14 || (body >= 8 && r.chance(0.4))) {
    const c1 = r.between(Math.max(3, body - 16), Math.min(14, body - 5));
    words.push(...clause(r, c1), ',', r.pick(CONNECTORS), ...clause(r, body - 2 - c1));
  } else {
    words.push(...clause(r, body));
  }
  words.push('.');
  return words;
}

function shuffled<T>(r: Rng, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/**
 * Exactly `count` tokens of prose. Sentence i depends only on (seed, i), so answers of different lengths
 * share their opening sentences.
 */
function sentences(seed: string, count: number, first: boolean): string[] {
  const out: string[] = [];
  let rem = count;
  let i = 0;
  let atStart = first;
  while (rem > 0) {
    let words: string[];
    if (rem < 4) {
      const r = rngFor(seed, 'short', rem);
      if (rem === 1) words = [r.pick(ONE_WORD)];
      else if (rem === 2) words = [...r.pick(TWO_WORDS)];
      else words = ['the', r.pick(WEATHER.nouns), `${r.pick(WEATHER.verbs)}.`];
    } else {
      const natural = rngFor(seed, 'length', i).between(6, 16);
      words = sentence(rngFor(seed, 'sentence', i), rem - natural >= 4 ? natural : rem);
    }
    words.forEach((w, j) => {
      if (w === '.' || w === ',') out.push(w);
      else if (j === 0) out.push(`${atStart ? '' : i > 0 && i % 4 === 0 ? '\n\n' : ' '}${capitalize(w)}`);
      else out.push(` ${w}`);
    });
    atStart = false;
    rem -= words.length;
    i++;
  }
  return out;
}

function capitalize(w: string): string {
  return w.charAt(0).toUpperCase() + w.slice(1);
}

// ---------------------------------------------------------------------------------------------------------
// Conversation identity, tokens, usage

function normalizeWs(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

function canonicalJson(raw: string): string {
  try {
    return JSON.stringify(sortKeys(JSON.parse(raw)));
  } catch {
    return normalizeWs(raw);
  }
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  const rec = asRecord(v);
  if (!rec) return v;
  return Object.fromEntries(
    Object.keys(rec)
      .sort()
      .map((k) => [k, sortKeys(rec[k])]),
  );
}

function imageKey(src: ImageSource): string {
  if (src.kind === 'base64') return digest([src.mediaType, src.data]);
  const m = /^data:([^;,]+);base64,(.*)$/s.exec(src.url);
  return m ? digest([m[1] ?? '', m[2] ?? '']) : src.url;
}

/**
 * The parts of a conversation that identify it, in a form both wires agree on. Whitespace, text-part
 * boundaries, consecutive same-role messages, tool-call ids and error flags are left out, because the
 * OpenAI and Anthropic formats (and the adapters converting between them) do not preserve them alike.
 */
export function conversationKey(messages: readonly Message[]): string[] {
  const out: string[] = [];
  let role: string | undefined;
  let text = '';
  const flush = (): void => {
    const t = normalizeWs(text);
    if (t) out.push(`t:${t}`);
    text = '';
  };
  for (const m of messages) {
    if (m.role !== role) {
      flush();
      out.push(`@${m.role}`);
      role = m.role;
    }
    for (const part of m.content) {
      if (part.type === 'text') {
        text += ` ${part.text}`;
        continue;
      }
      flush();
      if (part.type === 'image') out.push(`i:${imageKey(part.source)}`);
      else if (part.type === 'tool_call') out.push(`c:${part.name}:${canonicalJson(part.arguments)}`);
      else out.push(`r:${normalizeWs(part.content.map((c) => (c.type === 'text' ? c.text : '')).join(' '))}`);
    }
  }
  flush();
  return out;
}

/** A stable seed (hex) for a conversation. */
export function conversationSeed(messages: readonly Message[]): string {
  return digest(conversationKey(messages));
}

const TOKEN_RE = /\s*[\p{L}\p{N}_]+|\s*[^\s\p{L}\p{N}_]|\s+/gu;

/** Splits any text into word-ish tokens (leading whitespace kept); the tokens concatenate to the input. */
export function tokenize(text: string): string[] {
  return text.match(TOKEN_RE) ?? [];
}

/** The tokens of an answer after its first `offset` characters (the first one may start mid-word). */
function tokensAfter(tokens: readonly string[], offset: number): string[] {
  const out: string[] = [];
  let pos = 0;
  for (const t of tokens) {
    const end = pos + t.length;
    if (end > offset) out.push(pos >= offset ? t : t.slice(offset - pos));
    pos = end;
  }
  return out;
}

function firstStop(text: string, stops: readonly string[]): { index: number; sequence: string } | undefined {
  let best: { index: number; sequence: string } | undefined;
  for (const sequence of stops) {
    if (!sequence) continue;
    const index = text.indexOf(sequence);
    if (index !== -1 && (best === undefined || index < best.index)) best = { index, sequence };
  }
  return best;
}

function truncateAt(tokens: readonly string[], chars: number): string[] {
  const out: string[] = [];
  let pos = 0;
  for (const t of tokens) {
    if (pos >= chars) break;
    out.push(t.slice(0, chars - pos));
    pos += t.length;
  }
  return out;
}

/** Roughly four characters a token, as providers' rules of thumb go; an image counts as 85 tokens. */
export function estimateInputTokens(req: ChatRequest): number {
  let chars = 0;
  let images = 0;
  for (const m of req.messages) {
    for (const p of m.content) {
      if (p.type === 'text') chars += p.text.length;
      else if (p.type === 'image') images++;
      else if (p.type === 'tool_call') chars += p.name.length + canonicalJson(p.arguments).length;
      else {
        for (const c of p.content) {
          if (c.type === 'text') chars += c.text.length;
          else images++;
        }
      }
    }
  }
  for (const t of req.tools ?? []) {
    chars += t.name.length + (t.description?.length ?? 0) + JSON.stringify(t.parameters).length;
  }
  return Math.max(1, Math.ceil(chars / 4)) + images * 85;
}
