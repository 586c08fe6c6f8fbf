import { describe, expect, it } from 'vitest';
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from './ip-address';

function v6(text: string): Uint8Array {
  const result = parseIpv6(text);
  if (!result.ok) throw new Error(result.error.message);
  return result.value;
}

describe('IPv6 text', () => {
  it.each([
    // RFC 5952 section 4 examples and rules
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:0:0:2:1', '2001:db8::2:1'],
    ['2001:db8::0:1', '2001:db8::1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // 4.2.2: one zero group is not shortened
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // 4.2.3: the longest run
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // 4.2.3: the first of equal runs
    ['2001:DB8::ABCD', '2001:db8::abcd'], // 4.3: lower case
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['fe80:0:0:0:0:0:0:0', 'fe80::'],
    ['::ffff:192.0.2.128', '::ffff:192.0.2.128'], // section 5: IPv4-mapped
    ['::ffff:c000:0280', '::ffff:192.0.2.128'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
  ])('%s → %s', (input, canonical) => {
    expect(formatIpv6(v6(input))).toBe(canonical);
  });

  it.each([
    '',
    ':',
    ':::',
    '1::2::3',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7::8',
    '12345::',
    'g::',
    '::1.2.3',
    '::1.2.3.256',
    '1.2.3.4::',
    'fe80::1%eth0',
  ])('refuses %j', (text) => {
    const result = parseIpv6(text);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.code).toBe('BAD_ADDRESS_TEXT');
  });
});

describe('IPv4 text', () => {
  it('parses and formats dotted quads', () => {
    const result = parseIpv4('192.0.2.255');
    expect(result.ok && Array.from(result.value)).toEqual([192, 0, 2, 255]);
    expect(formatIpv4(Uint8Array.of(10, 0, 0, 1))).toBe('10.0.0.1');
  });

  it.each(['1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1..2.3', 'a.b.c.d', ' 1.2.3.4'])(
    'refuses %j',
    (text) => {
      expect(parseIpv4(text).ok).toBe(false);
    },
  );
});
