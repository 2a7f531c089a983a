import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { loadExampleCharacters } from '../../src/chat/cards/index.ts';
import { registerWebRoutes } from '../../src/web/routes.ts';

/**
 * A small in-memory fake of docs/chat-api.md, just enough for the UI tests: accounts with CSRF, characters,
 * personas, conversations as message trees, generation jobs streamed over SSE with numbered chunks and
 * Last-Event-ID resume, stop/continue/regenerate, /api/status and reports. Answers are scripted per test.
 */

type Status = 'queued' | 'streaming' | 'complete' | 'incomplete' | 'failed';
type Meta = Record<string, unknown>;

export interface Message {
  id: string;
  parentId: string | null;
  role: 'system' | 'user' | 'assistant';
  content: string;
  status: Status;
  meta: Meta;
  createdAt: string;
}

/** How the next answer behaves. */
export interface Script {
  text: string;
  /** Split into chunks of this many characters (default 6). */
  chunkSize?: number;
  /** Delay between chunks (default 15 ms). */
  chunkMs?: number;
  /** A waiting-room phase first: status events with meta.queue, for this long. */
  queue?: { position: number; etaMs: number; forMs: number };
  /** An automatic-retry phase first: a status event with meta.retryAt = now + ms, then wait that long. */
  retryAfterMs?: number;
  /** Merged into the final meta (e.g. {failedOver: true, model: 'backup'}). */
  doneMeta?: Meta;
}

interface Conversation {
  id: string;
  userId: string;
  title: string;
  characterId: string | null;
  model: string;
  updatedAt: string;
  currentLeafId: string | null;
}

interface Job {
  messageId: string;
  timer: NodeJS.Timeout | null;
  cancelled: boolean;
}

type Listener = (event: { id?: number; event: string; data: unknown }) => void;

export class FakeChatApi {
  app: FastifyInstance;
  url = '';
  users = new Map<string, { id: string; email: string; name: string; password: string }>();
  sessions = new Map<string, { userId: string; csrf: string }>();
  characters = new Map<string, { id: string; owner: string | null; character: Record<string, unknown> }>();
  personas: { id: string; userId: string; name: string; description: string; isDefault: boolean }[] = [];
  conversations = new Map<string, Conversation>();
  messages = new Map<string, Message & { conversationId: string }>();
  chunks = new Map<string, string[]>();
  listeners = new Map<string, Set<Listener>>();
  jobs = new Map<string, Job>();
  idempotency = new Map<string, { userMessage: Message; assistantMessage: Message }>();
  /** Every send attempt: its idempotency key and whether it was answered. */
  sendAttempts: { key: string; outcome: 'created' | 'replayed' | 'failed' }[] = [];
  /** Make the next N sends fail with 503 after (!) storing the message, like a lost answer. */
  failNextSends = 0;
  scripts: Script[] = [];
  defaultScript: (content: string) => Script = (content) => ({ text: `You said: ${content}` });
  status: { name: string; status: string; message?: string; queue?: unknown }[] = [
    { name: 'sim-openai', status: 'operational' },
  ];
  reports: Record<string, unknown>[] = [];
  csrfFailures = 0;
  openStreams = new Set<ServerResponse>();
  private seq = 0;

  constructor() {
    this.app = Fastify({ logger: false, forceCloseConnections: true });
    for (const { slug, character } of loadExampleCharacters()) {
      this.characters.set(`ex-${slug}`, { id: `ex-${slug}`, owner: null, character });
    }
    this.routes();
    registerWebRoutes(this.app);
  }

  async start(): Promise<string> {
    this.url = await this.app.listen({ host: '127.0.0.1', port: 0 });
    return this.url;
  }

  async close(): Promise<void> {
    for (const res of this.openStreams) res.end();
    for (const job of this.jobs.values()) {
      job.cancelled = true;
      if (job.timer) clearTimeout(job.timer);
    }
    await this.app.close();
  }

  /** Queue the behaviour of the next answers. */
  script(...s: Script[]): void {
    this.scripts.push(...s);
  }

