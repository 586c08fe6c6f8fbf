/**
 * Every refusal of the transport, ICMP, DNS and pcap decoders, one input each, with its code and
 * offset: the fuzz tests show that they never throw, these that each check refuses what it must
 * (without it, a short or lying input decodes to a value read past its end). Guarded by
 * `node scripts/mutate-guards.mjs --target wire`.
 */
import { describe, expect, it } from 'vitest';
import {
  type DecodeErrorCode,
  type DecodeResult,
  decodeDnsMessage,
  decodeIcmpv4Message,
  decodeIcmpv6Message,
  decodePcapFile,
  decodeTcpHeader,
  decodeUdpHeader,
  encodePcapFile,
  encodeTcpHeader,
  encodeUdpHeader,
} from '../src/index';

interface Refusal {
  readonly name: string;
  readonly result: DecodeResult<unknown>;
  readonly code: DecodeErrorCode;
  readonly offset: number;
  /** A part of the message, where one code covers several checks. */
  readonly says?: RegExp;
}

function expectRefusals(refusals: readonly Refusal[]): void {
  for (const { name, result, code, offset, says } of refusals) {
    expect(result.ok, name).toBe(false);
    if (result.ok) continue;
    expect({ code: result.error.code, offset: result.error.offset }, name).toEqual({ code, offset });
    if (says) expect(result.error.message, name).toMatch(says);
  }
}

/** A DNS header: id 7, a query, these section counts. */
function dnsHeader(questions: number, answers: number): number[] {
  return [0, 7, 0x01, 0x00, 0, questions, 0, answers, 0, 0, 0, 0];
}

/** One answer record of `type` with a root name, class IN, TTL 60, RDLENGTH `length`, then `data`. */
function dnsRecord(type: number, length: number, data: readonly number[]): number[] {
  return [0, 0, type, 0, 1, 0, 0, 0, 60, length >> 8, length & 0xff, ...data];
}

/**
 * A message whose second question is a chain of `pointers` compression pointers, each one to the
 * one before it, the first to a zero byte of the header (a root name): every pointer points
 * backwards, as the rule asks. The pointers are the contents of the first question's labels.
 * Returns the message and where each pointer is.
 */
function pointerChain(pointers: number): { bytes: Uint8Array; at: number[] } {
  const bytes = dnsHeader(2, 0);
  const at: number[] = [];
  while (at.length < pointers) {
    const inLabel = Math.min(31, pointers - at.length);
    bytes.push(inLabel * 2); // a label of at most 62 bytes, its contents pointers
    for (let i = 0; i < inLabel; i++) {
      const target = at.length === 0 ? 8 : at[at.length - 1]!; // byte 8: the authority count's 0
      at.push(bytes.length);
      bytes.push(0xc0 | (target >> 8), target & 0xff);
    }
  }
  bytes.push(0, 0, 1, 0, 1); // end of the first name, type A, class IN
  const last = at[at.length - 1]!;
  bytes.push(0xc0 | (last >> 8), last & 0xff, 0, 1, 0, 1); // the second question: the chain
  return { bytes: Uint8Array.from(bytes), at };
}

