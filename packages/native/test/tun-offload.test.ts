/**
 * The TUN offload functions of the addon (addon/tun-offload.cc) without a device: the TSO split
 * of a super-packet as the kernel hands it over, the coalescing of segments into one write, and
 * hostile virtio headers and packets. The device itself (IFF_VNET_HDR, TUNSETOFFLOAD) is exercised
 * by the netns tests of the agent (test/agent), whose TUNs run with offloads on.
 */
import {
  internetChecksum,
  ipv4PseudoHeaderSum,
  ipv6PseudoHeaderSum,
  isChecksumValid,
  readU16,
  readU32,
  transportChecksum,
  writeU16,
  writeU32,
} from '@capsule/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadAddon } from '../src/native-addon';

const seed = Number(process.env.CAPSULE_TEST_SEED ?? 20261205);
const addon = loadAddon();

const FLAG_FIN = 0x01;
const FLAG_PSH = 0x08;
const FLAG_ACK = 0x10;

interface SegmentSpec {
  version: 4 | 6;
  sequence: number;
  payload: Uint8Array;
  flags?: number;
  id?: number;
  sourcePort?: number;
  ack?: number;
  window?: number;
  /** TCP options (a multiple of 4 bytes). */
  options?: Uint8Array;
  ttl?: number;
}

const v4Source = Uint8Array.of(100, 101, 0, 2);
const v4Destination = Uint8Array.of(100, 100, 0, 1);
const v6Source = Uint8Array.from({ length: 16 }, (_, i) => (i === 0 ? 0xfd : i));
const v6Destination = Uint8Array.from({ length: 16 }, (_, i) => (i === 0 ? 0xfd : 0x40 + i));

/** One TCP segment as an IP packet with valid checksums (IPv4 without options, IPv6 without extension headers). */
function segment(spec: SegmentSpec): Uint8Array {
  const options = spec.options ?? new Uint8Array(0);
  const tcpLength = 20 + options.length;
  const ip = spec.version === 4 ? 20 : 40;
  const packet = new Uint8Array(ip + tcpLength + spec.payload.length);
  if (spec.version === 4) {
    packet[0] = 0x45;
    writeU16(packet, 2, packet.length);
    writeU16(packet, 4, spec.id ?? 7);
    packet[6] = 0x40; // DF
    packet[8] = spec.ttl ?? 64;
    packet[9] = 6;
    packet.set(v4Source, 12);
    packet.set(v4Destination, 16);
    writeU16(packet, 10, internetChecksum(packet, 0, 20));
  } else {
    packet[0] = 0x60;
    writeU16(packet, 4, packet.length - 40);
    packet[6] = 6;
    packet[7] = spec.ttl ?? 64;
    packet.set(v6Source, 8);
    packet.set(v6Destination, 24);
  }
  writeU16(packet, ip, spec.sourcePort ?? 40_000);
  writeU16(packet, ip + 2, 5201);
  writeU32(packet, ip + 4, spec.sequence >>> 0);
  writeU32(packet, ip + 8, spec.ack ?? 12_345);
  packet[ip + 12] = (tcpLength / 4) << 4;
  packet[ip + 13] = spec.flags ?? FLAG_ACK;
  writeU16(packet, ip + 14, spec.window ?? 500);
  packet.set(options, ip + 20);
  packet.set(spec.payload, ip + tcpLength);
  writeU16(packet, ip + 16, transportChecksum(pseudo(packet, ip), packet, ip, packet.length, ip + 16));
  return packet;
}

function pseudo(packet: Uint8Array, ip: number): number {
  return ip === 20
    ? ipv4PseudoHeaderSum(packet, packet, 6, packet.length - 20, 12, 16)
    : ipv6PseudoHeaderSum(packet, packet, 6, packet.length - 40, 8, 24);
}

/** Packets back to back in one buffer, with their [offset, length] pairs. */
function batch(packets: readonly Uint8Array[]): { buffer: Uint8Array; meta: Int32Array } {
  const buffer = new Uint8Array(packets.reduce((sum, p) => sum + p.length, 0));
  const meta = new Int32Array(2 * packets.length);
  let at = 0;
  packets.forEach((packet, i) => {
    buffer.set(packet, at);
    meta[2 * i] = at;
    meta[2 * i + 1] = packet.length;
    at += packet.length;
  });
  return { buffer, meta };
}

