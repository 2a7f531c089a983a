import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createNotifier } from '../../../src/status/publish/notifier.ts';
import { claimDue } from '../../../src/status/publish/outbox.ts';
import { SIGNATURE_HEADER, verify } from '../../../src/status/publish/signature.ts';
import type { SpIncident } from '../../../src/status/statuspage.ts';
import { publishStatusEvent, type StatusEvent } from '../../../src/status/view.ts';
import {
  type Harness,
  manualClock,
  type StatusConfigInput,
  silent,
  startHarness,
  startReceiver,
} from './harness.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(
  notifications: NonNullable<StatusConfigInput>['notifications'] = {},
  timeoutMs?: number,
) {
  const clock = manualClock(Date.parse('2025-06-14T12:00:00Z'));
  const h = await startHarness({
    config: { notifications: { allow_private_targets: true, batch_window_s: 0, ...notifications } },
    deps: {
      subscribeLimit: 1000,
      // The timer is parked; tests drive the worker with flush()/tick() against the manual clock.
      notifier: {
        clock: clock.now,
        rand: () => 0,
        backoffBaseMs: 1_000,
        tickMs: 3_600_000,
        ...(timeoutMs ? { timeoutMs } : {}),
      },
    },
  });
  h.publishing.start();
  cleanups.push(() => h.close());
  return { h, clock };
}

async function receiver(answer?: (n: number) => number) {
  const r = await startReceiver(answer);
  cleanups.push(() => r.close());
  return r;
}

async function subscribe(h: Harness, body: Record<string, unknown>) {
  const res = await h.app.inject({ method: 'POST', url: '/api/v2/subscribers', payload: body });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as {
    subscriber: { id: string };
    secret?: string;
    unsubscribe_token: string;
    unsubscribe_url: string;
  };
}

function incidentEvent(
  h: Harness,
  change: 'created' | 'updated' | 'resolved' = 'created',
  over: Partial<SpIncident> = {},
): StatusEvent {
  return { type: 'incident', change, incident: { ...h.view.data.incidents[0]!, ...over } };
}

