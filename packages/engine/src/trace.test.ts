import { testSeed } from '@capsule/testkit';
import {
  CAPSULE_HEADER_LIMIT,
  CAPSULE_NEXT_HEADER,
  type CapsuleHeader,
  CapsuleHeaderView,
  capsuleHeaderLength,
  decodeCapsuleHeader,
  encodeCapsuleHeader,
  encodeIpv6Header,
  IPV6_HEADER_LENGTH,
  TRACE_CHUNK_LIMIT,
  TRACE_RECORD_LENGTH,
} from '@capsule/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { appendTraceRecord } from './trace';

/** An inner packet: IPv6 + `header` + `payload`, at `base` in a buffer with `slack` bytes after. */
function packetAt(header: CapsuleHeader, payload: Uint8Array, base: number) {
  const capsuleLength = capsuleHeaderLength(header);
  const length = IPV6_HEADER_LENGTH + capsuleLength + payload.length;
  const bytes = new Uint8Array(base + length + 16).fill(0xee);
  encodeIpv6Header(
    {
      trafficClass: 0,
      flowLabel: 5,
      payloadLength: capsuleLength + payload.length,
      nextHeader: CAPSULE_NEXT_HEADER,
      hopLimit: 9,
      source: new Uint8Array(16).fill(1),
      destination: new Uint8Array(16).fill(2),
    },
    bytes,
    base,
  );
  encodeCapsuleHeader(header, bytes, base + IPV6_HEADER_LENGTH);
  bytes.set(payload, base + IPV6_HEADER_LENGTH + capsuleLength);
  return { bytes, length };
}

const record = (i: number) => ({ engineId: i, timeUs: i * 1000, fuelUsed: i, verdict: 1, reason: 0 });

describe('appendTraceRecord', () => {
  it('adds one record (a new TRACE chunk or one more in it, before TRANSPORT), moves the payload, fixes both lengths', () => {
    fc.assert(
      fc.property(
        fc.record({
          path: fc.boolean(),
          data: fc.integer({ min: 0, max: 256 }),
          records: fc.integer({ min: -1, max: 21 }),
          payload: fc.uint8Array({ maxLength: 300 }),
          transport: fc.option(
            fc.record({
              protocol: fc.integer({ min: 0, max: 255 }),
              sourcePort: fc.integer({ min: 0, max: 0xffff }),
              destinationPort: fc.integer({ min: 0, max: 0xffff }),
            }),
            { nil: undefined },
          ),
          base: fc.integer({ min: 0, max: 40 }),
          engineId: fc.integer({ min: 0, max: 0xffff }),
          timeUs: fc.integer({ min: 0, max: 0xffff_ffff }),
          fuel: fc.integer({ min: 0, max: 0xffff_ffff }),
          verdict: fc.integer({ min: 0, max: 255 }),
          reason: fc.integer({ min: 0, max: 1000 }),
        }),
        (c) => {
          const header: CapsuleHeader = {
            nextHeader: 59,
            packetType: 3,
            flags: 1,
            ...(c.path && {
              path: {
                creationTime: 7,
                hopIndex: 0,
                defaultEntry: 0,
                hops: [{ engineId: 1, entryIndex: 0, flags: 0 }],
              },
            }),
            data: new Uint8Array(c.data).fill(0x5d),
            ...(c.records >= 0 && { trace: Array.from({ length: c.records }, (_, i) => record(i)) }),
            ...(c.transport && { transport: c.transport }),
          };
          const { bytes, length } = packetAt(header, c.payload, c.base);
          const view = new CapsuleHeaderView();
          expect(view.parse(bytes, c.base + IPV6_HEADER_LENGTH, c.base + length)).toBe(true);
          const out = new Uint8Array(65_536);
          const before = Uint8Array.from(bytes);
          const written = appendTraceRecord(
            out,
            bytes,
            c.base,
            length,
            view,
            c.engineId,
            c.timeUs,
            c.fuel,
            c.verdict,
            c.reason,
          );
          expect(bytes).toEqual(before); // the received packet is left as it is
          const oldRecords = Math.max(0, c.records);
          const grown = capsuleHeaderLength({ ...header, trace: [...(header.trace ?? []), record(0)] });
          if ((oldRecords + 1) * TRACE_RECORD_LENGTH > TRACE_CHUNK_LIMIT || grown > CAPSULE_HEADER_LIMIT) {
            expect(written).toBe(0);
            return;
          }
          expect(written).toBe(IPV6_HEADER_LENGTH + grown + c.payload.length);
          expect((out[4]! << 8) | out[5]!).toBe(written - IPV6_HEADER_LENGTH);
          expect(out.subarray(0, 4)).toEqual(bytes.subarray(c.base, c.base + 4));
          expect(out.subarray(6, IPV6_HEADER_LENGTH)).toEqual(
            bytes.subarray(c.base + 6, c.base + IPV6_HEADER_LENGTH),
          );
          const decoded = decodeCapsuleHeader(out.subarray(IPV6_HEADER_LENGTH, written));
          expect(decoded.ok).toBe(true);
          if (!decoded.ok) return;
          expect(decoded.value.length).toBe(grown);
          expect(decoded.value.data).toEqual(header.data);
          expect(decoded.value.path).toEqual(header.path);
          expect(decoded.value.transport).toEqual(header.transport);
          expect(decoded.value.trace).toEqual([
            ...(header.trace ?? []),
            {
              engineId: c.engineId,
              timeUs: c.timeUs,
              fuelUsed: c.fuel,
              verdict: c.verdict,
              reason: Math.min(255, c.reason),
            },
          ]);
          expect(out.subarray(IPV6_HEADER_LENGTH + grown, written)).toEqual(c.payload);
        },
      ),
      { seed: testSeed, numRuns: 400 },
    );
  });

  it('refuses a full TRACE chunk (21 records) and leaves the output alone', () => {
    const header: CapsuleHeader = {
      nextHeader: 59,
      packetType: 3,
      flags: 1,
      trace: Array.from({ length: 21 }, (_, i) => record(i)),
    };
    const { bytes, length } = packetAt(header, new Uint8Array(8), 0);
    const view = new CapsuleHeaderView();
    expect(view.parse(bytes, IPV6_HEADER_LENGTH, length)).toBe(true);
    const out = new Uint8Array(4096).fill(0x77);
    expect(appendTraceRecord(out, bytes, 0, length, view, 1, 2, 3, 1, 0)).toBe(0);
    expect(out.every((b) => b === 0x77)).toBe(true);
  });

  it('refuses when the grown capsule header would pass 2 KiB, though the TRACE chunk has room', () => {
    const big = (records: number): CapsuleHeader => ({
      nextHeader: 59,
      packetType: 2,
      flags: 1,
      code: { entryOffsets: new Array(255).fill(0), machineCode: new Uint8Array(1024).fill(0x13) },
      data: new Uint8Array(256),
      trace: Array.from({ length: records }, (_, i) => record(i)),
    });
    let records = 0;
    while (capsuleHeaderLength(big(records + 1)) <= CAPSULE_HEADER_LIMIT) records++;
    expect((records + 1) * TRACE_RECORD_LENGTH).toBeLessThanOrEqual(TRACE_CHUNK_LIMIT);
    const { bytes, length } = packetAt(big(records), new Uint8Array(8), 3);
    const view = new CapsuleHeaderView();
    expect(view.parse(bytes, 3 + IPV6_HEADER_LENGTH, 3 + length)).toBe(true);
    expect(appendTraceRecord(new Uint8Array(65_536), bytes, 3, length, view, 1, 2, 3, 1, 0)).toBe(0);
  });
});
