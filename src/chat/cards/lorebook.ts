import type { CharacterBook, LorebookEntry, LorebookPosition } from './character.ts';

/**
 * Lorebook (`character_book`) activation: which entries to inject for the current conversation, and where.
 * Pure: the conversation text and a token counter come in, a selection goes out.
 */

export const DEFAULT_SCAN_DEPTH = 4;
export const DEFAULT_MAX_RECURSION = 3;

export interface LorebookScanOptions {
  /** Conversation messages, oldest first; only the last `scanDepth` are scanned. */
  messages: readonly string[];
  countTokens: (text: string) => number;
  /** Overrides the book's `scan_depth` (default DEFAULT_SCAN_DEPTH). */
  scanDepth?: number;
  /** Overrides the book's `token_budget` (default: unlimited). */
  tokenBudget?: number;
  /** Overrides the book's `recursive_scanning` (default false). */
  recursiveScanning?: boolean;
  /** How many rounds activated content may trigger further entries. */
  maxRecursionDepth?: number;
  /**
   * Keys must match whole words (so "cat" does not fire on "concatenate"), except next to characters of
   * scripts written without spaces. An entry's `extensions.match_whole_words` boolean overrides this.
   * Default true.
   */
  matchWholeWords?: boolean;
  /**
   * Matches a `use_regex` key. Card regexes are untrusted and JavaScript's engine backtracks, so without a
   * matcher (e.g. one backed by a linear-time engine) regex entries only activate as constants.
   */
  matchRegex?: (pattern: string, text: string, caseSensitive: boolean) => boolean;
}

export type ActivationReason = 'constant' | 'keyword' | 'recursion';

export interface ActivatedEntry {
  entry: LorebookEntry;
  /** Index in `book.entries`, a stable id when the entry has none. */
  index: number;
  reason: ActivationReason;
  position: LorebookPosition;
  tokens: number;
}

export interface LorebookSelection {
  /** Injected entries in insertion order (lowest `insertion_order` first). */
  entries: ActivatedEntry[];
  beforeChar: ActivatedEntry[];
  afterChar: ActivatedEntry[];
  /** Activated but left out because the token budget ran out. */
  droppedForBudget: ActivatedEntry[];
  tokensUsed: number;
}

const EMPTY: LorebookSelection = {
  entries: [],
  beforeChar: [],
  afterChar: [],
  droppedForBudget: [],
  tokensUsed: 0,
};

export function selectLorebookEntries(
  book: CharacterBook | null,
  opts: LorebookScanOptions,
): LorebookSelection {
  if (!book) return EMPTY;
  const depth = opts.scanDepth ?? book.scanDepth ?? DEFAULT_SCAN_DEPTH;
  const scanText = depth > 0 ? opts.messages.slice(-depth).join('\n') : '';
  const candidates = book.entries
    .map((entry, index) => ({ entry, index }))
    .filter(({ entry }) => entry.enabled && entry.content.trim() !== '');

  const reasons = new Map<number, ActivationReason>();
  for (const { entry, index } of candidates) if (entry.constant) reasons.set(index, 'constant');
  let fresh = activate(candidates, reasons, new ScanText(scanText), 'keyword', opts);

  if (opts.recursiveScanning ?? book.recursiveScanning ?? false) {
    // Constants' content counts as activated text too; each round scans only what the previous one added.
    let added = [...candidates.filter(({ index }) => reasons.get(index) === 'constant'), ...fresh];
    for (
      let round = 0;
      round < (opts.maxRecursionDepth ?? DEFAULT_MAX_RECURSION) && added.length > 0;
      round++
    ) {
      const text = new ScanText(added.map(({ entry }) => entry.content).join('\n'));
      fresh = activate(candidates, reasons, text, 'recursion', opts);
      added = fresh;
    }
  }

  const activated: ActivatedEntry[] = candidates
    .filter(({ index }) => reasons.has(index))
    .map(({ entry, index }) => ({
      entry,
      index,
      reason: reasons.get(index)!,
      position: entry.position ?? 'before_char',
      tokens: opts.countTokens(entry.content),
    }));
  return applyBudget(activated, opts.tokenBudget ?? book.tokenBudget ?? Number.POSITIVE_INFINITY);
}

type Candidate = { entry: LorebookEntry; index: number };

function activate(
  candidates: readonly Candidate[],
  reasons: Map<number, ActivationReason>,
  text: ScanText,
  reason: ActivationReason,
  opts: LorebookScanOptions,
): Candidate[] {
  const fresh: Candidate[] = [];
  for (const c of candidates) {
    if (reasons.has(c.index) || !entryMatches(c.entry, text, opts)) continue;
    reasons.set(c.index, reason);
    fresh.push(c);
  }
  return fresh;
}