  private now(): string {
    // Strictly increasing timestamps so sibling order is stable.
    this.seq += 1;
    return new Date(Date.UTC(2026, 0, 1) + this.seq * 1000).toISOString();
  }

  private id(prefix: string): string {
    return `${prefix}_${randomUUID().slice(0, 8)}`;
  }

  private err(reply: FastifyReply, status: number, code: string, message: string) {
    return reply.code(status).send({ error: { code, message } });
  }

  private session(req: FastifyRequest) {
    const m = /(?:^|;\s*)hf_session=([^;]+)/.exec(req.headers.cookie ?? '');
    const s = m ? this.sessions.get(m[1]!) : undefined;
    return s ? { ...s, user: [...this.users.values()].find((u) => u.id === s.userId)! } : null;
  }

  private publicMessage(m: Message): Message {
    const { id, parentId, role, content, status, meta, createdAt } = m;
    return { id, parentId, role, content, status, meta, createdAt };
  }

  private emit(messageId: string, event: { id?: number; event: string; data: unknown }) {
    for (const l of this.listeners.get(messageId) ?? []) l(event);
  }

  private appendChunk(messageId: string, text: string) {
    const list = this.chunks.get(messageId) ?? [];
    list.push(text);
    this.chunks.set(messageId, list);
    const m = this.messages.get(messageId)!;
    m.content += text;
    this.emit(messageId, { id: list.length, event: 'chunk', data: { text } });
  }

  private setStatus(messageId: string, status: Status, meta: Meta = {}) {
    const m = this.messages.get(messageId)!;
    m.status = status;
    m.meta = { ...m.meta, ...meta };
    if (status !== 'queued') delete m.meta.queue;
    const final = status === 'complete' || status === 'incomplete' || status === 'failed';
    this.emit(messageId, { event: final ? 'done' : 'status', data: { status, meta: m.meta } });
  }

  /** Runs a generation job: optional queue/retry phases, then chunks, then done. */
  private run(messageId: string, script: Script) {
    const job: Job = { messageId, timer: null, cancelled: false };
    this.jobs.set(messageId, job);
    const pieces: string[] = [];
    const size = script.chunkSize ?? 6;
    for (let i = 0; i < script.text.length; i += size) pieces.push(script.text.slice(i, i + size));
    const later = (ms: number, fn: () => void) => {
      job.timer = setTimeout(() => {
        if (!job.cancelled) fn();
      }, ms);
    };
    const stream = () => {
      this.setStatus(messageId, 'streaming', { model: 'sim-openai' });
      const step = () => {
        const piece = pieces.shift();
        if (piece === undefined) {
          this.jobs.delete(messageId);
          this.setStatus(messageId, 'complete', { finishReason: 'stop', ...script.doneMeta });
          return;
        }
        this.appendChunk(messageId, piece);
        later(script.chunkMs ?? 15, step);
      };
      later(script.chunkMs ?? 15, step);
    };
    const afterQueue = () => {
      if (script.retryAfterMs) {
        this.setStatus(messageId, 'queued', { retryAt: Date.now() + script.retryAfterMs });
        later(script.retryAfterMs, () => {
          const m = this.messages.get(messageId)!;
          delete m.meta.retryAt;
          stream();
        });
      } else stream();
    };
    if (script.queue) {
      const q = script.queue;
      this.setStatus(messageId, 'queued', { queue: { position: q.position, etaMs: q.etaMs } });
      later(q.forMs, afterQueue);
    } else later(5, afterQueue);
  }

  private startAnswer(conversationId: string, parentId: string, prompt: string): Message {
    const m = {
      id: this.id('msg'),
      parentId,
      role: 'assistant' as const,
      content: '',
      status: 'queued' as Status,
      meta: {},
      createdAt: this.now(),
      conversationId,
    };
    this.messages.set(m.id, m);
    this.chunks.set(m.id, []);
    const c = this.conversations.get(conversationId)!;
    c.currentLeafId = m.id;
    c.updatedAt = m.createdAt;
    this.run(m.id, this.scripts.shift() ?? this.defaultScript(prompt));
    return m;
  }

