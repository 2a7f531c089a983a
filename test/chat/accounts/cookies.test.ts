import { describe, expect, it } from 'vitest';
import { buildSetCookie, readCookie } from '../../../src/chat/accounts/cookies.ts';
import { KeyedLock } from '../../../src/chat/accounts/keyed-lock.ts';

describe('readCookie', () => {
  it('finds a cookie among others, trimmed, first one winning', () => {
    const header = 'theme=dark; hf_session=abc_-1 ;other=x; hf_session=second';
    expect(readCookie(header, 'hf_session')).toBe('abc_-1');
    expect(readCookie(header, 'theme')).toBe('dark');
  });

  it('does not match a cookie whose name merely contains the wanted one', () => {
    expect(readCookie('xhf_session=evil; hf_session_old=evil', 'hf_session')).toBeUndefined();
  });

  it('handles a missing header, quoted values and junk', () => {
    expect(readCookie(undefined, 'a')).toBeUndefined();
    expect(readCookie('', 'a')).toBeUndefined();
    expect(readCookie('junk; a="q"', 'a')).toBe('q');
  });
});

describe('buildSetCookie', () => {
  it('writes the flags', () => {
    expect(buildSetCookie('a', 'v', { maxAge: 60, path: '/', secure: true, sameSite: 'Lax' })).toBe(
      'a=v; Max-Age=60; Path=/; HttpOnly; SameSite=Lax; Secure',
    );
  });

  it('expires a deleted cookie in the past as well, for old browsers', () => {
    expect(buildSetCookie('a', '', { maxAge: 0, path: '/x', secure: false, sameSite: 'Lax' })).toBe(
      'a=; Max-Age=0; Path=/x; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax',
    );
  });

  it('refuses a value that could inject attributes', () => {
    expect(() =>
      buildSetCookie('a', 'x; Domain=evil', { maxAge: 1, path: '/', secure: false, sameSite: 'Lax' }),
    ).toThrow();
  });
});

describe('KeyedLock', () => {
  it('runs tasks one at a time per key, in order, and in parallel across keys; forgets idle keys', async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const task = (name: string, ms: number) => async () => {
      log.push(`start ${name}`);
      await new Promise((r) => setTimeout(r, ms));
      log.push(`end ${name}`);
      return name;
    };
    const results = await Promise.all([
      lock.run('k', task('a1', 20)),
      lock.run('k', task('a2', 1)),
      lock.run('other', task('b', 1)),
    ]);
    expect(results).toEqual(['a1', 'a2', 'b']);
    expect(log.indexOf('end a1')).toBeLessThan(log.indexOf('start a2'));
    expect(log.indexOf('end b')).toBeLessThan(log.indexOf('end a1'));
    expect(lock.size).toBe(0);
  });

  it('moves on after a task throws', async () => {
    const lock = new KeyedLock();
    await expect(lock.run('k', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await lock.run('k', async () => 'next')).toBe('next');
    expect(lock.size).toBe(0);
  });
});