/** The writes coalescePackets makes: each a virtio header (10 bytes) and a packet. */
function coalesce(packets: readonly Uint8Array[]): Uint8Array[] {
  const { buffer, meta } = batch(packets);
  const out = new Uint8Array(buffer.length + 10 * packets.length);
  const outMeta = new Int32Array(2 * packets.length);
  const writes = addon.coalescePackets(buffer, meta, packets.length, out, outMeta);
  return Array.from({ length: writes }, (_, i) =>
    out.slice(outMeta[2 * i]!, outMeta[2 * i]! + outMeta[2 * i + 1]!),
  );
}

/** Splits one write (virtio header + packet) as the TUN reader does; the packets it stands for. */
function split(write: Uint8Array): Uint8Array[] | number {
  const capacity = write.length - 10 + 64 * 120;
  const buffer = new Uint8Array(capacity);
  buffer.set(write.subarray(10));
  const meta = new Int32Array(2 * 128);
  const count = addon.splitVirtioPacket(write.subarray(0, 10), buffer, 0, write.length - 10, capacity, meta);
  if (count < 0) return count;
  return Array.from({ length: count }, (_, i) => buffer.slice(meta[2 * i]!, meta[2 * i]! + meta[2 * i + 1]!));
}

/** The virtio header of a write, decoded (host order: little-endian here). */
function header(write: Uint8Array) {
  const view = new DataView(write.buffer, write.byteOffset, 10);
  return {
    flags: view.getUint8(0),
    gsoType: view.getUint8(1),
    hdrLen: view.getUint16(2, true),
    gsoSize: view.getUint16(4, true),
    csumStart: view.getUint16(6, true),
    csumOffset: view.getUint16(8, true),
  };
}

function virtioHeader(fields: Partial<ReturnType<typeof header>>): Uint8Array {
  const bytes = new Uint8Array(10);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, fields.flags ?? 0);
  view.setUint8(1, fields.gsoType ?? 0);
  view.setUint16(2, fields.hdrLen ?? 0, true);
  view.setUint16(4, fields.gsoSize ?? 0, true);
  view.setUint16(6, fields.csumStart ?? 0, true);
  view.setUint16(8, fields.csumOffset ?? 0, true);
  return bytes;
}

const payload = (length: number, fill: number) =>
  Uint8Array.from({ length }, (_, i) => (i * 7 + fill) & 0xff);

/** A stream of `count` segments of `size` bytes from sequence 1000 (the last `lastSize`, with `lastFlags`). */
function stream(version: 4 | 6, count: number, size: number, lastSize = size, lastFlags = FLAG_ACK) {
  return Array.from({ length: count }, (_, i) =>
    segment({
      version,
      sequence: 1000 + i * size,
      payload: payload(i === count - 1 ? lastSize : size, i),
      id: 100 + i,
      flags: i === count - 1 ? lastFlags : FLAG_ACK,
    }),
  );
}

