import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../config/schema.ts';
import type { Db } from '../../stores/database.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { StatusView } from '../view.ts';
import { ASSETS } from './assets.ts';
import { renderBadge } from './badge.ts';
import { renderBanner } from './banner.ts';
import { feedItems, renderAtom, renderRss } from './feeds.ts';
import { type Html, html } from './html.ts';
import { liveLinks, publicUrls } from './links.ts';
import type { Notifier } from './notifier.ts';
import { renderIncidentPage, renderMessagePage, renderStatusPage } from './page.ts';
import { loadPageData } from './page-data.ts';
import { TYPES } from './site.ts';
import type { Resolver } from './ssrf.ts';
import { confirm, createSubscriber, SubscribeError, subscribeInput, unsubscribe } from './subscribers.ts';

export interface RouteDeps {
  view: StatusView;
  config: Config['status'];
  db: Db;
  logger: Logger;
  notifier: Notifier;
  resolve?: Resolver;
  /** How long rendered pages and feeds are reused (an outage brings everyone to the page at once). */
  cacheMs?: number;
  /** Subscriptions per client IP per hour. */
  subscribeLimit?: number;
}

/** The page's policy: its own stylesheet and script only, no inline code, nothing from elsewhere. */
export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'strict-origin-when-cross-origin',
} as const;

/** Renders reused for `ttl`, concurrent requests sharing one render; `clear()` on every status event. */
function renderCache(ttl: number) {
  const entries = new Map<string, { at: number; value: Promise<unknown> }>();
  return {
    get<T>(key: string, make: () => Promise<T>): Promise<T> {
      const hit = entries.get(key);
      if (hit && Date.now() - hit.at < ttl) return hit.value as Promise<T>;
      const value = make();
      entries.set(key, { at: Date.now(), value });
      value.catch(() => entries.delete(key));
      if (entries.size > 500) entries.delete(entries.keys().next().value!);
      return value;
    },
    clear() {
      entries.clear();
    },
  };
}

type Body = Record<string, unknown>;

function parseForm(text: string): Body {
  const out: Body = {};
  for (const [k, v] of new URLSearchParams(text)) out[k] = v;
  return out;
}

