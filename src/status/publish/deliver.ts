import type { LookupFunction } from 'node:net';
import type { Transporter } from 'nodemailer';
import { Agent, request } from 'undici';
import type { Config } from '../../config/schema.ts';
import type { EmailMessage } from './messages.ts';
import { checkTarget, type Resolver, TargetRefused } from './ssrf.ts';

export interface HttpResult {
  status: number;
  /** Seconds the receiver asked us to wait (Retry-After on 429/503), when it said. */
  retryAfterS: number | null;
}

export interface PostOptions {
  allowPrivate: boolean;
  resolve?: Resolver;
  timeoutMs: number;
}

/** Thrown for deliveries that must not be retried (refused target). */
export class PermanentFailure extends Error {
  override name = 'PermanentFailure';
}

/**
 * POSTs JSON to a subscriber URL. The host is resolved and checked here, at delivery (DNS may have
 * changed since subscribing), and the socket is pinned to exactly the checked addresses, so a second
 * resolution by the HTTP client cannot be steered to an internal address (DNS rebinding). Redirects are
 * not followed: a 3xx to an internal URL would bypass the check.
 */
export async function postJson(
  url: string,
  body: string,
  headers: Record<string, string>,
  o: PostOptions,
): Promise<HttpResult> {
  let checked: Awaited<ReturnType<typeof checkTarget>>;
  try {
    checked = await checkTarget(url, { allowPrivate: o.allowPrivate, resolve: o.resolve });
  } catch (err) {
    if (err instanceof TargetRefused) throw new PermanentFailure(`target refused: ${err.message}`);
    throw err;
  }
  const pinned = checked.addresses;
  const lookup: LookupFunction = (_host, options, cb) => {
    const first = pinned[0]!;
    if (options.all)
      cb(
        null,
        pinned.map((a) => ({ address: a.address, family: a.family })),
      );
    else cb(null, first.address, first.family);
  };
  const agent = new Agent({
    connect: { lookup, timeout: o.timeoutMs },
    headersTimeout: o.timeoutMs,
    bodyTimeout: o.timeoutMs,
  });
  try {
    const res = await request(checked.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Holdfast-Status/1 (+webhooks)',
        ...headers,
      },
      body,
      dispatcher: agent,
      signal: AbortSignal.timeout(o.timeoutMs),
    });
    // Read (and bound) the answer only to free the connection; its content does not matter.
    await res.body.dump({ limit: 64 * 1024 }).catch(() => {});
    const ra = res.headers['retry-after'];
    const raS = typeof ra === 'string' && /^\d+$/.test(ra) ? Number(ra) : null;
    return { status: res.statusCode, retryAfterS: raS };
  } finally {
    await agent.close().catch(() => {});
  }
}

export type SmtpConfig = NonNullable<Config['status']['notifications']['smtp']>;

export interface Mailer {
  send(to: string, message: EmailMessage, headers: Record<string, string>): Promise<void>;
  close(): void;
}

/** nodemailer is loaded on the first mail, not at start: most gateways never send one. */
export function createMailer(smtp: SmtpConfig, timeoutMs: number): Mailer {
  let transport: Promise<Transporter> | undefined;
  let closed = false;
  const open = async (): Promise<Transporter> => {
    const { default: nodemailer } = await import('nodemailer');
    return nodemailer.createTransport({
      host: smtp.host,
      port: smtp.port,
      secure: smtp.secure,
      ...(smtp.user !== undefined ? { auth: { user: smtp.user, pass: smtp.pass ?? '' } } : {}),
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs * 3,
    });
  };
  return {
    async send(to, message, headers) {
      if (closed) throw new Error('mailer closed');
      transport ??= open();
      await (await transport).sendMail({
        from: smtp.from,
        to,
        subject: message.subject,
        text: message.text,
        html: message.html,
        headers,
      });
    },
    close() {
      closed = true;
      transport?.then((t) => t.close()).catch(() => undefined);
    },
  };
}
