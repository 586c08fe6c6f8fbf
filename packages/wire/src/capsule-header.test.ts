import { describe, expect, it } from 'vitest';
import {
  CapsuleChunkCursor,
  type CapsuleHeader,
  CapsuleHeaderView,
  ChunkType,
  capsuleHeaderLength,
  decodeCapsuleHeader,
  encodeCapsuleHeader,
} from './capsule-header';
import { decodeCodeChunk } from './code-chunk';
import { isCapsuleError } from './errors';
import { decodeTransportChunk } from './transport-chunk';

const code = { entryOffsets: [0, 4], machineCode: Uint8Array.from([0x13, 0, 0, 0, 0x73, 0, 0x10, 0]) };
const path = {
  creationTime: 1_700_000_000,
  hopIndex: 1,
  defaultEntry: 0,
  hops: [
    { engineId: 7, entryIndex: 1, flags: 0 },
    { engineId: 9, entryIndex: 0, flags: 2 },
  ],
};
const typeI: CapsuleHeader = {
  nextHeader: 59,
  packetType: 1,
  flags: 0,
  auth: new Uint8Array(148).fill(0xaa),
  path,
  code,
  data: Uint8Array.of(1, 2, 3),
};

function encode(header: CapsuleHeader): Uint8Array {
  const bytes = new Uint8Array(capsuleHeaderLength(header));
  encodeCapsuleHeader(header, bytes);
  return bytes;
}

function errorCode(bytes: Uint8Array) {
  const result = decodeCapsuleHeader(bytes);
  return result.ok ? 'ok' : result.error.code;
}

