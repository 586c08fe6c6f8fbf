/**
 * Directed tests for the refusals of the IPv4, IPv6, ND message and ND option decoders: each
 * input is made by the codec's own encoder (or is a well-formed packet) with one thing broken,
 * and the test names the exact code the decoder reports.
 */
import { describe, expect, it } from 'vitest';
import type { DecodeResult } from './decode-result';
import { decodeIpv4Header, encodeIpv4Header, type Ipv4Header } from './ipv4';
import {
  decodeIpv6Header,
  decodeIpv6Packet,
  encodeIpv6Header,
  IPV6_HEADER_LENGTH,
  IpProtocol,
  Ipv6ExtensionWalk,
  MAX_IPV6_EXTENSION_HEADERS,
} from './ipv6';
import {
  decodeNdMessage,
  encodeNdMessage,
  type NdMessage,
  ndMessageLength,
  sendSignedRange,
} from './nd-message';
import { decodeNdOptions, encodeNdOption, type NdOption, NdOptionCursor, ndOptionLength } from './nd-option';

/** The error of a refused result, or a failed test when the input was accepted. */
function refusal<T>(result: DecodeResult<T>): { code: string; offset: number } {
  if (result.ok) return expect.fail('the decoder accepted the input');
  return { code: result.error.code, offset: result.error.offset };
}

// --- IPv4 --------------------------------------------------------------------------------------

const ipv4: Ipv4Header = {
  dscp: 0,
  ecn: 0,
  totalLength: 28,
  identification: 0x1234,
  dontFragment: true,
  moreFragments: false,
  fragmentOffset: 0,
  ttl: 64,
  protocol: 17,
  source: Uint8Array.of(192, 0, 2, 1),
  destination: Uint8Array.of(198, 51, 100, 7),
  options: new Uint8Array(0),
};

/** An encoded IPv4 packet (header and zero payload up to totalLength), changed by `edit`. */
function ipv4Packet(header: Ipv4Header, edit: (bytes: Uint8Array) => void = () => {}): Uint8Array {
  const bytes = new Uint8Array(header.totalLength);
  encodeIpv4Header(header, bytes);
  edit(bytes);
  return bytes;
}

describe('decodeIpv4Header refusals', () => {
  it('accepts the unbroken packets the cases below start from', () => {
    expect(decodeIpv4Header(ipv4Packet(ipv4)).ok).toBe(true);
    expect(decodeIpv4Header(ipv4Packet({ ...ipv4, options: new Uint8Array(4) })).ok).toBe(true);
  });

  it.each<[string, () => Uint8Array, string, number]>([
    // Empty: byte 0 reads as version 0, so only the 20-byte check tells TRUNCATED.
    ['an empty input → TRUNCATED', () => new Uint8Array(0), 'TRUNCATED', 0],
    ['19 bytes (a header cut short) → TRUNCATED', () => ipv4Packet(ipv4).subarray(0, 19), 'TRUNCATED', 0],
    [
      'version 6 in the version field → BAD_VERSION',
      () =>
        ipv4Packet(ipv4, (bytes) => {
          bytes[0] = 0x65;
        }),
      'BAD_VERSION',
      0,
    ],
    [
      'IHL 4 (a 16-byte header) → BAD_LENGTH',
      () =>
        ipv4Packet(ipv4, (bytes) => {
          bytes[0] = 0x44;
        }),
      'BAD_LENGTH',
      0,
    ],
    [
      'IHL 6 with only 22 bytes present → TRUNCATED at the IHL (offset 0)',
      () => ipv4Packet({ ...ipv4, options: new Uint8Array(4) }).subarray(0, 22),
      'TRUNCATED',
      0,
    ],
    [
      'IHL 6 with only 22 bytes present and a total length of 20 → TRUNCATED, not BAD_LENGTH',
      () =>
        ipv4Packet({ ...ipv4, options: new Uint8Array(4) }, (bytes) => {
          bytes[3] = 20;
        }).subarray(0, 22),
      'TRUNCATED',
      0,
    ],
  ])('%s', (_name, input, code, offset) => {
    expect(refusal(decodeIpv4Header(input()))).toEqual({ code, offset });
  });
});

// --- IPv6 --------------------------------------------------------------------------------------

/** A packet of exactly 40 + payload.length bytes whose fixed header announces `nextHeader`. */
function ipv6Packet(nextHeader: number, payload: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(IPV6_HEADER_LENGTH + payload.length);
  encodeIpv6Header(
    {
      trafficClass: 0,
      flowLabel: 0x12345,
      payloadLength: payload.length,
      nextHeader,
      hopLimit: 64,
      source: new Uint8Array(16).fill(0xaa),
      destination: new Uint8Array(16).fill(0xbb),
    },
    bytes,
  );
  bytes.set(payload, IPV6_HEADER_LENGTH);
  return bytes;
}

/** An 8-byte generic extension header (Hdr Ext Len 0) announcing `next`. */
const extension = (next: number) => Uint8Array.of(next, 0, 0, 0, 0, 0, 0, 0);

