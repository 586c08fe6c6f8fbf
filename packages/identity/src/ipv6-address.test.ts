import { testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIpv6Address, parseIpv6Address, parseSubnetPrefix64 } from './ipv6-address';

const hex = (bytes: Uint8Array | undefined) => (bytes ? Buffer.from(bytes).toString('hex') : undefined);

describe('IPv6 address text', () => {
  it('parses the RFC 4291 forms', () => {
    expect(hex(parseIpv6Address('fe80::3c4a:5bf6:ffb4:ca6c'))).toBe('fe800000000000003c4a5bf6ffb4ca6c');
    expect(hex(parseIpv6Address('::'))).toBe('0'.repeat(32));
    expect(hex(parseIpv6Address('::1'))).toBe(`${'0'.repeat(31)}1`);
    expect(hex(parseIpv6Address('2001:DB8::'))).toBe(`20010db8${'0'.repeat(24)}`);
    expect(hex(parseIpv6Address('::ffff:192.0.2.1'))).toBe('00000000000000000000ffffc0000201');
    expect(hex(parseIpv6Address('1:2:3:4:5:6:7:8'))).toBe('00010002000300040005000600070008');
  });

  it('refuses what is not an address', () => {
    for (const text of [
      '',
      ':',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      '12345::',
      'g::',
      '1:2:3:4:5:6:7::8',
      '::1.2.3',
      '::256.1.1.1',
    ])
      expect(parseIpv6Address(text), text).toBeUndefined();
  });

  it('formats canonically (RFC 5952) and round-trips any address', () => {
    expect(formatIpv6Address(parseIpv6Address('2001:db8:0:0:1:0:0:1')!)).toBe('2001:db8::1:0:0:1');
    expect(formatIpv6Address(parseIpv6Address('2001:db8:0:1:1:1:1:1')!)).toBe('2001:db8:0:1:1:1:1:1');
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
        expect(hex(parseIpv6Address(formatIpv6Address(bytes)))).toBe(hex(bytes));
      }),
      { seed: testSeed, numRuns: 5000 },
    );
  });
});

describe('the /64 subnet prefix of a CGA', () => {
  it('accepts fe80:: and 2001:db8:1:2::/64', () => {
    expect(hex(parseSubnetPrefix64('fe80::'))).toBe('fe80000000000000');
    expect(hex(parseSubnetPrefix64(' 2001:db8:1:2::/64 '))).toBe('20010db800010002');
  });

  it('refuses other lengths, interface bits and non-addresses with CGA_INVALID_PREFIX', () => {
    for (const text of ['2001:db8::/48', '2001:db8::1', 'fe80::/64/1', 'not-an-address', '2001:db8::/'])
      expect(() => parseSubnetPrefix64(text), text).toThrow(
        expect.objectContaining({ code: 'CGA_INVALID_PREFIX' }),
      );
  });
});
