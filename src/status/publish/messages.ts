import type {
  ComponentStatus,
  SpComponent,
  SpIncident,
  SpWebhookPage,
  SpWebhookPayload,
} from '../statuspage.ts';
import { escapeHtml, paragraphs } from './html.ts';
import {
  COMPONENT_COLOUR,
  COMPONENT_LABEL,
  formatTime,
  IMPACT_COLOUR,
  IMPACT_LABEL,
  UPDATE_LABEL,
} from './labels.ts';
import type { PublicUrls } from './links.ts';

/**
 * What an outbox row carries: the event, kind-neutral. Each delivery renders it for its subscriber's
 * kind at send time, so a batch of updates folded into one row goes out as the latest picture.
 */
export type OutboxPayload =
  | {
      type: 'incident' | 'maintenance';
      /** Every change folded into this delivery, oldest first ('created', 'updated', 'resolved'...). */
      changes: string[];
      incident: SpIncident;
      page: SpWebhookPage;
    }
  | {
      type: 'component';
      changes: string[];
      component: SpComponent;
      component_update: {
        id: string;
        component_id: string;
        old_status: ComponentStatus;
        new_status: ComponentStatus;
        created_at: string;
      };
      page: SpWebhookPage;
    }
  | { type: 'confirm'; changes: string[] };

export interface MessageContext {
  pageName: string;
  urls: PublicUrls;
  unsubscribeUrl: string;
  generatedAt: string;
}

export function webhookBody(p: OutboxPayload, ctx: MessageContext): SpWebhookPayload | null {
  const meta = {
    unsubscribe: ctx.unsubscribeUrl,
    documentation: ctx.urls.documentation,
    generated_at: ctx.generatedAt,
  };
  if (p.type === 'incident' || p.type === 'maintenance') return { meta, page: p.page, incident: p.incident };
  if (p.type === 'component') {
    return { meta, page: p.page, component: p.component, component_update: p.component_update };
  }
  return null;
}

function latestUpdate(i: SpIncident) {
  return [...i.incident_updates].sort((a, b) => b.display_at.localeCompare(a.display_at))[0];
}

function statusWord(i: SpIncident): string {
  return UPDATE_LABEL[i.status] ?? i.status;
}

/** One-line headline: "Investigating: Elevated errors on GPT-4o" / "Component API: Major outage". */
export function headline(p: OutboxPayload, pageName: string): string {
  if (p.type === 'incident') return `${statusWord(p.incident)}: ${p.incident.name}`;
  if (p.type === 'maintenance')
    return `Maintenance ${statusWord(p.incident).toLowerCase()}: ${p.incident.name}`;
  if (p.type === 'component') {
    return `${p.component.name}: ${COMPONENT_LABEL[p.component_update.new_status]} (was ${COMPONENT_LABEL[p.component_update.old_status].toLowerCase()})`;
  }
  return `Confirm your subscription to ${pageName}`;
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Slack escapes only these three in mrkdwn text; anything else is shown as typed. */
function slackEscape(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

function link(p: OutboxPayload, urls: PublicUrls): string {
  if (p.type === 'incident' || p.type === 'maintenance') return urls.incident(p.incident.id);
  return urls.page;
}

function detailLines(p: OutboxPayload): { body: string; affected: string; when: string } {
  if (p.type === 'incident' || p.type === 'maintenance') {
    const u = latestUpdate(p.incident);
    const window =
      p.type === 'maintenance' && p.incident.scheduled_for
        ? `Scheduled ${formatTime(p.incident.scheduled_for)}${p.incident.scheduled_until ? ` – ${formatTime(p.incident.scheduled_until)}` : ''}`
        : '';
    return {
      body: u?.body ?? '',
      affected: p.incident.components.map((c) => c.name).join(', '),
      when: window || (u ? formatTime(u.display_at) : ''),
    };
  }
  if (p.type === 'component')
    return { body: '', affected: p.component.name, when: formatTime(p.component_update.created_at) };
  return { body: '', affected: '', when: '' };
}

/** Slack incoming-webhook message: `text` (the notification and fallback) plus Block Kit blocks. */
export function slackBody(p: OutboxPayload, ctx: MessageContext): { text: string; blocks: unknown[] } {
  const title = headline(p, ctx.pageName);
  const url = link(p, ctx.urls);
  const d = detailLines(p);
  const fields = [
    d.affected ? `*Affected:* ${slackEscape(d.affected)}` : '',
    p.type === 'incident' ? `*Impact:* ${IMPACT_LABEL[p.incident.impact]}` : '',
    d.when ? `*When:* ${slackEscape(d.when)}` : '',
  ].filter(Boolean);
  const blocks: unknown[] = [
    {
      type: 'header',
      text: { type: 'plain_text', text: clip(`${ctx.pageName}: ${title}`, 150), emoji: false },
    },
  ];
  if (d.body)
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: clip(slackEscape(d.body), 2900) } });
  if (fields.length)
    blocks.push({ type: 'context', elements: fields.map((f) => ({ type: 'mrkdwn', text: f })) });
  blocks.push({
    type: 'context',
    elements: [
      { type: 'mrkdwn', text: `<${url}|View on the status page> · <${ctx.unsubscribeUrl}|Unsubscribe>` },
    ],
  });
  return {
    text: clip(`${ctx.pageName}: ${slackEscape(title)}${d.body ? ` — ${slackEscape(d.body)}` : ''}`, 3000),
    blocks,
  };
}