describe('coalescing segments into one write (GRO), and the split back (TSO)', () => {
  for (const version of [4, 6] as const)
    it(`IPv${version}: a run of consecutive segments is one write whose split gives them back byte for byte`, () => {
      const packets = stream(version, 10, 1208, 300, FLAG_ACK | FLAG_PSH);
      const writes = coalesce(packets);
      expect(writes).toHaveLength(1);
      const write = writes[0]!;
      const ip = version === 4 ? 20 : 40;
      expect(header(write)).toEqual({
        flags: 1,
        gsoType: version === 4 ? 1 : 4,
        hdrLen: ip + 20,
        gsoSize: 1208,
        csumStart: ip,
        csumOffset: 16,
      });
      const packet = write.subarray(10);
      expect(packet.length).toBe(ip + 20 + 9 * 1208 + 300);
      if (version === 4) {
        expect(readU16(packet, 2)).toBe(packet.length);
        expect(internetChecksum(packet, 0, 20)).toBe(0);
      } else expect(readU16(packet, 4)).toBe(packet.length - 40);
      // The PSH of the last segment is on the whole; the checksum field holds the pseudo-header sum.
      expect(packet[ip + 13]).toBe(FLAG_ACK | FLAG_PSH);
      expect(readU32(packet, ip + 4)).toBe(1000);
      const back = split(write);
      expect(back).toEqual(packets);
    });

  it('splits what the kernel hands over: lengths, ids, sequence numbers, FIN/PSH only on the last, checksums', () => {
    // A 64 KiB TSO packet as tun_put_user makes it: one header, the whole payload, NEEDS_CSUM.
    const gso = 1388;
    const data = payload(65_535 - 40 - 32, 3);
    const options = Uint8Array.of(1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2); // NOP NOP timestamps
    const big = segment({
      version: 4,
      sequence: 0xffff_ff00,
      payload: data,
      options,
      id: 0xfffe,
      flags: 0x19,
    });
    const write = new Uint8Array(10 + big.length);
    write.set(
      virtioHeader({ flags: 1, gsoType: 1, hdrLen: 52, gsoSize: gso, csumStart: 20, csumOffset: 16 }),
    );
    write.set(big, 10);
    const pieces = split(write) as Uint8Array[];
    expect(pieces).toHaveLength(Math.ceil(data.length / gso));
    let offset = 0;
    pieces.forEach((piece, k) => {
      const chunk = Math.min(gso, data.length - offset);
      expect(piece.length).toBe(52 + chunk);
      expect(readU16(piece, 2)).toBe(piece.length);
      expect(readU16(piece, 4)).toBe((0xfffe + k) & 0xffff);
      expect(internetChecksum(piece, 0, 20)).toBe(0);
      expect(readU32(piece, 24)).toBe((0xffff_ff00 + offset) >>> 0);
      expect(piece[33]).toBe(k === pieces.length - 1 ? 0x19 : FLAG_ACK);
      expect(piece.subarray(40, 52)).toEqual(options);
      expect(piece.subarray(52)).toEqual(data.subarray(offset, offset + chunk));
      expect(isChecksumValid(pseudo(piece, 20), piece, 20, piece.length)).toBe(true);
      offset += chunk;
    });
  });

  it('completes a checksum the kernel left (NEEDS_CSUM without GSO: UDP)', () => {
    const udp = new Uint8Array(28 + 100);
    udp[0] = 0x45;
    writeU16(udp, 2, udp.length);
    udp[8] = 64;
    udp[9] = 17;
    udp.set(v4Source, 12);
    udp.set(v4Destination, 16);
    writeU16(udp, 20, 5353);
    writeU16(udp, 22, 53);
    writeU16(udp, 24, 108);
    udp.set(payload(100, 9), 28);
    const partial = ipv4PseudoHeaderSum(udp, udp, 17, 108, 12, 16);
    writeU16(udp, 26, (partial & 0xffff) + (partial >>> 16)); // the folded pseudo-header sum
    const write = new Uint8Array(10 + udp.length);
    write.set(virtioHeader({ flags: 1, csumStart: 20, csumOffset: 6 }));
    write.set(udp, 10);
    const [out] = split(write) as Uint8Array[];
    expect(isChecksumValid(ipv4PseudoHeaderSum(out!, out!, 17, 108, 12, 16), out!, 20, out!.length)).toBe(
      true,
    );
  });

  it('writes packets one by one (empty header) when they cannot be one segment run', () => {
    const base = stream(4, 3, 1000);
    const cases: Record<string, Uint8Array[]> = {
      'a gap in the sequence': [base[0]!, segment({ version: 4, sequence: 3000, payload: payload(1000, 1) })],
      'another source port': [
        base[0]!,
        segment({ version: 4, sequence: 2000, payload: payload(1000, 1), sourcePort: 1 }),
      ],
      'another ack': [base[0]!, segment({ version: 4, sequence: 2000, payload: payload(1000, 1), ack: 1 })],
      'another window': [
        base[0]!,
        segment({ version: 4, sequence: 2000, payload: payload(1000, 1), window: 9 }),
      ],
      'another TTL': [base[0]!, segment({ version: 4, sequence: 2000, payload: payload(1000, 1), ttl: 3 })],
      'PSH on the first': [
        segment({ version: 4, sequence: 1000, payload: payload(1000, 0), flags: 0x18 }),
        base[1]!,
      ],
      'a FIN': [base[0]!, segment({ version: 4, sequence: 2000, payload: payload(1000, 1), flags: 0x11 })],
      'a larger segment after': [
        base[0]!,
        segment({ version: 4, sequence: 2000, payload: payload(1001, 1) }),
      ],
      'IPv4 then IPv6': [base[0]!, segment({ version: 6, sequence: 2000, payload: payload(1000, 1) })],
      'no payload': [segment({ version: 4, sequence: 1000, payload: new Uint8Array(0) }), base[0]!],
      'other TCP options': [
        segment({
          version: 4,
          sequence: 1000,
          payload: payload(1000, 0),
          options: Uint8Array.of(1, 1, 1, 1),
        }),
        segment({
          version: 4,
          sequence: 2000,
          payload: payload(1000, 1),
          options: Uint8Array.of(1, 1, 1, 0),
        }),
      ],
    };
    const badChecksum = base[1]!.slice();
    badChecksum[60] = badChecksum[60]! ^ 1;
    cases['a bad checksum'] = [base[0]!, badChecksum];
    for (const [name, packets] of Object.entries(cases)) {
      const writes = coalesce(packets);
      expect(
        writes.map((w) => header(w).gsoType),
        name,
      ).toEqual([0, 0]);
      expect(
        writes.map((w) => w.subarray(10)),
        name,
      ).toEqual(packets);
    }
    // A short segment ends a run: what follows starts a new one.
    const short = [
      ...stream(4, 2, 1000, 500),
      segment({ version: 4, sequence: 2500, payload: payload(1000, 5) }),
    ];
    expect(coalesce(short).map((w) => header(w).gsoType)).toEqual([1, 0]);
  });

  it('interleaved connections (and a ping between) each coalesce, in their own order', () => {
    const a = stream(4, 6, 1000);
    const b = stream(4, 6, 1000).map((packet) => {
      const copy = packet.slice();
      writeU16(copy, 20, 40_001); // another source port: another connection
      writeU16(copy, 36, 0);
      writeU16(copy, 36, transportChecksum(pseudo(copy, 20), copy, 20, copy.length, 36));
      return copy;
    });
    const ping = Uint8Array.of(
      0x45,
      0,
      0,
      28,
      0,
      0,
      0x40,
      0,
      64,
      1,
      0,
      0,
      ...v4Source,
      ...v4Destination,
      8,
      0,
      0,
      0,
      0,
      1,
      0,
      1,
    );
    const mixed = a.flatMap((packet, i) => (i === 2 ? [packet, ping, b[i]!] : [packet, b[i]!]));
    const writes = coalesce(mixed);
    // Each run is written at its first packet's turn; the ping after both (it came after their heads).
    expect(writes.map((w) => header(w).gsoType)).toEqual([1, 1, 0]);
    expect(split(writes[0]!)).toEqual(a);
    expect(split(writes[1]!)).toEqual(b);
    expect(writes[2]!.subarray(10)).toEqual(ping);
    // A packet of the same connection that cannot extend the run (a gap) ends it: nothing of that
    // connection is written ahead of it.
    const gap = segment({ version: 4, sequence: 1000 + 3 * 1000 + 1, payload: payload(1000, 3), id: 103 });
    const withGap = [a[0]!, b[0]!, a[1]!, gap, a[2]!];
    expect(coalesce(withGap).flatMap((w) => split(w) as Uint8Array[])).toEqual([
      a[0]!,
      a[1]!,
      b[0]!,
      gap,
      a[2]!,
    ]);
  });

  it('at most 64 segments and 64 KiB per write', () => {
    const many = stream(6, 100, 600);
    const writes = coalesce(many);
    expect(writes.flatMap((w) => split(w) as Uint8Array[])).toEqual(many);
    expect(writes.every((w) => (split(w) as Uint8Array[]).length <= 64)).toBe(true);
    const large = stream(4, 60, 1400);
    for (const write of coalesce(large)) expect(write.length - 10).toBeLessThanOrEqual(65_535);
  });

  it('any mix of streams, sizes and flags: the writes split back into exactly the packets (fast-check)', () => {
    const arbitrary = fc.array(
      fc.record({
        version: fc.constantFrom(4 as const, 6 as const),
        stream: fc.integer({ min: 0, max: 2 }),
        size: fc.integer({ min: 0, max: 1400 }),
        flags: fc.constantFrom(FLAG_ACK, FLAG_ACK, FLAG_ACK, FLAG_ACK | FLAG_PSH, FLAG_ACK | FLAG_FIN, 0x02),
        gap: fc.boolean(),
        corrupt: fc.boolean(),
      }),
      { minLength: 1, maxLength: 120 },
    );
    fc.assert(
      fc.property(arbitrary, (specs) => {
        const next = new Map<string, number>();
        const ids = new Map<string, number>();
        const packets = specs.map((spec, i) => {
          const key = `${spec.version}:${spec.stream}`;
          const sequence = (next.get(key) ?? 5000) + (spec.gap ? 1 : 0);
          next.set(key, sequence + spec.size);
          // IPv4 ids count per connection, as a Linux sender's do.
          const id = ids.get(key) ?? 0;
          ids.set(key, id + 1);
          const packet = segment({
            version: spec.version,
            sequence,
            payload: payload(spec.size, i),
            flags: spec.flags,
            sourcePort: 40_000 + spec.stream,
            id,
          });
          if (spec.corrupt && spec.size > 0 && i % 7 === 0) packet[packet.length - 1]! ^= 0x80;
          return packet;
        });
        const back = coalesce(packets).flatMap((write) => split(write) as Uint8Array[]);
        // Every packet comes back exactly once; one connection's packets keep their order (runs
        // may move ahead of other connections' packets).
        const byConnection = (list: Uint8Array[]) => {
          const groups = new Map<string, Uint8Array[]>();
          for (const packet of list) {
            const key = `${packet[0]! >> 4}:${readU16(packet, packet[0]! >> 4 === 4 ? 20 : 40)}`;
            groups.set(key, [...(groups.get(key) ?? []), packet]);
          }
          return Object.fromEntries([...groups.entries()].sort(([x], [y]) => (x < y ? -1 : 1)));
        };
        expect(back).toHaveLength(packets.length);
        expect(byConnection(back)).toEqual(byConnection(packets));
      }),
      { seed, numRuns: 200 },
    );
  });
});

