import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseDuration, runChaos } from '../../src/cli/chaos.ts';
import { ADMIN, chaosApp, USER } from './helpers.ts';

let h: Awaited<ReturnType<typeof chaosApp>>;
beforeAll(async () => {
  h = await chaosApp();
});
afterAll(() => h.app.close());
beforeEach(() => {
  h.registry.clear();
});

async function chaos(args: string[], env: Record<string, string> = { HOLDFAST_ADMIN_KEY: ADMIN }) {
  let out = '';
  let err = '';
  const code = await runChaos([...args, '--url', h.url], {
    env,
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
  });
  return { code, out, err };
}

describe('parseDuration', () => {
  it('reads ms, s, m, h and bare seconds', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('1.5s')).toBe(1_500);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('45')).toBe(45_000);
    for (const bad of ['', 's', '-1s', '3 d', '1e3']) expect(parseDuration(bad)).toBeUndefined();
  });
});

describe('holdfast chaos', () => {
  it('inject → list → clear, against the admin API', async () => {
    const a = await chaos([
      'inject',
      'sim-east',
      '--kind',
      'error',
      '--rate',
      '0.5',
      '--status',
      '503',
      '--for',
      '30s',
    ]);
    expect(a).toMatchObject({ code: 0, err: '' });
    expect(a.out).toMatch(
      /^sim-east {2}chaos_1 {2}error rate=0\.5 status=503 {2}ends in (29|30)s {2}hits=0\n$/,
    );
    expect(h.registry.list('sim-east')[0]).toMatchObject({
      kind: 'error',
      rate: 0.5,
      status: 503,
      duration_s: 30,
    });

    await chaos(['inject', 'sim-west', '--kind', 'latency', '--delay', '800ms', '--for', '2m']);
    await chaos(['inject', 'sim-west', '--kind', 'rate_limit', '--retry-after', '2s', '--for', '1m']);
    await chaos(
      ['inject', 'sim-west', '--kind', 'stall', '--after', '5', '--for', '500ms', '--key', ADMIN],
      {},
    );
    expect(h.registry.list('sim-west').map((f) => ({ ...f, id: '', created: 0, ends: 0 }))).toEqual([
      {
        kind: 'latency',
        ms: 800,
        rate: 1,
        duration_s: 120,
        id: '',
        deployment: 'sim-west',
        created: 0,
        ends: 0,
        hits: 0,
      },
      {
        kind: 'rate_limit',
        retry_after_s: 2,
        rate: 1,
        duration_s: 60,
        id: '',
        deployment: 'sim-west',
        created: 0,
        ends: 0,
        hits: 0,
      },
      {
        kind: 'stall',
        after_tokens: 5,
        rate: 1,
        duration_s: 0.5,
        id: '',
        deployment: 'sim-west',
        created: 0,
        ends: 0,
        hits: 0,
      },
    ]);

    const list = await chaos(['list']);
    expect(list.code).toBe(0);
    expect(list.out.trim().split('\n')).toHaveLength(4);
    expect(list.out).toContain('latency ms=800');
    expect((await chaos(['list', 'sim-east'])).out.trim().split('\n')).toHaveLength(1);
    const json = await chaos(['list', '--json']);
    expect(JSON.parse(json.out).faults).toHaveLength(4);

    expect((await chaos(['clear', 'sim-east', 'chaos_1'])).out).toBe('cleared 1 fault\n');
    expect((await chaos(['clear', 'sim-west'])).out).toBe('cleared 3 faults\n');
    expect((await chaos(['list'])).out).toBe('no active faults\n');
    await chaos(['inject', 'sim-west', '--kind', 'refuse', '--for', '10s']);
    expect((await chaos(['clear', '--all'])).out).toBe('cleared 1 fault\n');
  });

  it("prints the server's complaint, with the field, and exits 1", async () => {
    const bad = await chaos(['inject', 'sim-east', '--kind', 'error', '--status', '404', '--for', '30s']);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('(field: status)');
    const long = await chaos(['inject', 'sim-east', '--kind', 'refuse', '--for', '2h']);
    expect(long.err).toContain('(field: duration_s)');
    const unknown = await chaos(['inject', 'nope', '--kind', 'refuse', '--for', '1s']);
    expect(unknown).toMatchObject({ code: 1 });
    expect(unknown.err).toContain("No deployment 'nope'");
    const user = await chaos(['list', '--key', USER], {});
    expect(user).toMatchObject({ code: 1 });
    expect(user.err).toContain('admin key');
  });

  it('catches usage mistakes before calling the gateway (exit 2)', async () => {
    for (const args of [
      [],
      ['frobnicate'],
      ['inject'],
      ['inject', 'sim-east', '--for', '1s'],
      ['inject', 'sim-east', '--kind', 'refuse'],
      ['inject', 'sim-east', '--kind', 'refuse', '--for', 'soon'],
      ['inject', 'sim-east', '--kind', 'error', '--rate', 'half', '--for', '1s'],
      ['clear'],
      ['list', '--bogus'],
    ]) {
      const r = await chaos(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toContain('usage:');
    }
    const noKey = await chaos(['list'], {});
    expect(noKey.code).toBe(2);
    expect(noKey.err).toContain('HOLDFAST_ADMIN_KEY');
    expect(h.registry.list()).toEqual([]);
  });

  it('says so when the gateway is not there', async () => {
    let err = '';
    const code = await runChaos(['list', '--url', 'http://127.0.0.1:1', '--key', ADMIN], {
      env: {},
      out: () => {},
      err: (t) => {
        err += t;
      },
    });
    expect(code).toBe(1);
    expect(err).toContain('cannot reach the gateway at http://127.0.0.1:1');
  });
});
