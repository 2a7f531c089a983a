import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishStatusEvent } from '../../../src/status/view.ts';
import { type Harness, manualClock, startHarness } from './harness.ts';

interface Mail {
  from: string;
  to: string[];
  raw: string;
}

/**
 * Headers unfolded (RFC 5322 2.2.3) and the quoted-printable body decoded, enough to search the text.
 * Only the body is QP-decoded: a header such as `token=A0yu...` would otherwise turn into a 0xA0 byte.
 */
function decoded(raw: string): string {
  const split = raw.indexOf('\r\n\r\n');
  const head = split === -1 ? raw : raw.slice(0, split);
  const body = split === -1 ? '' : raw.slice(split);
  return (
    head.replace(/\r\n([ \t])/g, '$1') +
    body
      .replace(/=\r?\n/g, '')
      .replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)))
  );
}

describe('email notifications through a local SMTP server', () => {
  const mails: Mail[] = [];
  let smtp: SMTPServer;
  let h: Harness;
  const clock = manualClock();

  beforeAll(async () => {
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData(stream, session, done) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          mails.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            raw: Buffer.concat(chunks).toString('utf8'),
          });
          done();
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
    const port = (smtp.server.address() as AddressInfo).port;
    h = await startHarness({
      config: {
        page: { url: 'https://status.example.com/status' },
        notifications: {
          batch_window_s: 0,
          smtp: { host: '127.0.0.1', port, secure: false, from: 'Holdfast Status <status@example.com>' },
        },
      },
      deps: { notifier: { clock: clock.now, tickMs: 3_600_000 } },
    });
    h.publishing.start();
  });
  afterAll(async () => {
    await h?.close();
    await new Promise<void>((resolve) => smtp.close(() => resolve()));
  });

  it('asks the address to confirm, then sends incident updates with an unsubscribe header', async () => {
    // the form, as a browser without JavaScript posts it
    const res = await h.app.inject({
      method: 'POST',
      url: '/api/v2/subscribers',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'kind=email&target=Reader%40Example.org',
    });
    expect(res.statusCode).toBe(201);
    expect(res.body).toContain('Check your inbox');
    await h.publishing.notifier.flush();
    expect(mails).toHaveLength(1);
    const confirmMail = decoded(mails[0]!.raw);
    expect(mails[0]!.to).toEqual(['reader@example.org']);
    expect(confirmMail).toContain('Subject: Confirm your subscription to Holdfast Status');
    // nothing is sent to an unconfirmed address
    publishStatusEvent({ type: 'incident', change: 'created', incident: h.view.data.incidents[0]! });
    await h.publishing.notifier.flush();
    expect(mails).toHaveLength(1);

    const link = /https:\/\/status\.example\.com\/status\/confirm\?id=[^\s"<]+/.exec(confirmMail)![0];
    const confirmUrl = new URL(link.replaceAll('&amp;', '&'));
    const ask = await h.app.inject({ method: 'GET', url: confirmUrl.pathname + confirmUrl.search });
    expect(ask.body).toContain('Confirm');
    const ok = await h.app.inject({ method: 'POST', url: confirmUrl.pathname + confirmUrl.search });
    expect(ok.body).toContain('Subscription confirmed');

    publishStatusEvent({ type: 'incident', change: 'updated', incident: h.view.data.incidents[0]! });
    await h.publishing.notifier.flush();
    expect(mails).toHaveLength(2);
    const mail = decoded(mails[1]!.raw);
    expect(mails[1]!.from).toBe('status@example.com');
    expect(mail).toContain('Subject: [Holdfast Status] Identified: Elevated error rate on gpt-4o <eu-west>');
    expect(mail).toMatch(
      /List-Unsubscribe: <https:\/\/status\.example\.com\/status\/unsubscribe\?id=sub_[^&]+&token=[^>]+>/,
    );
    expect(mail).toContain('List-Unsubscribe-Post: List-Unsubscribe=One-Click');
    // plain text part has the operator's words as typed; the HTML part has them escaped
    expect(mail).toContain('Requests with <script>alert("x")</script> in them are fine.');
    expect(mail).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(mail).toContain('Details: https://status.example.com/status/incidents/inc_active');
    // component flaps never reach email
    publishStatusEvent({
      type: 'component',
      component: h.view.data.components[1]!,
      oldStatus: 'operational',
      newStatus: 'major_outage',
      at: new Date().toISOString(),
    });
    await h.publishing.notifier.flush();
    expect(mails).toHaveLength(2);
  });
});
