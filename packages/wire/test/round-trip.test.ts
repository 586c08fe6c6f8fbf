/**
 * Round-trip properties for every encoder/decoder pair: decode(encode(v)) gives v back (plus the
 * fields only a decoder knows), and encoding that again gives the same bytes.
 */
import { testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  capsuleHeaderLength,
  decodeCapsuleHeader,
  decodeCodeChunk,
  decodeIcmpv4Message,
  decodeIcmpv6Message,
  decodeIpv4Header,
  decodeIpv6Header,
  decodeLinkFrame,
  decodeNdMessage,
  decodeNdOptions,
  decodePathChunk,
  decodePcapFile,
  decodeSealedPayload,
  decodeTcpHeader,
  decodeTraceChunk,
  decodeTransportChunk,
  decodeUdpHeader,
  encodeCapsuleHeader,
  encodeCodeChunk,
  encodeIcmpv4Message,
  encodeIcmpv6Message,
  encodeIpv4Header,
  encodeIpv6Header,
  encodeLinkFrame,
  encodeNdMessage,
  encodeNdOptions,
  encodePathChunk,
  encodePcapFile,
  encodeSealedPayload,
  encodeTcpHeader,
  encodeTraceChunk,
  encodeTransportChunk,
  encodeUdpHeader,
  formatIpv4,
  formatIpv6,
  icmpv6Checksum,
  internetChecksum,
  linkFrameLength,
  ndMessageLength,
  parseIpv4,
  parseIpv6,
  TRANSPORT_CHUNK_LENGTH,
} from '../src/index';
import * as arb from './arbitraries';

const runs = { seed: testSeed, numRuns: 300 };

function expectOk<T>(result: { ok: true; value: T } | { ok: false; error: unknown }): T {
  if (!result.ok) expect.fail(`decode failed: ${JSON.stringify(result.error)}`);
  return result.value;
}

