/**
 * The agent's native egress fast path against egress.ts: for the same flow state, the frame the
 * fast path sends on the UDP socket is byte for byte the frame egress hands the link layer (sealed
 * with the same e2e and link keys and counters), and both leave the same state behind (send
 * counters, packet types, epoch packets, statistics, packets by type). Every packet it must not
 * take comes up to egress with nothing changed. Needs the addon (skipped without it, failed with
 * CI=true like the other native tests).
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { generateX25519KeyPair } from '@capsule/identity';
import { createNativeFastPath, createNativePayloadCipher, isNativeAddonAvailable } from '@capsule/native';
import {
  createLinkSession,
  createNativeUdpTransport,
  FrameBuffer,
  type LinkSession,
  sealDataFrame,
  type Transport,
} from '@capsule/overlay';
import { testSeed } from '@capsule/testkit';
import { encodeIpv4Header, encodeIpv6Header, writeU16 } from '@capsule/wire';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { compileAcl } from './acl';
import { DataPlane } from './data-plane';
import { EgressResult, processEgress } from './egress';
import { createAgentFastPath } from './fast-path';
import { countersOf, type EndpointSpec, type Flow, FlowTable } from './flows';

const available = isNativeAddonAvailable();
if (!available && process.env.CI === 'true') throw new Error('the native addon is not built');

const prefix = Uint8Array.from([0xfd, 0, 0, 0xaa, 0, 0, 0, 1]);
function hostId(): Uint8Array {
  const id = new Uint8Array(16);
  id.set(prefix);
  id.set(randomBytes(8), 8);
  return id;
}
const LINK_ID = 5;
const PEER_INDEX = 0x0a0b0c0d;
const OWN_IPV4 = [100, 100, 0, 1];
const CODE_PACKETS = 2;

function spec(id: number, role: string, dataLength: number): EndpointSpec {
  return {
    id,
    domain: 'acme',
    contract: 'shop',
    contractId: 7,
    role,
    authorization: randomBytes(148),
    authorizationSerial: '1',
    code: {
      machineCode: Uint8Array.from([0x13, 0x05, 0x10, 0x00, 0x73, 0x00, 0x10, 0x00]),
      entryOffsets: [0, 4],
    },
    data: new Uint8Array(dataLength),
    logicHash: '00',
    serviceToken: '1:x',
  };
}

/** An IPv6 packet from us to `destination`: UDP (17), TCP (6) or another next header, `payload` bytes after 40. */
function ipv6(source: Uint8Array, destination: Uint8Array, nextHeader: number, payload: number, fill = 0x5a) {
  const packet = new Uint8Array(40 + payload);
  encodeIpv6Header(
    {
      trafficClass: 0,
      flowLabel: 0x12345,
      payloadLength: payload,
      nextHeader,
      hopLimit: 64,
      source,
      destination,
    },
    packet,
  );
  packet.fill(fill, 40);
  if ((nextHeader === 17 || nextHeader === 6) && payload >= 4) {
    writeU16(packet, 40, 40_000 + payload);
    writeU16(packet, 42, 443);
  }
  return packet;
}

/** An IPv4 packet from us to `destination` (4 bytes): UDP/TCP ports when `payload` ≥ 4. */
function ipv4(destination: readonly number[], protocol: number, payload: number, fragmentOffset = 0) {
  const packet = new Uint8Array(20 + payload);
  encodeIpv4Header(
    {
      dscp: 0,
      ecn: 0,
      identification: 7,
      dontFragment: fragmentOffset === 0,
      moreFragments: false,
      fragmentOffset,
      ttl: 64,
      protocol,
      source: Uint8Array.from(OWN_IPV4),
      destination: Uint8Array.from(destination),
      totalLength: 20 + payload,
      options: new Uint8Array(0),
    },
    packet,
  );
  packet.fill(0xc3, 20);
  if ((protocol === 17 || protocol === 6) && payload >= 4) {
    writeU16(packet, 20, 50_000);
    writeU16(packet, 22, 80 + payload);
  }
  return packet;
}