describe('hostile virtio headers and packets', () => {
  it('never reads or writes outside its range and refuses what does not add up (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.record({
          flags: fc.integer({ min: 0, max: 255 }),
          gsoType: fc.constantFrom(0, 1, 3, 4, 5, 0x81, 0x84, 255),
          hdrLen: fc.integer({ min: 0, max: 0xffff }),
          gsoSize: fc.constantFrom(0, 1, 2, 7, 536, 1208, 1448, 0xffff),
          csumStart: fc.constantFrom(0, 1, 19, 20, 24, 40, 60, 0xffff),
          csumOffset: fc.constantFrom(0, 1, 6, 16, 17, 0xfffe),
        }),
        fc.uint8Array({ minLength: 0, maxLength: 3000 }),
        fc.boolean(),
        (fields, body, plausible) => {
          // Half the cases start from a real segment with a random header and random bytes over it.
          let packet: Uint8Array = body;
          if (plausible) {
            packet = segment({
              version: body.length % 2 ? 4 : 6,
              sequence: 1,
              payload: body.subarray(0, 2000),
            });
            for (let i = 0; i < Math.min(8, body.length); i++) packet[body[i]! % packet.length] = body[i]!;
          }
          const capacity = packet.length + 256;
          const guard = 64;
          const buffer = new Uint8Array(guard + capacity + guard).fill(0xa5);
          buffer.set(packet, guard);
          const meta = new Int32Array(2 * 8);
          const result = addon.splitVirtioPacket(
            virtioHeader(fields),
            buffer,
            guard,
            packet.length,
            capacity,
            meta,
          );
          expect(result === -1 || result === -2 || (result >= 1 && result <= 8)).toBe(true);
          expect(buffer.subarray(0, guard).every((b) => b === 0xa5)).toBe(true);
          expect(buffer.subarray(guard + capacity).every((b) => b === 0xa5)).toBe(true);
          for (let i = 0; i < Math.max(0, result); i++) {
            expect(meta[2 * i]!).toBeGreaterThanOrEqual(guard);
            expect(meta[2 * i]! + meta[2 * i + 1]!).toBeLessThanOrEqual(guard + capacity);
          }
        },
      ),
      { seed, numRuns: 3000 },
    );
  });

  it('refuses a super-packet whose segments do not fit (too many, or no room), and bad GSO types', () => {
    const big = segment({ version: 6, sequence: 1, payload: payload(20_000, 1) });
    const write = new Uint8Array(10 + big.length);
    write.set(virtioHeader({ flags: 1, gsoType: 4, gsoSize: 100, csumStart: 40, csumOffset: 16 }));
    write.set(big, 10);
    expect(split(write)).toBe(-2); // 200 segments, room for 128
    const tight = new Uint8Array(big.length);
    tight.set(big);
    expect(
      addon.splitVirtioPacket(write.subarray(0, 10), tight, 0, big.length, big.length, new Int32Array(512)),
    ).toBe(-2);
    for (const gsoType of [3, 5, 2]) {
      const bad = write.slice();
      bad[1] = gsoType;
      expect(split(bad)).toBe(-1);
    }
    const v4AsV6 = write.slice();
    v4AsV6[1] = 1; // TCPV4 on an IPv6 packet
    expect(split(v4AsV6)).toBe(-1);
    const noChecksumFlag = write.slice();
    noChecksumFlag[0] = 0;
    expect(split(noChecksumFlag)).toBe(-1);
  });
});
