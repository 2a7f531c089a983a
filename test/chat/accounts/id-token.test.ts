import { createHmac, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { emailVerified, IdTokenError, verifyIdToken } from '../../../src/chat/accounts/id-token.ts';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const NOW = Date.parse('2030-01-01T00:00:00Z');
const nowS = NOW / 1000;
const ISS = 'https://idp.example';
const CLIENT = 'client-1';

function b64(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString('base64url');
}

function token(
  claims: Record<string, unknown>,
  header: Record<string, unknown> = { alg: 'RS256', kid: 'k1' },
) {
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${sign('RSA-SHA256', Buffer.from(input), privateKey).toString('base64url')}`;
}

const good = { iss: ISS, aud: CLIENT, sub: 'abc', exp: nowS + 300, iat: nowS, nonce: 'n1' };

function check(jwt: string, keys: Record<string, KeyObject> = { k1: publicKey }) {
  return verifyIdToken(jwt, {
    keyFor: async (kid) => (kid === undefined ? Object.values(keys)[0] : keys[kid]),
    issuer: ISS,
    clientId: CLIENT,
    nonce: 'n1',
    now: () => NOW,
  });
}

describe('verifyIdToken', () => {
  it('accepts a well-formed token and returns its claims', async () => {
    const claims = await check(token({ ...good, email: 'a@b.c', email_verified: true }));
    expect(claims).toMatchObject({ sub: 'abc', email: 'a@b.c' });
    expect(emailVerified(claims)).toBe(true);
  });

  it('accepts several audiences when azp names us, and a token without kid when the key is unambiguous', async () => {
    await expect(check(token({ ...good, aud: ['x', CLIENT], azp: CLIENT }))).resolves.toBeTruthy();
    await expect(check(token(good, { alg: 'RS256' }))).resolves.toBeTruthy();
  });

  it('tolerates a minute of clock skew on exp, not more', async () => {
    await expect(check(token({ ...good, exp: nowS - 30 }))).resolves.toBeTruthy();
    await expect(check(token({ ...good, exp: nowS - 61 }))).rejects.toThrow('expired');
  });

  it.each([
    ['wrong issuer', { ...good, iss: 'https://other.example' }, 'wrong issuer'],
    ['wrong audience', { ...good, aud: 'other' }, 'wrong audience'],
    ['azp of another client', { ...good, azp: 'other' }, 'authorized party'],
    ['several audiences, no azp', { ...good, aud: [CLIENT, 'other'] }, 'authorized party'],
    ['missing nonce', { ...good, nonce: undefined }, 'nonce'],
    ['wrong nonce', { ...good, nonce: 'n2' }, 'nonce'],
    ['not yet valid', { ...good, nbf: nowS + 3600 }, 'not yet valid'],
    ['issued in the future', { ...good, iat: nowS + 3600 }, 'future'],
    ['no subject', { ...good, sub: '' }, 'malformed claims'],
    ['exp not a number', { ...good, exp: 'soon' }, 'malformed claims'],
  ])('refuses %s', async (_what, claims, message) => {
    await expect(check(token(claims))).rejects.toThrow(message);
  });

  it('refuses alg none and HS256 made with the public key as secret (algorithm confusion)', async () => {
    const none = `${b64({ alg: 'none' })}.${b64(good)}.`;
    await expect(check(none)).rejects.toThrow(/unsupported alg none/);
    const input = `${b64({ alg: 'HS256', kid: 'k1' })}.${b64(good)}`;
    const pem = publicKey.export({ type: 'spki', format: 'pem' });
    const hs = `${input}.${createHmac('sha256', pem).update(input).digest('base64url')}`;
    await expect(check(hs)).rejects.toThrow(/unsupported alg HS256/);
  });

  it('refuses a changed payload, an unknown kid, and a signature from another key', async () => {
    const [h, , s] = token(good).split('.');
    await expect(check(`${h}.${b64({ ...good, sub: 'admin' })}.${s}`)).rejects.toThrow('bad signature');
    await expect(check(token(good, { alg: 'RS256', kid: 'k9' }))).rejects.toThrow('no signing key');
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    await expect(check(token(good), { k1: other })).rejects.toThrow('bad signature');
  });

  it.each([
    ['two parts', 'a.b'],
    ['garbage header', 'x.y.z'],
    ['empty', ''],
  ])('refuses a malformed token (%s) with an IdTokenError', async (_what, jwt) => {
    await expect(check(jwt)).rejects.toBeInstanceOf(IdTokenError);
  });

  it('reads email_verified "true" as verified and anything else as not', () => {
    const base = { ...good, aud: CLIENT };
    expect(emailVerified({ ...base, email_verified: 'true' })).toBe(true);
    expect(emailVerified({ ...base, email_verified: 'false' })).toBe(false);
    expect(emailVerified({ ...base, email_verified: false })).toBe(false);
    expect(emailVerified(base)).toBe(false);
  });
});
