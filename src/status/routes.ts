import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { HoldfastError } from '../core/errors.ts';
import type { Caller } from '../pipeline/context.ts';
import { StatusError } from './errors.ts';
import { isActiveMaintenance } from './render.ts';
import { type StatusService, TooMany } from './service.ts';

export interface StatusRouteDeps {
  service: StatusService;
  /** The gateway's authenticator (admin routes need the admin key). */
  authenticate(headers: IncomingHttpHeaders): Promise<Caller>;
}

const componentStatus = z.enum([
  'operational',
  'degraded_performance',
  'partial_outage',
  'major_outage',
  'under_maintenance',
]);
const impact = z.enum(['none', 'minor', 'major', 'critical']);
const incidentStatus = z.enum(['investigating', 'identified', 'monitoring', 'resolved']);
const anyStatus = z.enum([
  'investigating',
  'identified',
  'monitoring',
  'resolved',
  'scheduled',
  'in_progress',
  'verifying',
  'completed',
]);

const createIncident = z.object({
  name: z.string().min(1).max(300),
  body: z.string().min(1).max(20_000),
  status: incidentStatus.optional(),
  impact: impact.optional(),
  component_ids: z.array(z.string()).max(100).optional(),
  deliver_notifications: z.boolean().optional(),
});
const editIncident = z.object({
  name: z.string().min(1).max(300).optional(),
  impact: impact.nullable().optional(),
});
const postUpdate = z.object({
  status: anyStatus,
  body: z.string().min(1).max(20_000),
  deliver_notifications: z.boolean().optional(),
});
const merge = z.object({ into: z.string().min(1) });
const postmortem = z.object({ body: z.string().min(1).max(100_000) });
const maintenance = z.object({
  name: z.string().min(1).max(300),
  body: z.string().min(1).max(20_000),
  scheduled_for: z.iso.datetime({ offset: true }),
  scheduled_until: z.iso.datetime({ offset: true }),
  component_ids: z.array(z.string()).min(1).max(100),
});
const confirm = z.object({
  status: componentStatus.exclude(['operational', 'under_maintenance']).optional(),
});
const publicReport = z.object({
  /** A component id (or its config key). */
  component_id: z.string().min(1).max(200),
  category: z.enum(['slow', 'error', 'wrong_answer', 'cannot_sign_in', 'other']).default('other'),
  text: z.string().max(2_000).default(''),
});

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  const first = r.error.issues[0];
  const where = first && first.path.length > 0 ? `${first.path.map(String).join('.')}: ` : '';
  throw new StatusError(400, 'invalid_request', `${where}${first?.message ?? 'invalid body'}`);
}

function toStatusError(err: unknown): StatusError {
  if (err instanceof StatusError) return err;
  if (err instanceof TooMany) return new StatusError(429, 'too_many_reports', err.message);
  if (err instanceof HoldfastError) return new StatusError(err.status, err.code, err.message);
  const status = (err as { statusCode?: unknown }).statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500)
    return new StatusError(status, 'invalid_request', (err as Error).message);
  return new StatusError(500, 'internal', 'Something went wrong on our side.');
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
        return {
          components: records.map((c) => ({
            id: c.id,
            key: c.key,
            name: c.name,
            status: c.status,
            retired: c.retired,
            group: c.isGroup,
            computed: readings.get(c.key)?.computed ?? null,
            candidate: readings.get(c.key)?.candidate ?? null,
          })),
        };
      });
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
