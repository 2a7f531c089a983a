import type { Server, ServerResponse } from 'node:http';
import { BlockList, isIP, type Socket } from 'node:net';

/**
 * Connection-level flood protection, below HTTP: a cap on concurrent TCP connections per peer address,
 * and the idle-socket rule (a connection on which nothing moves is closed, unless it is waiting on us).
 * Header, body and keep-alive timeouts are Node's own (set in server.ts); this covers what Node lacks.
 */
export interface ConnectionGuardOptions {
  /** Concurrent connections one peer address may hold; 0 turns the cap off. */
  maxPerIp: number;
  /** Peers never capped (a local reverse proxy, trusted load balancers). */
  exempt: AddressMatcher;
  /** Fires for a refused connection (rate-limit the logging: a flood calls this per connection). */
  onRefused?: (ip: string) => void;
}

export interface ConnectionStats {
  /** Connections open now, counted against the cap (exempt peers are not counted). */
  counted: number;
  /** Distinct capped peer addresses with a connection open. */
  peers: number;
  /** Connections refused by the cap since start. */
  refused: number;
  /** Sockets closed by the idle rule since start. */
  idleClosed: number;
}

export type AddressMatcher = (ip: string) => boolean;

/** proxy-addr's names (what Fastify's trustProxy accepts), as address ranges. */
const NAMED: Record<string, readonly string[]> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

/** `::ffff:10.0.0.1` (an IPv4 peer on a dual-stack listener) is the IPv4 address it carries. */
export function normalizeAddress(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

/**
 * A matcher for addresses, CIDR ranges and the names `loopback`, `linklocal`, `uniquelocal`. Throws on an
 * entry it cannot read, so a typo in the config fails at startup instead of silently matching nothing.
 */
export function addressMatcher(entries: readonly string[]): AddressMatcher {
  if (entries.length === 0) return () => false;
  const list = new BlockList();
  const add = (entry: string): void => {
    const [addr = '', bits] = entry.trim().split('/');
    const family = isIP(addr);
    if (family === 0) throw new Error(`not an IP address, CIDR range or known name: "${entry}"`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) {
      list.addAddress(addr, type);
      return;
    }
    const prefix = Number(bits);
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128))
      throw new Error(`bad prefix length in "${entry}"`);
    list.addSubnet(addr, prefix, type);
  };
  for (const e of entries) for (const x of NAMED[e.trim()] ?? [e]) add(x);
  return (ip) => {
    const a = normalizeAddress(ip);
    const family = isIP(a);
    return family !== 0 && list.check(a, family === 4 ? 'ipv4' : 'ipv6');
  };
}

/**
 * The peers the per-IP cap leaves alone. With `trust_proxy: true` every peer is taken for a proxy (many
 * clients behind one address), so nobody is capped; with a list, the listed proxies are exempt.
 */
export function capExemption(
  trustProxy: boolean | readonly string[],
  exempt: readonly string[],
): AddressMatcher {
  if (trustProxy === true) return () => true;
  const proxies = Array.isArray(trustProxy) ? trustProxy : [];
  try {
    return addressMatcher([...exempt, ...proxies]);
  } catch (err) {
    throw new Error(`server.connection_cap_exempt / server.trust_proxy: ${(err as Error).message}`);
  }
}

/** Node's ServerResponse on the socket, if a request is being answered on it now (an internal field). */
function currentResponse(socket: Socket): ServerResponse | null | undefined {
  return (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
}

export function guardConnections(server: Server, opts: ConnectionGuardOptions): () => ConnectionStats {
  const open = new Map<string, number>();
  let counted = 0;
  let refused = 0;
  let idleClosed = 0;

  if (opts.maxPerIp > 0) {
    server.on('connection', (socket: Socket) => {
      const raw = socket.remoteAddress;
      if (raw === undefined) return; // already gone
      const ip = normalizeAddress(raw);
      if (opts.exempt(ip)) return;
      const n = (open.get(ip) ?? 0) + 1;
      if (n > opts.maxPerIp) {
        refused++;
        // Cheapest refusal: no response, no parsing; the peer sees the connection closed and retries later.
        socket.destroy();
        opts.onRefused?.(ip);
        return;
      }
      open.set(ip, n);
      counted++;
      socket.once('close', () => {
        counted--;
        const left = (open.get(ip) ?? 1) - 1;
        if (left <= 0) open.delete(ip);
        else open.set(ip, left);
      });
    });
  }

  // Node calls this when a socket has been idle (no bytes read or written) for `server.timeout`. With a
  // listener here Node destroys nothing itself, so the rule is ours: a response we are still working on
  // with nothing queued (a unary answer waiting on its upstream, an SSE stream between events) is our
  // silence, not the client's, and is left alone; anything else (a client that stopped reading, with
  // our writes piling up) is closed. Later activity re-arms the timer.
  server.on('timeout', (socket: Socket) => {
    const res = currentResponse(socket);
    if (res && !res.writableEnded && socket.writableLength === 0) return;
    idleClosed++;
    socket.destroy();
  });

  return () => ({ counted, peers: open.size, refused, idleClosed });
}
