import { describe, expect, it } from 'vitest';
import { type LorebookScanOptions, selectLorebookEntries } from '../../../src/chat/cards/index.ts';
import { book, countWords, entry } from './fixtures.ts';

const scan = (
  b: Parameters<typeof selectLorebookEntries>[0],
  messages: string[],
  over: Partial<LorebookScanOptions> = {},
) => selectLorebookEntries(b, { messages, countTokens: countWords, ...over });
const names = (sel: ReturnType<typeof scan>) => sel.entries.map((a) => a.entry.name);

describe('selectLorebookEntries', () => {
  it('returns nothing for no book', () => {
    expect(scan(null, ['dragon']).entries).toEqual([]);
  });

  it('activates entries whose key appears, case-insensitively by default', () => {
    const b = book([entry({ name: 'dragon', keys: ['dragon'] }), entry({ name: 'elf', keys: ['elf'] })]);
    const sel = scan(b, ['A DRAGON appears!']);
    expect(names(sel)).toEqual(['dragon']);
    expect(sel.entries[0]?.reason).toBe('keyword');
  });

  it('honours case_sensitive', () => {
    const b = book([entry({ name: 'Mark', keys: ['Mark'], caseSensitive: true })]);
    expect(names(scan(b, ['put a mark here']))).toEqual([]);
    expect(names(scan(b, ['Mark said hi']))).toEqual(['Mark']);
  });

  it('matches whole words, except in scripts without spaces', () => {
    const b = book([entry({ name: 'cat', keys: ['cat'] }), entry({ name: 'neko', keys: ['猫'] })]);
    expect(names(scan(b, ['concatenate the strings']))).toEqual([]);
    expect(names(scan(b, ['a bobcat']))).toEqual([]);
    expect(names(scan(b, ['catalogue']))).toEqual([]);
    expect(names(scan(b, ['cat']))).toEqual(['cat']);
    expect(names(scan(b, ['the cat, sleeping']))).toEqual(['cat']);
    expect(names(scan(b, ['黒猫がいる']))).toEqual(['neko']);
    expect(names(scan(b, ['concatenate'], { matchWholeWords: false }))).toEqual(['cat']);
    const perEntry = book([entry({ name: 'cat', keys: ['cat'], extensions: { match_whole_words: false } })]);
    expect(names(scan(perEntry, ['concatenate']))).toEqual(['cat']);
  });

  it('only scans the last scan_depth messages', () => {
    const b = book([entry({ name: 'old', keys: ['lighthouse'] })], { scanDepth: 2 });
    const history = ['the lighthouse', 'something', 'else'];
    expect(names(scan(b, history))).toEqual([]);
    expect(names(scan(b, history, { scanDepth: 3 }))).toEqual(['old']);
    expect(names(scan(b, history, { scanDepth: 0 }))).toEqual([]);
  });

  it('needs a secondary key too when selective', () => {
    const b = book([
      entry({ name: 'sel', keys: ['king'], selective: true, secondaryKeys: ['crown', 'throne'] }),
    ]);
    expect(names(scan(b, ['the king walks']))).toEqual([]);
    expect(names(scan(b, ['the king sits on the throne']))).toEqual(['sel']);
    expect(names(scan(b, ['a throne, empty']))).toEqual([]);
    // Secondary keys are ignored unless the entry is selective.
    const loose = book([entry({ name: 'loose', keys: ['king'], secondaryKeys: ['crown'] })]);
    expect(names(scan(loose, ['the king']))).toEqual(['loose']);
  });

  it('always includes constant entries and never disabled ones', () => {
    const b = book([
      entry({ name: 'always', keys: [], constant: true }),
      entry({ name: 'off', keys: ['dragon'], enabled: false }),
      entry({ name: 'off-constant', keys: [], constant: true, enabled: false }),
    ]);
    const sel = scan(b, ['dragon']);
    expect(names(sel)).toEqual(['always']);
    expect(sel.entries[0]?.reason).toBe('constant');
  });

  it('ignores empty keys and entries with no content', () => {
    const b = book([
      entry({ name: 'blank-key', keys: ['', '  '] }),
      entry({ name: 'empty', keys: ['x'], content: ' ' }),
    ]);
    expect(names(scan(b, ['anything x']))).toEqual([]);
  });

  it('orders by insertion_order and splits by position', () => {
    const b = book([
      entry({ name: 'c', keys: ['go'], insertionOrder: 30, position: 'after_char' }),
      entry({ name: 'a', keys: ['go'], insertionOrder: 10 }),
      entry({ name: 'b', keys: ['go'], insertionOrder: 20, position: 'after_char' }),
    ]);
    const sel = scan(b, ['go']);
    expect(names(sel)).toEqual(['a', 'b', 'c']);
    expect(sel.beforeChar.map((a) => a.entry.name)).toEqual(['a']);
    expect(sel.afterChar.map((a) => a.entry.name)).toEqual(['b', 'c']);
  });

  it('keeps within the token budget, dropping lower priority first and skipping what does not fit', () => {
    const b = book(
      [
        entry({ name: 'low', keys: ['go'], content: 'one two three', priority: 1, insertionOrder: 1 }),
        entry({ name: 'high', keys: ['go'], content: 'one two three four', priority: 10, insertionOrder: 2 }),
        entry({ name: 'tiny', keys: ['go'], content: 'one', priority: 0, insertionOrder: 3 }),
      ],
      { tokenBudget: 6 },
    );
    const sel = scan(b, ['go']);
    expect(names(sel)).toEqual(['high', 'tiny']);
    expect(sel.tokensUsed).toBe(5);
    expect(sel.droppedForBudget.map((a) => a.entry.name)).toEqual(['low']);
    expect(names(scan(b, ['go'], { tokenBudget: 100 }))).toEqual(['low', 'high', 'tiny']);
  });

  it('prefers direct keyword hits to recursive ones when the budget is tight', () => {
    const b = book(
      [
        entry({ name: 'via-recursion', keys: ['bravo'], content: 'one two', insertionOrder: 1 }),
        entry({ name: 'direct', keys: ['alpha'], content: 'says bravo', insertionOrder: 2 }),
      ],
      { recursiveScanning: true, tokenBudget: 2 },
    );
    expect(names(scan(b, ['alpha']))).toEqual(['direct']);
    expect(names(scan(b, ['alpha'], { tokenBudget: 4 }))).toEqual(['via-recursion', 'direct']);
  });

  it('gives constant entries first claim on the budget', () => {
    const b = book(
      [
        entry({ name: 'key', keys: ['go'], content: 'a b c', priority: 100 }),
        entry({ name: 'const', keys: [], constant: true, content: 'a b c' }),
      ],
      { tokenBudget: 4 },
    );
    expect(names(scan(b, ['go']))).toEqual(['const']);
  });

  it('scans activated content recursively only when enabled, and only so deep', () => {
    const chain = [
      entry({ name: 'A', keys: ['alpha'], content: 'mentions bravo' }),
      entry({ name: 'B', keys: ['bravo'], content: 'mentions charlie' }),
      entry({ name: 'C', keys: ['charlie'], content: 'mentions delta' }),
      entry({ name: 'D', keys: ['delta'], content: 'the end' }),
    ];
    expect(names(scan(book(chain), ['alpha']))).toEqual(['A']);
    const sel = scan(book(chain, { recursiveScanning: true }), ['alpha']);
    expect(names(sel)).toEqual(['A', 'B', 'C', 'D']);
    expect(sel.entries.map((a) => a.reason)).toEqual(['keyword', 'recursion', 'recursion', 'recursion']);
    expect(
      names(scan(book(chain, { recursiveScanning: true }), ['alpha'], { maxRecursionDepth: 1 })),
    ).toEqual(['A', 'B']);
  });

  it('lets constant entries trigger recursion', () => {
    const b = book(
      [
        entry({ name: 'world', keys: [], constant: true, content: 'The capital is Vell.' }),
        entry({ name: 'vell', keys: ['Vell'] }),
      ],
      { recursiveScanning: true },
    );
    expect(names(scan(b, ['hello']))).toEqual(['world', 'vell']);
  });

  it('terminates on entries that trigger each other', () => {
    const b = book(
      [entry({ name: 'x', keys: ['x'], content: 'y' }), entry({ name: 'y', keys: ['y'], content: 'x' })],
      { recursiveScanning: true },
    );
    expect(names(scan(b, ['x']))).toEqual(['x', 'y']);
  });

  it('does not run card regexes unless given a matcher', () => {
    const b = book([entry({ name: 're', keys: ['dra+gon'], useRegex: true })]);
    expect(names(scan(b, ['draaagon']))).toEqual([]);
    const seen: Array<[string, boolean]> = [];
    const matchRegex = (pattern: string, text: string, caseSensitive: boolean) => {
      seen.push([pattern, caseSensitive]);
      return new RegExp(pattern, caseSensitive ? '' : 'i').test(text);
    };
    expect(names(scan(b, ['DRAAAGON'], { matchRegex }))).toEqual(['re']);
    expect(seen).toEqual([['dra+gon', false]]);
  });

  it('reports each entry with its index, position and token count', () => {
    const b = book([
      entry({ keys: ['nope'] }),
      entry({ keys: ['go'], content: 'four words of lore', position: 'after_char' }),
    ]);
    expect(scan(b, ['go']).entries[0]).toMatchObject({
      index: 1,
      position: 'after_char',
      tokens: 4,
      reason: 'keyword',
    });
  });
});
