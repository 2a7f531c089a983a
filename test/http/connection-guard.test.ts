import { describe, expect, it } from 'vitest';
import { addressMatcher, capExemption, normalizeAddress } from '../../src/http/connection-guard.ts';

describe('per-IP cap exemptions', () => {
  it('matches addresses, CIDRs and named ranges, IPv4 and IPv6', () => {
    const m = addressMatcher(['loopback', '10.1.0.0/16', '2001:db8::/32', '192.0.2.7']);
    for (const ip of ['127.0.0.1', '127.9.9.9', '::1', '10.1.200.3', '2001:db8::42', '192.0.2.7'])
      expect(m(ip), ip).toBe(true);
    for (const ip of ['10.2.0.1', '192.0.2.8', '2001:db9::1', '8.8.8.8']) expect(m(ip), ip).toBe(false);
    // An IPv4 peer seen on a dual-stack listener.
    expect(m('::ffff:10.1.0.9')).toBe(true);
    expect(normalizeAddress('::ffff:203.0.113.5')).toBe('203.0.113.5');
    expect(normalizeAddress('2001:db8::1')).toBe('2001:db8::1');
  });

  it('refuses entries it cannot read, so a typo fails at startup', () => {
    expect(() => addressMatcher(['10.0.0.0/33'])).toThrow(/prefix/);
    expect(() => addressMatcher(['my-proxy.internal'])).toThrow(/not an IP address/);
  });

  it('exempts trusted proxies, and everyone when every hop is trusted', () => {
    const listed = capExemption(['10.0.0.5'], []);
    expect(listed('10.0.0.5')).toBe(true);
    expect(listed('10.0.0.6')).toBe(false);
    expect(capExemption(true, [])('203.0.113.9')).toBe(true);
    expect(capExemption(false, [])('127.0.0.1')).toBe(false);
    expect(capExemption(false, ['loopback'])('127.0.0.1')).toBe(true);
  });
});