const concat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((part) => Array.from(part)));

/** Destination Options headers chained `count` times, then 8 bytes of UDP. */
function chainedDestinationOptions(count: number): Uint8Array {
  const headers = Array.from({ length: count }, (_, i) =>
    extension(i === count - 1 ? IpProtocol.UDP : IpProtocol.DESTINATION_OPTIONS),
  );
  return ipv6Packet(IpProtocol.DESTINATION_OPTIONS, concat(...headers, new Uint8Array(8)));
}

const ipv6Cases: [string, () => Uint8Array, string, number][] = [
  [
    'a Hop-by-Hop header after a Destination Options header → BAD_FIELD',
    () =>
      ipv6Packet(
        IpProtocol.DESTINATION_OPTIONS,
        concat(extension(IpProtocol.HOP_BY_HOP), extension(IpProtocol.UDP), new Uint8Array(8)),
      ),
    'BAD_FIELD',
    48,
  ],
  [
    `${MAX_IPV6_EXTENSION_HEADERS + 1} extension headers → LIMIT_EXCEEDED`,
    () => chainedDestinationOptions(MAX_IPV6_EXTENSION_HEADERS + 1),
    'LIMIT_EXCEEDED',
    40 + MAX_IPV6_EXTENSION_HEADERS * 8,
  ],
  [
    'Destination Options announced with 1 payload byte (no room for its length) → TRUNCATED',
    () => ipv6Packet(IpProtocol.DESTINATION_OPTIONS, Uint8Array.of(IpProtocol.UDP)),
    'TRUNCATED',
    40,
  ],
  [
    'Destination Options announced with an empty payload → TRUNCATED',
    () => ipv6Packet(IpProtocol.DESTINATION_OPTIONS, new Uint8Array(0)),
    'TRUNCATED',
    40,
  ],
];

describe('IPv6 refusals', () => {
  it('accepts the unbroken packets the cases below start from', () => {
    const sixteen = decodeIpv6Packet(chainedDestinationOptions(MAX_IPV6_EXTENSION_HEADERS));
    if (!sixteen.ok) return expect.fail(sixteen.error.message);
    expect(sixteen.value.extensionHeaders).toHaveLength(MAX_IPV6_EXTENSION_HEADERS);
    expect(sixteen.value.upperLayerProtocol).toBe(IpProtocol.UDP);
    const hopByHopFirst = decodeIpv6Packet(
      ipv6Packet(
        IpProtocol.HOP_BY_HOP,
        concat(extension(IpProtocol.DESTINATION_OPTIONS), extension(IpProtocol.UDP), new Uint8Array(8)),
      ),
    );
    expect(hopByHopFirst.ok).toBe(true);
  });

  it('decodeIpv6Header: version 4 in the version field → BAD_VERSION', () => {
    const bytes = ipv6Packet(IpProtocol.UDP, new Uint8Array(8));
    expect(decodeIpv6Header(bytes).ok).toBe(true);
    bytes[0] = 0x40 | (bytes[0]! & 0x0f);
    expect(refusal(decodeIpv6Header(bytes))).toEqual({ code: 'BAD_VERSION', offset: 0 });
    expect(refusal(decodeIpv6Packet(bytes))).toEqual({ code: 'BAD_VERSION', offset: 0 });
  });

  it.each(ipv6Cases)('Ipv6ExtensionWalk: %s', (_name, input, code, offset) => {
    const bytes = input();
    const walk = new Ipv6ExtensionWalk();
    expect(walk.walk(bytes, IPV6_HEADER_LENGTH, bytes.length, bytes[6]!)).toBe(false);
    expect({ code: walk.errorCode, offset: walk.errorOffset }).toEqual({ code, offset });
  });

  it.each(ipv6Cases)('decodeIpv6Packet passes on the walk’s refusal: %s', (_name, input, code, offset) => {
    expect(refusal(decodeIpv6Packet(input()))).toEqual({ code, offset });
  });
});

// --- ND options --------------------------------------------------------------------------------

/** One option encoded, then changed by `edit`. */
function option(value: NdOption, edit: (bytes: Uint8Array) => void = () => {}): Uint8Array {
  const bytes = new Uint8Array(ndOptionLength(value));
  encodeNdOption(value, bytes);
  edit(bytes);
  return bytes;
}

const linkLayer: NdOption = { kind: 'sourceLinkLayerAddress', address: Uint8Array.of(2, 0, 0, 0, 0, 1) };
const prefix: NdOption = {
  kind: 'prefixInformation',
  prefixLength: 64,
  onLink: true,
  autonomous: true,
  validLifetime: 86_400,
  preferredLifetime: 14_400,
  prefix: Uint8Array.of(0x20, 0x01, 0x0d, 0xb8, ...new Uint8Array(12)),
};
// 4 + 4 = 8 bytes: pad length 0.
const cga: NdOption = { kind: 'cga', parameters: Uint8Array.of(1, 2, 3, 4) };

