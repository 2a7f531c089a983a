import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportCardPng, importCard, toCardV2, toCardV3 } from '../../src/chat/cards/index.ts';
import { ChatClient, type Json } from '../helpers/chat-client.ts';
import { ADMIN_KEY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

let t: TestGateway;
let admin: ChatClient;
let alice: ChatClient;

beforeAll(async () => {
  t = await startTestGateway({
    store: { data_dir: 'memory://' },
    models: [
      {
        name: 'slow-sim',
        deployments: [
          {
            id: 'slow-1',
            provider: 'simulator',
            model: 's-1',
            // Slow enough that a reader can attach, leave and come back mid-answer.
            simulator: { dialect: 'openai', ttft_ms: 20, tokens_per_sec: 100, answer_tokens: 60 },
          },
        ],
      },
      {
        // Only the banner test touches it, so it starts operational whatever ran before.
        name: 'banner-sim',
        deployments: [
          { id: 'banner-1', provider: 'simulator', model: 'b', simulator: { ttft_ms: 0, tokens_per_sec: 0 } },
        ],
      },
      {
        name: 'pair',
        deployments: [
          {
            id: 'pair-primary',
            provider: 'simulator',
            model: 'p',
            tier: 0,
            simulator: { dialect: 'openai', ttft_ms: 0, tokens_per_sec: 200, answer_tokens: 40 },
          },
          {
            id: 'pair-backup',
            provider: 'simulator',
            model: 'p',
            tier: 1,
            simulator: { dialect: 'anthropic', ttft_ms: 0, tokens_per_sec: 200, answer_tokens: 40 },
          },
        ],
      },
    ],
  });
  admin = await ChatClient.signUp(t.url, 'Ada');
  alice = await ChatClient.signUp(t.url, 'Alice');
});
afterAll(() => t?.close());

async function newConversation(c: ChatClient, characterId?: string): Promise<Json> {
  const r = await c.call('POST', '/api/conversations', characterId ? { characterId } : {});
  expect(r.status).toBe(201);
  return r.body;
}

async function send(c: ChatClient, convId: string, content: string, key: string, parentId?: string | null) {
  return c.call('POST', `/api/conversations/${convId}/messages`, {
    content,
    idempotencyKey: key,
    ...(parentId !== undefined ? { parentId } : {}),
  });
}

describe('chat API: accounts guard', () => {
  it('refuses without a session, and refuses a state change without the CSRF token', async () => {
    const anon = new ChatClient(t.url);
    const r = await anon.call('GET', '/api/conversations');
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('unauthorized');
    const noCsrf = await fetch(`${t.url}/api/conversations`, {
      method: 'POST',
      headers: { cookie: alice.cookie, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(noCsrf.status).toBe(403);
    expect(((await noCsrf.json()) as Json).error.code).toBe('csrf_failed');
  });

  it('answers unknown API paths with the chat error shape', async () => {
    const r = await alice.call('GET', '/api/nothing-here');
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('not_found');
  });
});

describe('chat API: characters', () => {
  it('lists the shipped characters to everyone', async () => {
    const r = await alice.call('GET', '/api/characters');
    expect(r.status).toBe(200);
    const shipped = r.body.characters.filter((c: Json) => c.shipped);
    expect(shipped.length).toBeGreaterThanOrEqual(3);
    expect(shipped.every((c: Json) => c.mine === false && typeof c.name === 'string')).toBe(true);
  });

  it('creates, edits and deletes a character; only its owner may', async () => {
    const created = await alice.call('POST', '/api/characters', {
      character: { name: 'Quill', description: 'A careful scribe.', greeting: 'Ink ready, {{user}}.' },
    });
    expect(created.status).toBe(201);
    expect(created.body.character).toMatchObject({ name: 'Quill', greeting: 'Ink ready, {{user}}.' });
    const id = created.body.id;
    const other = await ChatClient.signUp(t.url, 'Bob');
    expect((await other.call('GET', `/api/characters/${id}`)).status).toBe(404);
    expect((await other.call('PUT', `/api/characters/${id}`, { character: { name: 'X' } })).status).toBe(404);
    const edited = await alice.call('PUT', `/api/characters/${id}`, {
      character: { ...created.body.character, personality: 'precise' },
    });
    expect(edited.status).toBe(200);
    expect(edited.body.character.personality).toBe('precise');
    expect((await alice.call('DELETE', `/api/characters/${id}`)).status).toBe(204);
    expect((await alice.call('GET', `/api/characters/${id}`)).status).toBe(404);
  });

  it('lets only an admin edit a shipped character', async () => {
    const shipped = (await alice.call('GET', '/api/characters')).body.characters.find((c: Json) => c.shipped);
    const full = (await alice.call('GET', `/api/characters/${shipped.id}`)).body.character;
    const denied = await alice.call('PUT', `/api/characters/${shipped.id}`, { character: full });
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe('forbidden');
    const ok = await admin.call('PUT', `/api/characters/${shipped.id}`, { character: full });
    expect(ok.status).toBe(200);
  });

  it('rejects a character with a bad field, naming it', async () => {
    const r = await alice.call('POST', '/api/characters', { character: { name: 'Y', tags: 'not-a-list' } });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_request');
    expect(r.body.error.message).toContain('tags');
  });

  it('imports V2 and V3 JSON and PNG cards, and exports them back with unknown extensions intact', async () => {
    const base = (
      await alice.call('POST', '/api/characters', {
        character: {
          name: 'Round Trip',
          description: 'Travels well.',
          extensions: { 'some-frontend': { mood: 'sunny', depth: 3 } },
        },
      })
    ).body.character;
    for (const card of [toCardV2(base), toCardV3(base)]) {
      const imported = await alice.call(
        'POST',
        '/api/characters/import',
        new TextEncoder().encode(JSON.stringify(card)),
        { 'content-type': 'application/json' },
      );
      expect(imported.status).toBe(201);
      expect(imported.body.character.name).toBe('Round Trip');
      expect(imported.body.character.extensions).toEqual({ 'some-frontend': { mood: 'sunny', depth: 3 } });
    }
    const png = exportCardPng(base);
    const fromPng = await alice.call('POST', '/api/characters/import', png, { 'content-type': 'image/png' });
    expect(fromPng.status).toBe(201);
    const id = fromPng.body.id;
    for (const format of ['v2', 'v3']) {
      const out = await alice.call('GET', `/api/characters/${id}/export?format=${format}`);
      expect(out.status).toBe(200);
      expect(out.headers.get('content-disposition')).toContain('attachment');
      expect(out.body.spec).toBe(format === 'v2' ? 'chara_card_v2' : 'chara_card_v3');
      expect(out.body.data.extensions['some-frontend']).toEqual({ mood: 'sunny', depth: 3 });
    }
    const outPng = await alice.call('GET', `/api/characters/${id}/export?format=png`);
    expect(outPng.headers.get('content-type')).toBe('image/png');
    const again = importCard(outPng.body as Uint8Array);
    expect(again.character.name).toBe('Round Trip');
    expect(again.character.extensions).toEqual({ 'some-frontend': { mood: 'sunny', depth: 3 } });
  });

  it('rejects bad cards with card_invalid and a reason', async () => {
    const cases: Array<[Uint8Array, string]> = [
      [new TextEncoder().encode('{"spec":"chara_card_v9","data":{}}'), 'application/json'],
      [
        new TextEncoder().encode('{"spec":"chara_card_v2","data":{"description":"no name"}}'),
        'application/json',
      ],
      [new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]), 'image/png'],
    ];
    for (const [bytes, type] of cases) {
      const r = await alice.call('POST', '/api/characters/import', bytes, { 'content-type': type });
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('card_invalid');
      expect(r.body.error.message.length).toBeGreaterThan(10);
    }
  });
});

describe('chat API: personas', () => {
  it('keeps one default persona, which new conversations use for {{user}}', async () => {
    const c = await ChatClient.signUp(t.url, 'Persona');
    const a = await c.call('POST', '/api/personas', {
      name: 'Captain Ro',
      description: 'A retired captain.',
      isDefault: true,
    });
    expect(a.status).toBe(201);
    const b = await c.call('POST', '/api/personas', { name: 'Deckhand Lu', isDefault: true });
    const list = (await c.call('GET', '/api/personas')).body.personas;
    expect(list.filter((p: Json) => p.isDefault).map((p: Json) => p.name)).toEqual(['Deckhand Lu']);
    const quill = await c.call('POST', '/api/characters', {
      character: { name: 'Quill', greeting: 'Ahoy, {{user}}!' },
    });
    const conv = await c.call('POST', '/api/conversations', { characterId: quill.body.id });
    expect(conv.body.messages[0].content).toBe('Ahoy, Deckhand Lu!');
    const chosen = await c.call('POST', '/api/conversations', {
      characterId: quill.body.id,
      personaId: a.body.id,
    });
    expect(chosen.body.messages[0].content).toBe('Ahoy, Captain Ro!');
    expect(
      (await c.call('PUT', `/api/personas/${b.body.id}`, { name: 'Lu', isDefault: false })).body,
    ).toMatchObject({
      name: 'Lu',
      isDefault: false,
    });
    expect((await c.call('DELETE', `/api/personas/${a.body.id}`)).status).toBe(204);
    expect((await c.call('DELETE', `/api/personas/${a.body.id}`)).status).toBe(404);
    const other = await ChatClient.signUp(t.url, 'Other');
    expect((await other.call('PUT', `/api/personas/${b.body.id}`, { name: 'x' })).status).toBe(404);
  });
});

describe('chat API: conversations and durable answers', () => {
  it('starts a conversation with the character greeting, and answers a message through the gateway', async () => {
    const chars = (await alice.call('GET', '/api/characters')).body.characters;
    const character = chars.find((c: Json) => c.shipped);
    const conv = await newConversation(alice, character.id);
    expect(conv.messages).toHaveLength(1);
    expect(conv.messages[0]).toMatchObject({ role: 'assistant', status: 'complete' });
    expect(conv.messages[0].content).not.toContain('{{user}}');
    const sent = await send(alice, conv.conversation.id, 'Hello! What is the plan today?', 'send-key-0001');
    expect(sent.status).toBe(201);
    expect(sent.body.userMessage).toMatchObject({ role: 'user', parentId: conv.messages[0].id });
    expect(sent.body.assistantMessage.parentId).toBe(sent.body.userMessage.id);
    const s = await alice.stream(sent.body.assistantMessage.id);
    expect(s.done?.status).toBe('complete');
    expect(s.chunks.map((c) => c.seq)).toEqual(s.chunks.map((_, i) => i + 1));
    expect(s.chunks.map((c) => c.text).join('')).toBe(s.done?.content);
    expect(s.done?.content.length).toBeGreaterThan(20);
    const full = await alice.call('GET', `/api/conversations/${conv.conversation.id}`);
    const stored = full.body.messages.find((m: Json) => m.id === sent.body.assistantMessage.id);
    expect(stored).toMatchObject({ status: 'complete', content: s.done?.content });
    expect(stored.meta.model).toBe('slow-sim');
    expect(full.body.conversation.currentLeafId).toBe(stored.id);
    expect(full.body.conversation.context).toMatchObject({ droppedCount: 0 });
  });

  it('never duplicates a message sent twice with one idempotency key, even concurrently', async () => {
    const conv = await newConversation(alice);
    const [a, b] = await Promise.all([
      send(alice, conv.conversation.id, 'only once please', 'dup-key-000001'),
      send(alice, conv.conversation.id, 'only once please', 'dup-key-000001'),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 201]);
    expect(a.body.userMessage.id).toBe(b.body.userMessage.id);
    expect(a.body.assistantMessage.id).toBe(b.body.assistantMessage.id);
    await alice.stream(a.body.assistantMessage.id);
    const later = await send(alice, conv.conversation.id, 'only once please', 'dup-key-000001');
    expect(later.status).toBe(200);
    const all = (await alice.call('GET', `/api/conversations/${conv.conversation.id}`)).body.messages;
    expect(all.filter((m: Json) => m.role === 'user')).toHaveLength(1);
    expect(all.filter((m: Json) => m.role === 'assistant')).toHaveLength(1);
  });

  it('resumes a stream after Last-Event-ID with no gap or duplicate, and a second reader sees the same', async () => {
    const conv = await newConversation(alice);
    const sent = await send(
      alice,
      conv.conversation.id,
      'Tell me a long story about tides.',
      'resume-key-001',
    );
    const id = sent.body.assistantMessage.id;
    const [first, second] = await Promise.all([alice.stream(id, { maxChunks: 5 }), alice.stream(id)]);
    expect(first.chunks).toHaveLength(5);
    const rest = await alice.stream(id, { lastEventId: 5 });
    expect(rest.chunks[0]?.seq).toBe(6);
    const joined = [...first.chunks, ...rest.chunks];
    expect(joined.map((c) => c.seq)).toEqual(joined.map((_, i) => i + 1));
    expect(joined.map((c) => c.text).join('')).toBe(rest.done?.content);
    expect(second.chunks.map((c) => c.text).join('')).toBe(rest.done?.content);
    // After the end, a reader catching up from the middle is served from the database.
    const late = await alice.stream(id, { lastEventId: 3 });
    expect(late.chunks[0]?.seq).toBe(4);
    expect(late.done?.status).toBe('complete');
  });

  it('stop keeps the partial answer as incomplete; continue finishes the same message', async () => {
    const conv = await newConversation(alice);
    const sent = await send(
      alice,
      conv.conversation.id,
      'Please write a very long answer.',
      'stop-key-00001',
    );
    const id = sent.body.assistantMessage.id;
    const head = await alice.stream(id, { maxChunks: 3 });
    expect(head.chunks).toHaveLength(3);
    const stopped = await alice.call('POST', `/api/messages/${id}/stop`);
    expect(stopped.status).toBe(200);
    expect(stopped.body.message.status).toBe('incomplete');
    expect(stopped.body.message.meta.stopped).toBe(true);
    const partial = stopped.body.message.content;
    expect(partial.startsWith(head.chunks.map((c) => c.text).join(''))).toBe(true);
    const cont = await alice.call('POST', `/api/messages/${id}/continue`);
    expect(cont.status).toBe(200);
    const rest = await alice.stream(id, { lastEventId: 0 });
    expect(rest.done?.status).toBe('complete');
    expect(rest.done?.content.startsWith(partial)).toBe(true);
    expect(rest.done?.content.length).toBeGreaterThan(partial.length);
    expect(rest.chunks.map((c) => c.text).join('')).toBe(rest.done?.content);
    const again = await alice.call('POST', `/api/messages/${id}/continue`);
    expect(again.status).toBe(409);
  });

  it('branches: regenerate makes a sibling answer, editing makes a sibling user message', async () => {
    const conv = await newConversation(alice);
    const cid = conv.conversation.id;
    const first = await send(alice, cid, 'Version one', 'branch-key-001');
    await alice.stream(first.body.assistantMessage.id);
    const regen = await alice.call('POST', `/api/messages/${first.body.assistantMessage.id}/regenerate`, {
      idempotencyKey: 'regen-key-0001',
    });
    expect(regen.status).toBe(201);
    expect(regen.body.assistantMessage.parentId).toBe(first.body.userMessage.id);
    await alice.stream(regen.body.assistantMessage.id);
    const sameRegen = await alice.call('POST', `/api/messages/${first.body.assistantMessage.id}/regenerate`, {
      idempotencyKey: 'regen-key-0001',
    });
    expect(sameRegen.status).toBe(200);
    expect(sameRegen.body.assistantMessage.id).toBe(regen.body.assistantMessage.id);
    const edit = await send(alice, cid, 'Version two', 'branch-key-002', first.body.userMessage.parentId);
    expect(edit.body.userMessage.parentId).toBe(first.body.userMessage.parentId);
    await alice.stream(edit.body.assistantMessage.id);
    const tree = (await alice.call('GET', `/api/conversations/${cid}`)).body;
    expect(tree.conversation.currentLeafId).toBe(edit.body.assistantMessage.id);
    const users = tree.messages.filter((m: Json) => m.role === 'user');
    expect(users.map((m: Json) => m.content).sort()).toEqual(['Version one', 'Version two']);
    const switched = await alice.call('PATCH', `/api/conversations/${cid}`, {
      currentLeafId: regen.body.assistantMessage.id,
    });
    expect(switched.body.conversation.currentLeafId).toBe(regen.body.assistantMessage.id);
    const bad = await alice.call('PATCH', `/api/conversations/${cid}`, { currentLeafId: 'msg_not_here' });
    expect(bad.status).toBe(400);
  });

  it('keeps other users out of a conversation', async () => {
    const conv = await newConversation(alice);
    const bob = await ChatClient.signUp(t.url, 'Mallory');
    expect((await bob.call('GET', `/api/conversations/${conv.conversation.id}`)).status).toBe(404);
    expect((await send(bob, conv.conversation.id, 'hi', 'intruder-key-1')).status).toBe(404);
  });

  it('retries by itself after the gateway says retry-after, and says when', async () => {
    const inject = await fetch(`${t.url}/admin/chaos/slow-1`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'rate_limit', retry_after_s: 1, duration_s: 1 }),
    });
    expect(inject.status).toBe(201);
    const conv = await newConversation(alice);
    const sent = await send(alice, conv.conversation.id, 'Are you there?', 'retry-key-0001');
    const s = await alice.stream(sent.body.assistantMessage.id);
    expect(s.statuses.some((x) => typeof x.meta.retryAt === 'number')).toBe(true);
    expect(s.done?.status).toBe('complete');
    expect(s.done?.meta.retryAt).toBeUndefined();
  });
});

