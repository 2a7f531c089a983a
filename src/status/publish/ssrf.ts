import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';

/**
 * Outbound requests to subscriber-chosen URLs (webhooks, Slack, Discord) must not reach the gateway's own
 * network: loopback, private ranges, link-local (cloud metadata at 169.254.169.254), unique-local IPv6,
 * and IPv4 smuggled inside IPv6 (mapped, NAT64, 6to4). Checked when a subscriber is added and again at
 * every delivery, and the connection is pinned to the addresses that were checked.
 */

export class TargetRefused extends Error {
  override name = 'TargetRefused';
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

export type Resolver = (host: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = async (host) => {
  const all = await dnsLookup(host, { all: true, verbatim: true });
  return all.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

function parseV4(ip: string): number[] | null {
  const parts = ip.split('.');
  if (parts.length !== 4) return null;
  const out = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : Number.NaN));
  return out.every((n) => n >= 0 && n <= 255) ? out : null;
}

/** 16 bytes of an IPv6 address (with `::` and a trailing dotted quad), or null. */
export function parseV6(input: string): number[] | null {
  let ip = input.replace(/^\[|\]$/g, '');
  const zone = ip.indexOf('%');
  if (zone >= 0) ip = ip.slice(0, zone);
  let tail: number[] = [];
  const lastColon = ip.lastIndexOf(':');
  if (ip.includes('.')) {
    const v4 = parseV4(ip.slice(lastColon + 1));
    if (!v4) return null;
    tail = v4;
    ip = `${ip.slice(0, lastColon + 1)}0:0`;
  }
  const halves = ip.split('::');
  if (halves.length > 2) return null;
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const words = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest];
  const bytes: number[] = [];
  for (const w of words) {
    if (!/^[0-9a-f]{1,4}$/i.test(w)) return null;
    const n = Number.parseInt(w, 16);
    bytes.push(n >> 8, n & 0xff);
  }
  if (tail.length === 4) bytes.splice(12, 4, ...tail);
  return bytes.length === 16 ? bytes : null;
}

function inV4(b: readonly number[], net: readonly number[], bits: number): boolean {
  for (let i = 0; i < 4; i++) {
    const take = Math.max(0, Math.min(8, bits - i * 8));
    if (take === 0) return true;
    const mask = (0xff << (8 - take)) & 0xff;
    if ((b[i]! & mask) !== (net[i]! & mask)) return false;
  }
  return true;
}

const V4_BLOCKED: [number[], number][] = [
  [[0, 0, 0, 0], 8], // "this network"
  [[10, 0, 0, 0], 8],
  [[100, 64, 0, 0], 10], // carrier-grade NAT (Alibaba metadata 100.100.100.200)
  [[127, 0, 0, 0], 8],
  [[169, 254, 0, 0], 16], // link-local, cloud metadata
  [[172, 16, 0, 0], 12],
  [[192, 0, 0, 0], 24], // IETF protocol assignments
  [[192, 0, 2, 0], 24],
  [[192, 88, 99, 0], 24],
  [[192, 168, 0, 0], 16],
  [[198, 18, 0, 0], 15], // benchmarking
  [[198, 51, 100, 0], 24],
  [[203, 0, 113, 0], 24],
  [[224, 0, 0, 0], 4], // multicast
  [[240, 0, 0, 0], 4], // reserved, broadcast
];

function v4Blocked(b: readonly number[]): string | null {
  for (const [net, bits] of V4_BLOCKED) if (inV4(b, net, bits)) return `${net.join('.')}/${bits}`;
  return null;
}

function v6Prefix(b: readonly number[], prefix: readonly number[], bits: number): boolean {
  for (let i = 0; i * 8 < bits; i++) {
    const take = Math.min(8, bits - i * 8);
    const mask = (0xff << (8 - take)) & 0xff;
    if ((b[i]! & mask) !== ((prefix[i] ?? 0) & mask)) return false;
  }
  return true;
}

function v6Blocked(b: readonly number[]): string | null {
  const zero = b.every((x, i) => i >= 15 || x === 0);
  if (zero && (b[15] === 0 || b[15] === 1)) return b[15] === 1 ? '::1 (loopback)' : ':: (unspecified)';
  // IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible ::a.b.c.d, NAT64 64:ff9b::/96: judge the IPv4 inside.
  const mapped = b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  const compat = b.slice(0, 12).every((x) => x === 0);
  const nat64 = v6Prefix(b, [0, 0x64, 0xff, 0x9b], 96);
  if (mapped || compat || nat64) {
    const inner = v4Blocked(b.slice(12));
    return inner ? `${inner} inside IPv6` : null;
  }
  // 6to4 2002:AABB:CCDD::/48 embeds an IPv4 address too.
  if (b[0] === 0x20 && b[1] === 0x02) {
    const inner = v4Blocked(b.slice(2, 6));
    if (inner) return `${inner} inside 6to4`;
  }
  if (v6Prefix(b, [0xfc], 7)) return 'fc00::/7 (unique local)';
  if (v6Prefix(b, [0xfe, 0x80], 10)) return 'fe80::/10 (link-local)';
  if (v6Prefix(b, [0xfe, 0xc0], 10)) return 'fec0::/10 (site-local)';
  if (v6Prefix(b, [0xff], 8)) return 'ff00::/8 (multicast)';
  if (v6Prefix(b, [0x01, 0x00, 0, 0, 0, 0, 0, 0], 64)) return '100::/64 (discard)';
  if (v6Prefix(b, [0x20, 0x01, 0x0d, 0xb8], 32)) return '2001:db8::/32 (documentation)';
  return null;
}

/** Why an address is not a public one (a range name), or null when it is. */
export function blockedRange(address: string): string | null {
  const v4 = parseV4(address);
  if (v4) return v4Blocked(v4);
  const v6 = parseV6(address);
  if (v6) return v6Blocked(v6);
  return 'not an IP address';
}

export interface TargetCheck {
  url: URL;
  /** The addresses the request must go to (empty when private targets are allowed and not resolved). */
  addresses: ResolvedAddress[];
}

export interface TargetPolicy {
  allowPrivate: boolean;
  resolve?: Resolver;
}

/** Parses and checks a subscriber URL; throws TargetRefused with a reason a person can act on. */
export async function checkTarget(raw: string, policy: TargetPolicy): Promise<TargetCheck> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TargetRefused('not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TargetRefused(`scheme ${url.protocol.replace(':', '')} is not allowed (http or https only)`);
  }
  if (url.username || url.password) throw new TargetRefused('credentials in the URL are not allowed');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (host === '') throw new TargetRefused('the URL has no host');
  let addresses: ResolvedAddress[];
  const literal = isIP(host);
  if (literal) {
    addresses = [{ address: host, family: literal === 6 ? 6 : 4 }];
  } else {
    try {
      addresses = await (policy.resolve ?? systemResolver)(host);
    } catch (err) {
      throw new TargetRefused(`cannot resolve ${host}: ${(err as Error).message}`);
    }
    if (addresses.length === 0) throw new TargetRefused(`${host} resolves to no address`);
  }
  if (!policy.allowPrivate) {
    // Every address must be public: a name with one public and one private record would let the
    // connection pick the private one.
    for (const a of addresses) {
      const why = blockedRange(a.address);
      if (why) {
        throw new TargetRefused(
          `${host === a.address ? host : `${host} resolves to ${a.address}`}, a non-public address (${why}); set status.notifications.allow_private_targets to allow it`,
        );
      }
    }
  }
  return { url, addresses };
}
