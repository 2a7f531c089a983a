import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DEFAULT_HTML_CSP } from '../../http/security-headers.ts';
import type { Db } from '../../stores/database.ts';
import { StatusError } from '../errors.ts';
import {
  confirm,
  createIncident,
  editIncident,
  maintenance,
  manualStatus,
  merge,
  parse,
  postmortem,
  postUpdate,
  toStatusError,
} from '../inputs.ts';
import { listSubscribers } from '../publish/subscribers.ts';
import type { StatusService } from '../service.ts';
import {
  type AdminComponent,
  type AdminFrame,
  path,
  renderIncident,
  renderIncidents,
  renderMaintenance,
  renderMessage,
  renderReports,
  renderSignIn,
  renderSubscribers,
} from './pages.ts';
import {
  ADMIN_PATH,
  cookie,
  newToken,
  parseCookies,
  SESSION_COOKIE,
  type Session,
  SessionStore,
  SIGNIN_COOKIE,
  sameSecret,
} from './session.ts';

export interface AdminPagesDeps {
  service: StatusService;
  adminKey: string | undefined;
  db?: Db;
  sessions?: SessionStore;
}

const HEADERS = {
  // Stricter than the public page's: operator pages run no script at all (the default for any page).
  'content-security-policy': DEFAULT_HTML_CSP,
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
} as const;

const CSS = readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'admin.css'), 'utf8');

/** Results a form can report back after its redirect (fixed texts: nothing from the query is echoed). */
const NOTICES: Record<string, string> = {
  created: 'Incident opened.',
  updated: 'Update posted.',
  edited: 'Saved.',
  component: 'Component status changed.',
  merged: 'Incident merged.',
  postmortem: 'Postmortem published.',
  scheduled: 'Maintenance scheduled.',
  cancelled: 'Maintenance cancelled.',
  completed: 'Maintenance completed.',
  confirmed: 'Report spike confirmed: it now shows on the public page.',
  withdrawn: 'Confirmation withdrawn.',
  signedin: 'Signed in.',
};

type Req = FastifyRequest<{
  Params: { id?: string; component?: string };
  Querystring: Record<string, string>;
}>;

/** A `<input type="datetime-local">` value is read as UTC; a full ISO time keeps its offset. */
export function utcIso(value: string): string {
  const v = value.trim();
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/.test(v))
    return `${v}${v.length === 16 ? ':00' : ''}Z`;
  return v;
}

/** Only our own pages as a place to go after signing in (no open redirect). */
function safeNext(next: string | undefined): string {
  return typeof next === 'string' &&
    /^\/status\/admin(\/[\w\-/%.]*)?(\?[\w=&%-]*)?$/.test(next) &&
    !next.includes('//')
    ? next
    : ADMIN_PATH;
}

const form = (req: FastifyRequest): URLSearchParams =>
  req.body instanceof URLSearchParams ? req.body : new URLSearchParams();

/** A form field as the JSON API would have it: absent when empty. */
const field = (f: URLSearchParams, name: string): string | undefined => {
  const v = f.get(name);
  return v === null || v.trim() === '' ? undefined : v;
};

/**
 * The operators' pages under /status/admin: server-rendered forms (no JavaScript) over the same
 * StatusService methods, and the same request schemas, as the admin JSON API. Browsers cannot send the
 * bearer key, so operators sign in with it once and get a session cookie; every form carries the
 * session's CSRF token. Call inside its own Fastify context (it installs a form body parser).
 */