/**
 * Keeps entries in rank order while they fit: constants first, then higher `priority` (the spec drops lower
 * priority first), direct keyword hits before recursive ones, then insertion order. An entry too big for
 * what is left is skipped, not the end of the walk, so smaller ones after it still get in.
 */
function applyBudget(activated: ActivatedEntry[], budget: number): LorebookSelection {
  const claim = (a: ActivatedEntry): number => (a.reason === 'constant' ? 0 : 1);
  const indirect = (a: ActivatedEntry): number => (a.reason === 'recursion' ? 1 : 0);
  const ranked = [...activated].sort(
    (a, b) =>
      claim(a) - claim(b) ||
      (b.entry.priority ?? 0) - (a.entry.priority ?? 0) ||
      indirect(a) - indirect(b) ||
      a.entry.insertionOrder - b.entry.insertionOrder ||
      a.index - b.index,
  );
  const kept = new Set<ActivatedEntry>();
  const dropped: ActivatedEntry[] = [];
  let used = 0;
  for (const a of ranked) {
    if (used + a.tokens <= budget) {
      kept.add(a);
      used += a.tokens;
    } else {
      dropped.push(a);
    }
  }
  const entries = activated
    .filter((a) => kept.has(a))
    .sort((a, b) => a.entry.insertionOrder - b.entry.insertionOrder || a.index - b.index);
  return {
    entries,
    beforeChar: entries.filter((a) => a.position === 'before_char'),
    afterChar: entries.filter((a) => a.position === 'after_char'),
    droppedForBudget: dropped,
    tokensUsed: used,
  };
}

function entryMatches(entry: LorebookEntry, text: ScanText, opts: LorebookScanOptions): boolean {
  if (!anyKeyMatches(entry.keys, entry, text, opts)) return false;
  const secondary = entry.secondaryKeys ?? [];
  return !entry.selective || secondary.length === 0 || anyKeyMatches(secondary, entry, text, opts);
}

function anyKeyMatches(
  keys: readonly string[],
  entry: LorebookEntry,
  text: ScanText,
  opts: LorebookScanOptions,
) {
  const caseSensitive = entry.caseSensitive ?? false;
  const perEntry = entry.extensions.match_whole_words;
  const wholeWords = typeof perEntry === 'boolean' ? perEntry : (opts.matchWholeWords ?? true);
  for (const raw of keys) {
    const key = raw.trim();
    if (key === '') continue; // An empty key would match every message.
    if (entry.useRegex) {
      if (opts.matchRegex?.(key, text.original, caseSensitive)) return true;
    } else if (text.contains(key, caseSensitive, wholeWords)) {
      return true;
    }
  }
  return false;
}

// Letters of scripts written without spaces between words never form a word boundary, so whole-word
// matching still finds 猫 in 黒猫が.
const WORD_CHAR = /[\p{L}\p{N}_]/u;
const UNSPACED =
  /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}]/u;

function isSpacedWordChar(ch: string | undefined): boolean {
  return ch !== undefined && WORD_CHAR.test(ch) && !UNSPACED.test(ch);
}

/** Text to scan, lower-cased once rather than once per key. */
class ScanText {
  readonly original: string;
  private lowered: string | undefined;

  constructor(original: string) {
    this.original = original;
  }

  contains(key: string, caseSensitive: boolean, wholeWords: boolean): boolean {
    if (!caseSensitive && this.lowered === undefined) this.lowered = this.original.toLowerCase();
    const hay = caseSensitive ? this.original : this.lowered!;
    const needle = caseSensitive ? key : key.toLowerCase();
    if (!wholeWords) return hay.includes(needle);
    const first = String.fromCodePoint(needle.codePointAt(0)!);
    const last = lastChar(needle, needle.length);
    for (let at = hay.indexOf(needle); at !== -1; at = hay.indexOf(needle, at + 1)) {
      const before = lastChar(hay, at);
      const afterCode = hay.codePointAt(at + needle.length);
      const after = afterCode === undefined ? undefined : String.fromCodePoint(afterCode);
      const startOk = !(isSpacedWordChar(first) && isSpacedWordChar(before));
      const endOk = !(isSpacedWordChar(last) && isSpacedWordChar(after));
      if (startOk && endOk) return true;
    }
    return false;
  }
}

/** The code point ending just before `end`, surrogate pairs included. */
function lastChar(s: string, end: number): string | undefined {
  if (end <= 0) return undefined;
  const low = s.charCodeAt(end - 1);
  const start = low >= 0xdc00 && low <= 0xdfff && end >= 2 ? end - 2 : end - 1;
  return String.fromCodePoint(s.codePointAt(start)!);
}