describe('round trips', () => {
  it('IPv4 header', () => {
    fc.assert(
      fc.property(arb.ipv4Header, (header) => {
        const buffer = new Uint8Array(header.totalLength);
        const length = encodeIpv4Header(header, buffer);
        const { headerLength, headerChecksum, isChecksumValid, payload, ...fields } = expectOk(
          decodeIpv4Header(buffer),
        );
        expect(fields).toEqual(header);
        expect(headerLength).toBe(length);
        expect(isChecksumValid).toBe(true);
        expect(internetChecksum(buffer, 0, length)).toBe(0);
        expect(payload.length).toBe(header.totalLength - length);
        expect(headerChecksum).toBe((buffer[10]! << 8) | buffer[11]!);
      }),
      runs,
    );
  });

  it('IPv6 header', () => {
    fc.assert(
      fc.property(arb.ipv6Header, (header) => {
        const buffer = new Uint8Array(40 + header.payloadLength);
        expect(encodeIpv6Header(header, buffer)).toBe(40);
        const { payload, ...fields } = expectOk(decodeIpv6Header(buffer));
        expect(fields).toEqual(header);
        expect(payload.length).toBe(header.payloadLength);
      }),
      runs,
    );
  });

  it('UDP header', () => {
    fc.assert(
      fc.property(
        arb.u16,
        arb.u16,
        arb.u16,
        fc.integer({ min: 8, max: 600 }),
        (sourcePort, destinationPort, checksum, length) => {
          const header = { sourcePort, destinationPort, checksum, length };
          const buffer = new Uint8Array(length);
          expect(encodeUdpHeader(header, buffer)).toBe(8);
          const { payload, ...fields } = expectOk(decodeUdpHeader(buffer));
          expect(fields).toEqual(header);
          expect(payload.length).toBe(length - 8);
        },
      ),
      runs,
    );
  });

  it('TCP header', () => {
    fc.assert(
      fc.property(arb.tcpHeader, arb.bytes(0, 100), (header, data) => {
        const buffer = new Uint8Array(60 + data.length);
        const length = encodeTcpHeader(header, buffer);
        buffer.set(data, length);
        const { headerLength, payload, ...fields } = expectOk(
          decodeTcpHeader(buffer.subarray(0, length + data.length)),
        );
        expect(fields).toEqual(header);
        expect(headerLength).toBe(20 + header.options.length);
        expect(payload).toEqual(data);
      }),
      runs,
    );
  });

  it('ICMPv4 and ICMPv6 messages (checksums verify)', () => {
    fc.assert(
      fc.property(
        arb.u8,
        arb.u8,
        arb.u32,
        arb.bytes(0, 100),
        arb.fixedBytes(16),
        arb.fixedBytes(16),
        (type, code, rest, data, src, dst) => {
          const v4 = new Uint8Array(8 + data.length);
          encodeIcmpv4Message({ type, code, restOfHeader: rest, data }, v4);
          const decoded4 = expectOk(decodeIcmpv4Message(v4));
          expect({ ...decoded4, checksum: 0 }).toEqual({ type, code, restOfHeader: rest, data, checksum: 0 });
          expect(internetChecksum(v4)).toBe(0);
          const v6 = new Uint8Array(4 + data.length);
          encodeIcmpv6Message({ type, code, body: data }, v6, 0, { source: src, destination: dst });
          const decoded6 = expectOk(decodeIcmpv6Message(v6));
          expect(decoded6.body).toEqual(data);
          expect(decoded6.checksum).toBe(icmpv6Checksum(v6, 0, v6.length, src, dst));
        },
      ),
      runs,
    );
  });

  it('address text: parse(format(bytes)) is the bytes', () => {
    fc.assert(
      fc.property(arb.fixedBytes(16), arb.fixedBytes(4), (v6, v4) => {
        expect(expectOk(parseIpv6(formatIpv6(v6)))).toEqual(v6);
        expect(expectOk(parseIpv4(formatIpv4(v4)))).toEqual(v4);
      }),
      runs,
    );
  });

  it('link frame', () => {
    fc.assert(
      fc.property(arb.linkFrame, (frame) => {
        const buffer = new Uint8Array(linkFrameLength(frame));
        expect(encodeLinkFrame(frame, buffer)).toBe(buffer.length);
        const decoded = expectOk(decodeLinkFrame(buffer));
        expect(decoded.type).toBe(frame.type);
        expect(decoded.flags).toBe(frame.flags);
        expect(decoded.receiverIndex).toBe(frame.receiverIndex);
        expect(decoded.counter).toBe(frame.counter);
        expect(decoded.body).toEqual(frame.body);
        expect(decoded.tag).toEqual(frame.tag);
        expect(decoded.macs).toEqual(frame.macs);
        // DATA without a capsule header: the whole body is authenticated.
        expect(decoded.aadEnd).toBe(frame.type === 2 ? 16 + frame.body.length : 0);
      }),
      runs,
    );
  });

  it('PATH, CODE, TRACE and TRANSPORT chunk values', () => {
    fc.assert(
      fc.property(
        arb.pathChunk,
        arb.codeChunk,
        fc.array(arb.traceRecord, { maxLength: 21 }),
        arb.transportChunk,
        (path, code, trace, transport) => {
          const buffer = new Uint8Array(2048);
          let length = encodePathChunk(path, buffer);
          expect(expectOk(decodePathChunk(buffer.subarray(0, length)))).toEqual(path);
          length = encodeCodeChunk(code, buffer);
          expect(expectOk(decodeCodeChunk(buffer.subarray(0, length)))).toEqual(code);
          length = encodeTraceChunk(trace, buffer);
          expect(expectOk(decodeTraceChunk(buffer.subarray(0, length)))).toEqual(trace);
          length = encodeTransportChunk(transport, buffer);
          expect(length).toBe(TRANSPORT_CHUNK_LENGTH);
          expect(expectOk(decodeTransportChunk(buffer.subarray(0, length)))).toEqual(transport);
        },
      ),
      runs,
    );
  });

  it('capsule header, every packet type', () => {
    fc.assert(
      fc.property(arb.capsuleHeader, (header) => {
        const length = capsuleHeaderLength(header);
        fc.pre(length <= 2048);
        const buffer = new Uint8Array(length + 3);
        expect(encodeCapsuleHeader(header, buffer)).toBe(length);
        expect(length % 8).toBe(0);
        const { version, length: decodedLength, ...fields } = expectOk(decodeCapsuleHeader(buffer));
        expect(version).toBe(1);
        expect(decodedLength).toBe(length);
        expect(fields).toEqual(header);
        const again = new Uint8Array(length);
        encodeCapsuleHeader(fields, again);
        expect(again).toEqual(buffer.subarray(0, length));
      }),
      runs,
    );
  });

  it('sealed payload', () => {
    fc.assert(
      fc.property(arb.sealedPayload, (payload) => {
        const buffer = new Uint8Array(32 + payload.ciphertext.length);
        expect(encodeSealedPayload(payload, buffer)).toBe(buffer.length);
        expect(expectOk(decodeSealedPayload(buffer))).toEqual(payload);
      }),
      runs,
    );
  });

  it('ND options', () => {
    fc.assert(
      fc.property(fc.array(arb.ndOption, { maxLength: 8 }), (options) => {
        const buffer = new Uint8Array(8 * 1024);
        const length = encodeNdOptions(options, buffer);
        expect(length % 8).toBe(0);
        expect(expectOk(decodeNdOptions(buffer.subarray(0, length)))).toEqual(options);
      }),
      runs,
    );
  });

  it('ND messages (checksum computed with the addresses)', () => {
    fc.assert(
      fc.property(arb.ndMessage, arb.fixedBytes(16), arb.fixedBytes(16), (message, source, destination) => {
        const buffer = new Uint8Array(ndMessageLength(message));
        expect(encodeNdMessage(message, buffer, 0, { source, destination })).toBe(buffer.length);
        const { checksum, ...fields } = expectOk(decodeNdMessage(buffer));
        expect(fields).toEqual(message);
        expect(checksum).toBe(icmpv6Checksum(buffer, 0, buffer.length, source, destination));
      }),
      runs,
    );
  });

  it('pcap file', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            timestampUs: fc.integer({ min: 0, max: 2 ** 32 * 1e6 - 1 }),
            packet: arb.bytes(0, 200),
          }),
          {
            maxLength: 10,
          },
        ),
        (records) => {
          const file = encodePcapFile(records);
          const decoded = expectOk(decodePcapFile(file));
          expect(decoded.linkType).toBe(101);
          expect(decoded.records).toEqual(
            records.map((record) => ({ ...record, originalLength: record.packet.length })),
          );
        },
      ),
      runs,
    );
  });
});