export function registerAdminPages(app: FastifyInstance, deps: AdminPagesDeps): void {
  const { service } = deps;
  const sessions = deps.sessions ?? new SessionStore({ adminKey: deps.adminKey });
  const pageName = service.page.name;
  const timeZone = service.page.timeZone;
  const sessionOf = new WeakMap<FastifyRequest, Session>();

  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 256 * 1024 },
    (_req, body, done) => done(null, new URLSearchParams(String(body))),
  );

  const send = (reply: FastifyReply, body: string, code = 200) =>
    reply.code(code).headers(HEADERS).type('text/html; charset=utf-8').send(body);

  const frame = (req: FastifyRequest, extra: Partial<AdminFrame> = {}): AdminFrame => {
    const q = (req.query ?? {}) as Record<string, string>;
    const notice = typeof q.done === 'string' ? NOTICES[q.done] : undefined;
    return {
      pageName,
      csrf: sessionOf.get(req)?.csrf ?? '',
      current: 'none',
      timeZone,
      ...(notice ? { notice } : {}),
      ...extra,
    };
  };

  const secure = (req: FastifyRequest) => req.protocol === 'https';

  app.setErrorHandler((err, req, reply) => {
    const e = toStatusError(err);
    return send(reply, renderMessage(frame(req), 'Something went wrong', e.message), e.status);
  });

  // ---- sign-in: the only pages without a session ----

  app.get(`${ADMIN_PATH}/admin.css`, async (_req, reply) =>
    reply
      .header('x-content-type-options', 'nosniff')
      .header('cache-control', 'public, max-age=300')
      .type('text/css; charset=utf-8')
      .send(CSS),
  );

  const signInPage = (req: Req, reply: FastifyReply, error?: string, code = 200) => {
    const token = newToken();
    reply.header('set-cookie', cookie(SIGNIN_COOKIE, token, { maxAgeS: 3600, secure: secure(req) }));
    const next = safeNext(req.query.next ?? form(req).get('next') ?? undefined);
    return send(
      reply,
      renderSignIn(
        { pageName, csrf: token, current: 'none', timeZone, error },
        { enabled: sessions.enabled, next },
      ),
      code,
    );
  };

  app.get(path.signin, async (req: Req, reply) => {
    if (sessions.get(parseCookies(req.headers.cookie).get(SESSION_COOKIE)))
      return reply.redirect(ADMIN_PATH, 303);
    return signInPage(req, reply);
  });

  app.post(path.signin, async (req: Req, reply) => {
    const f = form(req);
    const expected = parseCookies(req.headers.cookie).get(SIGNIN_COOKIE);
    const given = f.get('_csrf') ?? '';
    if (!expected || !sameSecret(expected, given))
      return signInPage(req, reply, 'The sign-in form expired. Please try again.', 403);
    if (!sessions.enabled) return signInPage(req, reply, 'No admin key is configured.', 403);
    if (sessions.locked(req.ip))
      return signInPage(req, reply, 'Too many failed sign-ins from this address. Try again later.', 429);
    const s = sessions.signIn(f.get('key') ?? '', req.ip);
    if (!s) return signInPage(req, reply, 'That is not the admin key.', 401);
    reply.header('set-cookie', [
      cookie(SESSION_COOKIE, s.token, { maxAgeS: sessions.ttlMs / 1000, secure: secure(req) }),
      cookie(SIGNIN_COOKIE, '', { maxAgeS: 0, secure: secure(req) }),
    ]);
    return reply.redirect(safeNext(f.get('next') ?? undefined), 303);
  });

  // ---- everything else needs a session; every POST its CSRF token ----

  app.addHook('preHandler', async (req: Req, reply) => {
    const url = req.url.split('?')[0] ?? '';
    if (url === path.signin || url === path.css) return;
    const s = sessions.get(parseCookies(req.headers.cookie).get(SESSION_COOKIE));
    if (!s) {
      // A browser follows this to the sign-in page; nothing was done.
      return reply.redirect(`${path.signin}?next=${encodeURIComponent(safeNext(req.url))}`, 303);
    }
    sessionOf.set(req, s);
    if (req.method === 'POST' && !sameSecret(s.csrf, form(req).get('_csrf') ?? ''))
      return send(
        reply,
        renderMessage(
          frame(req),
          'Form expired',
          'This form is out of date. Go back, reload the page and try again.',
        ),
        403,
      );
  });

  app.post(path.signout, async (req, reply) => {
    const s = sessionOf.get(req);
    if (s) sessions.signOut(s.token);
    reply.header('set-cookie', cookie(SESSION_COOKIE, '', { maxAgeS: 0, secure: secure(req) }));
    return reply.redirect(path.signin, 303);
  });

  // ---- views ----

  const components = async (): Promise<AdminComponent[]> => {
    const readings = service.readings();
    const manual = new Map(service.manualStatuses().map((m) => [m.componentId, m]));
    return (await service.componentRecords())
      .filter((c) => !c.retired)
      .map((c) => {
        const m = manual.get(c.id);
        return {
          id: c.id,
          name: c.name,
          group: c.isGroup,
          status: readings.get(c.key)?.status ?? c.status,
          computed: readings.get(c.key)?.computed ?? null,
          manual: m ? { status: m.status, incidentId: m.incidentId } : null,
        };
      });
  };

  type View = (req: Req, extra?: Partial<AdminFrame>) => Promise<string>;
  const incidentsView: View = async (req, extra) =>
    renderIncidents(frame(req, extra), {
      incidents: await service.allIncidents(),
      components: await components(),
    });
  const incidentView: View = async (req, extra) => {
    const id = req.params.id ?? '';
    const [incident, meta, all, comps] = await Promise.all([
      service.incident(id),
      service.incidentMeta(id),
      service.allIncidents(),
      components(),
    ]);
    return renderIncident(frame(req, extra), {
      incident,
      components: comps,
      others: all,
      impactOverridden: meta.impactOverridden,
      auto: meta.auto,
      mergedInto: meta.mergedInto ? (all.find((i) => i.id === meta.mergedInto) ?? null) : null,
    });
  };
  const maintenanceView: View = async (req, extra) =>
    renderMaintenance(frame(req, extra), {
      maintenances: await service.maintenances(),
      components: await components(),
    });
  const reportsView: View = async (req, extra) =>
    renderReports(frame(req, extra), await service.reportsOverview());
  const subscribersView: View = async (req, extra) => {
    const list = deps.db ? await listSubscribers(deps.db) : [];
    const names = new Map((await service.componentRecords()).map((c) => [c.id, c.name]));
    return renderSubscribers(frame(req, extra), list, names);
  };

  app.get(ADMIN_PATH, async (req: Req, reply) => send(reply, await incidentsView(req)));
  app.get(path.incidents, async (_req, reply) => reply.redirect(ADMIN_PATH, 303));
  app.get(`${ADMIN_PATH}/incidents/:id`, async (req: Req, reply) => {
    const meta = await service.incidentMeta(req.params.id ?? '');
    if (meta.kind === 'maintenance') return reply.redirect(path.maintenance, 303);
    return send(reply, await incidentView(req));
  });
  app.get(path.maintenance, async (req: Req, reply) => send(reply, await maintenanceView(req)));
  app.get(path.reports, async (req: Req, reply) => send(reply, await reportsView(req)));
  app.get(path.subscribers, async (req: Req, reply) => send(reply, await subscribersView(req)));

  /**
   * A form post: on success, see-other to where the result shows (with a fixed notice); on a refusal
   * (bad input, a conflict), the page the form was on again, with the reason.
   */
  const action = (
    url: string,
    view: View,
    run: (req: Req, f: URLSearchParams) => Promise<{ to: string; done: keyof typeof NOTICES }>,
  ) =>
    app.post(url, async (req: Req, reply) => {
      try {
        const r = await run(req, form(req));
        return reply.redirect(`${r.to}?done=${r.done}`, 303);
      } catch (err) {
        const e = toStatusError(err);
        if (e.status >= 500) throw err;
        let page: string;
        try {
          page = await view(req, { error: e.message, notice: undefined });
        } catch {
          page = renderMessage(frame(req), 'Could not do that', e.message);
        }
        return send(reply, page, e.status);
      }
    });

  const id = (req: Req): string => req.params.id ?? '';

  action(path.incidents, incidentsView, async (_req, f) => {
    const b = parse(createIncident, {
      name: f.get('name') ?? '',
      body: f.get('body') ?? '',
      status: field(f, 'status'),
      impact: field(f, 'impact'),
      component_ids: f.getAll('component_ids'),
      deliver_notifications: f.get('deliver_notifications') === 'true',
    });
    const inc = await service.createIncident({
      name: b.name,
      body: b.body,
      ...(b.status ? { status: b.status } : {}),
      ...(b.impact ? { impact: b.impact } : {}),
      ...(b.component_ids ? { components: b.component_ids } : {}),
      ...(b.deliver_notifications !== undefined ? { deliverNotifications: b.deliver_notifications } : {}),
    });
    return { to: path.incident(inc.id), done: 'created' };
  });

  action(`${ADMIN_PATH}/incidents/:id/edit`, incidentView, async (req, f) => {
    const impact = field(f, 'impact');
    const b = parse(editIncident, { name: f.get('name') ?? '', impact: impact ?? null });
    await service.editIncident(id(req), {
      ...(b.name ? { name: b.name } : {}),
      ...(b.impact !== undefined ? { impact: b.impact } : {}),
    });
    return { to: path.incident(id(req)), done: 'edited' };
  });

  action(`${ADMIN_PATH}/incidents/:id/updates`, incidentView, async (req, f) => {
    const b = parse(postUpdate, {
      status: f.get('status') ?? '',
      body: f.get('body') ?? '',
      deliver_notifications: f.get('deliver_notifications') === 'true',
    });
    await service.postUpdate(id(req), {
      status: b.status,
      body: b.body,
      ...(b.deliver_notifications !== undefined ? { deliverNotifications: b.deliver_notifications } : {}),
    });
    return { to: path.incident(id(req)), done: 'updated' };
  });

  action(`${ADMIN_PATH}/incidents/:id/components`, incidentView, async (req, f) => {
    const component = f.get('component_id') ?? '';
    const status = field(f, 'status');
    if (status === undefined) await service.setComponentStatus(id(req), component, null);
    else {
      const b = parse(manualStatus, { status, body: field(f, 'body') });
      await service.setComponentStatus(id(req), component, b.status, b.body);
    }
    return { to: path.incident(id(req)), done: 'component' };
  });

  action(`${ADMIN_PATH}/incidents/:id/merge`, incidentView, async (req, f) => {
    const b = parse(merge, { into: f.get('into') ?? '' });
    await service.merge(id(req), b.into);
    return { to: path.incident(b.into), done: 'merged' };
  });

  action(`${ADMIN_PATH}/incidents/:id/postmortem`, incidentView, async (req, f) => {
    const b = parse(postmortem, { body: f.get('body') ?? '' });
    await service.postmortem(id(req), b.body);
    return { to: path.incident(id(req)), done: 'postmortem' };
  });

  action(path.maintenance, maintenanceView, async (_req, f) => {
    const b = parse(maintenance, {
      name: f.get('name') ?? '',
      body: f.get('body') ?? '',
      scheduled_for: utcIso(f.get('scheduled_for') ?? ''),
      scheduled_until: utcIso(f.get('scheduled_until') ?? ''),
      component_ids: f.getAll('component_ids'),
    });
    await service.scheduleMaintenance({
      name: b.name,
      body: b.body,
      scheduledFor: new Date(b.scheduled_for),
      scheduledUntil: new Date(b.scheduled_until),
      components: b.component_ids,
    });
    return { to: path.maintenance, done: 'scheduled' };
  });

  const finish = (kind: 'cancel' | 'complete') =>
    action(`${ADMIN_PATH}/maintenance/:id/${kind}`, maintenanceView, async (req, f) => {
      const meta = await service.incidentMeta(id(req));
      if (meta.kind !== 'maintenance') throw new StatusError(404, 'not_found', 'No such maintenance.');
      const note = field(f, 'body');
      // Statuspage has no "cancelled" state: a cancelled window completes, and its update says so.
      const body =
        kind === 'cancel'
          ? `This maintenance has been cancelled.${note ? ` ${note}` : ''}`
          : (note ?? 'The scheduled maintenance has been completed.');
      const b = parse(postUpdate, { status: 'completed', body });
      await service.postUpdate(id(req), { status: b.status, body: b.body });
      return { to: path.maintenance, done: kind === 'cancel' ? 'cancelled' : 'completed' };
    });
  finish('cancel');
  finish('complete');

  action(`${ADMIN_PATH}/reports/:component/confirm`, reportsView, async (req, f) => {
    const component = req.params.component ?? '';
    const status = f.get('status') ?? '';
    if (status === 'withdraw') {
      await service.confirmReports(component, null);
      return { to: path.reports, done: 'withdrawn' };
    }
    const b = parse(confirm, { status });
    await service.confirmReports(component, b.status ?? 'degraded_performance');
    return { to: path.reports, done: 'confirmed' };
  });
}
