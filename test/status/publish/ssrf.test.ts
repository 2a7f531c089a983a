import { afterEach, describe, expect, it } from 'vitest';
import { postJson } from '../../../src/status/publish/deliver.ts';
import { blockedRange, checkTarget, type Resolver, TargetRefused } from '../../../src/status/publish/ssrf.ts';
import { publishStatusEvent } from '../../../src/status/view.ts';
import { manualClock, startHarness, startReceiver } from './harness.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** A resolver from a table: no real DNS, and no packet ever leaves for the addresses named here. */
function table(entries: Record<string, string[]>): Resolver {
  return async (host) => {
    const list = entries[host];
    if (!list) throw new Error(`ENOTFOUND ${host}`);
    return list.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
}

const deny = {
  allowPrivate: false,
  resolve: table({
    'evil.test': ['127.0.0.1'],
    'mixed.test': ['93.184.216.34', '10.0.0.5'],
    'public.test': ['93.184.216.34'],
  }),
};

async function refusal(url: string, policy = deny): Promise<string> {
  try {
    await checkTarget(url, policy);
  } catch (err) {
    expect(err).toBeInstanceOf(TargetRefused);
    return (err as Error).message;
  }
  throw new Error(`${url} was not refused`);
}

describe('SSRF policy', () => {
  it.each([
    ['http://127.0.0.1/hook', '127.0.0.0/8'],
    ['http://127.1:8080/', '127.0.0.0/8'],
    ['http://0x7f000001/', '127.0.0.0/8'],
    ['http://10.1.2.3/', '10.0.0.0/8'],
    ['http://172.20.0.1/', '172.16.0.0/12'],
    ['http://192.168.1.1/', '192.168.0.0/16'],
    ['http://169.254.169.254/latest/meta-data/', '169.254.0.0/16'],
    ['http://100.100.100.200/', '100.64.0.0/10'],
    ['http://0.0.0.0/', '0.0.0.0/8'],
    ['http://[::1]/', 'loopback'],
    ['http://[::]/', 'unspecified'],
    ['http://[::ffff:127.0.0.1]/', '127.0.0.0/8 inside IPv6'],
    ['http://[::ffff:a9fe:a9fe]/', '169.254.0.0/16 inside IPv6'],
    ['http://[64:ff9b::10.0.0.1]/', '10.0.0.0/8 inside IPv6'],
    ['http://[2002:7f00:1::]/', 'inside 6to4'],
    ['http://[fd00:ec2::254]/', 'unique local'],
    ['http://[fe80::1]/', 'link-local'],
    ['http://evil.test/', 'evil.test resolves to 127.0.0.1'],
    ['http://mixed.test/', 'mixed.test resolves to 10.0.0.5'],
  ])('refuses %s', async (url, why) => {
    expect(await refusal(url)).toContain(why);
  });

  it('refuses schemes other than http(s), credentials, and names that do not resolve', async () => {
    expect(await refusal('file:///etc/passwd')).toContain('scheme file');
    expect(await refusal('gopher://public.test/')).toContain('scheme gopher');
    expect(await refusal('ftp://public.test/')).toContain('scheme ftp');
    expect(await refusal('http://user:pw@public.test/')).toContain('credentials');
    expect(await refusal('http://nowhere.test/')).toContain('cannot resolve');
  });

  it('refuses a hostname that really resolves to loopback (localhost, via the system resolver)', async () => {
    const msg = await refusal('http://localhost:9/', { allowPrivate: false } as typeof deny);
    expect(msg).toMatch(/localhost resolves to (127\.0\.0\.1|::1)/);
  });

  it('accepts public addresses, and private ones when allowed', async () => {
    const ok = await checkTarget('https://public.test/hook', deny);
    expect(ok.addresses).toEqual([{ address: '93.184.216.34', family: 4 }]);
    expect((await checkTarget('http://[2606:4700::1111]/', deny)).addresses[0]!.family).toBe(6);
    expect((await checkTarget('http://127.0.0.1/', { ...deny, allowPrivate: true })).addresses).toHaveLength(
      1,
    );
  });

  it('knows the ranges', () => {
    expect(blockedRange('8.8.8.8')).toBeNull();
    expect(blockedRange('2001:4860:4860::8888')).toBeNull();
    expect(blockedRange('::ffff:8.8.8.8')).toBeNull();
    expect(blockedRange('::ffff:7f00:1')).toContain('127.0.0.0/8');
    expect(blockedRange('fc00::1')).toContain('unique local');
    expect(blockedRange('ff02::1')).toContain('multicast');
    expect(blockedRange('224.0.0.1')).toContain('224.0.0.0/4');
    expect(blockedRange('255.255.255.255')).toContain('240.0.0.0/4');
    expect(blockedRange('nonsense')).toBe('not an IP address');
  });

  it('refuses private targets at subscribe time through the API', async () => {
    const h = await startHarness({
      deps: { resolve: table({ 'evil.test': ['127.0.0.1'] }), subscribeLimit: 100 },
    });
    cleanups.push(() => h.close());
    for (const target of [
      'http://127.0.0.1:9/',
      'http://10.0.0.1/',
      'http://169.254.169.254/',
      'http://[::1]/',
      'http://[::ffff:127.0.0.1]/',
      'http://evil.test/',
    ]) {
      const res = await h.app.inject({
        method: 'POST',
        url: '/api/v2/subscribers',
        payload: { kind: 'webhook', target },
      });
      expect(res.statusCode, target).toBe(400);
      expect(res.json().error.code).toBe('invalid_target');
    }
    expect(await h.db.kysely.selectFrom('status_subscribers').select('id').execute()).toEqual([]);
  });

  it('checks again at delivery: a name that turned private since subscribing is refused, nothing is sent', async () => {
    const r = await startReceiver();
    cleanups.push(() => r.close());
    const dns: Record<string, string[]> = { 'hooks.test': ['93.184.216.34'] };
    const clock = manualClock();
    const h = await startHarness({
      deps: { resolve: table(dns), notifier: { clock: clock.now, tickMs: 3_600_000 } },
    });
    cleanups.push(() => h.close());
    h.publishing.start();
    const res = await h.app.inject({
      method: 'POST',
      url: '/api/v2/subscribers',
      payload: { kind: 'webhook', target: `http://hooks.test:${r.port}/` },
    });
    expect(res.statusCode).toBe(201);
    dns['hooks.test'] = ['127.0.0.1']; // rebinding
    publishStatusEvent({ type: 'incident', change: 'created', incident: h.view.data.incidents[0]! });
    clock.advance(31_000);
    await h.publishing.notifier.flush();
    const row = await h.db.kysely.selectFrom('status_outbox').selectAll().executeTakeFirstOrThrow();
    expect(row.failed_at).not.toBeNull();
    expect(row.last_error).toContain('hooks.test resolves to 127.0.0.1');
    expect(r.received).toHaveLength(0);
  });

  it('pins the connection to the checked address (the HTTP client never resolves the name again)', async () => {
    const r = await startReceiver();
    cleanups.push(() => r.close());
    // hooks.test exists only in this table; reaching the receiver proves the pinned lookup was used.
    const res = await postJson(
      `http://hooks.test:${r.port}/x`,
      '{}',
      {},
      {
        allowPrivate: true,
        resolve: table({ 'hooks.test': ['127.0.0.1'] }),
        timeoutMs: 5_000,
      },
    );
    expect(res.status).toBe(200);
    expect(r.received[0]!.headers.host).toBe(`hooks.test:${r.port}`);
  });

  it('does not follow redirects', async () => {
    const { createServer } = await import('node:http');
    const server = createServer((_req, res) => {
      res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
    const port = (server.address() as { port: number }).port;
    const res = await postJson(
      `http://127.0.0.1:${port}/`,
      '{}',
      {},
      { allowPrivate: true, timeoutMs: 5_000 },
    );
    expect(res.status).toBe(302);
  });
});
