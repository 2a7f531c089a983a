import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { Agent, request } from 'undici';

/** Per-connection headers a proxy must not forward (RFC 9110 §7.6.1), plus host, which names the proxy. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);

function forwardable(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  return out;
}

/**
 * The bare minimum a Node proxy does: same keep-alive undici pool as the gateway's transport, request
 * body streamed up, response body streamed back, no parsing. Whatever it costs is the floor for any
 * Node gateway on this machine; the gateway is judged by how far above it it sits.
 */
export async function startProxy(upstreamOrigin: string, host: string, port: number) {
  const agent = new Agent({ connections: 256, pipelining: 1, keepAliveTimeout: 30_000 });
  const server = createServer(async (req, res) => {
    try {
      const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
      const up = await request(`${upstreamOrigin}${req.url ?? '/'}`, {
        method: req.method as 'POST',
        headers: forwardable(req.headers),
        body: hasBody ? req : null,
        dispatcher: agent,
      });
      res.writeHead(up.statusCode, forwardable(up.headers));
      await pipeline(up.body, res);
    } catch {
      if (res.headersSent) res.destroy();
      else res.writeHead(502).end();
    }
  });
  server.listen(port, host);
  await once(server, 'listening');
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${bound}`,
    async close(): Promise<void> {
      server.closeAllConnections();
      server.close();
      await agent.close();
    },
  };
}