function colourInt(hex: string): number {
  return Number.parseInt(hex.slice(1), 16);
}

/** Discord webhook message: `content` (≤ 2000) plus one embed. Mentions are disabled. */
export function discordBody(
  p: OutboxPayload,
  ctx: MessageContext,
): { content: string; embeds: unknown[]; allowed_mentions: { parse: string[] } } {
  const title = headline(p, ctx.pageName);
  const d = detailLines(p);
  const colour =
    p.type === 'incident' || p.type === 'maintenance'
      ? p.incident.status === 'resolved' || p.incident.status === 'completed'
        ? COMPONENT_COLOUR.operational
        : IMPACT_COLOUR[p.incident.impact]
      : p.type === 'component'
        ? COMPONENT_COLOUR[p.component_update.new_status]
        : IMPACT_COLOUR.none;
  const fields = [
    d.affected ? { name: 'Affected', value: clip(d.affected, 1024), inline: true } : null,
    p.type === 'incident' ? { name: 'Impact', value: IMPACT_LABEL[p.incident.impact], inline: true } : null,
    d.when ? { name: 'When', value: clip(d.when, 1024), inline: true } : null,
  ].filter((f) => f !== null);
  return {
    content: clip(`**${ctx.pageName}**: ${title}`, 2000),
    embeds: [
      {
        title: clip(title, 256),
        url: link(p, ctx.urls),
        description: clip(`${d.body}${d.body ? '\n\n' : ''}[Unsubscribe](${ctx.unsubscribeUrl})`, 4096),
        color: colourInt(colour),
        timestamp: ctx.generatedAt,
        fields,
        footer: { text: ctx.pageName },
      },
    ],
    // Operator text must not ping @everyone in someone's server.
    allowed_mentions: { parse: [] },
  };
}

export interface EmailMessage {
  subject: string;
  text: string;
  html: string;
}

export function emailMessage(p: OutboxPayload, ctx: MessageContext, confirmUrl?: string): EmailMessage {
  const e = escapeHtml;
  if (p.type === 'confirm') {
    const url = confirmUrl ?? ctx.urls.page;
    return {
      subject: `Confirm your subscription to ${ctx.pageName}`,
      text: `Someone (hopefully you) asked for ${ctx.pageName} incident and maintenance updates at this address.\n\nConfirm: ${url}\n\nIf it was not you, ignore this email and you will hear nothing more.\n`,
      html: `<p>Someone (hopefully you) asked for <strong>${e(ctx.pageName)}</strong> incident and maintenance updates at this address.</p><p><a href="${e(url)}">Confirm the subscription</a></p><p>If it was not you, ignore this email and you will hear nothing more.</p>`,
    };
  }
  const title = headline(p, ctx.pageName);
  const url = link(p, ctx.urls);
  const d = detailLines(p);
  const updates =
    p.type === 'incident' || p.type === 'maintenance'
      ? [...p.incident.incident_updates].sort((a, b) => b.display_at.localeCompare(a.display_at))
      : [];
  const text = [
    title,
    '',
    d.affected ? `Affected: ${d.affected}` : '',
    p.type === 'incident' ? `Impact: ${IMPACT_LABEL[p.incident.impact]}` : '',
    '',
    ...updates.flatMap((u) => [
      `${UPDATE_LABEL[u.status] ?? u.status} (${formatTime(u.display_at)})`,
      u.body,
      '',
    ]),
    `Details: ${url}`,
    `Unsubscribe: ${ctx.unsubscribeUrl}`,
    '',
  ]
    .filter((l, i, all) => !(l === '' && all[i - 1] === ''))
    .join('\n');
  const html = `<div style="font-family:system-ui,-apple-system,Segoe UI,Roboto,Arial,sans-serif;max-width:600px;color:#1f2328">
<h1 style="font-size:20px">${e(title)}</h1>
${d.affected ? `<p style="color:#59636e">Affected: ${e(d.affected)}</p>` : ''}
${updates.map((u) => `<h2 style="font-size:15px;margin:18px 0 4px">${e(UPDATE_LABEL[u.status] ?? u.status)} <span style="font-weight:normal;color:#59636e">${e(formatTime(u.display_at))}</span></h2>${paragraphs(u.body).value}`).join('\n')}
<p><a href="${e(url)}">View on the status page</a></p>
<p style="color:#59636e;font-size:12px">You get this because you subscribed to ${e(ctx.pageName)}. <a href="${e(ctx.unsubscribeUrl)}">Unsubscribe</a></p>
</div>`;
  return { subject: `[${ctx.pageName}] ${title}`, text, html };
}