describe('decodeNdOptions refusals', () => {
  it('accepts the unbroken options the cases below start from', () => {
    const all = concat(option(linkLayer), option(prefix), option(cga), option({ kind: 'mtu', mtu: 1400 }));
    const result = decodeNdOptions(all);
    if (!result.ok) return expect.fail(result.error.message);
    expect(result.value.map((decodedOption) => decodedOption.kind)).toEqual([
      'sourceLinkLayerAddress',
      'prefixInformation',
      'cga',
      'mtu',
    ]);
  });

  it.each<[string, () => Uint8Array, string, number]>([
    [
      'a link-layer option whose length (2 units) runs past the 8 bytes present → TRUNCATED',
      () => option(linkLayer, (bytes) => (bytes[1] = 2)),
      'TRUNCATED',
      1,
    ],
    [
      'a second option whose length runs past the end → TRUNCATED',
      () =>
        concat(
          option({ kind: 'mtu', mtu: 1400 }),
          option(linkLayer, (bytes) => (bytes[1] = 3)),
        ),
      'TRUNCATED',
      9,
    ],
    [
      'a Prefix Information option with prefix length 129 → BAD_FIELD',
      () => option(prefix, (bytes) => (bytes[2] = 129)),
      'BAD_FIELD',
      2,
    ],
    [
      'a CGA option of 8 bytes with pad length 5 → BAD_LENGTH',
      () => option(cga, (bytes) => (bytes[2] = 5)),
      'BAD_LENGTH',
      2,
    ],
    [
      'an MTU option of 16 bytes (after a valid one) → BAD_LENGTH',
      () => concat(option(linkLayer), option({ kind: 'unknown', type: 5, body: new Uint8Array(14) })),
      'BAD_LENGTH',
      9,
    ],
  ])('%s', (_name, input, code, offset) => {
    expect(refusal(decodeNdOptions(input()))).toEqual({ code, offset });
  });

  it('NdOptionCursor: an option whose length runs past the end → errorCode TRUNCATED', () => {
    const bytes = option(linkLayer, (bytes) => (bytes[1] = 2));
    const cursor = new NdOptionCursor().reset(bytes, 0, bytes.length);
    expect(cursor.next()).toBe(false);
    expect({ code: cursor.errorCode, offset: cursor.errorOffset }).toEqual({ code: 'TRUNCATED', offset: 1 });
  });
});

// --- ND messages -------------------------------------------------------------------------------

/** An ICMPv6 Echo Request (type 128): well-formed ICMPv6, but not neighbor discovery. */
const echoRequest = Uint8Array.of(128, 0, 0x12, 0x34, 0, 1, 0, 1);

/** A Neighbor Solicitation with `options`, encoded. */
function solicitation(options: readonly NdOption[]): Uint8Array {
  const message: NdMessage = {
    kind: 'neighborSolicitation',
    targetAddress: Uint8Array.from({ length: 16 }, (_, i) => i),
    options,
  };
  const bytes = new Uint8Array(ndMessageLength(message));
  encodeNdMessage(message, bytes);
  return bytes;
}

describe('ND message refusals', () => {
  it('decodeNdMessage: an ICMPv6 Echo Request (type 128) → UNKNOWN_TYPE', () => {
    expect(refusal(decodeNdMessage(echoRequest))).toEqual({ code: 'UNKNOWN_TYPE', offset: 0 });
  });

  it('sendSignedRange: an ICMPv6 Echo Request (type 128) → UNKNOWN_TYPE', () => {
    expect(refusal(sendSignedRange(echoRequest))).toEqual({ code: 'UNKNOWN_TYPE', offset: 0 });
  });

  it('sendSignedRange: an RSA Signature option of 16 bytes → BAD_LENGTH', () => {
    // Type 12 written as an unknown option: the encoder's own rsaSignature is at least 24 bytes.
    const bytes = solicitation([
      linkLayer,
      { kind: 'unknown', type: 12, body: new Uint8Array(14).fill(0xee) },
    ]);
    expect(refusal(sendSignedRange(bytes))).toEqual({ code: 'BAD_LENGTH', offset: 24 + 8 + 1 });
  });

  it('sendSignedRange: an option of length 0 before any RSA Signature → OPTION_LENGTH_ZERO, not MISSING', () => {
    const bytes = solicitation([linkLayer, { kind: 'mtu', mtu: 1400 }]);
    bytes[24 + 8 + 1] = 0;
    expect(refusal(sendSignedRange(bytes))).toEqual({ code: 'OPTION_LENGTH_ZERO', offset: 24 + 8 + 1 });
  });

  it('sendSignedRange: an option running past the end before any RSA Signature → TRUNCATED, not MISSING', () => {
    const bytes = solicitation([linkLayer, { kind: 'mtu', mtu: 1400 }]);
    bytes[24 + 8 + 1] = 2;
    expect(refusal(sendSignedRange(bytes))).toEqual({ code: 'TRUNCATED', offset: 24 + 8 + 1 });
  });
});