  private routes() {
    const app = this.app;

    app.addHook('preHandler', async (req, reply) => {
      if (!req.url.startsWith('/api/')) return;
      if (req.url.startsWith('/api/auth/signup') || req.url.startsWith('/api/auth/login')) return;
      const s = this.session(req);
      if (!s) return this.err(reply, 401, 'unauthorized', 'Sign in first.');
      if (!['GET', 'HEAD'].includes(req.method) && req.headers['x-csrf-token'] !== s.csrf) {
        this.csrfFailures += 1;
        return this.err(reply, 403, 'csrf_failed', 'Missing or wrong CSRF token.');
      }
    });
    app.addContentTypeParser(['image/png', 'application/zip'], { parseAs: 'buffer' }, (_r, b, done) =>
      done(null, b),
    );

    const signIn = (reply: FastifyReply, user: { id: string; email: string; name: string }, code: number) => {
      const token = randomUUID();
      const csrf = randomUUID();
      this.sessions.set(token, { userId: user.id, csrf });
      reply.header('set-cookie', `hf_session=${token}; Path=/; HttpOnly; SameSite=Lax`);
      return reply
        .code(code)
        .send({ user: { id: user.id, email: user.email, name: user.name, role: 'user' }, csrfToken: csrf });
    };

    app.post('/api/auth/signup', async (req, reply) => {
      const b = req.body as { email: string; password: string; name: string };
      if (!b?.email || (b.password ?? '').length < 8)
        return this.err(reply, 400, 'invalid_request', 'Password: at least 8 characters.');
      if (this.users.has(b.email)) return this.err(reply, 409, 'conflict', 'That email is taken.');
      const user = { id: this.id('usr'), email: b.email, name: b.name, password: b.password };
      this.users.set(b.email, user);
      return signIn(reply, user, 201);
    });
    app.post('/api/auth/login', async (req, reply) => {
      const b = req.body as { email: string; password: string };
      const user = this.users.get(b?.email);
      if (!user || user.password !== b.password)
        return this.err(reply, 401, 'unauthorized', 'Wrong email or password.');
      return signIn(reply, user, 200);
    });
    app.post('/api/auth/logout', async (_req, reply) => reply.code(204).send());
    app.get('/api/auth/me', async (req) => {
      const s = this.session(req)!;
      return {
        user: { id: s.user.id, email: s.user.email, name: s.user.name, role: 'user' },
        csrfToken: s.csrf,
      };
    });

    app.get('/api/models', async () => ({ models: [{ name: 'sim-openai', contextTokens: 8000 }] }));
    app.get('/api/status', async () => ({ models: this.status }));
    app.post('/api/reports', async (req, reply) => {
      this.reports.push(req.body as Record<string, unknown>);
      return reply.code(201).send({ counted: this.reports.length === 1 });
    });

    const summary = (
      c: { id: string; owner: string | null; character: Record<string, unknown> },
      uid: string,
    ) => ({
      id: c.id,
      name: c.character.name,
      description: c.character.description,
      avatar: c.character.avatar,
      tags: c.character.tags,
      shipped: c.owner === null,
      mine: c.owner === uid,
    });
    app.get('/api/characters', async (req) => {
      const uid = this.session(req)!.userId;
      return {
        characters: [...this.characters.values()]
          .filter((c) => c.owner === null || c.owner === uid)
          .map((c) => summary(c, uid)),
      };
    });
    app.get('/api/characters/:id', async (req, reply) => {
      const uid = this.session(req)!.userId;
      const c = this.characters.get((req.params as { id: string }).id);
      if (!c) return this.err(reply, 404, 'not_found', 'No such character.');
      return { id: c.id, shipped: c.owner === null, mine: c.owner === uid, character: c.character };
    });
    app.post('/api/characters', async (req, reply) => {
      const uid = this.session(req)!.userId;
      const { character } = req.body as { character: Record<string, unknown> };
      const id = this.id('chr');
      this.characters.set(id, { id, owner: uid, character });
      return reply.code(201).send({ id, character });
    });
    app.put('/api/characters/:id', async (req, reply) => {
      const c = this.characters.get((req.params as { id: string }).id);
      if (!c) return this.err(reply, 404, 'not_found', 'No such character.');
      c.character = (req.body as { character: Record<string, unknown> }).character;
      return { id: c.id, character: c.character };
    });
    app.get('/api/personas', async (req) => ({
      personas: this.personas.filter((p) => p.userId === this.session(req)!.userId),
    }));
    app.post('/api/personas', async (req, reply) => {
      const b = req.body as { name: string; description: string; isDefault?: boolean };
      const p = { id: this.id('per'), userId: this.session(req)!.userId, ...b, isDefault: !!b.isDefault };
      this.personas.push(p);
      return reply.code(201).send(p);
    });

    const convOut = (c: Conversation) => ({
      id: c.id,
      title: c.title,
      characterId: c.characterId,
      model: c.model,
      updatedAt: c.updatedAt,
      currentLeafId: c.currentLeafId,
      context: { budgetTokens: 8000, usedTokens: 100, summarisedCount: 0, droppedCount: 0 },
    });
    const convMessages = (id: string) =>
      [...this.messages.values()].filter((m) => m.conversationId === id).map((m) => this.publicMessage(m));
    const ownConv = (req: FastifyRequest, id: string) => {
      const c = this.conversations.get(id);
      return c && c.userId === this.session(req)!.userId ? c : null;
    };

    app.get('/api/conversations', async (req) => ({
      conversations: [...this.conversations.values()]
        .filter((c) => c.userId === this.session(req)!.userId)
        .sort((a, b) => (a.updatedAt < b.updatedAt ? 1 : -1))
        .map((c) => ({
          id: c.id,
          title: c.title,
          characterId: c.characterId,
          model: c.model,
          updatedAt: c.updatedAt,
        })),
    }));
    app.post('/api/conversations', async (req, reply) => {
      const b = (req.body ?? {}) as { characterId?: string; greetingIndex?: number; model?: string };
      const ch = b.characterId ? this.characters.get(b.characterId) : undefined;
      const c: Conversation = {
        id: this.id('cnv'),
        userId: this.session(req)!.userId,
        title: ch ? `Chat with ${ch.character.name}` : 'New chat',
        characterId: ch?.id ?? null,
        model: b.model ?? 'sim-openai',
        updatedAt: this.now(),
        currentLeafId: null,
      };
      this.conversations.set(c.id, c);
      if (ch) {
        const greetings = [ch.character.greeting, ...(ch.character.alternateGreetings as string[])];
        const g = {
          id: this.id('msg'),
          parentId: null,
          role: 'assistant' as const,
          content: String(greetings[b.greetingIndex ?? 0] ?? '')
            .replaceAll('{{user}}', 'you')
            .replaceAll('{{char}}', String(ch.character.name)),
          status: 'complete' as Status,
          meta: {},
          createdAt: this.now(),
          conversationId: c.id,
        };
        this.messages.set(g.id, g);
        c.currentLeafId = g.id;
      }
      return reply.code(201).send({ conversation: convOut(c), messages: convMessages(c.id) });
    });
    app.get('/api/conversations/:id', async (req, reply) => {
      const c = ownConv(req, (req.params as { id: string }).id);
      if (!c) return this.err(reply, 404, 'not_found', 'No such conversation.');
      return { conversation: convOut(c), messages: convMessages(c.id) };
    });
    app.patch('/api/conversations/:id', async (req, reply) => {
      const c = ownConv(req, (req.params as { id: string }).id);
      if (!c) return this.err(reply, 404, 'not_found', 'No such conversation.');
      const b = req.body as { title?: string; currentLeafId?: string };
      if (b.title !== undefined) c.title = b.title;
      if (b.currentLeafId !== undefined) c.currentLeafId = b.currentLeafId;
      return { conversation: convOut(c) };
    });
    app.post('/api/conversations/:id/messages', async (req, reply) => {
      const c = ownConv(req, (req.params as { id: string }).id);
      if (!c) return this.err(reply, 404, 'not_found', 'No such conversation.');
      const b = req.body as { content: string; idempotencyKey: string; parentId?: string };
      if (!b.idempotencyKey) return this.err(reply, 400, 'invalid_request', 'idempotencyKey is required.');
      const seen = this.idempotency.get(b.idempotencyKey);
      if (seen) {
        this.sendAttempts.push({ key: b.idempotencyKey, outcome: 'replayed' });
        return reply.code(200).send({
          userMessage: this.publicMessage(seen.userMessage),
          assistantMessage: this.publicMessage(this.messages.get(seen.assistantMessage.id)!),
        });
      }
      const user = {
        id: this.id('msg'),
        parentId: b.parentId ?? c.currentLeafId,
        role: 'user' as const,
        content: b.content,
        status: 'complete' as Status,
        meta: {},
        createdAt: this.now(),
        conversationId: c.id,
      };
      this.messages.set(user.id, user);
      const assistant = this.startAnswer(c.id, user.id, b.content);
      this.idempotency.set(b.idempotencyKey, { userMessage: user, assistantMessage: assistant });
      if (this.failNextSends > 0) {
        this.failNextSends -= 1;
        this.sendAttempts.push({ key: b.idempotencyKey, outcome: 'failed' });
        return this.err(reply, 503, 'unavailable', 'The server is restarting.');
      }
      this.sendAttempts.push({ key: b.idempotencyKey, outcome: 'created' });
      return reply
        .code(201)
        .send({ userMessage: this.publicMessage(user), assistantMessage: this.publicMessage(assistant) });
    });
    app.post('/api/messages/:id/regenerate', async (req, reply) => {
      const m = this.messages.get((req.params as { id: string }).id);
      if (!m?.parentId) return this.err(reply, 404, 'not_found', 'No such message.');
      const parent = this.messages.get(m.parentId)!;
      const a = this.startAnswer(m.conversationId, m.parentId, parent.content);
      return reply.code(201).send({ assistantMessage: this.publicMessage(a) });
    });
    app.post('/api/messages/:id/stop', async (req, reply) => {
      const m = this.messages.get((req.params as { id: string }).id);
      if (!m) return this.err(reply, 404, 'not_found', 'No such message.');
      const job = this.jobs.get(m.id);
      if (job) {
        job.cancelled = true;
        if (job.timer) clearTimeout(job.timer);
        this.jobs.delete(m.id);
      }
      if (m.status === 'queued' || m.status === 'streaming')
        this.setStatus(m.id, 'incomplete', { finishReason: 'stopped' });
      return { message: this.publicMessage(m) };
    });
    app.post('/api/messages/:id/continue', async (req, reply) => {
      const m = this.messages.get((req.params as { id: string }).id);
      if (m?.status !== 'incomplete') return this.err(reply, 409, 'conflict', 'Nothing to continue.');
      m.status = 'queued';
      this.run(m.id, this.scripts.shift() ?? { text: ' (continued)' });
      return { message: this.publicMessage(m) };
    });

    app.get('/api/messages/:id/stream', (req, reply) => {
      const m = this.messages.get((req.params as { id: string }).id);
      if (!m) {
        this.err(reply, 404, 'not_found', 'No such message.');
        return;
      }
      const last = Number(req.headers['last-event-id'] ?? 0) || 0;
      reply.hijack();
      const res: ServerResponse = reply.raw;
      this.openStreams.add(res);
      res.on('close', () => this.openStreams.delete(res));
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });
      const write = (e: { id?: number; event: string; data: unknown }) => {
        res.write(
          `${e.id !== undefined ? `id: ${e.id}\n` : ''}event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`,
        );
        if (e.event === 'done') {
          this.listeners.get(m.id)?.delete(write);
          res.end();
        }
      };
      const list = this.chunks.get(m.id) ?? [];
      for (let i = last; i < list.length; i++) write({ id: i + 1, event: 'chunk', data: { text: list[i] } });
      if (m.status === 'complete' || m.status === 'incomplete' || m.status === 'failed') {
        write({ event: 'done', data: { status: m.status, meta: m.meta } });
        return;
      }
      write({ event: 'status', data: { status: m.status, meta: m.meta } });
      const set = this.listeners.get(m.id) ?? new Set<Listener>();
      set.add(write);
      this.listeners.set(m.id, set);
      req.raw.on('close', () => set.delete(write));
    });
  }
}
