import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Caller } from '../pipeline/context.ts';
import type { Db } from '../stores/database.ts';
import { registerAdminPages } from './admin/routes.ts';
import type { SessionStore } from './admin/session.ts';
import { StatusError } from './errors.ts';
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
  publicReport,
  toStatusError,
} from './inputs.ts';
import { listSubscribers } from './publish/subscribers.ts';
import { isActiveMaintenance } from './render.ts';
import type { StatusService } from './service.ts';

export interface StatusRouteDeps {
  service: StatusService;
  /** The gateway's authenticator (admin routes need the admin key). */
  authenticate(headers: IncomingHttpHeaders): Promise<Caller>;
  /** The configured admin key: operators sign in to the HTML pages with it (none: sign-in is off). */
  adminKey?: string | undefined;
  /** For the subscriber list (the publishing module's table). */
  db?: Db;
  /** Operator sessions shared with the admin console (/admin): one sign-in opens both. */
  sessions?: SessionStore;
}

type Params = { id: string; component: string };

/**
 * The Statuspage-compatible public API (read-only, CORS open, as Statuspage's is), the public report
 * endpoint, and the operators' admin API. Errors: `{"error": {"code", "message"}}`.
 */
export function statusRoutes(deps: StatusRouteDeps) {
  const { service } = deps;
  return async (app: FastifyInstance): Promise<void> => {
    app.setErrorHandler((err, _req, reply) => {
      const e = toStatusError(err);
      if (e.status === 429) reply.header('retry-after', String(service.settings.reports.windowMs / 1000));
      return reply.code(e.status).type('application/json').send(JSON.stringify(e.toJSON()));
    });

    // ---- public ----
    app.register(async (pub) => {
      pub.addHook('onSend', async (_req, reply, payload) => {
        reply.header('access-control-allow-origin', '*');
        reply.header('cache-control', 'no-cache');
        return payload;
      });
      const page = async () => (await service.summary()).page;
      pub.get('/api/v2/summary.json', async () => service.summary());
      pub.get('/api/v2/status.json', async () => {
        const s = await service.summary();
        return { page: s.page, status: s.status };
      });
      pub.get('/api/v2/components.json', async () => ({
        page: await page(),
        components: await service.components(),
      }));
      pub.get('/api/v2/incidents.json', async () => ({
        page: await page(),
        incidents: await service.incidents(),
      }));
      pub.get('/api/v2/incidents/unresolved.json', async () => {
        const s = await service.summary();
        return { page: s.page, incidents: s.incidents };
      });
      pub.get('/api/v2/scheduled-maintenances.json', async () => ({
        page: await page(),
        scheduled_maintenances: await service.maintenances(),
      }));
      pub.get('/api/v2/scheduled-maintenances/upcoming.json', async () => ({
        page: await page(),
        scheduled_maintenances: (await service.maintenances()).filter((m) => m.status === 'scheduled'),
      }));
      pub.get('/api/v2/scheduled-maintenances/active.json', async () => ({
        page: await page(),
        scheduled_maintenances: (await service.maintenances()).filter((m) => isActiveMaintenance(m.status)),
      }));
      pub.options('/api/v2/reports', async (_req, reply) => {
        reply
          .header('access-control-allow-methods', 'POST')
          .header('access-control-allow-headers', 'content-type')
          .header('access-control-max-age', '86400')
          .code(204)
          .send();
      });
      pub.post('/api/v2/reports', async (req, reply) => {
        const body = parse(publicReport, req.body);
        const r = await service.submitReport({
          component: body.component_id,
          ip: req.ip,
          category: body.category,
          text: body.text,
        });
        return reply.code(201).send(r);
      });
    });

    // ---- operators' HTML pages (signed in with the admin key; forms, no scripts) ----
    app.register(async (pages) => {
      registerAdminPages(pages, {
        service,
        adminKey: deps.adminKey,
        ...(deps.db ? { db: deps.db } : {}),
        ...(deps.sessions ? { sessions: deps.sessions } : {}),
      });
    });

    // ---- operators ----
    app.register(async (adm) => {
      adm.addHook('preHandler', async (req: FastifyRequest) => {
        const caller = await deps.authenticate(req.headers);
        if (caller.kind !== 'admin')
          throw new StatusError(403, 'admin_required', 'The status admin API needs the admin key.');
      });
      type Req = FastifyRequest<{ Params: Params }>;
      const created = (reply: FastifyReply) => reply.code(201);

      adm.get('/admin/status/components', async () => {
        const readings = service.readings();
        const records = await service.componentRecords();
        const manual = new Map(
          service
            .manualStatuses()
            .map((m) => [m.componentId, { status: m.status, incident_id: m.incidentId, since: m.at }]),
        );
        return {
          // Whose requests the statuses are computed from, and which replica writes them (docs/status.md).
          telemetry: service.telemetry(),
          components: records.map((c) => ({
            id: c.id,
            key: c.key,
            name: c.name,
            status: c.status,
            retired: c.retired,
            group: c.isGroup,
            computed: readings.get(c.key)?.computed ?? null,
            candidate: readings.get(c.key)?.candidate ?? null,
            manual: manual.get(c.id) ?? null,
          })),
        };
      });
      adm.get('/admin/status/subscribers', async () => {
        if (!deps.db) throw new StatusError(404, 'not_found', 'Subscribers are not available here.');
        return {
          subscribers: (await listSubscribers(deps.db)).map((s) => ({
            id: s.id,
            kind: s.kind,
            target: s.target,
            components: s.components,
            component_updates: s.componentUpdates,
            confirmed: s.disabledAt === null,
            disabled_at: s.disabledAt?.toISOString() ?? null,
            created_at: s.createdAt.toISOString(),
          })),
        };
      });
      adm.put('/admin/status/incidents/:id/components/:component', async (req: Req) => {
        const b = parse(manualStatus, req.body);
        return service.setComponentStatus(req.params.id, req.params.component, b.status, b.body);
      });
      adm.delete('/admin/status/incidents/:id/components/:component', async (req: Req) =>
        service.setComponentStatus(req.params.id, req.params.component, null),
      );
      adm.get('/admin/status/incidents', async () => ({ incidents: await service.allIncidents() }));
      adm.get('/admin/status/incidents/:id', async (req: Req) => service.incident(req.params.id));
      adm.post('/admin/status/incidents', async (req, reply) => {
        const b = parse(createIncident, req.body);
        created(reply);
        return service.createIncident({
          name: b.name,
          body: b.body,
          ...(b.status ? { status: b.status } : {}),
          ...(b.impact ? { impact: b.impact } : {}),
          ...(b.component_ids ? { components: b.component_ids } : {}),
          ...(b.deliver_notifications !== undefined ? { deliverNotifications: b.deliver_notifications } : {}),
        });
      });
      adm.patch('/admin/status/incidents/:id', async (req: Req) => {
        const b = parse(editIncident, req.body);
        return service.editIncident(req.params.id, {
          ...(b.name ? { name: b.name } : {}),
          ...(b.impact !== undefined ? { impact: b.impact } : {}),
        });
      });
      const update = async (req: Req, reply: FastifyReply) => {
        const b = parse(postUpdate, req.body);
        created(reply);
        return service.postUpdate(req.params.id, {
          status: b.status,
          body: b.body,
          ...(b.deliver_notifications !== undefined ? { deliverNotifications: b.deliver_notifications } : {}),
        });
      };
      adm.post('/admin/status/incidents/:id/updates', update);
      adm.post('/admin/status/maintenances/:id/updates', update);
      adm.post('/admin/status/incidents/:id/merge', async (req: Req) =>
        service.merge(req.params.id, parse(merge, req.body).into),
      );
      adm.post('/admin/status/incidents/:id/postmortem', async (req: Req) =>
        service.postmortem(req.params.id, parse(postmortem, req.body).body),
      );
      adm.post('/admin/status/maintenances', async (req, reply) => {
        const b = parse(maintenance, req.body);
        created(reply);
        return service.scheduleMaintenance({
          name: b.name,
          body: b.body,
          scheduledFor: new Date(b.scheduled_for),
          scheduledUntil: new Date(b.scheduled_until),
          components: b.component_ids,
        });
      });
      adm.get('/admin/status/reports', async () => service.reportsOverview());
      adm.post('/admin/status/reports/:component/confirm', async (req: Req) => {
        const b = parse(confirm, req.body);
        await service.confirmReports(req.params.component, b.status ?? 'degraded_performance');
        return service.reportsOverview();
      });
      adm.delete('/admin/status/reports/:component/confirm', async (req: Req) => {
        await service.confirmReports(req.params.component, null);
        return service.reportsOverview();
      });
    });
  };
}
