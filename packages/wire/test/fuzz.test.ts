/**
 * Fuzzing every decoder: per decoder 50,000 random inputs and 50,000 mutations (bit flips, byte
 * overwrites, truncations, extensions, splices) of valid encodings, from a fixed seed. A decoder
 * must return a result — never throw, never hang — and a failure must point inside the input.
 * Decoders that are canonical (the capsule header, the link-frame header) must re-encode any
 * input they accept to the very same bytes.
 */
import { testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CapsuleHeaderView,
  capsuleHeaderLength,
  type DecodeResult,
  decodeCapsuleHeader,
  decodeCodeChunk,
  decodeIcmpv4Message,
  decodeIcmpv6Message,
  decodeIpv4Header,
  decodeIpv6Header,
  decodeIpv6Packet,
  decodeLinkFrame,
  decodeNdMessage,
  decodeNdOptions,
  decodePathChunk,
  decodePcapFile,
  decodeProgramImage,
  decodeSealedPayload,
  decodeTcpHeader,
  decodeTraceChunk,
  decodeUdpHeader,
  encodeCapsuleHeader,
  encodeCodeChunk,
  encodeIcmpv4Message,
  encodeIpv4Header,
  encodeIpv6Header,
  encodeLinkFrame,
  encodeNdMessage,
  encodeNdOptions,
  encodePathChunk,
  encodePcapFile,
  encodeProgramImage,
  encodeSealedPayload,
  encodeTcpHeader,
  encodeTraceChunk,
  LinkFrameView,
  linkFrameLength,
  ndMessageLength,
  parseIpv4,
  parseIpv6,
  programImageLength,
  sendSignedRange,
} from '../src/index';
import * as arb from './arbitraries';

const RANDOM_INPUTS = 50_000;
const MUTATED_INPUTS = 50_000;

/** mulberry32: a small seeded PRNG (no fast-check overhead per input). */
function createRandom(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (max: number) => Math.floor(next() * max);
  const bytes = (length: number) => {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = int(256);
    return out;
  };
  return { int, bytes };
}

type Random = ReturnType<typeof createRandom>;

const interesting = [0, 1, 2, 7, 8, 0x0f, 0x10, 0x3f, 0x40, 0x7f, 0x80, 0xfd, 0xfe, 0xff];

function mutate(random: Random, input: Uint8Array): Uint8Array {
  const kind = random.int(6);
  if (input.length === 0 || kind === 0) {
    // extend with random bytes
    const out = new Uint8Array(input.length + 1 + random.int(64));
    out.set(input);
    out.set(random.bytes(out.length - input.length), input.length);
    return out;
  }
  if (kind === 1) return input.slice(0, random.int(input.length)); // truncate
  const out = input.slice();
  if (kind === 2) {
    const flips = 1 + random.int(4);
    for (let i = 0; i < flips; i++) out[random.int(out.length)]! ^= 1 << random.int(8);
  } else if (kind === 3) {
    out[random.int(out.length)] = interesting[random.int(interesting.length)]!;
  } else if (kind === 4) {
    // overwrite one of the first bytes (where lengths and types live)
    out[random.int(Math.min(out.length, 8))] = random.int(256);
  } else {
    // splice: duplicate or drop a run
    const at = random.int(out.length);
    const run = 1 + random.int(16);
    return random.int(2) === 0
      ? new Uint8Array([...out.subarray(0, at), ...out.subarray(at, at + run), ...out.subarray(at)])
      : new Uint8Array([...out.subarray(0, at), ...out.subarray(at + run)]);
  }
  return out;
}

/** Encodes `count` sample values with `encode` into seed inputs. */
function seeds<T>(arbitrary: fc.Arbitrary<T>, encode: (value: T) => Uint8Array, count = 64): Uint8Array[] {
  return fc.sample(arbitrary, { seed: testSeed, numRuns: count }).map(encode);
}

function into(length: number, write: (buffer: Uint8Array) => number): Uint8Array {
  const buffer = new Uint8Array(length);
  return buffer.subarray(0, write(buffer));
}

interface FuzzStats {
  accepted: number;
  refused: number;
}

function fuzz(
  name: string,
  decode: (input: Uint8Array) => DecodeResult<unknown>,
  corpus: Uint8Array[],
  maxRandomLength: number,
  onAccepted?: (input: Uint8Array, value: unknown) => void,
): FuzzStats {
  const random = createRandom(testSeed ^ (name.length * 0x9e3779b1));
  const stats = { accepted: 0, refused: 0 };
  const check = (input: Uint8Array) => {
    const result = decode(input);
    if (result.ok) {
      stats.accepted++;
      onAccepted?.(input, result.value);
    } else {
      stats.refused++;
      if (result.error.offset < 0 || result.error.offset > input.length)
        throw new Error(`${name}: error offset ${result.error.offset} outside ${input.length} bytes`);
    }
  };
  for (let i = 0; i < RANDOM_INPUTS; i++) check(random.bytes(random.int(maxRandomLength + 1)));
  for (let i = 0; i < MUTATED_INPUTS; i++) check(mutate(random, corpus[random.int(corpus.length)]!));
  // The corpus itself is valid.
  for (const input of corpus) expect(decode(input).ok, name).toBe(true);
  return stats;
}

