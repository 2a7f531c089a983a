import { describe, expect, it } from 'vitest';
import {
  hashPassword,
  needsRehash,
  SCRYPT_PARAMS,
  verifyAgainstDummy,
  verifyPassword,
} from '../../../src/chat/accounts/passwords.ts';

describe('scrypt password hashes', () => {
  it('stores scrypt$N$r$p$salt$hash with N ≥ 2^15, r=8, p=1, a 16-byte salt', async () => {
    expect(SCRYPT_PARAMS.N).toBeGreaterThanOrEqual(2 ** 15);
    const stored = await hashPassword('correct horse');
    const [tag, n, r, p, salt, key] = stored.split('$');
    expect([tag, n, r, p]).toEqual(['scrypt', '32768', '8', '1']);
    expect(Buffer.from(salt ?? '', 'base64url')).toHaveLength(16);
    expect(Buffer.from(key ?? '', 'base64url')).toHaveLength(32);
  });

  it('verifies the right password and refuses others', async () => {
    const stored = await hashPassword('correct horse');
    expect(await verifyPassword('correct horse', stored)).toBe(true);
    expect(await verifyPassword('correct horsE', stored)).toBe(false);
    expect(await verifyPassword('', stored)).toBe(false);
  });

  it('salts: the same password hashes differently each time', async () => {
    const [a, b] = await Promise.all([hashPassword('same'), hashPassword('same')]);
    expect(a).not.toBe(b);
  });

  it('treats composed and decomposed Unicode spellings as the same password', async () => {
    const stored = await hashPassword('caf\u00e9 au lait');
    expect(await verifyPassword('cafe\u0301 au lait', stored)).toBe(true);
  });

  it('checks hashes made with other parameters, and says they need upgrading', async () => {
    const weak = await hashPassword('pw', { N: 1024, r: 8, p: 1 });
    expect(weak.startsWith('scrypt$1024$8$1$')).toBe(true);
    expect(await verifyPassword('pw', weak)).toBe(true);
    expect(needsRehash(weak)).toBe(true);
    expect(needsRehash(await hashPassword('pw'))).toBe(false);
  });

  it.each([
    ['empty', ''],
    ['another scheme', 'bcrypt$2b$10$abc'],
    [
      'N not a power of two',
      'scrypt$1000$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    ],
    [
      'N too large (a memory bomb)',
      'scrypt$1073741824$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    ],
    [
      'p too large',
      'scrypt$1024$8$100000$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    ],
    ['no salt', 'scrypt$1024$8$1$$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
  ])('refuses a malformed stored value (%s) without throwing', async (_what, stored) => {
    expect(await verifyPassword('anything', stored)).toBe(false);
    expect(needsRehash(stored)).toBe(true);
  });

  it('the dummy check always fails and costs about as much as a real one', async () => {
    const stored = await hashPassword('real');
    await verifyAgainstDummy('warm up');
    // The fastest of a few runs each, so a busy machine does not decide the outcome.
    const fastest = async (fn: () => Promise<unknown>) => {
      let best = Number.POSITIVE_INFINITY;
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        await fn();
        best = Math.min(best, performance.now() - t0);
      }
      return best;
    };
    expect(await verifyAgainstDummy('real')).toBe(false);
    const dummyMs = await fastest(() => verifyAgainstDummy('real'));
    const realMs = await fastest(() => verifyPassword('real', stored));
    expect(dummyMs).toBeGreaterThan(realMs / 3);
    expect(dummyMs).toBeLessThan(realMs * 3);
  });
});