describe('capsule header', () => {
  it('lays out a type I header byte for byte', () => {
    const bytes = encode(typeI);
    // 4 fixed + (2+148) AUTH + (2+16) PATH + (2+14) CODE + (2+3) DATA = 193 → 200 bytes.
    expect(bytes.length).toBe(200);
    expect(Array.from(bytes.subarray(0, 6))).toEqual([59, 200 / 8 - 1, 0x11, 0, 0x10, 148]);
    expect(Array.from(bytes.subarray(154, 158))).toEqual([0x20, 16, 0x65, 0x53]); // PATH: len 16, time
    expect(Array.from(bytes.subarray(172, 176))).toEqual([0x30, 14, 2, 0]); // CODE: len 14, 2 entries
    expect(Array.from(bytes.subarray(188, 193))).toEqual([0x40, 3, 1, 2, 3]); // DATA
    expect(Array.from(bytes.subarray(193))).toEqual([0, 0, 0, 0, 0, 0, 0]); // padding
  });

  it('enforces the packet-type rules on decode', () => {
    const withoutAuth = encode({ ...typeI, packetType: 2, auth: undefined });
    expect(errorCode(withoutAuth)).toBe('ok');
    withoutAuth[2] = 0x11; // claim type I: AUTH missing
    expect(errorCode(withoutAuth)).toBe('PACKET_TYPE_RULE');
    withoutAuth[2] = 0x13; // type III may not carry CODE
    expect(errorCode(withoutAuth)).toBe('PACKET_TYPE_RULE');
    const typeIWithAuth = encode(typeI);
    typeIWithAuth[2] = 0x12; // type II may not carry AUTH
    expect(errorCode(typeIWithAuth)).toBe('PACKET_TYPE_RULE');
    typeIWithAuth[2] = 0x14;
    expect(errorCode(typeIWithAuth)).toBe('UNKNOWN_TYPE');
    typeIWithAuth[2] = 0x21;
    expect(errorCode(typeIWithAuth)).toBe('BAD_VERSION');
    expect(errorCode(encode({ nextHeader: 6, packetType: 3, flags: 1 }))).toBe('ok');
  });

  it('refuses to encode a packet that breaks its type rules', () => {
    for (const bad of [
      { ...typeI, auth: undefined },
      { ...typeI, packetType: 2 as const },
      { ...typeI, packetType: 3 as const, auth: undefined },
      { ...typeI, packetType: 2 as const, auth: undefined, data: undefined },
    ]) {
      let thrown: unknown;
      try {
        encode(bad);
      } catch (error) {
        thrown = error;
      }
      expect(isCapsuleError(thrown) && thrown.code).toBe('WIRE_VALUE_INVALID');
    }
  });

  it('enforces the chunk limits (AUTH 160, DATA 256, CODE 1024 + table, PATH 256, TRACE 256, header 2048)', () => {
    const throws = (header: CapsuleHeader) => {
      try {
        encode(header);
        return 'ok';
      } catch (error) {
        return isCapsuleError(error) ? error.code : 'other';
      }
    };
    expect(throws({ ...typeI, auth: new Uint8Array(160) })).toBe('ok');
    expect(throws({ ...typeI, auth: new Uint8Array(161) })).toBe('WIRE_LIMIT_EXCEEDED');
    expect(throws({ ...typeI, data: new Uint8Array(256) })).toBe('ok');
    expect(throws({ ...typeI, data: new Uint8Array(257) })).toBe('WIRE_LIMIT_EXCEEDED');
    expect(throws({ ...typeI, code: { entryOffsets: [0], machineCode: new Uint8Array(1024) } })).toBe('ok');
    expect(throws({ ...typeI, code: { entryOffsets: [0], machineCode: new Uint8Array(1026) } })).toBe(
      'WIRE_LIMIT_EXCEEDED',
    );
    const hops = Array.from({ length: 63 }, () => ({ engineId: 1, entryIndex: 0, flags: 0 }));
    expect(throws({ ...typeI, path: { ...path, hops } })).toBe('WIRE_LIMIT_EXCEEDED');
    const trace = Array.from({ length: 22 }, () => ({
      engineId: 1,
      timeUs: 2,
      fuelUsed: 3,
      verdict: 4,
      reason: 5,
    }));
    expect(throws({ ...typeI, trace })).toBe('WIRE_LIMIT_EXCEEDED');
    expect(throws({ ...typeI, trace: trace.slice(0, 21) })).toBe('ok');
    // Everything at its limit: 4 + 162 + 258 + (2 + 2 + 510 + 1024) + 258 + 254 > 2048.
    const big: CapsuleHeader = {
      ...typeI,
      auth: new Uint8Array(160),
      path: { ...path, hops: hops.slice(0, 62) },
      code: { entryOffsets: Array.from({ length: 255 }, () => 0), machineCode: new Uint8Array(1024) },
      data: new Uint8Array(256),
      trace: trace.slice(0, 21),
    };
    expect(throws(big)).toBe('WIRE_LIMIT_EXCEEDED');
  });

  it('refuses oversized chunks, bad order, duplicates, bad padding on decode', () => {
    const bytes = encode({ nextHeader: 59, packetType: 3, flags: 0, data: new Uint8Array(9) }); // 4 + 11 + 1 padding
    expect(bytes.length).toBe(16);
    expect(errorCode(bytes)).toBe('ok');
    const copy = bytes.slice();
    copy[15] = 1;
    expect(errorCode(copy)).toBe('BAD_PADDING');
    // DATA (4) then PATH (2): out of order.
    const unordered = Uint8Array.from([59, 1, 0x13, 0, 0x40, 0, 0x20, 8, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(errorCode(unordered)).toBe('CHUNK_ORDER');
    const duplicate = Uint8Array.from([59, 1, 0x13, 0, 0x40, 0, 0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(errorCode(duplicate)).toBe('CHUNK_ORDER');
    const unknown = Uint8Array.from([59, 0, 0x13, 0, 0x70, 0, 0, 0]);
    expect(errorCode(unknown)).toBe('UNKNOWN_TYPE');
    const overrun = Uint8Array.from([59, 0, 0x13, 0, 0x40, 9, 0, 0]);
    expect(errorCode(overrun)).toBe('TRUNCATED');
    // Eight bytes of padding: a whole unit more than needed.
    const tooMuchPadding = Uint8Array.from([59, 1, 0x13, 0, 0x40, 2, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(errorCode(tooMuchPadding)).toBe('BAD_PADDING');
    const bigData = new Uint8Array(8 + 264);
    bigData.set([59, 264 / 8, 0x13, 0, 0x41, 0x02]); // DATA of 258 bytes
    expect(errorCode(bigData)).toBe('LIMIT_EXCEEDED');
    expect(errorCode(bytes.subarray(0, 12))).toBe('TRUNCATED');
    // A chunk word of type 0 whose first byte is not zero: padding that is not zero.
    const typeZero = Uint8Array.from([59, 1, 0x13, 0, 0x05, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(errorCode(typeZero)).toBe('BAD_PADDING');
    // AUTH of no bytes, and of 161 (the limit is 160).
    expect(errorCode(Uint8Array.from([59, 0, 0x11, 0, 0x10, 0, 0, 0]))).toBe('LIMIT_EXCEEDED');
    const bigAuth = new Uint8Array(8 + 168);
    bigAuth.set([59, 176 / 8 - 1, 0x11, 0, 0x10, 161]);
    expect(errorCode(bigAuth)).toBe('LIMIT_EXCEEDED');
    // CODE whose machine code has an odd length (RISC-V parcels are 16 bits).
    // TRANSPORT decoded alone: exactly 6 bytes, reserved byte 0.
    const transportCode = (bytes: Uint8Array) => {
      const result = decodeTransportChunk(bytes);
      return result.ok ? 'ok' : result.error.code;
    };
    expect(transportCode(Uint8Array.of(17, 0, 0, 53, 0, 53))).toBe('ok');
    expect(transportCode(Uint8Array.of(17, 0, 0, 53, 0))).toBe('BAD_LENGTH');
    expect(transportCode(Uint8Array.of(17, 1, 0, 53, 0, 53))).toBe('BAD_FIELD');
    const odd = decodeCodeChunk(Uint8Array.of(1, 0, 0, 0, 0x13, 0, 0));
    expect(odd.ok || odd.error.code).toBe('BAD_LENGTH');
    expect(decodeCodeChunk(Uint8Array.of(1, 0, 0, 0, 0x13, 0, 0, 0)).ok).toBe(true);
  });

  it('carries the TRANSPORT chunk last (after TRACE), exactly 6 bytes, reserved byte 0', () => {
    const header: CapsuleHeader = {
      nextHeader: 59,
      packetType: 3,
      flags: 0,
      data: Uint8Array.of(7),
      trace: [{ engineId: 1, timeUs: 2, fuelUsed: 3, verdict: 1, reason: 0 }],
      transport: { protocol: 6, sourcePort: 40000, destinationPort: 8080 },
    };
    const bytes = encode(header);
    // 4 fixed + (2+1) DATA + (2+12) TRACE + (2+6) TRANSPORT = 29 → 32 bytes.
    expect(bytes.length).toBe(32);
    expect(Array.from(bytes.subarray(21, 29))).toEqual([0x60, 6, 6, 0, 40000 >> 8, 40000 & 0xff, 0x1f, 0x90]);
    const view = new CapsuleHeaderView();
    expect(view.parse(bytes)).toBe(true);
    expect(view.transportOffset).toBe(23);
    const decodedHeader = decodeCapsuleHeader(bytes);
    expect(decodedHeader.ok && decodedHeader.value.transport).toEqual(header.transport);
    const reserved = bytes.slice();
    reserved[24] = 1;
    expect(errorCode(reserved)).toBe('BAD_FIELD');
    // TRANSPORT of 5 and of 7 bytes.
    const short = Uint8Array.from([59, 0, 0x13, 0, 0x60, 5, 6, 0]);
    expect(errorCode(short)).toBe('TRUNCATED');
    const five = Uint8Array.from([59, 1, 0x13, 0, 0x60, 5, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(errorCode(five)).toBe('BAD_LENGTH');
    const seven = Uint8Array.from([59, 1, 0x13, 0, 0x60, 7, 6, 0, 0, 1, 0, 2, 3, 0, 0, 0]);
    expect(errorCode(seven)).toBe('BAD_LENGTH');
    // TRANSPORT before TRACE: out of order.
    const early = Uint8Array.from([59, 1, 0x13, 0, 0x60, 6, 6, 0, 0, 1, 0, 2, 0x50, 0, 0, 0]);
    expect(errorCode(early)).toBe('CHUNK_ORDER');
  });

  it('the view records chunk offsets and the cursor walks them without allocating', () => {
    const bytes = new Uint8Array(300);
    const length = encodeCapsuleHeader(typeI, bytes, 40);
    const view = new CapsuleHeaderView();
    expect(view.parse(bytes, 40, 40 + length)).toBe(true);
    expect(view.length).toBe(length);
    expect(view.authOffset).toBe(40 + 6);
    expect(view.authLength).toBe(148);
    expect(view.pathOffset).toBe(40 + 4 + 150 + 2);
    expect(view.traceOffset).toBe(-1);
    const cursor = new CapsuleChunkCursor().reset(bytes, 40, 40 + length);
    const seen: number[] = [];
    while (cursor.next()) seen.push(cursor.type);
    expect(cursor.errorCode).toBeUndefined();
    expect(seen).toEqual([ChunkType.AUTH, ChunkType.PATH, ChunkType.CODE, ChunkType.DATA]);
    bytes[40 + 2] = 0x12;
    expect(view.parse(bytes, 40, 40 + length)).toBe(false);
    expect(view.errorCode).toBe('PACKET_TYPE_RULE');
  });
});
