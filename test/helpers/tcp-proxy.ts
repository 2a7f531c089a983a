import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';

/**
 * A test-owned TCP proxy in front of a real server (PostgreSQL in the outage tests): `cut()` resets
 * every connection through it and refuses new ones (each is reset on accept), as a stopped server or a
 * refusing firewall looks to a client; `blackhole()` lets everything go silent instead (connections and
 * new connects hang, as when packets are dropped or an address vanishes), and the connections it froze
 * stay frozen for good; `restore()` lets new connections through again.
 */
export interface TcpProxy {
  readonly port: number;
  readonly open: boolean;
  cut(): void;
  blackhole(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const frozen = new Set<Socket>();
  let mode: 'open' | 'cut' | 'blackhole' = 'open';
  const server = createServer((client) => {
    if (mode === 'cut') {
      client.resetAndDestroy();
      return;
    }
    if (mode === 'blackhole') {
      client.pause();
      frozen.add(client);
      client.on('error', () => {}).on('close', () => frozen.delete(client));
      return;
    }
    const upstream = connect(target.port, target.host);
    sockets.add(client);
    sockets.add(upstream);
    const drop = (): void => {
      sockets.delete(client);
      sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    port,
    get open() {
      return mode === 'open';
    },
    cut() {
      mode = 'cut';
      for (const s of sockets) s.resetAndDestroy();
      sockets.clear();
    },
    blackhole() {
      mode = 'blackhole';
      for (const s of sockets) {
        s.unpipe();
        s.pause();
        // Whatever either side sends from now on goes nowhere, as with dropped packets.
        s.removeAllListeners('data');
        frozen.add(s);
      }
      sockets.clear();
    },
    restore() {
      mode = 'open';
    },
    async close() {
      mode = 'cut';
      for (const s of [...sockets, ...frozen]) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
