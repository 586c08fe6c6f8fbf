import { testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  finishChecksum,
  internetChecksum,
  ipv4PseudoHeaderSum,
  ipv6PseudoHeaderSum,
  isChecksumValid,
  onesComplementSum,
  updateChecksumBytes,
  updateChecksumWord,
} from './checksum';
import { decodeIpv4Header, decrementIpv4Ttl } from './ipv4';
import { decodeIpv6Header } from './ipv6';
import { udpChecksum } from './udp';

const hex = (text: string) =>
  Uint8Array.from(
    text
      .replace(/\s+/g, '')
      .match(/../g)!
      .map((b) => Number.parseInt(b, 16)),
  );

describe('Internet checksum against known vectors', () => {
  it('RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2', () => {
    const bytes = hex('0001 f203 f4f5 f6f7');
    expect(finishChecksum(onesComplementSum(bytes)) ^ 0xffff).toBe(0xddf2);
    expect(internetChecksum(bytes)).toBe(0x220d);
  });

  it('a textbook IPv4 header (checksum b861) verifies and recomputes', () => {
    const header = hex('4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7');
    expect(internetChecksum(header)).toBe(0);
    const decoded = decodeIpv4Header(new Uint8Array([...header, ...new Uint8Array(0x73 - 20)]));
    expect(decoded.ok && decoded.value.isChecksumValid).toBe(true);
    header[10] = 0;
    header[11] = 0;
    expect(internetChecksum(header)).toBe(0xb861);
  });

  it('a captured IPv6/UDP packet: our checksum is the one Wireshark computed (0xfaa3)', () => {
    // Captured with tcpdump on lo (Linux 6.x): node's dgram sending "capsule checksum vector"
    // from [::1]:42097 to [::1]:40001. Loopback checksum offload left 0x0032 in the field;
    // tshark 4.0.17 (-o udp.check_checksum:TRUE) reports "incorrect, should be 0xfaa3".
    const packet = hex(`
      6008 095d 001f 1140 0000 0000 0000 0000 0000 0000 0000 0001 0000 0000 0000 0000
      0000 0000 0000 0001 a471 9c41 001f 0032 6361 7073 756c 6520 6368 6563 6b73 756d
      2076 6563 746f 72`);
    const ipv6 = decodeIpv6Header(packet);
    if (!ipv6.ok) expect.fail(ipv6.error.message);
    const { source, destination, payloadLength } = ipv6.value;
    const pseudo = ipv6PseudoHeaderSum(source, destination, 17, payloadLength);
    expect(udpChecksum(pseudo, packet, 40, payloadLength)).toBe(0xfaa3);
    expect(isChecksumValid(pseudo, packet, 40, 40 + payloadLength)).toBe(false);
    packet[46] = 0xfa;
    packet[47] = 0xa3;
    expect(isChecksumValid(pseudo, packet, 40, 40 + payloadLength)).toBe(true);
  });

  it('the IPv4 pseudo-header sums source, destination, protocol and length', () => {
    const sum = ipv4PseudoHeaderSum(hex('c0a80001'), hex('c0a800c7'), 17, 0x5f);
    expect(sum).toBe(0xc0a8 + 0x0001 + 0xc0a8 + 0x00c7 + 17 + 0x5f);
  });
});

describe('RFC 1624 incremental updates', () => {
  it('equal a full recomputation after one word changes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 4, maxLength: 200 }).filter((b) => b.length % 2 === 0),
        fc.nat(),
        fc.integer({ min: 0, max: 0xffff }),
        (data, at, newWord) => {
          const bytes = data.slice();
          bytes[0] = 0;
          bytes[1] = 0;
          const word = 2 + 2 * (at % ((bytes.length - 2) / 2));
          const before = internetChecksum(bytes);
          const oldWord = (bytes[word]! << 8) | bytes[word + 1]!;
          bytes[word] = newWord >> 8;
          bytes[word + 1] = newWord & 0xff;
          // All-zero data is the one case where eqn 3 yields 0x0000 for a true 0xffff (RFC 1624 3):
          // no header Capsule rewrites is all zeros (IPv4 has its version nibble).
          fc.pre(bytes.some((byte) => byte !== 0));
          const full = internetChecksum(bytes);
          const incremental = updateChecksumWord(before, oldWord, newWord);
          // One's complement has two zeros: 0x0000 and 0xffff are the same checksum.
          expect(incremental === full || incremental + full === 0xffff).toBe(true);
          bytes[0] = incremental >> 8;
          bytes[1] = incremental & 0xff;
          expect(internetChecksum(bytes)).toBe(0);
        },
      ),
      { seed: testSeed, numRuns: 500 },
    );
  });

  it('patch a UDP checksum after an IPv6 address rewrite', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ minLength: 8, maxLength: 100 }),
        (source, destination, newDestination, datagram) => {
          const udp = datagram.slice();
          udp[4] = udp.length >> 8;
          udp[5] = udp.length & 0xff;
          const checksum = udpChecksum(
            ipv6PseudoHeaderSum(source, destination, 17, udp.length),
            udp,
            0,
            udp.length,
          );
          const patched = updateChecksumBytes(checksum, destination, 0, newDestination, 0, 16);
          udp[6] = patched >> 8;
          udp[7] = patched & 0xff;
          expect(
            isChecksumValid(ipv6PseudoHeaderSum(source, newDestination, 17, udp.length), udp, 0, udp.length),
          ).toBe(true);
        },
      ),
      { seed: testSeed, numRuns: 300 },
    );
  });

  it('decrementIpv4Ttl keeps the header checksum valid and stops at 0', () => {
    const header = hex('4500 0073 0000 4000 0211 b861 c0a8 0001 c0a8 00c7');
    header[10] = 0;
    header[11] = 0;
    const checksum = internetChecksum(header);
    header[10] = checksum >> 8;
    header[11] = checksum & 0xff;
    expect(decrementIpv4Ttl(header)).toBe(1);
    expect(internetChecksum(header)).toBe(0);
    expect(decrementIpv4Ttl(header)).toBe(0);
    expect(internetChecksum(header)).toBe(0);
    expect(decrementIpv4Ttl(header)).toBe(-1);
  });
});