function expectBoth(stats: FuzzStats) {
  expect(stats.accepted + stats.refused).toBeGreaterThanOrEqual(RANDOM_INPUTS + MUTATED_INPUTS);
  expect(stats.refused).toBeGreaterThan(0);
}

describe('fuzz: every decoder returns a result for 100,000 hostile inputs', () => {
  it('IPv4 header', () => {
    const corpus = seeds(arb.ipv4Header, (h) => {
      const buffer = new Uint8Array(h.totalLength);
      encodeIpv4Header(h, buffer);
      return buffer;
    });
    expectBoth(fuzz('ipv4', decodeIpv4Header, corpus, 80));
  });

  it('IPv6 header and extension-header walk', () => {
    const corpus = seeds(arb.ipv6Header, (h) =>
      into(40 + h.payloadLength, (b) => {
        encodeIpv6Header(h, b);
        return 40 + h.payloadLength;
      }),
    );
    // Packets with chains of extension headers, capsule header included.
    const chained = seeds(arb.capsuleHeader, (c) => {
      const capsuleLength = capsuleHeaderLength(c);
      const packet = new Uint8Array(40 + 8 + capsuleLength + 8);
      encodeIpv6Header(
        {
          trafficClass: 0,
          flowLabel: 1,
          payloadLength: 8 + capsuleLength + 8,
          nextHeader: 0,
          hopLimit: 64,
          source: new Uint8Array(16),
          destination: new Uint8Array(16),
        },
        packet,
      );
      packet.set([60, 0, 1, 4, 0, 0, 0, 0], 40); // hop-by-hop, 8 bytes, PadN
      encodeCapsuleHeader({ ...c, nextHeader: 17 }, packet, 48);
      packet[40] = 253;
      return packet;
    }).filter((p) => p.length <= 40 + 8 + 2048 + 8);
    expectBoth(fuzz('ipv6', decodeIpv6Header, corpus, 120));
    // Random next headers may announce extension headers the payload does not hold: keep valid ones.
    const walkable = [...corpus.filter((p) => decodeIpv6Packet(p).ok), ...chained];
    expect(chained.length).toBeGreaterThan(32);
    expectBoth(fuzz('ipv6-walk', decodeIpv6Packet, walkable, 120));
  });

  it('UDP, TCP, ICMPv4, ICMPv6 headers', () => {
    const udp = seeds(fc.integer({ min: 8, max: 100 }), (length) => {
      const b = new Uint8Array(length);
      b.set([0x1d, 0x17, 0x1d, 0x17, length >> 8, length & 0xff]);
      return b;
    });
    expectBoth(fuzz('udp', decodeUdpHeader, udp, 40));
    const tcp = seeds(arb.tcpHeader, (h) => into(60, (b) => encodeTcpHeader(h, b)));
    expectBoth(fuzz('tcp', decodeTcpHeader, tcp, 80));
    const icmp = seeds(arb.bytes(0, 40), (data) =>
      into(8 + data.length, (b) => encodeIcmpv4Message({ type: 8, code: 0, restOfHeader: 1, data }, b)),
    );
    const icmp4 = fuzz('icmpv4', decodeIcmpv4Message, icmp, 12);
    const icmp6 = fuzz('icmpv6', decodeIcmpv6Message, icmp, 8);
    expect(icmp4.accepted + icmp4.refused).toBeGreaterThanOrEqual(100_000);
    expect(icmp6.accepted + icmp6.refused).toBeGreaterThanOrEqual(100_000);
  });

  it('link frame (decode and the hot-path view agree; accepted headers re-encode identically)', () => {
    const corpus = seeds(arb.linkFrame, (f) => into(linkFrameLength(f), (b) => encodeLinkFrame(f, b)));
    const view = new LinkFrameView();
    const stats = fuzz('link-frame', decodeLinkFrame, corpus, 120, (input, value) => {
      expect(view.parse(input)).toBe(true);
      const frame = value as ReturnType<typeof decodeLinkFrame> & { type: 1 | 2 };
      const again = into(input.length, (b) => encodeLinkFrame(frame as never, b));
      if (again.length !== input.length || again.some((byte, i) => byte !== input[i]))
        throw new Error('link frame re-encoding differs');
    });
    expectBoth(stats);
  });

  it('capsule header (decode and view agree; accepted headers re-encode identically)', () => {
    const corpus = seeds(arb.capsuleHeader, (c) => into(2048 + 64, (b) => encodeCapsuleHeader(c, b)), 128);
    const view = new CapsuleHeaderView();
    const stats = fuzz('capsule', decodeCapsuleHeader, corpus, 300, (input, value) => {
      expect(view.parse(input)).toBe(true);
      const header = value as Parameters<typeof encodeCapsuleHeader>[0] & { length: number };
      const again = into(header.length, (b) => encodeCapsuleHeader(header, b));
      for (let i = 0; i < again.length; i++)
        if (again[i] !== input[i]) throw new Error(`capsule header re-encoding differs at byte ${i}`);
    });
    expectBoth(stats);
    expect(stats.accepted).toBeGreaterThan(1000);
  });

  it('PATH, CODE, TRACE values and the sealed payload', () => {
    expectBoth(
      fuzz(
        'path',
        decodePathChunk,
        seeds(arb.pathChunk, (p) => into(256, (b) => encodePathChunk(p, b))),
        64,
      ),
    );
    expectBoth(
      fuzz(
        'code',
        decodeCodeChunk,
        seeds(arb.codeChunk, (c) => into(1100, (b) => encodeCodeChunk(c, b))),
        64,
      ),
    );
    const traces = seeds(fc.array(arb.traceRecord, { maxLength: 21 }), (t) =>
      into(256, (b) => encodeTraceChunk(t, b)),
    );
    expectBoth(fuzz('trace', decodeTraceChunk, traces, 64));
    const sealed = seeds(arb.sealedPayload, (p) => into(400, (b) => encodeSealedPayload(p, b)));
    expectBoth(fuzz('sealed', decodeSealedPayload, sealed, 40));
  });

  it('ND options, ND messages and the SeND signed range', () => {
    const options = seeds(fc.array(arb.ndOption, { maxLength: 6 }), (o) =>
      into(8192, (b) => encodeNdOptions(o, b)),
    );
    expectBoth(fuzz('nd-options', decodeNdOptions, options, 64));
    const messages = seeds(arb.ndMessage, (m) => into(ndMessageLength(m), (b) => encodeNdMessage(m, b)), 128);
    expectBoth(fuzz('nd-message', decodeNdMessage, messages, 64));
    const signed = seeds(
      fc.tuple(arb.ndMessage, arb.fixedBytes(16), arb.padded(20, 100, 300)),
      ([m, keyHash, signature]) => {
        const withSignature = {
          ...m,
          options: [...m.options, { kind: 'rsaSignature' as const, keyHash, signature }],
        };
        return into(ndMessageLength(withSignature), (b) => encodeNdMessage(withSignature, b));
      },
    );
    expectBoth(fuzz('send-range', sendSignedRange, signed, 64));
  });

  it('pcap file', () => {
    const files = seeds(
      fc.array(fc.record({ timestampUs: fc.integer({ min: 0, max: 2 ** 40 }), packet: arb.bytes(0, 60) }), {
        maxLength: 4,
      }),
      (records) => encodePcapFile(records),
    );
    expectBoth(fuzz('pcap', decodePcapFile, files, 80));
  });

  it('program image (binary form)', () => {
    const images = seeds(arb.programImage, (image) =>
      into(programImageLength(image), (b) => encodeProgramImage(image, b)),
    );
    expectBoth(fuzz('program-image', decodeProgramImage, images, 80));
  });

  it('address text', () => {
    const random = createRandom(testSeed);
    const alphabet = '0123456789abcdefABCDEF:.%x ';
    const corpus = [
      '::',
      '::1',
      '2001:db8::1',
      'fe80::1:2:3:4',
      '::ffff:192.0.2.1',
      '1:2:3:4:5:6:7:8',
      '192.0.2.1',
    ];
    let refused = 0;
    for (let i = 0; i < 100_000; i++) {
      let text: string;
      if (i % 2 === 0) {
        const length = random.int(48);
        text = Array.from({ length }, () => alphabet[random.int(alphabet.length)]).join('');
      } else {
        const base = corpus[random.int(corpus.length)]!;
        const at = random.int(base.length + 1);
        text = base.slice(0, at) + alphabet[random.int(alphabet.length)] + base.slice(at + random.int(2));
      }
      const v6 = parseIpv6(text);
      const v4 = parseIpv4(text);
      if (!v6.ok) refused++;
      if (v6.ok) expect(v6.value.length).toBe(16);
      if (v4.ok) expect(v4.value.length).toBe(4);
    }
    expect(refused).toBeGreaterThan(0);
  });
});
