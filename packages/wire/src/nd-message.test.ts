import { describe, expect, it } from 'vitest';
import { icmpv6Checksum } from './icmpv6';
import {
  decodeNdMessage,
  encodeNdMessage,
  type NdMessage,
  ndMessageLength,
  sendSignedRange,
} from './nd-message';
import { decodeNdOptions, encodeNdOption, timestampFromMs, timestampToMs } from './nd-option';

const target = Uint8Array.from({ length: 16 }, (_, i) => i);
const solicitation: NdMessage = {
  kind: 'neighborSolicitation',
  targetAddress: target,
  options: [
    { kind: 'cga', parameters: new Uint8Array(29).fill(7) },
    { kind: 'timestamp', seconds: 1_700_000_000, fraction: 0x8000 },
    { kind: 'nonce', nonce: Uint8Array.of(1, 2, 3, 4, 5, 6) },
    {
      kind: 'rsaSignature',
      keyHash: new Uint8Array(16).fill(0xee),
      signature: new Uint8Array(256).fill(0x5a),
    },
    { kind: 'mtu', mtu: 1400 },
  ],
};

describe('neighbor discovery', () => {
  it('pads options to 8 octets: CGA with its pad length, RSA Signature, Timestamp as RFC 3971 5.3.1', () => {
    const bytes = new Uint8Array(ndMessageLength(solicitation));
    encodeNdMessage(solicitation, bytes);
    // CGA: 4 + 29 = 33 → 40 bytes, pad length 7.
    expect(Array.from(bytes.subarray(24, 28))).toEqual([11, 5, 7, 0]);
    // Timestamp: type 13, length 2, 48 reserved bits, then 48-bit seconds and 16-bit fraction.
    expect(Array.from(bytes.subarray(64, 80))).toEqual([
      13, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0x65, 0x53, 0xf1, 0x00, 0x80, 0x00,
    ]);
    // Nonce: 2 + 6 = 8.
    expect(Array.from(bytes.subarray(80, 82))).toEqual([14, 1]);
    // RSA Signature: 4 + 16 + 256 = 276 → 280 bytes (35 units).
    expect(Array.from(bytes.subarray(88, 92))).toEqual([12, 35, 0, 0]);
  });

  it('gives the range the SeND signature covers: everything before the first RSA Signature option', () => {
    const bytes = new Uint8Array(ndMessageLength(solicitation));
    encodeNdMessage(solicitation, bytes);
    const range = sendSignedRange(bytes);
    if (!range.ok) expect.fail(range.error.message);
    expect(range.value.signedEnd).toBe(88);
    expect(range.value.signatureOptionLength).toBe(280);
    expect(range.value.keyHash).toEqual(new Uint8Array(16).fill(0xee));
    expect(range.value.signature.subarray(0, 256)).toEqual(new Uint8Array(256).fill(0x5a));
    const unsigned = { ...solicitation, options: solicitation.options.slice(0, 3) };
    const plain = new Uint8Array(ndMessageLength(unsigned));
    encodeNdMessage(unsigned, plain);
    const missing = sendSignedRange(plain);
    expect(!missing.ok && missing.error.code).toBe('MISSING');
  });

  it('refuses options of length 0 (RFC 4861 4.6), a code other than 0, and short messages', () => {
    const bytes = new Uint8Array(ndMessageLength(solicitation));
    encodeNdMessage(solicitation, bytes);
    const zero = bytes.slice();
    zero[81] = 0; // the Nonce option's length
    const result = decodeNdMessage(zero);
    expect(!result.ok && result.error).toMatchObject({ code: 'OPTION_LENGTH_ZERO', offset: 81 });
    expect(!sendSignedRange(zero).ok).toBe(true);
    const badCode = bytes.slice();
    badCode[1] = 1;
    expect(decodeNdMessage(badCode).ok).toBe(false);
    expect(decodeNdMessage(bytes.subarray(0, 20)).ok).toBe(false);
  });

  it('computes the ICMPv6 checksum over the pseudo-header when given the addresses', () => {
    const source = Uint8Array.from({ length: 16 }, (_, i) => 0xfe - i);
    const destination = Uint8Array.from({ length: 16 }, (_, i) => i * 3);
    const bytes = new Uint8Array(ndMessageLength(solicitation));
    encodeNdMessage(solicitation, bytes, 0, { source, destination });
    const decoded = decodeNdMessage(bytes);
    expect(decoded.ok && decoded.value.checksum).toBe(
      icmpv6Checksum(bytes, 0, bytes.length, source, destination),
    );
    expect(decoded.ok && decoded.value.checksum).not.toBe(0);
  });

  it('encodes Capsule key exchange and node certificate options in the experimental types', () => {
    const buffer = new Uint8Array(80);
    const length = encodeNdOption(
      { kind: 'keyExchange', receiverIndex: 0xabcdef01, publicKey: new Uint8Array(32).fill(3) },
      buffer,
    );
    expect(length).toBe(40);
    expect(Array.from(buffer.subarray(0, 8))).toEqual([254, 5, 0, 0, 0xab, 0xcd, 0xef, 0x01]);
    const certificateLength = encodeNdOption(
      { kind: 'nodeCertificate', certificate: new Uint8Array(5).fill(9) },
      buffer,
      40,
    );
    expect(certificateLength).toBe(16);
    expect(Array.from(buffer.subarray(40, 56))).toEqual([253, 2, 0, 5, 9, 9, 9, 9, 9, 0, 0, 0, 0, 0, 0, 0]);
    const decoded = decodeNdOptions(buffer.subarray(0, 56));
    expect(decoded.ok && decoded.value.map((option) => option.kind)).toEqual([
      'keyExchange',
      'nodeCertificate',
    ]);
  });

  it('converts SeND timestamps to and from milliseconds', () => {
    const ms = 1_700_000_000_250;
    const timestamp = timestampFromMs(ms);
    expect(timestamp).toEqual({ seconds: 1_700_000_000, fraction: 16384 });
    expect(timestampToMs(timestamp)).toBe(ms);
  });
});