export function registerStatusRoutes(app: FastifyInstance, deps: RouteDeps): { invalidate(): void } {
  const { view, config, db, logger, notifier } = deps;
  const links = liveLinks();
  const urls = publicUrls(config.page.url);
  const emailEnabled = config.notifications.smtp !== undefined;
  const pageOpts = { links, emailEnabled, timeZone: config.page.time_zone };
  const cache = renderCache(deps.cacheMs ?? 5_000);
  const limit = deps.subscribeLimit ?? 10;
  const attempts = new Map<string, { start: number; n: number }>();

  // The gateway parses every body as JSON; the subscribe and unsubscribe forms post form encoding.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 16 * 1024 },
    (_req, body, done) => {
      done(null, parseForm(String(body)));
    },
  );
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 16 * 1024 }, (_req, body, done) => {
    const text = String(body).trim();
    if (text === '') return done(null, {});
    try {
      done(null, JSON.parse(text));
    } catch {
      const err = new Error('The request body is not valid JSON.') as Error & { statusCode: number };
      err.statusCode = 400;
      done(err, undefined);
    }
  });

  const htmlReply = (reply: FastifyReply, body: string, code = 200) =>
    reply
      .code(code)
      .headers(SECURITY_HEADERS)
      .header('content-security-policy', PAGE_CSP)
      .header('x-frame-options', 'DENY')
      .header('cache-control', String(reply.getHeader('cache-control') ?? 'no-cache'))
      .type(TYPES.html)
      .send(body);

  const message = (reply: FastifyReply, title: string, body: Html, code = 200) =>
    htmlReply(reply, renderMessagePage(config.page.name, title, body, links), code);

  const page = async (_req: FastifyRequest, reply: FastifyReply) =>
    htmlReply(
      reply,
      await cache.get('page', async () => renderStatusPage(await loadPageData(view), pageOpts)),
    );
  app.get('/status', page);
  app.get('/status/', page);

  app.get('/status/incidents/:id', async (req, reply) => {
    const { id } = req.params as { id: string };
    const body = await cache.get(`incident:${id}`, async () => {
      const [summary, incidents, maintenances] = await Promise.all([
        view.summary(),
        view.incidents(),
        view.maintenances(),
      ]);
      const found = [...summary.incidents, ...incidents, ...maintenances].find((i) => i.id === id);
      return found ? renderIncidentPage(found, summary.page.name, new Date().toISOString(), pageOpts) : '';
    });
    if (body === '') {
      return message(
        reply,
        'Incident not found',
        html`<p>There is no incident or maintenance with this id.</p>`,
        404,
      );
    }
    return htmlReply(reply, body);
  });

  app.get('/status/assets/:name', async (req, reply) => {
    const a = ASSETS.get((req.params as { name: string }).name);
    if (!a) return reply.code(404).type('text/plain; charset=utf-8').send('Not found');
    return reply
      .headers(SECURITY_HEADERS)
      .header('cache-control', 'public, max-age=300')
      .type(a.type)
      .send(a.body);
  });

  app.get('/status/badge/:file', async (req, reply) => {
    const file = (req.params as { file: string }).file;
    const id = file.endsWith('.svg') ? file.slice(0, -4) : file;
    const { label } = req.query as { label?: string };
    // Badges sit in READMEs and dashboards all over: one read of the components serves them all.
    const all = await cache.get('components', () => view.components());
    const c = all.find((x) => x.id === id);
    const text = typeof label === 'string' && label.length > 0 ? label.slice(0, 60) : (c?.name ?? 'status');
    return (
      reply
        .code(c ? 200 : 404)
        .headers(SECURITY_HEADERS)
        // Badges are for embedding in other sites' pages and READMEs.
        .header('cross-origin-resource-policy', 'cross-origin')
        .header('cache-control', 'public, max-age=60')
        .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
        .type(TYPES.svg)
        .send(renderBadge(text, c ? c.status : 'unknown'))
    );
  });

  app.get('/status/banner.json', async (_req, reply) => {
    const body = await cache.get('banner', async () =>
      JSON.stringify(renderBanner(await view.summary(), urls.incident)),
    );
    return reply
      .headers(SECURITY_HEADERS)
      .header('access-control-allow-origin', '*')
      .header('cache-control', 'public, max-age=15')
      .type(TYPES.json)
      .send(body);
  });

  const feed = (kind: 'atom' | 'rss') => async (_req: FastifyRequest, reply: FastifyReply) => {
    const body = await cache.get(`feed:${kind}`, async () => {
      const [summary, incidents, maintenances] = await Promise.all([
        view.summary(),
        view.incidents(),
        view.maintenances(),
      ]);
      const items = feedItems(incidents, maintenances);
      return kind === 'atom' ? renderAtom(summary.page, items, urls) : renderRss(summary.page, items, urls);
    });
    return reply
      .headers(SECURITY_HEADERS)
      .header('access-control-allow-origin', '*')
      .header('cache-control', 'public, max-age=60')
      .type(kind === 'atom' ? TYPES.atom : TYPES.rss)
      .send(body);
  };
  for (const prefix of ['/status', '']) {
    app.get(`${prefix}/history.atom`, feed('atom'));
    app.get(`${prefix}/history.rss`, feed('rss'));
  }

  const limited = (ip: string): boolean => {
    const now = Date.now();
    const a = attempts.get(ip);
    if (!a || now - a.start > 3_600_000) {
      attempts.set(ip, { start: now, n: 1 });
      if (attempts.size > 10_000) attempts.delete(attempts.keys().next().value!);
      return false;
    }
    a.n++;
    return a.n > limit;
  };

  app.post('/api/v2/subscribers', async (req, reply) => {
    const isForm = (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
    const fail = (code: number, errCode: string, text: string) =>
      isForm
        ? message(
            reply,
            'Could not subscribe',
            html`<p>${text}</p><p><a href="${links.home}#subscribe">Try again</a></p>`,
            code,
          )
        : reply.code(code).send({ error: { code: errCode, message: text } });
    if (limited(req.ip))
      return fail(429, 'rate_limited', 'Too many subscriptions from this address; try again later.');
    const raw = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as Body;
    const input = isForm
      ? {
          kind: raw.kind,
          target: raw.target,
          ...(raw.component_updates === 'true' ? { component_updates: true } : {}),
        }
      : raw;
    const parsed = subscribeInput.safeParse(input);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      return fail(
        400,
        'invalid_request',
        `${first?.path.join('.') || 'body'}: ${first?.message ?? 'invalid'}`,
      );
    }
    let created: Awaited<ReturnType<typeof createSubscriber>>;
    try {
      created = await createSubscriber(db, parsed.data, {
        allowPrivate: config.notifications.allow_private_targets,
        emailEnabled,
        resolve: deps.resolve,
      });
    } catch (err) {
      if (err instanceof SubscribeError) return fail(400, 'invalid_target', err.message);
      throw err;
    }
    const sub = created.subscriber;
    if (sub.kind === 'email') await notifier.requestConfirmation(sub);
    logger.info({ subscriber: sub.id, kind: sub.kind }, 'status subscriber added');
    const unsubscribeUrl = urls.unsubscribe(sub.id, created.unsubscribeToken);
    // The answer carries the signing secret and the unsubscribe token: no cache may keep it.
    reply.header('cache-control', 'no-store');
    if (isForm) {
      return message(
        reply,
        sub.kind === 'email' ? 'Check your inbox' : 'Subscribed',
        html`${sub.kind === 'email' ? html`<p>We sent a confirmation link to <strong>${sub.target}</strong>. Updates start once you follow it.</p>` : html`<p>Incident and maintenance updates will be sent to your ${sub.kind} URL.</p>`}
        ${created.secret ? html`<p>Signing secret (shown once; verify the <code>x-holdfast-signature</code> header with it):</p><p class="secret">${created.secret}</p>` : ''}
        <p>Keep this link to unsubscribe: <a href="${unsubscribeUrl}">${unsubscribeUrl}</a></p>`,
        201,
      );
    }
    return reply.code(201).send({
      subscriber: {
        id: sub.id,
        kind: sub.kind,
        target: sub.target,
        components: sub.components,
        component_updates: sub.componentUpdates,
        confirmed: sub.disabledAt === null,
        created_at: sub.createdAt.toISOString(),
      },
      ...(created.secret ? { secret: created.secret } : {}),
      unsubscribe_token: created.unsubscribeToken,
      unsubscribe_url: unsubscribeUrl,
    });
  });

  app.delete('/api/v2/subscribers/:id', async (req, reply) => {
    const { id } = req.params as { id: string };
    const q = req.query as { token?: string };
    const b = (req.body ?? {}) as Body;
    const token = typeof q.token === 'string' ? q.token : typeof b.token === 'string' ? b.token : '';
    if (!(await unsubscribe(db, id, token))) {
      return reply
        .code(404)
        .send({ error: { code: 'not_found', message: 'No subscriber with this id and token.' } });
    }
    return reply.code(204).send();
  });

  // Unsubscribe links: GET shows a button (mail scanners follow links), POST (the button, or RFC 8058
  // one-click from the mail client) removes the subscription.
  const tokenForm = (action: string, q: { id?: string; token?: string }, label: string) =>
    html`<form method="post" action="${action}?id=${encodeURIComponent(q.id ?? '')}&amp;token=${encodeURIComponent(q.token ?? '')}"><button class="button primary" type="submit">${label}</button></form>`;
  app.get('/status/unsubscribe', async (req, reply) =>
    message(
      reply,
      'Unsubscribe',
      html`<p>Stop receiving status updates?</p>${tokenForm('/status/unsubscribe', req.query as { id?: string; token?: string }, 'Unsubscribe')}`,
    ),
  );
  app.post('/status/unsubscribe', async (req, reply) => {
    const q = req.query as { id?: string; token?: string };
    const ok = await unsubscribe(db, q.id ?? '', q.token ?? '');
    return ok
      ? message(reply, 'Unsubscribed', html`<p>You will get no more status updates.</p>`)
      : message(
          reply,
          'Link not valid',
          html`<p>This unsubscribe link is not valid, or it was used already.</p>`,
          404,
        );
  });
  app.get('/status/confirm', async (req, reply) =>
    message(
      reply,
      'Confirm your subscription',
      html`<p>Receive incident and maintenance updates by email?</p>${tokenForm('/status/confirm', req.query as { id?: string; token?: string }, 'Confirm')}`,
    ),
  );
  app.post('/status/confirm', async (req, reply) => {
    const q = req.query as { id?: string; token?: string };
    const ok = await confirm(db, q.id ?? '', q.token ?? '');
    return ok
      ? message(
          reply,
          'Subscription confirmed',
          html`<p>You will get an email when an incident or maintenance is posted.</p>`,
        )
      : message(reply, 'Link not valid', html`<p>This confirmation link is not valid.</p>`, 404);
  });

  return { invalidate: () => cache.clear() };
}
