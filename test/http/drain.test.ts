import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { ADMIN_KEY, startTestGateway } from '../helpers/gateway.ts';

/**
 * The drain a load balancer needs (src/http/drain.ts): readiness fails at once while every request is
 * still served (with `Connection: close`), then the listener closes, and running answers finish.
 */

const slowModel = {
  name: 'slow',
  deployments: [
    {
      id: 'slow-d',
      provider: 'simulator' as const,
      model: 's',
      simulator: { ttft_ms: 0, tokens_per_sec: 40, answer_tokens: 20 },
    },
  ],
};

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(
  url: string,
  path: string,
  opts: { body?: unknown; agent?: http.Agent } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const u = new URL(path, url);
    const req = http.request(
      u,
      {
        method: opts.body === undefined ? 'GET' : 'POST',
        agent: opts.agent ?? false,
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body === undefined ? undefined : JSON.stringify(opts.body));
  });
}

const chat = (stream: boolean) => ({
  model: 'slow',
  stream,
  messages: [{ role: 'user', content: 'tell me something' }],
});

describe('drain', () => {
  it('fails readiness but keeps serving during the delay, then refuses connections and finishes running answers', async () => {
    const t = await startTestGateway({ store: { data_dir: 'memory://' }, models: [slowModel] });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      // An answer already running when the drain starts (about half a second of tokens), on a kept-alive
      // connection: its answer says keep-alive, and it ends while the replica is stopping.
      const running = request(t.url, '/v1/chat/completions', { body: chat(true), agent });
      await new Promise((r) => setTimeout(r, 100));
      const socketClosed = new Promise<void>((resolve) => {
        for (const list of Object.values(agent.sockets))
          for (const s of list ?? []) s.once('close', () => resolve());
      });
      const closing = t.gw.close(60_000, { drainDelayMs: 300 });

      const ready = await request(t.url, '/health/ready');
      expect(ready.status).toBe(503);
      expect(JSON.parse(ready.body)).toEqual({ status: 'draining' });
      expect((await request(t.url, '/health/live')).status).toBe(200);

      // Still served, on a fresh connection, and told to close it afterwards.
      const during = await request(t.url, '/v1/chat/completions', { body: chat(false) });
      expect(during.status).toBe(200);
      expect(during.headers.connection).toBe('close');
      expect(JSON.parse(during.body).choices[0].message.content.length).toBeGreaterThan(0);

      // Once the delay is over the listener is closed: new connections are refused.
      let refused: unknown;
      for (let i = 0; i < 100 && !refused; i++) {
        await request(t.url, '/health/live').catch((err: unknown) => {
          refused = err;
        });
        if (!refused) await new Promise((r) => setTimeout(r, 50));
      }
      expect((refused as NodeJS.ErrnoException | undefined)?.code).toBe('ECONNREFUSED');

      const first = await running;
      expect(first.status).toBe(200);
      expect(first.body).toContain('data: [DONE]');
      expect(first.headers.connection).toBe('keep-alive');
      // The connection went idle after the listener closed; left open, server.close() would wait out the
      // 72 s keep-alive timeout (and this test would time out).
      await socketClosed;
      expect(await closing).toEqual({ drained: true });
    } finally {
      agent.destroy();
      await t.close();
    }
  });

  it('cuts what is still running when the grace runs out', async () => {
    const t = await startTestGateway({
      store: { data_dir: 'memory://' },
      models: [
        {
          ...slowModel,
          deployments: [
            {
              ...slowModel.deployments[0]!,
              simulator: { ttft_ms: 0, tokens_per_sec: 5, answer_tokens: 200 },
            },
          ],
        },
      ],
    });
    try {
      const running = request(t.url, '/v1/chat/completions', { body: chat(true) }).catch(
        (err: unknown) => err,
      );
      await new Promise((r) => setTimeout(r, 150));
      expect(await t.gw.close(200)).toEqual({ drained: false });
      const cut = await running;
      // Either the stream ends without [DONE] or the connection is cut: never a complete answer.
      const completed = !(cut instanceof Error) && (cut as Answer).body.includes('data: [DONE]');
      expect(completed).toBe(false);
    } finally {
      await t.close();
    }
  });
});
