import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type HrTime, SpanKind } from '@opentelemetry/api';
import type { InMemorySpanExporter, ReadableSpan } from '@opentelemetry/sdk-trace';
import { type Gateway, startGateway } from '../../src/app.ts';
import { buildConfig } from '../../src/config/load.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import type { TracingHooks } from '../../src/telemetry/tracing.ts';
import { ADMIN_KEY } from '../helpers/gateway.ts';

export interface TracedGateway {
  gw: Gateway;
  url: string;
  close(): Promise<void>;
}

/** A real gateway on 127.0.0.1:0 with `telemetry` set, its spans going where `hooks` says. */
export async function startTracedGateway(
  input: { models: ConfigInput['models']; telemetry: ConfigInput['telemetry'] },
  hooks: TracingHooks = {},
  env: NodeJS.ProcessEnv = {},
): Promise<TracedGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-trace-'));
  const config = buildConfig(
    {
      server: { host: '127.0.0.1', port: 0 },
      auth: { admin_key: ADMIN_KEY },
      store: { data_dir: dir },
      log: { level: 'silent' },
      status: { enabled: false },
      chat: { enabled: false },
      models: input.models,
      telemetry: input.telemetry,
    },
    {},
  );
  const gw = await startGateway(config, { env, tracing: hooks });
  return {
    gw,
    url: gw.url,
    async close() {
      await gw.close(1_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The finished spans of one request, found by its request id. Spans are built when the request's
 * outcome is published, just after the answer is written, so this polls briefly.
 */
export async function spansOf(
  exporter: InMemorySpanExporter,
  requestId: string,
  children: number,
): Promise<{ server: ReadableSpan; attempts: ReadableSpan[] }> {
  const until = Date.now() + 5_000;
  for (;;) {
    const mine = exporter.getFinishedSpans().filter((s) => s.attributes['holdfast.request_id'] === requestId);
    const server = mine.find((s) => s.kind === SpanKind.SERVER);
    const attempts = mine
      .filter((s) => s !== server)
      .sort(
        (a, b) =>
          Number(a.attributes['holdfast.attempt.index']) - Number(b.attributes['holdfast.attempt.index']),
      );
    if (server && attempts.length >= children) return { server, attempts };
    if (Date.now() > until)
      throw new Error(
        `spans of ${requestId}: server ${server ? 'found' : 'missing'}, ${attempts.length} attempts`,
      );
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function ms(t: HrTime): number {
  return t[0] * 1000 + t[1] / 1e6;
}
