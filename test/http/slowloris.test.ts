import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, type TestGateway } from '../helpers/gateway.ts';
import { percentile, type RawConn, rawConnect, startHardened, trickle } from './harness.ts';

/**
 * A slowloris attack on loopback. The attacker connects from 127.0.0.2 (the whole 127/8 is loopback on
 * Linux, so it is a different peer address), the honest client (the official openai SDK) from 127.0.0.1.
 * Timeouts are shrunk to a second or two so the test runs in a few seconds; the defaults are 10 s / 120 s.
 */
const HEADERS_TIMEOUT_MS = 1_000;
const REQUEST_TIMEOUT_MS = 2_000;
const CAP = 20;
const ATTACKER = '127.0.0.2';

let t: TestGateway;
let client: OpenAI;

beforeAll(async () => {
  t = await startHardened({
    server: {
      headers_timeout_ms: HEADERS_TIMEOUT_MS,
      request_timeout_ms: REQUEST_TIMEOUT_MS,
      idle_timeout_ms: 2_000,
      max_connections_per_ip: CAP,
      // Loopback is exempt by default (a local reverse proxy); this test attacks over loopback.
      connection_cap_exempt: [],
    },
  });
  client = new OpenAI({ apiKey: ADMIN_KEY, baseURL: `${t.url}/v1`, maxRetries: 0 });
});
afterAll(() => t?.close());

const HEAD = 'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n';

type Kind = 'headers' | 'body' | 'silent';

/** Opens one attacking connection of the given kind. */
async function attack(kind: Kind): Promise<RawConn & { kind: Kind }> {
  const c = await rawConnect(t.url, ATTACKER);
  if (kind === 'headers') {
    // Headers one byte at a time, never finished.
    c.socket.write(HEAD);
    trickle(c, `X-Padding: ${'a'.repeat(200)}`, 50);
  } else if (kind === 'body') {
    // Complete headers promising a body that arrives one byte at a time.
    c.socket.write(
      `${HEAD}Authorization: Bearer ${ADMIN_KEY}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n`,
    );
    trickle(c, `{"model":"sim-openai","messages":[${' '.repeat(5000)}`, 50);
  }
  return Object.assign(c, { kind });
}

/** The honest client's calls, streamed and not, with their latencies. */
async function honestCalls(n: number): Promise<{ ok: number; ms: number[] }> {
  const ms: number[] = [];
  let ok = 0;
  await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const start = performance.now();
      const messages = [{ role: 'user' as const, content: `hello ${i}` }];
      if (i % 2 === 0) {
        const r = await client.chat.completions.create({ model: 'sim-openai', messages });
        if (r.choices[0]?.message.content) ok++;
      } else {
        const stream = await client.chat.completions.create({ model: 'sim-openai', messages, stream: true });
        let text = '';
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
        if (text.length > 0) ok++;
      }
      ms.push(performance.now() - start);
    }),
  );
  return { ok, ms };
}

describe('slowloris on loopback', () => {
  it('closes slow headers, slow bodies and silent sockets by timeout, caps the attacker, serves the SDK', async () => {
    const baseline = await honestCalls(10);
    expect(baseline.ok).toBe(10);
    const started = performance.now();
    // Twice the cap, in an interleaved mix, all at once.
    const kinds: Kind[] = Array.from(
      { length: 2 * CAP },
      (_, i) => (['headers', 'body', 'silent'] as const)[i % 3]!,
    );
    const conns = await Promise.all(kinds.map((k) => attack(k)));

    // While the attack holds its sockets, the SDK (another address) is served normally.
    const during = await honestCalls(10);
    expect(during.ok).toBe(10);

    // More attackers while the first wave is still held: every one is refused, the cap holds.
    const refusedWave = await Promise.all(Array.from({ length: 10 }, () => attack('silent')));

    await Promise.all([...conns, ...refusedWave].map((c) => c.closed));
    const elapsed = performance.now() - started;

    // A refused connection is closed unanswered; a held one is answered 408 when its timeout fires.
    const held = conns.filter((c) => c.received.startsWith('HTTP/1.1 408'));
    const refused = conns.filter((c) => c.received === '');
    expect(held.length).toBe(CAP);
    expect(refused.length).toBe(CAP);
    expect(refusedWave.every((c) => c.received === '')).toBe(true);
    // Every kind was among the held ones, so each timeout did its part.
    expect(new Set(held.map((c) => c.kind))).toEqual(new Set(['headers', 'body', 'silent']));
    // Nothing got a real answer.
    expect(conns.some((c) => /^HTTP\/1\.1 (2|5)/.test(c.received))).toBe(false);

    // After the attack the attacker's address can connect again (the count went back down).
    const again = await rawConnect(t.url, ATTACKER);
    again.socket.write('GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await again.closed;
    expect(again.received).toMatch(/^HTTP\/1\.1 200/);

    const after = await honestCalls(4);
    expect(after.ok).toBe(4);

    const life = (cs: RawConn[]) => cs.map((c) => Math.round((c.closedAt ?? 0) - c.openedAt));
    const byKind = (k: Kind) => life(held.filter((c) => c.kind === k));
    console.log(
      JSON.stringify({
        attackSockets: conns.length + refusedWave.length,
        held: held.length,
        refused: refused.length + refusedWave.length,
        closeMs: {
          slowHeaders: [Math.min(...byKind('headers')), Math.max(...byKind('headers'))],
          slowBody: [Math.min(...byKind('body')), Math.max(...byKind('body'))],
          silent: [Math.min(...byKind('silent')), Math.max(...byKind('silent'))],
          refused: [Math.min(...life(refused)), Math.max(...life(refused))],
        },
        sdkBeforeAttackMs: {
          p50: Math.round(percentile(baseline.ms, 50)),
          max: Math.round(Math.max(...baseline.ms)),
        },
        sdkDuringAttackMs: {
          p50: Math.round(percentile(during.ms, 50)),
          max: Math.round(Math.max(...during.ms)),
        },
        elapsedMs: Math.round(elapsed),
      }),
    );
  }, 20_000);
});