interface Rig {
  table: FlowTable;
  plane: DataPlane;
  flow: Flow;
  peer: Uint8Array;
  peerIpv4: number[];
  session: LinkSession;
  fastPath: ReturnType<typeof createNativeFastPath>;
  /** Frames egress handed the link layer (sealed as it seals them). */
  jsFrames: Uint8Array[];
  /** Frames that arrived at the peer's socket (what the fast path sent). */
  wireFrames: Buffer[];
  /** Offers one packet as the TUN reader does: the fast path first, else egress. True when the fast path took it. */
  offer(packet: Uint8Array): boolean;
  /** Waits until `count` frames arrived at the peer's socket. */
  frames(count: number): Promise<Buffer[]>;
}

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function rig(options: { rekeyAfterPackets?: number; dataLength?: number } = {}): Promise<Rig> {
  const receiver: Socket = createSocket('udp4');
  await new Promise<void>((resolve) => receiver.bind(0, '127.0.0.1', resolve));
  const wireFrames: Buffer[] = [];
  receiver.on('message', (message) => wireFrames.push(message));
  const transport: Transport = await createNativeUdpTransport({ host: '127.0.0.1', port: 0 });
  closers.push(
    () => new Promise<void>((resolve) => receiver.close(() => resolve())),
    () => transport.close(),
  );
  const fastPath = createNativeFastPath();
  transport.attachDatagramFilter!(fastPath.filter);
  const own = hostId();
  const peer = hostId();
  const engine = hostId();
  const table = new FlowTable(
    {
      ownHostId: own,
      ownX25519PrivateKey: generateX25519KeyPair().privateKey,
      ipv4AliasBase: 0x64_65_00_02,
      ipv4AliasCount: 1000,
      hopLimit: 64,
    },
    { createPayloadCipher: createNativePayloadCipher },
  );
  table.setLink(engine, LINK_ID);
  table.setEndpoint(spec(1, 'client', options.dataLength ?? 16), [
    {
      endpointId: 2,
      role: 'server',
      hostId: peer,
      x25519PublicKey: generateX25519KeyPair().publicKeyRaw,
      path: [own, engine, peer],
    },
  ]);
  const session = createLinkSession({
    localIndex: 1,
    peerIndex: PEER_INDEX,
    keys: { epoch: 0, sendKey: randomBytes(32), receiveKey: randomBytes(32) },
  });
  session.sendCounter = 1000;
  const out = new FrameBuffer();
  const jsFrames: Uint8Array[] = [];
  const plane = new DataPlane(
    {
      ownHostId: own,
      ownIpv4: 0x64_64_00_01,
      authIntervalMs: 60_000,
      codePackets: CODE_PACKETS,
      maxOverlayPacketBytes: 1400,
      mode: 'tun',
      e2eRekeyAfterMs: 120_000,
      e2eRekeyAfterPackets: 2 ** 22,
      e2eRekeyGraceMs: 10_000,
    },
    table,
    {
      clock: { nowMs: () => Date.now() },
      sendOnLink: (linkId, bytes, offset, length) => {
        expect(linkId).toBe(LINK_ID);
        const frameLength = sealDataFrame(session, bytes, offset, length, out);
        jsFrames.push(Uint8Array.from(out.bytes.subarray(0, frameLength)));
        return frameLength > 0;
      },
      writeToApp: () => {},
    },
  );
  fastPath.sending(
    LINK_ID,
    PEER_INDEX,
    session.sendKey,
    session.counters,
    { host: '127.0.0.1', port: receiver.address().port },
    options.rekeyAfterPackets ?? 2 ** 40,
  );
  const installer = createAgentFastPath(fastPath, plane);
  plane.fastPath = installer;
  table.onChange = () => installer.clear();
  const flow = table.flows()[0]!;
  const alias = flow.ipv4Alias;
  const peerIpv4 = [alias >>> 24, (alias >>> 16) & 0xff, (alias >>> 8) & 0xff, alias & 0xff];
  const buffer = Buffer.alloc(70_000);
  const meta = new Int32Array(2);
  return {
    table,
    plane,
    flow,
    peer,
    peerIpv4,
    session,
    fastPath,
    jsFrames,
    wireFrames,
    offer(packet) {
      buffer.set(packet, 0);
      meta[0] = 0;
      meta[1] = packet.length;
      if (fastPath.offerTunPackets(buffer, meta, 1) === 0) return true;
      processEgress(plane, buffer, meta[0], meta[1]);
      return false;
    },
    async frames(count) {
      const deadline = Date.now() + 5000;
      while (wireFrames.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      return wireFrames;
    },
  };
}

/** Everything the two paths change, copied. */
function snapshot(r: Rig) {
  return {
    flow: Array.from(r.flow.state),
    e2e: Array.from(r.flow.e2e.sendState),
    link: Array.from(r.session.counters),
    statistics: Array.from(countersOf(r.flow.endpoint.statistics)!),
    byType: Array.from(r.plane.sentByType),
    drops: { ...r.plane.drops },
  };
}
function restore(r: Rig, s: ReturnType<typeof snapshot>): void {
  r.flow.state.set(s.flow);
  r.flow.e2e.sendState.set(s.e2e);
  r.session.counters.set(s.link);
  countersOf(r.flow.endpoint.statistics)!.set(s.statistics);
  r.plane.sentByType.set(s.byType);
}

/** Sends packets through egress until the flow is at type III and installed for both families. */
function warmUp(r: Rig): void {
  for (let i = 0; i < CODE_PACKETS + 2; i += 1)
    expect(r.offer(ipv6(r.plane.options.ownHostId, r.peer, 17, 64))).toBe(false);
  expect(r.offer(ipv4(r.peerIpv4, 17, 64))).toBe(false);
  expect(r.plane.sentByType[3]).toBe(2);
  expect(r.fastPath.agentStats().egressFlows).toBe(2);
}

describe.skipIf(!available)('agent egress fast path', () => {
  it('sends the frame egress would send, and leaves the same state (IPv6 and IPv4, any protocol and size)', async () => {
    const r = await rig();
    warmUp(r);
    const own = r.plane.options.ownHostId;
    const packets = fc.sample(
      fc.oneof(
        fc
          .tuple(
            fc.constantFrom(17, 6, 58, 50),
            fc.integer({ min: 0, max: 1500 }),
            fc.integer({ min: 0, max: 255 }),
          )
          .map(([next, size, fill]) => ipv6(own, r.peer, next, next === 58 ? Math.max(size, 8) : size, fill)),
        fc
          .tuple(fc.constantFrom(17, 6, 1), fc.integer({ min: 0, max: 1500 }), fc.constantFrom(0, 0, 64))
          .map(([protocol, size, fragment]) => ipv4(r.peerIpv4, protocol, size, fragment)),
      ),
      { seed: testSeed, numRuns: 60 },
    );
    const expected: Uint8Array[] = [];
    for (const packet of packets) {
      if (packet[0]! >>> 4 === 6 && packet[6] === 58) packet[40] = 128; // an echo request, not ND
      const before = snapshot(r);
      expect(r.offer(packet)).toBe(true);
      const afterNative = snapshot(r);
      restore(r, before);
      expect(processEgress(r.plane, packet, 0, packet.length)).toBe(EgressResult.SENT);
      expect(snapshot(r)).toEqual(afterNative);
      expected.push(r.jsFrames.at(-1)!);
    }
    const frames = await r.frames(packets.length);
    expect(frames.length).toBe(packets.length);
    for (let i = 0; i < packets.length; i += 1)
      expect(Buffer.from(frames[i]!).toString('hex'), `packet ${i}`).toBe(
        Buffer.from(expected[i]!).toString('hex'),
      );
    // The packets took the fast path: statistics and packet types counted them once each (the
    // egress runs above replayed the same state).
    expect(r.plane.sentByType[3]).toBe(2 + packets.length);
    expect(r.flow.endpoint.statistics.packetsOut).toBe(CODE_PACKETS + 3 + packets.length);
  });

  it('follows an e2e rekey: the packet that moves the epoch comes up, the next ones go under the new key', async () => {
    const r = await rig();
    warmUp(r);
    const own = r.plane.options.ownHostId;
    r.table.requestE2eRekey();
    expect(r.offer(ipv6(own, r.peer, 17, 100))).toBe(false); // egress moves the epoch and reinstalls
    expect(r.flow.e2e.sendEpoch).toBe(1);
    expect(r.plane.e2eRekeys.sent).toBe(1);
    const packet = ipv6(own, r.peer, 17, 300);
    const before = snapshot(r);
    expect(r.offer(packet)).toBe(true);
    const afterNative = snapshot(r);
    restore(r, before);
    processEgress(r.plane, packet, 0, packet.length);
    expect(snapshot(r)).toEqual(afterNative);
    const frames = await r.frames(1);
    expect(Buffer.from(r.jsFrames.at(-1)!).equals(frames[0]!)).toBe(true);
  });

  it('sends a batch of several packets (sendmmsg, GSO) in order', async () => {
    const r = await rig();
    warmUp(r);
    const own = r.plane.options.ownHostId;
    const buffer = Buffer.alloc(64 * 1500);
    const meta = new Int32Array(2 * 64);
    for (let i = 0; i < 64; i += 1) {
      const packet = ipv6(own, r.peer, 17, 1000, i);
      buffer.set(packet, i * 1500);
      meta[2 * i] = i * 1500;
      meta[2 * i + 1] = packet.length;
    }
    expect(r.fastPath.offerTunPackets(buffer, meta, 64)).toBe(0);
    const frames = await r.frames(64);
    expect(frames.length).toBe(64);
    // In order: the e2e counters the sealed payloads carry go up one by one.
    const counters = frames.map((frame) => frame.readBigUInt64BE(16 + r.flow.headers[3].length + 8));
    for (let i = 1; i < 64; i += 1) expect(counters[i]! - counters[i - 1]!).toBe(1n);
    expect(r.fastPath.stats().sendErrors).toBe(0);
  });

  // Each case: what it changes, the packet; the fast path must hand the packet up with nothing
  // changed, and egress then does what it always did.
  const passUp: [string, (r: Rig) => Uint8Array][] = [
    ['an unknown destination', (r) => ipv6(r.plane.options.ownHostId, hostId(), 17, 64)],
    ['an IPv4 destination that is no alias', () => ipv4([100, 101, 99, 99], 17, 64)],
    [
      'neighbor discovery',
      (r) => {
        const packet = ipv6(r.plane.options.ownHostId, r.peer, 58, 24);
        packet[40] = 135;
        return packet;
      },
    ],
    [
      'a multicast destination',
      (r) => {
        const destination = r.peer.slice();
        destination[0] = 0xff;
        return ipv6(r.plane.options.ownHostId, destination, 17, 64);
      },
    ],
    ['a hop-by-hop header', (r) => ipv6(r.plane.options.ownHostId, r.peer, 0, 64)],
    ['an IPv6 packet cut short', (r) => ipv6(r.plane.options.ownHostId, r.peer, 17, 64).subarray(0, 39)],
    [
      'an IPv4 header length under 5',
      (r) => {
        const packet = ipv4(r.peerIpv4, 17, 64);
        packet[0] = 0x44;
        return packet;
      },
    ],
    [
      'IP version 5',
      (r) => {
        const packet = ipv6(r.plane.options.ownHostId, r.peer, 17, 64);
        packet[0] = 0x50;
        return packet;
      },
    ],
    [
      'a packet too big for the overlay',
      (r) => ipv6(r.plane.options.ownHostId, r.peer, 17, 65_535 - r.flow.headers[3].length),
    ],
    [
      'type I due (the authorization interval passed)',
      (r) => {
        r.flow.lastAuthMs = Date.now() - 60_000;
        return ipv6(r.plane.options.ownHostId, r.peer, 17, 64);
      },
    ],
    [
      'type II due (an engine restarted: packets since AUTH below codePackets)',
      (r) => {
        r.flow.lastAuthMs = Date.now();
        r.flow.packetsSinceAuth = CODE_PACKETS - 1;
        return ipv6(r.plane.options.ownHostId, r.peer, 17, 64);
      },
    ],
    [
      'a trace armed',
      (r) => {
        r.flow.tracePackets = 1;
        return ipv6(r.plane.options.ownHostId, r.peer, 17, 64);
      },
    ],
    [
      'an e2e rekey requested',
      (r) => {
        r.flow.e2e.rekeyRequested = true;
        return ipv6(r.plane.options.ownHostId, r.peer, 17, 64);
      },
    ],
    [
      'an e2e epoch at its packet limit',
      (r) => {
        r.flow.e2e.sendPackets = r.plane.options.e2eRekeyAfterPackets;
        return ipv6(r.plane.options.ownHostId, r.peer, 17, 64);
      },
    ],
    [
      'an e2e epoch at its time limit',
      (r) => {
        r.flow.e2e.sendSinceMs = Date.now() - r.plane.options.e2eRekeyAfterMs;
        return ipv6(r.plane.options.ownHostId, r.peer, 17, 64);
      },
    ],
    [
      'another e2e epoch than the installed one',
      (r) => {
        r.flow.e2e.sendEpoch += 1;
        return ipv6(r.plane.options.ownHostId, r.peer, 17, 64);
      },
    ],
    [
      'an e2e send counter at 2^53 - 1',
      (r) => {
        r.flow.sendCounter = Number.MAX_SAFE_INTEGER - 1;
        return ipv6(r.plane.options.ownHostId, r.peer, 17, 64);
      },
    ],
    [
      'the link at its rekey limit',
      (r) => {
        r.session.sendCounter = 2 ** 40 - 1;
        return ipv6(r.plane.options.ownHostId, r.peer, 17, 64);
      },
    ],
    [
      'the link without a sending session',
      (r) => {
        r.fastPath.notSending(LINK_ID);
        return ipv6(r.plane.options.ownHostId, r.peer, 17, 64);
      },
    ],
    [
      'an Out ACL set',
      (r) => {
        r.plane.acl = compileAcl({ in: [], out: ['allow udp port 443'] });
        r.plane.fastPath!.clear();
        return ipv6(r.plane.options.ownHostId, r.peer, 17, 64);
      },
    ],
    [
      'the flow table changed (the first hop’s link)',
      (r) => {
        r.table.setLink(r.flow.firstHop!.hostId, LINK_ID);
        return ipv6(r.plane.options.ownHostId, r.peer, 17, 64);
      },
    ],
  ];
  for (const [name, prepare] of passUp)
    it(`hands up ${name} with nothing changed`, async () => {
      const r = await rig();
      warmUp(r);
      const packet = prepare(r);
      const before = snapshot(r);
      const taken = r.fastPath.agentStats().taken;
      const buffer = Buffer.alloc(70_000);
      buffer.set(packet, 0);
      const meta = Int32Array.of(0, packet.length);
      expect(r.fastPath.offerTunPackets(buffer, meta, 1)).toBe(1);
      expect([meta[0], meta[1]]).toEqual([0, packet.length]);
      expect(snapshot(r)).toEqual(before);
      expect(r.fastPath.agentStats().taken).toBe(taken);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(r.wireFrames.length).toBe(0);
    });

  it('keeps the order of a batch: what it hands up is compacted in order', async () => {
    const r = await rig();
    warmUp(r);
    const own = r.plane.options.ownHostId;
    const stranger = hostId();
    const packets = [
      ipv6(own, r.peer, 17, 10),
      ipv6(own, stranger, 17, 11),
      ipv6(own, r.peer, 17, 12),
      ipv4([100, 101, 99, 99], 17, 13),
    ];
    const buffer = Buffer.alloc(4 * 100);
    const meta = new Int32Array(8);
    packets.forEach((packet, i) => {
      buffer.set(packet, i * 100);
      meta[2 * i] = i * 100;
      meta[2 * i + 1] = packet.length;
    });
    const before = r.fastPath.agentStats();
    expect(r.fastPath.offerTunPackets(buffer, meta, 4)).toBe(2);
    expect(Array.from(meta.subarray(0, 4))).toEqual([100, packets[1]!.length, 300, packets[3]!.length]);
    expect(r.fastPath.agentStats()).toMatchObject({ offered: before.offered + 4, taken: before.taken + 2 });
    expect((await r.frames(2)).length).toBe(2);
  });

  it('refuses a batch entry outside the buffer', async () => {
    const r = await rig();
    expect(() => r.fastPath.offerTunPackets(Buffer.alloc(10), Int32Array.of(5, 10), 1)).toThrow(RangeError);
    expect(() => r.fastPath.offerTunPackets(Buffer.alloc(10), Int32Array.of(-1, 2), 1)).toThrow(RangeError);
  });

  it('refuses malformed installs (the flow stays in JavaScript)', async () => {
    const r = await rig();
    const f = r.flow;
    const args = [
      f.peer.hostId,
      f.state,
      f.e2e.sendState,
      countersOf(f.endpoint.statistics)!,
      f.e2e.sendBase,
      0,
      f.headers[3],
      f.transportAt[3],
      f.sendAad,
      LINK_ID,
    ] as const;
    const install = r.fastPath.setEgressFlow;
    expect(() =>
      install(new Uint8Array(5), args[1], args[2], args[3], args[4], 0, args[6], args[7], args[8], LINK_ID),
    ).toThrow(TypeError);
    expect(() =>
      install(args[0], args[1], args[2], args[3], new Uint8Array(16), 0, args[6], args[7], args[8], LINK_ID),
    ).toThrow(TypeError);
    // A TRANSPORT offset outside the header: not installed.
    install(args[0], args[1], args[2], args[3], args[4], 0, args[6], args[6].length, args[8], LINK_ID);
    expect(r.fastPath.agentStats().egressFlows).toBe(0);
  });
});