describe('decoder refusals, one input each', () => {
  it('UDP: a length under 8, a length past the bytes', () => {
    const datagram = new Uint8Array(12);
    encodeUdpHeader({ sourcePort: 7, destinationPort: 9, length: 12, checksum: 0 }, datagram);
    expect(decodeUdpHeader(datagram).ok).toBe(true);
    const lengthOf = (length: number) => {
      const copy = datagram.slice();
      copy[4] = length >> 8;
      copy[5] = length & 0xff;
      return copy;
    };
    expectRefusals([
      { name: 'short', result: decodeUdpHeader(datagram.subarray(0, 7)), code: 'TRUNCATED', offset: 0 },
      { name: 'length 7', result: decodeUdpHeader(lengthOf(7)), code: 'BAD_LENGTH', offset: 4 },
      { name: 'length 13 of 12', result: decodeUdpHeader(lengthOf(13)), code: 'TRUNCATED', offset: 4 },
    ]);
  });

  it('TCP: a data offset under 5, a header longer than the bytes', () => {
    const segment = new Uint8Array(24);
    encodeTcpHeader(
      {
        sourcePort: 7,
        destinationPort: 9,
        sequenceNumber: 1,
        acknowledgmentNumber: 0,
        flags: 0x02,
        window: 1000,
        checksum: 0,
        urgentPointer: 0,
        options: new Uint8Array(4),
      },
      segment,
    );
    expect(decodeTcpHeader(segment).ok).toBe(true);
    const offsetOf = (words: number) => {
      const copy = segment.slice();
      copy[12] = (words << 4) | (copy[12]! & 0x0f);
      return copy;
    };
    expectRefusals([
      { name: 'short', result: decodeTcpHeader(segment.subarray(0, 19)), code: 'TRUNCATED', offset: 0 },
      { name: 'data offset 4', result: decodeTcpHeader(offsetOf(4)), code: 'BAD_LENGTH', offset: 12 },
      {
        name: 'data offset 7 in 24 bytes',
        result: decodeTcpHeader(offsetOf(7)),
        code: 'TRUNCATED',
        offset: 12,
      },
    ]);
  });

  it('ICMPv4 under 8 bytes, ICMPv6 under 4', () => {
    expectRefusals([
      { name: 'icmpv4', result: decodeIcmpv4Message(new Uint8Array(7)), code: 'TRUNCATED', offset: 0 },
      { name: 'icmpv6', result: decodeIcmpv6Message(new Uint8Array(3)), code: 'TRUNCATED', offset: 0 },
    ]);
    expect(decodeIcmpv4Message(new Uint8Array(8)).ok).toBe(true);
    expect(decodeIcmpv6Message(new Uint8Array(4)).ok).toBe(true);
  });

  it('DNS: header, section counts, questions, records and their data', () => {
    const dns = (bytes: readonly number[]) => decodeDnsMessage(Uint8Array.from(bytes));
    const question = [1, 0x61, 0, 0, 1, 0, 1]; // a. A IN
    expect(dns([...dnsHeader(1, 1), ...question, ...dnsRecord(1, 4, [10, 0, 0, 1])]).ok).toBe(true);
    expectRefusals([
      { name: 'header', result: dns(dnsHeader(0, 0).slice(0, 11)), code: 'TRUNCATED', offset: 0 },
      { name: 'counts', result: dns(dnsHeader(1, 0)), code: 'BAD_LENGTH', offset: 4 },
      // The name ends at 15; its type and class need 4 bytes more, 2 are there.
      {
        name: 'question',
        result: dns([...dnsHeader(1, 0), 1, 0x61, 0, 0, 1]),
        code: 'TRUNCATED',
        offset: 15,
      },
      // 23 bytes hold one record by count, but the name "a" leaves 8 of the 10 fixed bytes.
      {
        name: 'record',
        result: dns([...dnsHeader(0, 1), 1, 0x61, 0, 0, 1, 0, 1, 0, 0, 0, 60]),
        code: 'TRUNCATED',
        offset: 15,
      },
      {
        name: 'rdata',
        result: dns([...dnsHeader(0, 1), ...dnsRecord(16, 5, [1, 2])]),
        code: 'TRUNCATED',
        offset: 21,
      },
      {
        name: 'A of 3',
        result: dns([...dnsHeader(0, 1), ...dnsRecord(1, 3, [1, 2, 3])]),
        code: 'BAD_LENGTH',
        offset: 21,
      },
      {
        name: 'AAAA of 4',
        result: dns([...dnsHeader(0, 1), ...dnsRecord(28, 4, [1, 2, 3, 4])]),
        code: 'BAD_LENGTH',
        offset: 21,
      },
    ]);
  });

  it('DNS names: past the end, pointers cut, forward, looping or too many, reserved labels, too long, cut labels', () => {
    const question = (name: readonly number[]) =>
      decodeDnsMessage(Uint8Array.from([...dnsHeader(1, 0), ...name]));
    const label = (length: number) => [length, ...new Array<number>(length).fill(0x61)];
    // The second question's pointer is jump 1; the 65th jump, refused, is the chain's 64th pointer from its end.
    expect(decodeDnsMessage(pointerChain(63).bytes).ok).toBe(true);
    const chain = pointerChain(70);
    expectRefusals([
      { name: 'past the end', result: question(label(4)), code: 'BAD_FIELD', offset: 17, says: /runs past/ },
      {
        name: 'pointer cut',
        result: question([...label(1), ...label(1), 0xc0]),
        code: 'BAD_FIELD',
        offset: 16,
        says: /pointer truncated/,
      },
      {
        name: 'pointer to itself',
        result: question([0xc0, 12, 0, 0, 0]),
        code: 'BAD_FIELD',
        offset: 12,
        says: /backwards/,
      },
      {
        name: 'pointer forwards',
        result: question([0xc0, 14, 0, 0, 1, 0, 1]),
        code: 'BAD_FIELD',
        offset: 12,
        says: /backwards/,
      },
      {
        name: 'too many pointers',
        result: decodeDnsMessage(chain.bytes),
        code: 'BAD_FIELD',
        offset: chain.at[70 - 64]!,
        says: /too many/,
      },
      {
        name: 'reserved',
        result: question([0x40, 0, 0, 0, 0]),
        code: 'BAD_FIELD',
        offset: 12,
        says: /reserved/,
      },
      {
        name: 'too long',
        result: question([...label(63), ...label(63), ...label(63), ...label(63), 0, 0, 1, 0, 1]),
        code: 'BAD_FIELD',
        offset: 12 + 3 * 64,
        says: /too long/,
      },
      {
        name: 'label cut',
        result: question([63, 0x61, 0x61, 0x61, 0x61]),
        code: 'BAD_FIELD',
        offset: 12,
        says: /label truncated/,
      },
    ]);
  });

  it('pcap: header, magic, version, microseconds, record lengths', () => {
    const file = encodePcapFile([
      { timestampUs: 1_500_000, packet: Uint8Array.of(1, 2, 3, 4), originalLength: 4 },
    ]);
    expect(decodePcapFile(file).ok).toBe(true);
    const changed = (at: number, ...bytes: number[]) => {
      const copy = file.slice();
      copy.set(bytes, at);
      return decodePcapFile(copy);
    };
    // Little-endian: the record header is at 24 (seconds, microseconds, captured, original).
    expectRefusals([
      { name: 'header', result: decodePcapFile(file.subarray(0, 23)), code: 'TRUNCATED', offset: 0 },
      { name: 'magic', result: changed(0, 0x4d, 0x3c, 0xb2, 0xa1), code: 'BAD_VERSION', offset: 0 },
      { name: 'version 3', result: changed(4, 3, 0), code: 'BAD_VERSION', offset: 4 },
      {
        name: 'record header cut',
        result: decodePcapFile(file.subarray(0, 24 + 15)),
        code: 'TRUNCATED',
        offset: 24,
      },
      { name: 'microseconds 10^6', result: changed(28, 0x40, 0x42, 0x0f, 0), code: 'BAD_FIELD', offset: 28 },
      {
        name: 'captured past the end',
        result: changed(32, 5, 0, 0, 0, 5, 0, 0, 0),
        code: 'TRUNCATED',
        offset: 32,
      },
      { name: 'original < captured', result: changed(36, 3, 0, 0, 0), code: 'BAD_LENGTH', offset: 36 },
    ]);
  });
});