describe('webhooks', () => {
  it('delivers Statuspage-shaped, HMAC-signed incident payloads that a receiver can verify', async () => {
    const { h, clock } = await setup();
    const r = await receiver();
    const sub = await subscribe(h, { kind: 'webhook', target: `${r.url}/hook` });
    expect(sub.secret).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    publishStatusEvent(incidentEvent(h));
    await h.publishing.notifier.flush();
    expect(r.received).toHaveLength(1);
    const got = r.received[0]!;
    expect(got.headers['content-type']).toBe('application/json');
    // The receiver's side, as docs/status.md shows it: HMAC-SHA256 over "<t>.<raw body>".
    const header = String(got.headers[SIGNATURE_HEADER]);
    const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBe(Math.floor(clock.now().getTime() / 1000));
    expect(createHmac('sha256', sub.secret!).update(`${m![1]}.${got.body}`).digest('hex')).toBe(m![2]);
    expect(verify(sub.secret!, got.body, header, { nowS: Number(m![1]) })).toBe(true);
    expect(verify('wrong-secret-wrong-secret', got.body, header, { nowS: Number(m![1]) })).toBe(false);
    expect(verify(sub.secret!, `${got.body} `, header, { nowS: Number(m![1]) })).toBe(false);
    // too old: replay protection
    expect(verify(sub.secret!, got.body, header, { nowS: Number(m![1]) + 3600 })).toBe(false);

    const body = JSON.parse(got.body);
    expect(Object.keys(body).sort()).toEqual(['incident', 'meta', 'page']);
    expect(body.meta).toEqual({
      unsubscribe: `http://127.0.0.1:8080/status/unsubscribe?id=${sub.subscriber.id}&token=${sub.unsubscribe_token}`,
      documentation: 'http://127.0.0.1:8080/status#subscribe',
      generated_at: clock.now().toISOString(),
    });
    expect(body.page).toEqual({
      id: 'hfpage01',
      status_indicator: 'major',
      status_description: 'Partial System Outage',
    });
    expect(body.incident.id).toBe('inc_active');
    expect(body.incident.incident_updates).toHaveLength(3);
    expect(body.incident.components.map((c: { id: string }) => c.id)).toEqual(['cmp_gpt', 'cmp_llama']);
    expect(got.headers['x-holdfast-delivery']).toMatch(/^ob_/);
  });

  it('retries a failing receiver with exponential backoff and jitter until it answers 2xx', async () => {
    const { h, clock } = await setup({ max_attempts: 5 });
    const r = await receiver((n) => (n <= 2 ? 500 : 204));
    await subscribe(h, { kind: 'webhook', target: r.url });
    publishStatusEvent(incidentEvent(h));
    await h.publishing.notifier.flush();
    expect(r.received).toHaveLength(1);
    // rand() = 0: the jitter factor is 0.5, so attempt 1 waits 1000·2⁰·0.5 = 500 ms, attempt 2 1000 ms
    clock.advance(499);
    expect(await h.publishing.notifier.tick()).toBe(0);
    clock.advance(1);
    expect(await h.publishing.notifier.tick()).toBe(1);
    expect(r.received).toHaveLength(2);
    clock.advance(999);
    expect(await h.publishing.notifier.tick()).toBe(0);
    clock.advance(1);
    expect(await h.publishing.notifier.tick()).toBe(1);
    expect(r.received).toHaveLength(3);
    expect(r.received.map((x) => x.headers['x-holdfast-attempt'])).toEqual(['1', '2', '3']);
    // one delivery, retried: same id every time
    expect(new Set(r.received.map((x) => x.headers['x-holdfast-delivery'])).size).toBe(1);
    const row = await h.db.kysely.selectFrom('status_outbox').selectAll().executeTakeFirstOrThrow();
    expect(row.delivered_at).not.toBeNull();
    expect(row.attempts).toBe(3);
    clock.advance(60_000);
    expect(await h.publishing.notifier.tick()).toBe(0);
  });

  it('times out a receiver that does not answer, and retries', async () => {
    const { h } = await setup({}, 300);
    const { createServer } = await import('node:http');
    const hanging = createServer(() => {});
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise((resolve) => {
          hanging.closeAllConnections();
          hanging.close(() => resolve());
        }),
    );
    await subscribe(h, {
      kind: 'webhook',
      target: `http://127.0.0.1:${(hanging.address() as { port: number }).port}/`,
    });
    publishStatusEvent(incidentEvent(h));
    const started = Date.now();
    await h.publishing.notifier.flush();
    expect(Date.now() - started).toBeLessThan(5_000);
    const row = await h.db.kysely.selectFrom('status_outbox').selectAll().executeTakeFirstOrThrow();
    expect(row.attempts).toBe(1);
    expect(row.delivered_at).toBeNull();
    expect(row.failed_at).toBeNull();
    expect(row.last_error).toMatch(/timeout|aborted/i);
  });

  it('gives up after max_attempts', async () => {
    const { h, clock } = await setup({ max_attempts: 3 });
    const r = await receiver(() => 503);
    await subscribe(h, { kind: 'webhook', target: r.url });
    publishStatusEvent(incidentEvent(h));
    await h.publishing.notifier.flush();
    for (let i = 0; i < 5; i++) {
      clock.advance(10_000);
      await h.publishing.notifier.tick();
    }
    expect(r.received).toHaveLength(3);
    const row = await h.db.kysely.selectFrom('status_outbox').selectAll().executeTakeFirstOrThrow();
    expect(row.failed_at).not.toBeNull();
    expect(row.last_error).toBe('HTTP 503');
  });

  it('batches updates to one incident within batch_window_s into one delivery', async () => {
    const { h, clock } = await setup({ batch_window_s: 30 });
    const r = await receiver();
    const sub = await subscribe(h, { kind: 'webhook', target: r.url });
    const base = h.view.data.incidents[0]!;
    publishStatusEvent(
      incidentEvent(h, 'created', {
        status: 'investigating',
        incident_updates: base.incident_updates.slice(2),
      }),
    );
    clock.advance(10_000);
    publishStatusEvent(
      incidentEvent(h, 'updated', {
        status: 'investigating',
        incident_updates: base.incident_updates.slice(1),
      }),
    );
    clock.advance(10_000);
    publishStatusEvent(incidentEvent(h, 'updated'));
    await h.publishing.notifier.flush();
    expect(r.received).toHaveLength(0);
    clock.advance(9_999);
    expect(await h.publishing.notifier.tick()).toBe(0);
    clock.advance(1);
    await h.publishing.notifier.flush();
    expect(r.received).toHaveLength(1);
    const body = JSON.parse(r.received[0]!.body);
    // the latest picture: all three updates, status identified
    expect(body.incident.status).toBe('identified');
    expect(body.incident.incident_updates).toHaveLength(3);
    // an update after the batch went out is a new delivery
    clock.advance(5_000);
    publishStatusEvent(incidentEvent(h, 'resolved', { status: 'resolved' }));
    clock.advance(30_000);
    await h.publishing.notifier.flush();
    expect(r.received).toHaveLength(2);
    expect(JSON.parse(r.received[1]!.body).incident.status).toBe('resolved');
    // a different incident is its own batch
    const rows = await h.db.kysely.selectFrom('status_outbox').select('subscriber_id').execute();
    expect(rows.every((x) => x.subscriber_id === sub.subscriber.id)).toBe(true);
  });

  it('sends component-only changes to webhooks that opted in, never to others', async () => {
    const { h } = await setup();
    const plain = await receiver();
    const opted = await receiver();
    const slack = await receiver();
    await subscribe(h, { kind: 'webhook', target: plain.url });
    await subscribe(h, { kind: 'webhook', target: opted.url, component_updates: true });
    await subscribe(h, { kind: 'slack', target: slack.url });
    const gpt = h.view.data.components.find((c) => c.id === 'cmp_gpt')!;
    publishStatusEvent({
      type: 'component',
      component: gpt,
      oldStatus: 'operational',
      newStatus: 'partial_outage',
      at: '2025-06-14T12:00:00.000Z',
    });
    await h.publishing.notifier.flush();
    expect(plain.received).toHaveLength(0);
    expect(slack.received).toHaveLength(0);
    expect(opted.received).toHaveLength(1);
    const body = JSON.parse(opted.received[0]!.body);
    expect(Object.keys(body).sort()).toEqual(['component', 'component_update', 'meta', 'page']);
    expect(body.component.id).toBe('cmp_gpt');
    expect(body.component_update).toMatchObject({
      component_id: 'cmp_gpt',
      old_status: 'operational',
      new_status: 'partial_outage',
      created_at: '2025-06-14T12:00:00.000Z',
    });
    // maintenance reaches everyone
    publishStatusEvent({ type: 'maintenance', change: 'scheduled', incident: h.view.data.maintenances[0]! });
    await h.publishing.notifier.flush();
    expect([plain.received.length, opted.received.length, slack.received.length]).toEqual([1, 2, 1]);
  });

  it('filters by the components a subscriber follows', async () => {
    const { h } = await setup();
    const claudeOnly = await receiver();
    await subscribe(h, { kind: 'webhook', target: claudeOnly.url, components: ['cmp_claude'] });
    publishStatusEvent(incidentEvent(h)); // gpt-4o and llama
    publishStatusEvent({ type: 'incident', change: 'resolved', incident: h.view.data.incidents[1]! }); // claude
    await h.publishing.notifier.flush();
    expect(claudeOnly.received).toHaveLength(1);
    expect(JSON.parse(claudeOnly.received[0]!.body).incident.id).toBe('inc_past');
  });

  it('formats Slack and Discord incoming-webhook messages', async () => {
    const { h } = await setup();
    const slack = await receiver();
    const discord = await receiver();
    await subscribe(h, { kind: 'slack', target: `${slack.url}/services/T0/B0/x` });
    await subscribe(h, { kind: 'discord', target: `${discord.url}/api/webhooks/1/abc` });
    publishStatusEvent(incidentEvent(h));
    await h.publishing.notifier.flush();
    const s = JSON.parse(slack.received[0]!.body);
    expect(slack.received[0]!.url).toBe('/services/T0/B0/x');
    expect(typeof s.text).toBe('string');
    expect(s.text).toContain('Identified: Elevated error rate on gpt-4o &lt;eu-west&gt;');
    expect(s.blocks[0]).toEqual({
      type: 'header',
      text: {
        type: 'plain_text',
        text: 'Holdfast Status: Identified: Elevated error rate on gpt-4o <eu-west>',
        emoji: false,
      },
    });
    expect(s.blocks[1].type).toBe('section');
    expect(s.blocks[1].text.text).toContain('&lt;script&gt;');
    expect(JSON.stringify(s.blocks)).toContain('|View on the status page>');
    expect(slack.received[0]!.headers[SIGNATURE_HEADER]).toBeUndefined();

    const d = JSON.parse(discord.received[0]!.body);
    expect(d.content).toBe('**Holdfast Status**: Identified: Elevated error rate on gpt-4o <eu-west>');
    expect(d.content.length).toBeLessThanOrEqual(2000);
    expect(d.allowed_mentions).toEqual({ parse: [] });
    expect(d.embeds).toHaveLength(1);
    expect(d.embeds[0]).toMatchObject({
      title: 'Identified: Elevated error rate on gpt-4o <eu-west>',
      url: 'http://127.0.0.1:8080/status/incidents/inc_active',
      color: 0xbc4c00,
    });
    expect(d.embeds[0].fields.map((f: { name: string }) => f.name)).toEqual(['Affected', 'Impact', 'When']);
  });

  it('unsubscribes with the token (API and one-click form), and rejects a wrong token', async () => {
    const { h } = await setup();
    const r = await receiver();
    const a = await subscribe(h, { kind: 'webhook', target: r.url });
    const b = await subscribe(h, { kind: 'webhook', target: r.url });
    const wrong = await h.app.inject({
      method: 'DELETE',
      url: `/api/v2/subscribers/${a.subscriber.id}?token=nope`,
    });
    expect(wrong.statusCode).toBe(404);
    const ok = await h.app.inject({
      method: 'DELETE',
      url: `/api/v2/subscribers/${a.subscriber.id}?token=${a.unsubscribe_token}`,
    });
    expect(ok.statusCode).toBe(204);
    // the link from meta.unsubscribe: GET asks, POST (the button or RFC 8058 one-click) does it
    const path = new URL(b.unsubscribe_url).pathname + new URL(b.unsubscribe_url).search;
    const ask = await h.app.inject({ method: 'GET', url: path });
    expect(ask.body).toContain('<button class="button primary" type="submit">Unsubscribe</button>');
    expect(await h.db.kysely.selectFrom('status_subscribers').select('id').execute()).toHaveLength(1);
    const done = await h.app.inject({
      method: 'POST',
      url: path,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'List-Unsubscribe=One-Click',
    });
    expect(done.statusCode).toBe(200);
    expect(done.body).toContain('Unsubscribed');
    publishStatusEvent(incidentEvent(h));
    await h.publishing.notifier.flush();
    expect(r.received).toHaveLength(0);
  });

  it('validates subscriptions', async () => {
    const { h } = await setup();
    const bad = async (payload: Record<string, unknown>) => {
      const res = await h.app.inject({ method: 'POST', url: '/api/v2/subscribers', payload });
      expect(res.statusCode).toBe(400);
      return res.json().error as { code: string; message: string };
    };
    expect((await bad({ kind: 'pager', target: 'x' })).code).toBe('invalid_request');
    expect((await bad({ kind: 'email', target: 'a@b.co' })).message).toContain(
      'email notifications are not configured',
    );
    expect(
      (await bad({ kind: 'slack', target: 'https://example.com/x', component_updates: true })).message,
    ).toContain('webhook subscribers only');
    expect((await bad({ kind: 'webhook', target: 'not a url' })).message).toContain('not a valid URL');
  });

  it('keeps deliveries across a restart, and a claimed row comes back when its lease runs out', async () => {
    const { h, clock } = await setup();
    const r = await receiver();
    await subscribe(h, { kind: 'webhook', target: r.url });
    // queue without delivering (as if the process died right after the event)
    await h.publishing.notifier.onEvent(incidentEvent(h));
    // a worker claims the row and dies before sending
    expect(await claimDue(h.db, { limit: 10, leaseMs: 60_000, now: clock.now() })).toHaveLength(1);
    const second = createNotifier({
      db: h.db,
      view: h.view,
      config: h.config,
      logger: silent,
      clock: clock.now,
      rand: () => 0,
    });
    cleanups.push(() => second.close());
    expect(await second.tick()).toBe(0);
    clock.advance(60_001);
    expect(await second.tick()).toBe(1);
    expect(r.received).toHaveLength(1);
    expect(r.received[0]!.headers['x-holdfast-attempt']).toBe('2');
  });
});
