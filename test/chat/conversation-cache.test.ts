import { describe, expect, it } from 'vitest';
import { ConversationCache } from '../../src/chat/conversations/cache.ts';
import type { ConversationRecord, MessageRecord } from '../../src/chat/conversations/store.ts';

/** The chat store's memory for PostgreSQL outages (docs/postgres-outage.md): bounds and freshness. */

const conv = (id: string): ConversationRecord => ({
  id,
  userId: 'u',
  characterId: null,
  title: 't',
  model: 'm',
  persona: null,
  currentLeafId: null,
  createdAt: new Date(0),
  updatedAt: new Date(0),
});

const msg = (id: string, convId: string, content: string, at: number): MessageRecord => ({
  id,
  conversationId: convId,
  parentId: null,
  role: 'user',
  content,
  status: 'complete',
  meta: {},
  createdAt: new Date(at),
});

describe('conversation cache', () => {
  it('keeps within its text bound, least recently used out, never a conversation with buffered writes', () => {
    const c = new ConversationCache(100, 1_000);
    c.created(conv('a'), [msg('a1', 'a', 'x'.repeat(400), 1)]);
    const unpin = c.pin('a');
    c.created(conv('b'), [msg('b1', 'b', 'x'.repeat(400), 1)]);
    c.created(conv('c'), [msg('c1', 'c', 'x'.repeat(400), 1)]);
    // a is oldest but pinned: b goes.
    expect(c.has('a')).toBe(true);
    expect(c.has('b')).toBe(false);
    expect(c.has('c')).toBe(true);
    expect(c.chars).toBe(800);
    unpin();
    c.addChunks('c1', [{ seq: 1, text: 'y'.repeat(300) }]);
    expect(c.has('a')).toBe(false);
    expect(c.chars).toBe(700);
  });

  it('ignores a database read that started before a local write', () => {
    const c = new ConversationCache();
    c.created(conv('a'), [msg('a1', 'a', 'hello', 1)]);
    const before = c.version('a');
    c.added('a', [msg('a2', 'a', 'newer', 2)], [['key-1', 'a2']], 'a2', new Date(2));
    c.fillMessages('a', [{ message: msg('a1', 'a', 'hello', 1), idempotencyKey: null }], before);
    expect(c.messages('a')?.map((m) => m.id)).toEqual(['a1', 'a2']);
    expect(c.keyed('a', 'key-1')).toBe('a2');
    expect(c.conversation('a')?.currentLeafId).toBe('a2');
    expect(c.lastSeq('a2')).toBe(0);
    c.fillMessages(
      'a',
      [{ message: msg('a1', 'a', 'edited elsewhere', 1), idempotencyKey: null }],
      c.version('a'),
    );
    expect(c.messages('a')?.map((m) => m.content)).toEqual(['edited elsewhere']);
  });
});
