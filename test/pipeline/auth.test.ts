import { describe, expect, it } from 'vitest';
import { HoldfastError } from '../../src/core/errors.ts';
import { callerMayUse, createAuthenticator, type KeyLookup, presentedKey } from '../../src/pipeline/auth.ts';

function lookup(keys: Record<string, string[]>): KeyLookup & { calls: number } {
  const l = {
    calls: 0,
    async verify(secret: string) {
      l.calls += 1;
      const models = keys[secret];
      return models ? { id: `id-${secret}`, models } : undefined;
    },
  };
  return l;
}

describe('presentedKey', () => {
  it('reads OpenAI bearer tokens and Anthropic x-api-key', () => {
    expect(presentedKey({ authorization: 'Bearer hf-a' })).toBe('hf-a');
    expect(presentedKey({ authorization: 'bearer   hf-b ' })).toBe('hf-b');
    expect(presentedKey({ 'x-api-key': 'hf-c' })).toBe('hf-c');
    expect(presentedKey({ authorization: 'Basic abc' })).toBeUndefined();
    expect(presentedKey({ authorization: 'Bearer ' })).toBeUndefined();
    expect(presentedKey({})).toBeUndefined();
  });
});

describe('authenticator', () => {
  it('accepts the admin key without a store lookup', async () => {
    const keys = lookup({});
    const auth = createAuthenticator({ adminKey: 'admin-key-0123456789', openMode: false, keys });
    expect(await auth.authenticate({ authorization: 'Bearer admin-key-0123456789' })).toEqual({
      kind: 'admin',
    });
    expect(keys.calls).toBe(0);
  });

  it('rejects missing and unknown keys with invalid_api_key', async () => {
    const auth = createAuthenticator({ openMode: false, keys: lookup({}) });
    await expect(auth.authenticate({})).rejects.toMatchObject({ code: 'invalid_api_key', status: 401 });
    await expect(auth.authenticate({ 'x-api-key': 'hf-nope' })).rejects.toBeInstanceOf(HoldfastError);
  });

  it('caches verified keys so the store is not hit per request', async () => {
    const keys = lookup({ 'hf-k': ['m1'] });
    const auth = createAuthenticator({ openMode: false, keys, cacheMs: 60_000 });
    for (let i = 0; i < 5; i++) {
      expect(await auth.authenticate({ 'x-api-key': 'hf-k' })).toEqual({
        kind: 'key',
        keyId: 'id-hf-k',
        models: ['m1'],
      });
    }
    expect(keys.calls).toBe(1);
  });

  it('re-checks the store after the cache window (so revocations apply)', async () => {
    const keys = lookup({ 'hf-k': ['*'] });
    const auth = createAuthenticator({ openMode: false, keys, cacheMs: 0 });
    await auth.authenticate({ 'x-api-key': 'hf-k' });
    await auth.authenticate({ 'x-api-key': 'hf-k' });
    expect(keys.calls).toBe(2);
  });

  it('open mode serves keyless callers and still identifies valid keys', async () => {
    const auth = createAuthenticator({ openMode: true, keys: lookup({ 'hf-k': ['m1'] }) });
    expect(await auth.authenticate({})).toEqual({ kind: 'open' });
    expect(await auth.authenticate({ authorization: 'Bearer junk' })).toEqual({ kind: 'open' });
    expect(await auth.authenticate({ authorization: 'Bearer hf-k' })).toMatchObject({ kind: 'key' });
  });

  it('scopes keys to models', () => {
    expect(callerMayUse({ kind: 'key', keyId: 'a', models: ['m1'] }, 'm1')).toBe(true);
    expect(callerMayUse({ kind: 'key', keyId: 'a', models: ['m1'] }, 'm2')).toBe(false);
    expect(callerMayUse({ kind: 'key', keyId: 'a', models: ['*'] }, 'm2')).toBe(true);
    expect(callerMayUse({ kind: 'admin' }, 'm2')).toBe(true);
  });
});
