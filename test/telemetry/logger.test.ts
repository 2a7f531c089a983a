import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CENSOR, createLogger, redactFields, scrubber, secretsIn } from '../../src/telemetry/logger.ts';

describe('log redaction', () => {
  it('redacts credential fields at any depth, copying only what it changes', () => {
    const headers = { authorization: 'Bearer x', 'X-Api-Key': 'k', accept: '*/*' };
    const input = { req: { headers }, list: [{ api_key: 'a' }, { ok: 1 }], plain: { n: 1 } };
    const out = redactFields(input) as typeof input;
    expect(out.req.headers).toEqual({ authorization: CENSOR, 'X-Api-Key': CENSOR, accept: '*/*' });
    expect(out.list[0]).toEqual({ api_key: CENSOR });
    // Untouched branches are the caller's own objects; the caller's objects are never changed.
    expect(out.plain).toBe(input.plain);
    expect(out.list[1]).toBe(input.list[1]);
    expect(headers.authorization).toBe('Bearer x');
    // Nothing to hide: the very same object back.
    const clean = { a: { b: [1, 2] } };
    expect(redactFields(clean)).toBe(clean);
  });

  it('turns an error carrying credentials into a plain record without them', () => {
    const err = Object.assign(new Error('boom'), { config: { headers: { Authorization: 'Basic abc' } } });
    const out = redactFields({ err }) as { err: Record<string, unknown> };
    expect(out.err).toMatchObject({
      type: 'Error',
      message: 'boom',
      config: { headers: { Authorization: CENSOR } },
    });
  });

  it('finds the secrets in a config and an environment', () => {
    const found = secretsIn({
      auth: { admin_key: 'admin-key-123456' },
      models: [{ deployments: [{ api_key: 'upstream-key-1', headers: { 'x-org': 'org-header-value' } }] }],
      store: { url: 'postgres://user:p%40ss-word-9@db/holdfast' },
      chat: { oidc: { client_secret: 'oidc-secret-77' } },
      short: { api_key: 'tiny' },
      env: { HOLDFAST_ADMIN_KEY: 'env-admin-key-1', HOME: '/root/not-a-secret' },
    });
    expect(found).toEqual(
      expect.arrayContaining([
        'admin-key-123456',
        'upstream-key-1',
        'org-header-value',
        'p%40ss-word-9',
        'p@ss-word-9',
        'oidc-secret-77',
        'env-admin-key-1',
      ]),
    );
    expect(found).not.toContain('tiny');
    expect(found).not.toContain('/root/not-a-secret');
  });

  it('scrubs known values and credential shapes from a serialised line', () => {
    const scrub = scrubber(['my-own-secret-value']);
    const line = JSON.stringify({
      msg: 'my-own-secret-value; Bearer abcdefgh123; key hf-AAAAAAAAAAAAAAAAAAAA and sk-ant-api03-BBBBBBBBBBBBBBBB',
      url: 'redis://:hunter2hunter2@127.0.0.1:6379',
      cookie: 'hf_session=abc123def456; theme=dark',
    });
    const out = scrub(line);
    for (const s of [
      'my-own-secret-value',
      'abcdefgh123',
      'AAAAAAAAAAAA',
      'BBBBBBBBBBBB',
      'hunter2',
      'abc123def456',
    ])
      expect(out).not.toContain(s);
    expect(out).toContain('theme=dark');
    expect(out).toContain('127.0.0.1:6379');
    expect(JSON.parse(out)).toBeTypeOf('object');
  });

  it('a logger writes through both layers', () => {
    let text = '';
    const destination = new Writable({
      write(chunk, _enc, done) {
        text += String(chunk);
        done();
      },
    });
    const log = createLogger('info', { secrets: ['configured-secret-1'], destination });
    log.info({ headers: { cookie: 'a=b' }, note: 'has configured-secret-1 inside' }, 'hello');
    expect(text).not.toContain('configured-secret-1');
    expect(text).not.toContain('a=b');
    expect(JSON.parse(text)).toMatchObject({ msg: 'hello', headers: { cookie: CENSOR } });
  });
});
