import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UpstreamError } from '../../src/core/upstream-error.ts';
import { postJson, upstreamTarget } from '../../src/providers/http-call.ts';

let url = '';
let hits = 0;
const server = createServer((req, res) => {
  hits++;
  req.resume();
  req.on('end', () => res.end('{}'));
});
const agent = new Agent();

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/x`;
});
afterAll(async () => {
  await agent.close();
  await new Promise((r) => server.close(r));
});

const call = (body: unknown, totalMs = 5_000) =>
  postJson({
    dispatcher: agent,
    target: upstreamTarget(url),
    headers: { 'content-type': 'application/json' },
    body,
    signal: new AbortController().signal,
    totalMs,
  });

describe('postJson', () => {
  it('a body that cannot be serialised is our error, sent nowhere, not an upstream connection failure', async () => {
    const before = hits;
    const err = await call({ n: 1n }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect(err).not.toBeInstanceOf(UpstreamError);
    expect(hits).toBe(before);
  });

  it('a refused connection is an upstream connection failure', async () => {
    const err = await postJson({
      dispatcher: agent,
      target: upstreamTarget('http://127.0.0.1:1/v1/x'),
      headers: {},
      body: {},
      signal: new AbortController().signal,
      totalMs: 5_000,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).kind).toBe('connection');
  });

  it('sends the serialised body', async () => {
    const res = await call({ a: 1 });
    expect(res.status).toBe(200);
    res.body.resume();
  });
});