describe('chat API: failover', () => {
  it('finishes an answer cut mid-stream on another deployment, and says a backup completed it', async () => {
    const admin = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
    const inject = await fetch(`${t.url}/admin/chaos/pair-primary`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ kind: 'cut', after_tokens: 5, duration_s: 10 }),
    });
    expect(inject.status).toBe(201);
    try {
      const conv = (await alice.call('POST', '/api/conversations', { model: 'pair' })).body.conversation.id;
      const sent = await send(alice, conv, 'Keep going no matter what.', 'failover-key-01');
      const s = await alice.stream(sent.body.assistantMessage.id);
      expect(s.done?.status).toBe('complete');
      expect(s.done?.meta.failedOver).toBe(true);
      expect(s.done?.meta.deployment).toBe('pair-backup');
      expect(s.chunks.map((c) => c.text).join('')).toBe(s.done?.content);
    } finally {
      await fetch(`${t.url}/admin/chaos`, { method: 'DELETE', headers: admin });
    }
  });
});

describe('chat API: reports, status, export', () => {
  it('counts one report per user per window and stores the rest', async () => {
    const c = await ChatClient.signUp(t.url, 'Reporter');
    const a = await c.call('POST', '/api/reports', { category: 'slow', text: 'sluggish' });
    const b = await c.call('POST', '/api/reports', { category: 'error' });
    expect(a.status).toBe(201);
    expect(a.body.counted).toBe(true);
    expect(b.status).toBe(201);
    expect(b.body.counted).toBe(false);
    const bad = await c.call('POST', '/api/reports', { category: 'bored' });
    expect(bad.status).toBe(400);
  });

  it('exports conversations as JSON and Markdown and imports them as new ones', async () => {
    const conv = await newConversation(alice);
    const sent = await send(alice, conv.conversation.id, 'Export me', 'export-key-001');
    const answer = await alice.stream(sent.body.assistantMessage.id);
    const md = await alice.call('GET', `/api/conversations/${conv.conversation.id}/export?format=md`);
    expect(md.headers.get('content-type')).toContain('text/markdown');
    expect(md.body).toContain('Export me');
    expect(md.body).toContain(answer.done?.content.slice(0, 40));
    const dump = await alice.call('GET', '/api/export');
    expect(dump.body.version).toBe(1);
    const mine = dump.body.conversations.find((c: Json) => c.id === conv.conversation.id);
    const fresh = await ChatClient.signUp(t.url, 'Importer');
    const imported = await fresh.call('POST', '/api/import', { version: 1, conversations: [mine] });
    expect(imported.status).toBe(201);
    expect(imported.body.conversations).toBe(1);
    const list = (await fresh.call('GET', '/api/conversations')).body.conversations;
    expect(list).toHaveLength(1);
    const got = (await fresh.call('GET', `/api/conversations/${list[0].id}`)).body;
    expect(got.messages.map((m: Json) => m.content)).toEqual(mine.messages.map((m: Json) => m.content));
    const leaf = got.messages.find((m: Json) => m.id === got.conversation.currentLeafId);
    expect(leaf.content).toBe(answer.done?.content);
    const broken = await fresh.call('POST', '/api/import', {
      version: 1,
      conversations: [{ ...mine, messages: [{ ...mine.messages[1], parentId: 'ghost' }] }],
    });
    expect(broken.status).toBe(400);
  });
  it('reports model health for the banner, not operational while its deployment fails', async () => {
    const ok = await alice.call('GET', '/api/status');
    expect(ok.body.models).toContainEqual(
      expect.objectContaining({ name: 'banner-sim', status: 'operational' }),
    );
    const admin = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
    await fetch(`${t.url}/admin/chaos/banner-1`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ kind: 'error', status: 503, duration_s: 5 }),
    });
    try {
      for (let i = 0; i < 6; i++) {
        await fetch(`${t.url}/v1/chat/completions`, {
          method: 'POST',
          headers: admin,
          body: JSON.stringify({ model: 'banner-sim', messages: [{ role: 'user', content: `fail ${i}` }] }),
        });
      }
      // The status system evaluates on its own tick: poll, briefly.
      let slow: Json;
      for (let i = 0; i < 50; i++) {
        const bad = await alice.call('GET', '/api/status');
        slow = bad.body.models.find((m: Json) => m.name === 'banner-sim');
        if (slow.status !== 'operational') break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(slow.status).not.toBe('operational');
      expect(slow.message).toBeTruthy();
    } finally {
      await fetch(`${t.url}/admin/chaos`, { method: 'DELETE', headers: admin });
    }
  });
});
