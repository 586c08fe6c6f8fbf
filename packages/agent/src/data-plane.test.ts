import { randomBytes } from 'node:crypto';
import {
  createNodePayloadCipher,
  deriveGroupSenderKey,
  generateGroupSecret,
  generateX25519KeyPair,
  type PayloadCipher,
} from '@capsule/identity';
import { createNativePayloadCipher } from '@capsule/native';
import { testSeed } from '@capsule/testkit';
import {
  type CapsuleHeader,
  CapsuleHeaderView,
  capsuleHeaderLength,
  decodeCapsuleHeader,
  decodeIpv6Header,
  encodeCapsuleHeader,
  encodeIpv4Header,
  encodeIpv6Header,
  encodeUdpHeader,
  ipv4PseudoHeaderSum,
  ipv6PseudoHeaderSum,
  isChecksumValid,
  PacketType,
  readU32,
  transportChecksum,
  writeU16,
} from '@capsule/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileAcl } from './acl';
import { DataPlane, type DataPlaneOptions } from './data-plane';
import { EgressResult, processEgress } from './egress';
import { type EndpointSpec, FlowTable, nextGroupKeys, noGroupKeys, roleAddress } from './flows';

/** The agent's defaults: a replaced epoch opens for 60 s, senders switch 12 s after being told. */
const groupKeyTimes = { graceMs: 60_000, switchDelayMs: 12_000 };

import { IngressResult, processIngress } from './ingress';

const prefix = Uint8Array.from([0xfd, 0, 0, 0xaa, 0, 0, 0, 1]);
function hostId(): Uint8Array {
  const id = new Uint8Array(16);
  id.set(prefix);
  id.set(randomBytes(8), 8);
  return id;
}
const engineId = hostId();
/** The link layer's id of every host's link to `engineId`. */
const ENGINE_LINK_ID = 5;

interface Host {
  id: Uint8Array;
  x25519: ReturnType<typeof generateX25519KeyPair>;
  table: FlowTable;
  plane: DataPlane;
  sent: Uint8Array[];
  app: Uint8Array[];
  now: { ms: number };
}

/** The agent's default PayloadCipher; a test below mixes in node:crypto. */
type CipherFactory = (key: Uint8Array) => PayloadCipher;

function makeHost(
  ownIpv4: number,
  options: Partial<DataPlaneOptions> = {},
  createPayloadCipher: CipherFactory = createNativePayloadCipher,
  same?: Pick<Host, 'id' | 'x25519'>,
): Host {
  const id = same?.id ?? hostId();
  const x25519 = same?.x25519 ?? generateX25519KeyPair();
  const table = new FlowTable(
    {
      ownHostId: id,
      ownX25519PrivateKey: x25519.privateKey,
      ipv4AliasBase: 0x64_65_00_02,
      ipv4AliasCount: 1000,
      hopLimit: 64,
    },
    { createPayloadCipher },
  );
  table.setLink(engineId, ENGINE_LINK_ID);
  const sent: Uint8Array[] = [];
  const app: Uint8Array[] = [];
  const now = { ms: 1_000_000 };
  const plane = new DataPlane(
    {
      ownHostId: id,
      ownIpv4,
      authIntervalMs: 5000,
      authRepeatMs: 250,
      authRepeatForMs: 0,
      codePackets: 2,
      maxOverlayPacketBytes: 1400,
      mode: 'tun',
      e2eRekeyAfterMs: 120_000,
      e2eRekeyAfterPackets: 2 ** 22,
      e2eRekeyGraceMs: 10_000,
      ...options,
    },
    table,
    {
      clock: { nowMs: () => now.ms },
      sendOnLink: (linkId, bytes, offset, length) => {
        expect(linkId).toBe(ENGINE_LINK_ID); // the link to engineId, the first hop
        sent.push(bytes.slice(offset, offset + length));
        return true;
      },
      writeToApp: (bytes, offset, length) => app.push(bytes.slice(offset, offset + length)),
    },
  );
  return { id, x25519, table, plane, sent, app, now };
}

function spec(id: number, role: string): EndpointSpec {
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
    data: new Uint8Array(16),
    logicHash: '00',
    serviceToken: '1:x',
  };
}

/** `to`'s endpoint `endpointId` (role `role`) as a peer of an endpoint on `from`, through the engine. */
function peerSpec(from: Pick<Host, 'id'>, to: Host, endpointId: number, role: string) {
  return {
    endpointId,
    role,
    hostId: to.id,
    x25519PublicKey: to.x25519.publicKeyRaw,
    path: [from.id, engineId, to.id],
  };
}

/** Two hosts with a client endpoint on A and a server endpoint on B, peers of each other. */
function pair(
  options: Partial<DataPlaneOptions> = {},
  aCipher: CipherFactory = createNativePayloadCipher,
  bCipher: CipherFactory = createNativePayloadCipher,
) {
  const a = makeHost(0x64_64_00_01, options, aCipher);
  const b = makeHost(0x64_64_00_01, options, bCipher);
  a.table.setEndpoint(spec(1, 'client'), [
    {
      endpointId: 2,
      role: 'server',
      hostId: b.id,
      x25519PublicKey: b.x25519.publicKeyRaw,
      path: [a.id, engineId, b.id],
    },
  ]);
  b.table.setEndpoint(spec(2, 'server'), [
    {
      endpointId: 1,
      role: 'client',
      hostId: a.id,
      x25519PublicKey: a.x25519.publicKeyRaw,
      path: [b.id, engineId, a.id],
    },
  ]);
  return { a, b };
}

function icmpv6Echo(source: Uint8Array, destination: Uint8Array, payload = 56): Uint8Array {
  const packet = new Uint8Array(40 + 8 + payload);
  encodeIpv6Header(
    {
      trafficClass: 0,
      flowLabel: 0,
      payloadLength: 8 + payload,
      nextHeader: 58,
      hopLimit: 64,
      source,
      destination,
    },
    packet,
  );
  packet[40] = 128;
  writeU16(packet, 44, 0x1234);
  writeU16(packet, 46, 1);
  packet.fill(0xab, 48);
  const sum = ipv6PseudoHeaderSum(source, destination, 58, 8 + payload);
  writeU16(packet, 42, transportChecksum(sum, packet, 40, packet.length, 42));
  return packet;
}

function udp4(source: number[], destination: number[], body: string): Uint8Array {
  const data = new TextEncoder().encode(body);
  const packet = new Uint8Array(20 + 8 + data.length);
  const src = Uint8Array.from(source);
  const dst = Uint8Array.from(destination);
  encodeIpv4Header(
    {
      dscp: 0,
      ecn: 0,
      identification: 1,
      dontFragment: true,
      moreFragments: false,
      fragmentOffset: 0,
      ttl: 64,
      protocol: 17,
      source: src,
      destination: dst,
      totalLength: packet.length,
      options: new Uint8Array(0),
    },
    packet,
  );
  encodeUdpHeader(
    { sourcePort: 4000, destinationPort: 5000, length: 8 + data.length, checksum: 0 },
    packet,
    20,
  );
  packet.set(data, 28);
  const sum = ipv4PseudoHeaderSum(src, dst, 17, 8 + data.length);
  writeU16(packet, 26, transportChecksum(sum, packet, 20, packet.length, 26));
  return packet;
}

describe('data plane: egress on one host, ingress on the other', () => {
  it('carries an ICMPv6 echo sealed end to end and restores it byte for byte', () => {
    const { a, b } = pair();
    const ping = icmpv6Echo(a.id, b.id);
    expect(processEgress(a.plane, ping, 0, ping.length)).toBe(EgressResult.SENT);
    const overlay = a.sent[0]!;
    const outer = decodeIpv6Header(overlay);
    expect(outer.ok && outer.value.nextHeader).toBe(253);
    if (!outer.ok) return;
    expect(outer.value.source).toEqual(a.id);
    expect(outer.value.destination).toEqual(b.id);
    const capsule = decodeCapsuleHeader(outer.value.payload);
    expect(capsule.ok && capsule.value.packetType).toBe(PacketType.I);
    // No plaintext on the wire: the echo payload pattern does not appear.
    expect(Buffer.from(overlay).includes(Buffer.alloc(32, 0xab))).toBe(false);
    expect(processIngress(b.plane, overlay, 0, overlay.length)).toBe(IngressResult.DELIVERED);
    expect(b.app[0]).toEqual(ping);
    expect(b.table.endpoints.get(2)!.statistics).toMatchObject({ packetsIn: 1, bytesIn: ping.length });
    expect(a.table.endpoints.get(1)!.statistics).toMatchObject({ packetsOut: 1, bytesOut: ping.length });
  });

  it('interoperates across PayloadCipher implementations: node:crypto on one host, native on the other', () => {
    for (const [aCipher, bCipher] of [
      [createNodePayloadCipher, createNativePayloadCipher],
      [createNativePayloadCipher, createNodePayloadCipher],
    ] as const) {
      const { a, b } = pair({}, aCipher, bCipher);
      const ping = icmpv6Echo(a.id, b.id);
      const pong = icmpv6Echo(b.id, a.id, 300);
      for (let i = 0; i < 5; i += 1) {
        expect(processEgress(a.plane, ping, 0, ping.length)).toBe(EgressResult.SENT);
        expect(processIngress(b.plane, a.sent.at(-1)!, 0, a.sent.at(-1)!.length)).toBe(
          IngressResult.DELIVERED,
        );
        expect(b.app.at(-1)).toEqual(ping);
        expect(processEgress(b.plane, pong, 0, pong.length)).toBe(EgressResult.SENT);
        expect(processIngress(a.plane, b.sent.at(-1)!, 0, b.sent.at(-1)!.length)).toBe(
          IngressResult.DELIVERED,
        );
        expect(a.app.at(-1)).toEqual(pong);
      }
      expect(a.plane.drops.badSeal + b.plane.drops.badSeal).toBe(0);
    }
  });

  it('parses the capsule header as engines do: keeps a TRACE chunk’s engine ids, drops an invalid header', () => {
    const { a, b } = pair();
    const ping = icmpv6Echo(a.id, b.id);
    for (let i = 0; i < 4; i += 1) processEgress(a.plane, ping, 0, ping.length);
    /** A's packet `index` with its capsule header replaced by `change(header)`; the sealed payload kept. */
    const rebuilt = (index: number, change: (header: CapsuleHeader) => CapsuleHeader) => {
      const packet = a.sent[index]!;
      const outer = decodeIpv6Header(packet);
      const capsule = outer.ok ? decodeCapsuleHeader(outer.value.payload) : undefined;
      if (!outer.ok || !capsule?.ok) throw new Error('not a capsule packet');
      const header = change(capsule.value);
      const sealed = outer.value.payload.subarray(capsule.value.length);
      const bytes = new Uint8Array(40 + capsuleHeaderLength(header) + sealed.length);
      bytes.set(packet.subarray(0, 40));
      const at = 40 + encodeCapsuleHeader(header, bytes, 40);
      bytes.set(sealed, at);
      writeU16(bytes, 4, bytes.length - 40);
      return bytes;
    };
    const trace = [7, 9, 11].map((engineId) => ({ engineId, timeUs: 5, fuelUsed: 3, verdict: 1, reason: 0 }));
    const traced = rebuilt(3, (header) => ({ ...header, trace }));
    expect(processIngress(b.plane, traced, 0, traced.length)).toBe(IngressResult.DELIVERED);
    const flow = b.table.flows()[0]!;
    expect([...flow.lastTrace.subarray(0, flow.lastTraceLength)]).toEqual([7, 9, 11]);
    // A type II header that claims type I (no AUTH chunk): the seal still holds, the header does not.
    const invalid = a.sent[1]!.slice();
    expect(invalid[42]! & 0x0f).toBe(2);
    invalid[42] = (invalid[42]! & 0xf0) | 1;
    expect(processIngress(b.plane, invalid, 0, invalid.length)).toBe(IngressResult.DROPPED);
    expect(b.plane.drops.malformedIn).toBe(1);
    expect(b.app).toHaveLength(1);
    expect(flow.lastTraceLength).toBe(3);
  });

  it('stamps a traced packet before it leaves: the first engine, which stamps on forwarding, is never earlier', () => {
    const { a, b } = pair();
    let us = 5_000_000;
    let sentAtUs = 0;
    // Every read of the clock moves it on 1 ms (a preempted agent); the link records when it sent.
    const plane = new DataPlane(a.plane.options, a.table, {
      clock: { nowMs: () => a.now.ms, nowUs: () => (us += 1000) },
      sendOnLink: () => {
        sentAtUs = us;
        us += 1000;
        return true;
      },
      writeToApp: () => {},
    });
    const flow = a.table.flows()[0]!;
    flow.tracePackets = 1;
    const ping = icmpv6Echo(a.id, b.id);
    expect(processEgress(plane, ping, 0, ping.length)).toBe(EgressResult.SENT);
    expect(plane.tracedFlow).toBe(flow);
    expect(plane.tracedAtUs).toBeGreaterThan(0);
    expect(plane.tracedAtUs).toBeLessThanOrEqual(sentAtUs);
  });

  it('sends on the link its flow’s first hop records: none while it is down (noPath), again once it is up', () => {
    const { a, b } = pair();
    const ping = icmpv6Echo(a.id, b.id);
    expect(processEgress(a.plane, ping, 0, ping.length)).toBe(EgressResult.SENT);
    a.table.setLink(engineId, -1);
    expect(processEgress(a.plane, ping, 0, ping.length)).toBe(EgressResult.DROPPED);
    expect(a.plane.drops.noPath).toBe(1);
    expect(a.table.endpoints.get(1)!.statistics.dropsOut).toBe(1);
    // A path change rebuilds the flow: it finds the link state the table keeps for its first hop.
    a.table.setPeers(1, a.table.endpoints.get(1)!.peers);
    expect(processEgress(a.plane, ping, 0, ping.length)).toBe(EgressResult.DROPPED);
    a.table.setLink(engineId, ENGINE_LINK_ID);
    expect(processEgress(a.plane, ping, 0, ping.length)).toBe(EgressResult.SENT);
    expect(a.sent).toHaveLength(2);
    expect(a.plane.drops.noPath).toBe(2);
    expect(processIngress(b.plane, a.sent[1]!, 0, a.sent[1]!.length)).toBe(IngressResult.DELIVERED);
  });

  it('keeps the send counter increasing when a flow is rebuilt (path change): the peer accepts the next packet', () => {
    const { a, b } = pair();
    const ping = icmpv6Echo(a.id, b.id);
    for (let i = 0; i < 3; i += 1) {
      expect(processEgress(a.plane, ping, 0, ping.length)).toBe(EgressResult.SENT);
      expect(processIngress(b.plane, a.sent.at(-1)!, 0, a.sent.at(-1)!.length)).toBe(IngressResult.DELIVERED);
    }
    const before = a.table.flows()[0]!.sendCounter;
    // The controller pushes the same peers again (a link came back): the flow is rebuilt, same keys.
    a.table.setPeers(1, a.table.endpoints.get(1)!.peers);
    expect(a.table.flows()[0]!.sendCounter).toBeGreaterThanOrEqual(before);
    expect(processEgress(a.plane, ping, 0, ping.length)).toBe(EgressResult.SENT);
    expect(processIngress(b.plane, a.sent.at(-1)!, 0, a.sent.at(-1)!.length)).toBe(IngressResult.DELIVERED);
    expect(b.plane.drops.replayed).toBe(0);
    expect(b.app).toHaveLength(4);
  });

  it('chooses type I, then II for codePackets, then III, and type I again after the interval', () => {
    const { a, b } = pair();
    const ping = icmpv6Echo(a.id, b.id);
    const types: number[] = [];
    for (let i = 0; i < 5; i += 1) processEgress(a.plane, ping, 0, ping.length);
    a.now.ms += 5000;
    processEgress(a.plane, ping, 0, ping.length);
    for (const packet of a.sent) {
      const outer = decodeIpv6Header(packet);
      const capsule = outer.ok ? decodeCapsuleHeader(outer.value.payload) : undefined;
      types.push(capsule?.ok ? capsule.value.packetType : -1);
      expect(processIngress(b.plane, packet, 0, packet.length)).toBe(IngressResult.DELIVERED);
    }
    expect(types).toEqual([1, 2, 2, 3, 3, 1]);
  });

  it("repeats type I every authRepeatMs for authRepeatForMs after a flow's first, and again once a path change rebuilt it", () => {
    const { a } = pair({ authRepeatMs: 250, authRepeatForMs: 2000 });
    const ping = icmpv6Echo(a.id, a.table.endpoints.get(1)!.peers[0]!.hostId);
    /** The packet type egress sends `afterMs` after the previous packet. */
    const typeAfter = (afterMs: number) => {
      a.now.ms += afterMs;
      expect(processEgress(a.plane, ping, 0, ping.length)).toBe(EgressResult.SENT);
      const outer = decodeIpv6Header(a.sent.at(-1)!);
      const capsule = outer.ok ? decodeCapsuleHeader(outer.value.payload) : undefined;
      return capsule?.ok ? capsule.value.packetType : -1;
    };
    // At 0, 100, 249, 250, 400, 500, 1999, 2250 and 2400 ms: repeated at 250, 500 and 1999 (the
    // window's last moment), not at 2250 (the window over: authIntervalMs again).
    expect([0, 100, 149, 1, 150, 100, 1499, 251, 150].map(typeAfter)).toEqual([1, 2, 2, 1, 2, 1, 1, 2, 2]);
    // A path change rebuilds the flow: its first packet is a type I, and the repeats start again.
    a.table.setPeers(1, a.table.endpoints.get(1)!.peers);
    expect([10, 100, 150].map(typeAfter)).toEqual([1, 2, 1]);
  });

  it('sends the PATH (engine ids of the controller path) and DATA in every packet type', () => {
    const a = makeHost(0x64_64_00_01);
    const b = makeHost(0x64_64_00_01);
    const e1 = hostId();
    const e2 = engineId; // the first hop: the one whose link sendOnLink expects
    const data = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    a.table.setEndpoint({ ...spec(1, 'client'), data }, [
      {
        endpointId: 2,
        role: 'server',
        hostId: b.id,
        x25519PublicKey: b.x25519.publicKeyRaw,
        path: [a.id, e2, e1, b.id],
      },
    ]);
    const ping = icmpv6Echo(a.id, b.id);
    for (let i = 0; i < 4; i += 1) processEgress(a.plane, ping, 0, ping.length);
    const engineIdOf = (id: Uint8Array) => (id[14]! << 8) | id[15]!;
    const chunks = a.sent.map((packet) => {
      const outer = decodeIpv6Header(packet);
      const capsule = outer.ok ? decodeCapsuleHeader(outer.value.payload) : undefined;
      if (!capsule?.ok) throw new Error('no capsule header');
      return capsule.value;
    });
    expect(chunks.map((c) => c.packetType)).toEqual([1, 2, 2, 3]);
    for (const capsule of chunks) {
      expect(capsule.path).toMatchObject({
        hopIndex: 0,
        defaultEntry: 0,
        hops: [
          { engineId: engineIdOf(e2), entryIndex: 0, flags: 0 },
          { engineId: engineIdOf(e1), entryIndex: 0, flags: 0 },
        ],
      });
      expect(Math.abs(capsule.path!.creationTime - Date.now() / 1000)).toBeLessThan(5);
      expect(capsule.data).toEqual(data);
    }
    expect(chunks[3]!.code).toBeUndefined();
    expect(chunks[3]!.auth).toBeUndefined();
  });

  it('sends an authorization-only packet ahead of data too large for one type I packet', () => {
    const { a, b } = pair({ maxOverlayPacketBytes: 400 });
    const ping = icmpv6Echo(a.id, b.id, 300);
    processEgress(a.plane, ping, 0, ping.length);
    expect(a.sent).toHaveLength(2);
    expect(a.plane.authOnlyPackets).toBe(1);
    expect(processIngress(b.plane, a.sent[0]!, 0, a.sent[0]!.length)).toBe(IngressResult.CONTROL);
    expect(processIngress(b.plane, a.sent[1]!, 0, a.sent[1]!.length)).toBe(IngressResult.DELIVERED);
    expect(b.app[0]).toEqual(ping);
  });

  it('maps IPv4 apps to peer aliases and fixes IPv4 and UDP checksums on the way in', () => {
    const { a, b } = pair();
    const aliasOfB = a.table.flows()[0]!.ipv4Alias;
    const dst = [aliasOfB >>> 24, (aliasOfB >>> 16) & 255, (aliasOfB >>> 8) & 255, aliasOfB & 255];
    const packet = udp4([100, 100, 0, 1], dst, 'hello over capsule');
    expect(processEgress(a.plane, packet, 0, packet.length)).toBe(EgressResult.SENT);
    expect(processIngress(b.plane, a.sent[0]!, 0, a.sent[0]!.length)).toBe(IngressResult.DELIVERED);
    const got = b.app[0]!;
    expect(readU32(got, 12)).toBe(b.table.flows()[0]!.ipv4Alias); // source: A's alias on B
    expect(readU32(got, 16)).toBe(0x64_64_00_01); // destination: B's own IPv4 overlay address
    expect(isChecksumValid(0, got, 0, 20)).toBe(true);
    const sum = ipv4PseudoHeaderSum(got.subarray(12, 16), got.subarray(16, 20), 17, got.length - 20);
    expect(isChecksumValid(sum, got, 20, got.length)).toBe(true);
    expect(new TextDecoder().decode(got.subarray(28))).toBe('hello over capsule');
  });

  it('drops traffic outside the contract, replays, spoofed inner sources and ACL matches', () => {
    const { a, b } = pair();
    const stranger = hostId();
    const outside = icmpv6Echo(a.id, stranger);
    expect(processEgress(a.plane, outside, 0, outside.length)).toBe(EgressResult.DROPPED);
    expect(a.plane.drops.noFlow).toBe(1);

    const ping = icmpv6Echo(a.id, b.id);
    processEgress(a.plane, ping, 0, ping.length);
    const packet = a.sent[0]!;
    expect(processIngress(b.plane, packet, 0, packet.length)).toBe(IngressResult.DELIVERED);
    expect(processIngress(b.plane, packet, 0, packet.length)).toBe(IngressResult.DROPPED);
    expect(b.plane.drops.replayed).toBe(1);

    const spoof = icmpv6Echo(stranger, b.id);
    processEgress(a.plane, spoof, 0, spoof.length);
    expect(processIngress(b.plane, a.sent[1]!, 0, a.sent[1]!.length)).toBe(IngressResult.DROPPED);
    expect(b.plane.drops.spoofed).toBe(1);

    a.plane.acl = compileAcl({ out: ['deny icmp'] });
    expect(processEgress(a.plane, ping, 0, ping.length)).toBe(EgressResult.DROPPED);
    expect(a.plane.drops.aclOut).toBe(1);
    a.plane.acl = compileAcl({});
    b.plane.acl = compileAcl({ in: ['allow tcp port 80', 'deny any'] });
    processEgress(a.plane, ping, 0, ping.length);
    expect(processIngress(b.plane, a.sent.at(-1)!, 0, a.sent.at(-1)!.length)).toBe(IngressResult.DROPPED);
    expect(b.plane.drops.aclIn).toBe(1);
  });

  it("tells the engines the sealed packet's protocol and ports (TRANSPORT) in every packet type", () => {
    const { a } = pair();
    const packet = udp4([10, 0, 0, 1], [100, 101, 0, 2], 'ports in the clear');
    for (let i = 0; i < 4; i += 1) processEgress(a.plane, packet, 0, packet.length);
    const ping = icmpv6Echo(a.id, a.table.flows()[0]!.peer.hostId);
    processEgress(a.plane, ping, 0, ping.length);
    const transports = a.sent.map((sent) => {
      const outer = decodeIpv6Header(sent);
      const capsule = outer.ok ? decodeCapsuleHeader(outer.value.payload) : undefined;
      if (!capsule?.ok) throw new Error('no capsule header');
      return [capsule.value.packetType, capsule.value.transport];
    });
    const udp = { protocol: 17, sourcePort: 4000, destinationPort: 5000 };
    expect(transports).toEqual([
      [1, udp],
      [2, udp],
      [2, udp],
      [3, udp],
      [3, { protocol: 58, sourcePort: 0, destinationPort: 0 }],
    ]);
  });

  it('drops (counted) a packet whose opened protocol or ports differ from its TRANSPORT chunk, or that has none', () => {
    const { a, b } = pair();
    const view = new CapsuleHeaderView();
    const send = (mutate: (sent: Uint8Array, transportAt: number) => Uint8Array) => {
      const packet = udp4([10, 0, 0, 1], [100, 101, 0, 2], 'a lying sender');
      expect(processEgress(a.plane, packet, 0, packet.length)).toBe(EgressResult.SENT);
      const sent = a.sent.at(-1)!;
      expect(view.parse(sent, 40)).toBe(true);
      const lie = mutate(sent.slice(), view.transportOffset);
      return processIngress(b.plane, lie, 0, lie.length);
    };
    // What the sender sent unchanged is delivered.
    expect(send((sent) => sent)).toBe(IngressResult.DELIVERED);
    // The sender (its agent modified) tells the engines another destination port, source port
    // or protocol than the packet it sealed carries: the engines' programs saw 8080, the packet
    // goes to 5000. The seal opens (the chunk is not in its AAD); the check drops it.
    const lies: [offset: number, value: number, bytes: 1 | 2][] = [
      [4, 8080, 2], // destination port
      [2, 4001, 2], // source port
      [0, 6, 1], // protocol: TCP instead of UDP
    ];
    for (const [offset, value, bytes] of lies) {
      const result = send((sent, at) => {
        if (bytes === 2) writeU16(sent, at + offset, value);
        else sent[at + offset] = value;
        return sent;
      });
      expect(result).toBe(IngressResult.DROPPED);
    }
    expect(b.plane.drops.transportMismatch).toBe(3);
    // A TRANSPORT chunk left out (the capsule header re-encoded without it, the seal moved along).
    const stripped = send((sent) => {
      const capsule = decodeCapsuleHeader(sent.subarray(40));
      if (!capsule.ok) throw new Error('no capsule header');
      const { version, length, transport, ...rest } = capsule.value;
      const header: CapsuleHeader = rest;
      const headerLength = capsuleHeaderLength(header);
      const sealed = sent.subarray(40 + length);
      const out = new Uint8Array(40 + headerLength + sealed.length);
      out.set(sent.subarray(0, 40));
      encodeCapsuleHeader(header, out, 40);
      out.set(sealed, 40 + headerLength);
      writeU16(out, 4, out.length - 40);
      return out;
    });
    expect(stripped).toBe(IngressResult.DROPPED);
    expect(b.plane.drops.transportMismatch).toBe(4);
    expect(b.app).toHaveLength(1);
    expect(b.table.flows()[0]!.endpoint.statistics.dropsIn).toBe(4);
  });

  it('delivers a packet only when its TRANSPORT chunk says exactly what it carries (fast-check)', () => {
    const { a, b } = pair();
    const view = new CapsuleHeaderView();
    const packet = udp4([10, 0, 0, 1], [100, 101, 0, 2], 'claimed ports');
    let delivered = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.constant({ protocol: 17, sourcePort: 4000, destinationPort: 5000 }),
          fc.record({
            protocol: fc.constantFrom(0, 1, 6, 17, 58, 255),
            sourcePort: fc.oneof(fc.constant(4000), fc.integer({ min: 0, max: 0xffff })),
            destinationPort: fc.oneof(fc.constant(5000), fc.integer({ min: 0, max: 0xffff })),
          }),
        ),
        (claim) => {
          processEgress(a.plane, packet, 0, packet.length);
          const sent = a.sent.at(-1)!.slice();
          expect(view.parse(sent, 40)).toBe(true);
          sent[view.transportOffset] = claim.protocol;
          writeU16(sent, view.transportOffset + 2, claim.sourcePort);
          writeU16(sent, view.transportOffset + 4, claim.destinationPort);
          const truthful =
            claim.protocol === 17 && claim.sourcePort === 4000 && claim.destinationPort === 5000;
          const result = processIngress(b.plane, sent, 0, sent.length);
          expect(result).toBe(truthful ? IngressResult.DELIVERED : IngressResult.DROPPED);
          if (truthful) delivered += 1;
        },
      ),
      { seed: testSeed, numRuns: 300 },
    );
    expect(b.plane.drops.transportMismatch).toBe(300 - delivered);
    expect(b.app).toHaveLength(delivered);
  });

  it("accepts a member's answers from its role's address (TCP to a role), no other role's address", () => {
    const { a, b } = pair();
    // b (role server) answers a connection a made to the server role's address, from that address.
    const serverRole = roleAddress(b.id, 7, 'server');
    const answer = icmpv6Echo(serverRole, a.id);
    expect(processEgress(b.plane, answer, 0, answer.length)).toBe(EgressResult.SENT);
    expect(processIngress(a.plane, b.sent[0]!, 0, b.sent[0]!.length)).toBe(IngressResult.DELIVERED);
    expect(a.app[0]).toEqual(answer);
    // The address of a role b does not hold (client: a's own; another contract's server role): spoofed.
    for (const source of [roleAddress(b.id, 7, 'client'), roleAddress(b.id, 8, 'server')]) {
      const forged = icmpv6Echo(source, a.id);
      processEgress(b.plane, forged, 0, forged.length);
      expect(processIngress(a.plane, b.sent.at(-1)!, 0, b.sent.at(-1)!.length)).toBe(IngressResult.DROPPED);
    }
    expect(a.plane.drops.spoofed).toBe(2);
    expect(a.app).toHaveLength(1);
  });

  it('carries two contracts between the same two hosts: each packet on its own contract’s flow (source out, flow label in)', () => {
    const { a, b } = pair();
    // A second contract on the same hosts: a is its client (endpoint 3), b its replica (endpoint 4).
    const content = (id: number, role: string): EndpointSpec => ({
      ...spec(id, role),
      contract: 'content',
      contractId: 8,
    });
    expect(a.table.setEndpoint(content(3, 'client'), [peerSpec(a, b, 4, 'replica')]).skipped).toEqual([]);
    expect(b.table.setEndpoint(content(4, 'replica'), [peerSpec(b, a, 3, 'client')]).skipped).toEqual([]);
    const toB = a.table.flows().filter((flow) => flow.connections === undefined);
    expect(toB.map((flow) => [flow.endpoint.spec.id, flow.sharedPeerHost])).toEqual([
      [1, true],
      [3, true],
    ]);
    const statisticsOf = (host: Host, id: number) => host.table.endpoints.get(id)!.statistics;
    // b answers from each role address it holds (a connection a made to that role's address), and
    // from its CGA: each goes on the flow of the contract whose role address is its source — its
    // e2e key, its flow label — and a delivers it under that contract.
    const answers: [Uint8Array, number, number][] = [
      [roleAddress(b.id, 8, 'replica'), 4, 3],
      [roleAddress(b.id, 7, 'server'), 2, 1],
      [b.id, 2, 1], // not a role address: the first endpoint's flow, as with one contract
    ];
    for (const [source, sender, receiver] of answers) {
      const before = [statisticsOf(b, sender).packetsOut, statisticsOf(a, receiver).packetsIn];
      const answer = icmpv6Echo(source, a.id);
      expect(processEgress(b.plane, answer, 0, answer.length)).toBe(EgressResult.SENT);
      const overlay = b.sent.at(-1)!;
      expect(processIngress(a.plane, overlay, 0, overlay.length)).toBe(IngressResult.DELIVERED);
      expect(a.app.at(-1)).toEqual(answer);
      expect([statisticsOf(b, sender).packetsOut, statisticsOf(a, receiver).packetsIn]).toEqual([
        before[0]! + 1,
        before[1]! + 1,
      ]);
    }
    // A rebuild of the first registered's flows (a path push) leaves its flow the default: a packet
    // from a's own address, and IPv4 to b's alias, still take the shop flow.
    const shop = a.table.endpoints.get(1)!;
    a.table.setPeers(1, shop.peers);
    const fromA = icmpv6Echo(a.id, b.id);
    const shopOut = statisticsOf(a, 1).packetsOut;
    expect(processEgress(a.plane, fromA, 0, fromA.length)).toBe(EgressResult.SENT);
    expect(statisticsOf(a, 1).packetsOut).toBe(shopOut + 1);
    const alias = a.table.flowByHostId(b.id, 0)!.ipv4Alias;
    expect(a.table.flowByIpv4(alias)!.endpoint.spec.id).toBe(1);
    // Named by endpoint (`capsule trace --endpoint`): each contract's flow; none of an endpoint
    // without a flow to b, nor to a host without flows.
    expect(a.table.flowOfEndpoint(b.id, 0, 3)!.endpoint.spec.id).toBe(3);
    expect(a.table.flowOfEndpoint(b.id, 0, 1)!.endpoint.spec.id).toBe(1);
    expect(a.table.flowOfEndpoint(b.id, 0, 4)).toBeUndefined();
    expect(a.table.flowOfEndpoint(a.id, 0, 1)).toBeUndefined();
    // a's client of the content contract reaches b's replica the same way.
    const request = icmpv6Echo(roleAddress(a.id, 8, 'client'), b.id);
    expect(processEgress(a.plane, request, 0, request.length)).toBe(EgressResult.SENT);
    expect(processIngress(b.plane, a.sent.at(-1)!, 0, a.sent.at(-1)!.length)).toBe(IngressResult.DELIVERED);
    expect(statisticsOf(b, 4).packetsIn).toBe(1);
    // The flow label picks the flow in: the replica's packet relabelled as the shop flow's opens
    // under no key of that flow (its AAD and key are the content flow's): badSeal, not delivered.
    const replica = icmpv6Echo(roleAddress(b.id, 8, 'replica'), a.id);
    processEgress(b.plane, replica, 0, replica.length);
    const relabelled = Uint8Array.from(b.sent.at(-1)!);
    const shopLabel = a.table.flows().find((flow) => flow.endpoint.spec.id === 1)!.peerFlowLabel;
    relabelled[1] = (relabelled[1]! & 0xf0) | (shopLabel >>> 16);
    relabelled[2] = (shopLabel >>> 8) & 0xff;
    relabelled[3] = shopLabel & 0xff;
    const delivered = a.app.length;
    expect(processIngress(a.plane, relabelled, 0, relabelled.length)).toBe(IngressResult.DROPPED);
    expect(a.plane.drops.badSeal).toBe(1);
    expect(a.app).toHaveLength(delivered);
    // Two endpoints of one contract to one host would share the e2e key: the second is refused.
    expect(a.table.setEndpoint(spec(5, 'client'), [peerSpec(a, b, 2, 'server')]).skipped).toEqual([
      {
        peer: a.table.flows()[0]!.peerText,
        reason: 'this contract has a flow to this host already (a second would share its e2e key)',
      },
    ]);
    // One of the two gone, the other's flow is no longer shared.
    a.table.removeEndpoint(5);
    a.table.removeEndpoint(1);
    expect(a.table.flows().map((flow) => [flow.endpoint.spec.id, flow.sharedPeerHost])).toEqual([[3, false]]);
  });

  it('drops what its TUN gives that is not a whole IP packet (malformedOut), and a packet too big to seal (tooBig)', () => {
    const { a, b } = pair();
    const ping = icmpv6Echo(a.id, b.id);
    const aliasOfB = a.table.flows()[0]!.ipv4Alias;
    const dst = [aliasOfB >>> 24, (aliasOfB >>> 16) & 255, (aliasOfB >>> 8) & 255, aliasOfB & 255];
    const udp = udp4([100, 100, 0, 1], dst, 'hello over capsule');
    const shortHeader = udp.slice();
    shortHeader[0] = 0x44; // IPv4 header length 4 words
    // Lengths short of a header, the bytes after them in the buffer as a whole packet's would be.
    const cases: [Uint8Array, number][] = [
      [ping, 0],
      [ping, 39],
      [udp, 19],
      [shortHeader, shortHeader.length],
    ];
    for (const [packet, length] of cases)
      expect(processEgress(a.plane, packet, 0, length), `${length} bytes`).toBe(EgressResult.DROPPED);
    expect(a.plane.drops.malformedOut).toBe(cases.length);
    expect(a.sent).toHaveLength(0);
    // The largest IPv6 packet: with the capsule header and the seal's overhead it would pass 64 KiB
    // (its AUTH goes ahead in a packet of its own; the data does not go).
    const huge = icmpv6Echo(a.id, b.id, 0xffff - 8);
    expect(processEgress(a.plane, huge, 0, huge.length)).toBe(EgressResult.DROPPED);
    expect(a.plane.drops.tooBig).toBe(1);
    expect(a.sent.every((packet) => packet.length < 1_000)).toBe(true);
    expect(processEgress(a.plane, ping, 0, ping.length)).toBe(EgressResult.SENT);
  });

  it('drops an overlay packet that is not a capsule packet (its next header) as malformedIn', () => {
    const { a, b } = pair();
    const ping = icmpv6Echo(a.id, b.id);
    expect(processEgress(a.plane, ping, 0, ping.length)).toBe(EgressResult.SENT);
    const udp = a.sent[0]!.slice();
    udp[6] = 17;
    expect(processIngress(b.plane, udp, 0, udp.length)).toBe(IngressResult.DROPPED);
    expect(b.plane.drops.malformedIn).toBe(1);
    expect(b.app).toHaveLength(0);
    expect(processIngress(b.plane, a.sent[0]!, 0, a.sent[0]!.length)).toBe(IngressResult.DELIVERED);
  });

  it('keeps the kernel ND/MLD on the TUN out of the overlay and drops packets without a path', () => {
    const { a, b } = pair();
    const ns = icmpv6Echo(a.id, b.id);
    ns[40] = 135;
    expect(processEgress(a.plane, ns, 0, ns.length)).toBe(EgressResult.DROPPED);
    expect(a.plane.drops.localControl).toBe(1);
    a.table.setPeers(1, [
      { endpointId: 2, role: 'server', hostId: b.id, x25519PublicKey: b.x25519.publicKeyRaw, path: [] },
    ]);
    const ping = icmpv6Echo(a.id, b.id);
    expect(processEgress(a.plane, ping, 0, ping.length)).toBe(EgressResult.DROPPED);
    expect(a.plane.drops.noPath).toBe(1);
  });

  it('sends to a role address: each member opens it, each connection is its own flow, strangers cannot', () => {
    const a = makeHost(0x64_64_00_01);
    const [b, c, d] = [makeHost(0x64_64_00_01), makeHost(0x64_64_00_01), makeHost(0x64_64_00_01)];
    const peer = (host: Host, endpointId: number, role: string) => peerSpec(a, host, endpointId, role);
    // What the controller gives (group-keys.ts): the server role's secret of epoch 1 to its
    // members, each client its own sender key for that epoch.
    const serverSecret = generateGroupSecret();
    const member = (epoch: number, secret: Uint8Array) =>
      nextGroupKeys(
        noGroupKeys,
        [{ role: 'server', use: 'open', epoch, key: secret }],
        a.now.ms,
        groupKeyTimes,
      );
    const sender = (host: Host, epoch: number, secret: Uint8Array) =>
      nextGroupKeys(
        noGroupKeys,
        [{ role: 'server', use: 'seal', epoch, key: deriveGroupSenderKey(secret, host.id, epoch) }],
        a.now.ms,
        groupKeyTimes,
      );
    a.table.setEndpoint(
      spec(1, 'client'),
      [peer(b, 2, 'server'), peer(c, 3, 'server')],
      sender(a, 1, serverSecret),
    );
    for (const [host, id] of [
      [b, 2],
      [c, 3],
    ] as const)
      host.table.setEndpoint(
        spec(id, 'server'),
        [{ ...peer(a, 1, 'client'), path: [host.id, engineId, a.id] }],
        member(1, serverSecret),
      );
    // d holds the client role of the same contract: not a member of the server role.
    d.table.setEndpoint(
      spec(4, 'client'),
      [{ ...peer(a, 1, 'client'), path: [d.id, engineId, a.id] }],
      sender(d, 1, serverSecret),
    );
    const role = roleAddress(a.id, 7, 'server');
    expect(role.subarray(0, 8)).toEqual(a.id.subarray(0, 8));
    expect(role[8]).toBe(0x02);
    const udp6 = (sourcePort: number, body: string) => {
      const data = new TextEncoder().encode(body);
      const packet = new Uint8Array(48 + data.length);
      encodeIpv6Header(
        {
          trafficClass: 0,
          flowLabel: 0,
          payloadLength: 8 + data.length,
          nextHeader: 17,
          hopLimit: 64,
          source: a.id,
          destination: role,
        },
        packet,
      );
      encodeUdpHeader(
        { sourcePort, destinationPort: 9000, length: 8 + data.length, checksum: 0 },
        packet,
        40,
      );
      packet.set(data, 48);
      return packet;
    };
    for (const [port, body] of [
      [4001, 'x'],
      [4002, 'y'],
      [4001, 'z'],
    ] as const) {
      const packet = udp6(port, body);
      expect(processEgress(a.plane, packet, 0, packet.length)).toBe(EgressResult.SENT);
    }
    const outer = a.sent.map((packet) => {
      const decoded = decodeIpv6Header(packet);
      if (!decoded.ok) throw new Error('no IPv6');
      const capsule = decodeCapsuleHeader(decoded.value.payload);
      if (!capsule.ok) throw new Error('no capsule header');
      return { ...decoded.value, capsule: capsule.value };
    });
    expect(outer.map((o) => o.destination)).toEqual([role, role, role]);
    // Connection 4001's two packets share a label (and go I then II); 4002 is a new flow (type I).
    expect(outer[0]!.flowLabel).toBe(outer[2]!.flowLabel);
    expect(outer[1]!.flowLabel).not.toBe(outer[0]!.flowLabel);
    expect(outer.map((o) => o.capsule.packetType)).toEqual([1, 1, 2]);
    expect(outer[0]!.capsule.path).toBeUndefined();
    // Both members open every packet (whichever an engine picks); d, a stranger to the role, none.
    for (const member of [b, c]) {
      for (const packet of a.sent)
        expect(processIngress(member.plane, packet, 0, packet.length)).toBe(IngressResult.DELIVERED);
      expect(member.app.map((p) => new TextDecoder().decode(p.subarray(48)))).toEqual(['x', 'y', 'z']);
      expect(member.app[0]).toEqual(udp6(4001, 'x'));
    }
    expect(processIngress(d.plane, a.sent[0]!, 0, a.sent[0]!.length)).toBe(IngressResult.DROPPED);
    expect(d.plane.drops.malformedIn).toBe(1);
    // Replayed, tampered and unknown senders.
    expect(processIngress(b.plane, a.sent[0]!, 0, a.sent[0]!.length)).toBe(IngressResult.DROPPED);
    expect(b.plane.drops.replayed).toBe(1);
    const tampered = a.sent[1]!.slice();
    tampered[tampered.length - 1]! ^= 1;
    expect(processIngress(c.plane, tampered, 0, tampered.length)).toBe(IngressResult.DROPPED);
    expect(c.plane.drops.badSeal).toBe(1);
    const forged = a.sent[1]!.slice();
    forged.set(d.id, 8); // claims to come from d, which is no peer of the server endpoints
    expect(processIngress(c.plane, forged, 0, forged.length)).toBe(IngressResult.DROPPED);
    expect(c.plane.drops.unknownPeer).toBe(1);
    // A sender lying to the engines about its destination port (9001 claimed, 9000 sealed).
    const fresh = udp6(4001, 'w');
    expect(processEgress(a.plane, fresh, 0, fresh.length)).toBe(EgressResult.SENT);
    const lying = a.sent[3]!.slice();
    const lyingView = new CapsuleHeaderView();
    expect(lyingView.parse(lying, 40)).toBe(true);
    writeU16(lying, lyingView.transportOffset + 4, 9001);
    expect(processIngress(c.plane, lying, 0, lying.length)).toBe(IngressResult.DROPPED);
    expect(c.plane.drops.transportMismatch).toBe(1);
    // The service token opens nothing: e holds it and the server role, but the controller gave
    // it no group secret (not a member: its authorization was revoked, say). Nor does a sender's
    // own key (d's) open another sender's packets.
    const e = makeHost(0x64_64_00_01);
    e.table.setEndpoint(spec(5, 'server'), [{ ...peer(a, 1, 'client'), path: [e.id, engineId, a.id] }]);
    expect(e.table.endpoints.get(5)!.spec.serviceToken).toBe(a.table.endpoints.get(1)!.spec.serviceToken);
    expect(processIngress(e.plane, a.sent[0]!, 0, a.sent[0]!.length)).toBe(IngressResult.DROPPED);
    expect(e.plane.drops.badSeal).toBe(1);
    e.table.setPeers(5, e.table.endpoints.get(5)!.peers, {
      open: [{ epoch: 1, key: deriveGroupSenderKey(serverSecret, d.id, 1), untilMs: Infinity }],
      seal: new Map(),
      nextSeal: new Map(),
    });
    expect(processIngress(e.plane, a.sent[0]!, 0, a.sent[0]!.length)).toBe(IngressResult.DROPPED);
    expect(e.plane.drops.badSeal).toBe(2);
  });

  /**
   * Role-addressed traffic from a to the server role, members b and c (and d later), as the
   * controller keys it (group-keys.ts): `given(host, epoch, use)` is what it tells each one.
   */
  function groupScene(times: { graceMs: number; switchDelayMs: number }) {
    const [a, b, c, d] = [
      makeHost(0x64_64_00_01),
      makeHost(0x64_64_00_01),
      makeHost(0x64_64_00_01),
      makeHost(0x64_64_00_01),
    ];
    const secrets = [generateGroupSecret(), generateGroupSecret()];
    const given = (host: Host, epoch: number, use: 'open' | 'seal') => ({
      role: 'server',
      use,
      epoch,
      key: use === 'open' ? secrets[epoch - 1]! : deriveGroupSenderKey(secrets[epoch - 1]!, host.id, epoch),
    });
    /** What an agent does with a registration answer or a path-change's keys. */
    const tell = (host: Host, id: number, keys: ReturnType<typeof given>[]) =>
      host.table.setPeers(
        id,
        host.table.endpoints.get(id)!.peers,
        nextGroupKeys(host.table.endpoints.get(id)!.groupKeys, keys, host.now.ms, times),
      );
    a.table.setEndpoint(spec(1, 'client'), [peerSpec(a, b, 2, 'server'), peerSpec(a, c, 3, 'server')]);
    tell(a, 1, [given(a, 1, 'seal')]);
    const members = [
      [b, 2],
      [c, 3],
      [d, 4],
    ] as const;
    for (const [host, id] of members)
      host.table.setEndpoint(spec(id, 'server'), [peerSpec(host, a, 1, 'client')]);
    const role = roleAddress(a.id, 7, 'server');
    let port = 4000;
    /** One UDP packet from a to the role, a new connection each (as the load-balancing use case). */
    const send = (body: string) => {
      const packet = new Uint8Array(48 + body.length);
      encodeIpv6Header(
        {
          trafficClass: 0,
          flowLabel: 0,
          payloadLength: 8 + body.length,
          nextHeader: 17,
          hopLimit: 64,
          source: a.id,
          destination: role,
        },
        packet,
      );
      port += 1;
      encodeUdpHeader(
        { sourcePort: port, destinationPort: 9000, length: 8 + body.length, checksum: 0 },
        packet,
        40,
      );
      packet.set(new TextEncoder().encode(body), 48);
      expect(processEgress(a.plane, packet, 0, packet.length)).toBe(EgressResult.SENT);
      return a.sent[a.sent.length - 1]!;
    };
    const epochOf = (packet: Uint8Array) => {
      const outer = decodeIpv6Header(packet);
      if (!outer.ok) throw new Error('no IPv6');
      const capsule = decodeCapsuleHeader(outer.value.payload);
      if (!capsule.ok) throw new Error('no capsule header');
      return readU32(outer.value.payload, capsuleHeaderLength(capsule.value));
    };
    const delivered = (host: Host, packet: Uint8Array) =>
      processIngress(host.plane, packet, 0, packet.length) === IngressResult.DELIVERED;
    return { a, b, c, d, given, tell, send, epochOf, delivered };
  }

  it('a captured group packet stays closed to a service token holder who is not a member', () => {
    const { a, b, d, given, tell, send, delivered } = groupScene(groupKeyTimes);
    tell(b, 2, [given(b, 1, 'open')]);
    const captured = send('secret');
    expect(delivered(b, captured)).toBe(true);
    // d registered the server role with the same service token (the old group key was HKDF over
    // that token and the packet's addresses, so it opened this packet), but the controller made
    // it no member of epoch 1: it has no secret, and opens nothing.
    expect(d.table.endpoints.get(4)!.spec.serviceToken).toBe(a.table.endpoints.get(1)!.spec.serviceToken);
    expect(delivered(d, captured.slice())).toBe(false);
    expect(d.plane.drops.badSeal).toBe(1);
    // Nor does a sender key used as a secret: d's own (as a sender to the role) or a's.
    for (const key of [given(d, 1, 'seal').key, given(a, 1, 'seal').key]) {
      const keys = nextGroupKeys(
        noGroupKeys,
        [{ role: 'server', use: 'open', epoch: 1, key }],
        0,
        groupKeyTimes,
      );
      d.table.setPeers(4, d.table.endpoints.get(4)!.peers, keys);
      expect(d.table.endpoints.get(4)!.groupKeys.open[0]!.key).toBe(key);
      expect(delivered(d, captured.slice())).toBe(false);
    }
    expect(d.plane.drops.badSeal).toBe(3);
    expect(d.app).toHaveLength(0);
  });

  it('group key epochs: a removed member cannot open the next epoch; the previous one opens during its grace only', () => {
    const times = { graceMs: 20_000, switchDelayMs: 5000 };
    const { a, b, c, given, tell, send, epochOf, delivered } = groupScene(times);
    tell(b, 2, [given(b, 1, 'open')]);
    tell(c, 3, [given(c, 1, 'open')]);
    const epoch1 = send('one');
    expect(epochOf(epoch1)).toBe(1);
    for (const host of [b, c]) expect(delivered(host, epoch1)).toBe(true);
    // b leaves the role: the controller makes epoch 2 for the members left (c) and the senders (a).
    tell(c, 3, [given(c, 2, 'open')]);
    tell(a, 1, [given(a, 2, 'seal')]);
    // a waits its switch delay before sealing under epoch 2 (c may not have it yet).
    const late = send('late');
    expect(epochOf(late)).toBe(1);
    expect(delivered(c, late)).toBe(true);
    a.now.ms += times.switchDelayMs - 1;
    expect(a.table.activateGroupKeys(a.now.ms)).toBe(0);
    a.now.ms += 1;
    expect(a.table.activateGroupKeys(a.now.ms)).toBe(1);
    const epoch2 = send('two');
    expect(epochOf(epoch2)).toBe(2);
    expect(delivered(c, epoch2)).toBe(true);
    expect(c.app.map((p) => new TextDecoder().decode(p.subarray(48)))).toEqual(['one', 'late', 'two']);
    // The removed member keeps epoch 1's secret: it opens nothing of epoch 2.
    expect(delivered(b, epoch2)).toBe(false);
    expect(b.plane.drops.badSeal).toBe(1);
    expect(b.app).toHaveLength(1);
    // Replays of either epoch are refused (each epoch keeps its window).
    expect(delivered(c, late)).toBe(false);
    expect(delivered(c, epoch2)).toBe(false);
    expect(c.plane.drops.replayed).toBe(2);
    // After the grace, epoch 1 no longer opens at c: refused as a bad seal, before any replay check.
    const stale = epoch1.slice();
    c.now.ms += times.graceMs + 1;
    const badSealBefore = c.plane.drops.badSeal;
    expect(delivered(c, stale)).toBe(false);
    expect(c.plane.drops.badSeal).toBe(badSealBefore + 1);
  });

  it('a membership change loses nothing: a sender told before the members keeps its epoch for the switch delay; a joining member opens the current epoch at once', () => {
    const times = { graceMs: 60_000, switchDelayMs: 12_000 };
    const { a, b, c, d, given, tell, send, epochOf, delivered } = groupScene(times);
    tell(b, 2, [given(b, 1, 'open')]);
    tell(c, 3, [given(c, 1, 'open')]);
    // d joins: the controller gives it the current epoch, the senders keep their keys. Every
    // packet a seals from now on opens at each member, whichever the engine picks (here: all).
    tell(d, 4, [given(d, 1, 'open')]);
    tell(a, 1, [given(a, 1, 'seal')]);
    const lost = { b: 0, c: 0, d: 0 };
    const deliverTo = (packet: Uint8Array, hosts: Record<'b' | 'c' | 'd', Host>) => {
      for (const [name, host] of Object.entries(hosts)) if (!delivered(host, packet)) lost[name as 'b']! += 1;
    };
    for (let i = 0; i < 20; i += 1) deliverTo(send(`join ${i}`), { b, c, d });
    // b leaves: the sender is told first (its push came in before the members'), then packets,
    // then the members left one by one, 3 s apart; a switches 12 s after it was told.
    tell(a, 1, [given(a, 2, 'seal')]);
    for (let i = 0; i < 10; i += 1) deliverTo(send(`before ${i}`), { b, c, d });
    for (const [host, id] of [
      [c, 3],
      [d, 4],
    ] as const) {
      host.now.ms += 3000;
      a.now.ms += 3000;
      tell(host, id, [given(host, 2, 'open')]);
      a.table.activateGroupKeys(a.now.ms);
      for (let i = 0; i < 10; i += 1) deliverTo(send(`told ${id} ${i}`), { b, c, d });
    }
    expect(epochOf(a.sent.at(-1)!)).toBe(1);
    a.now.ms += 6000;
    expect(a.table.activateGroupKeys(a.now.ms)).toBe(1);
    for (let i = 0; i < 10; i += 1) deliverTo(send(`after ${i}`), { b, c, d });
    expect(epochOf(a.sent.at(-1)!)).toBe(2);
    // c and d lost nothing; b, gone, opens nothing of epoch 2.
    expect(lost).toEqual({ b: 10, c: 0, d: 0 });
    expect(c.plane.drops.badSeal + d.plane.drops.badSeal).toBe(0);
    expect(c.app).toHaveLength(60);
    // The same race without the switch delay (the sender seals under epoch 2 as soon as it is
    // told): the members not told yet drop everything it sends meanwhile.
    const eager = groupScene({ graceMs: 60_000, switchDelayMs: 0 });
    eager.tell(eager.c, 3, [eager.given(eager.c, 1, 'open')]);
    eager.tell(eager.a, 1, [eager.given(eager.a, 2, 'seal')]);
    const racing = eager.send('racing');
    expect(eager.epochOf(racing)).toBe(2);
    expect(eager.delivered(eager.c, racing)).toBe(false);
    expect(eager.c.plane.drops.badSeal).toBe(1);
  });

  it('never throws on hostile overlay packets and delivers none of them (fuzz)', () => {
    const { a, b } = pair();
    const ping = icmpv6Echo(a.id, b.id);
    for (let i = 0; i < 6; i += 1) processEgress(a.plane, ping, 0, ping.length);
    const valid = a.sent.map((p) => p.slice());
    for (const p of valid) processIngress(b.plane, p, 0, p.length);
    const delivered = b.app.length;
    fc.assert(
      fc.property(
        fc.nat({ max: valid.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.nat(),
        (which, flips, cut) => {
          const packet = valid[which]!.slice();
          for (const [at, value] of flips) packet[at % packet.length] = value;
          const length = cut % 3 === 0 ? cut % (packet.length + 1) : packet.length;
          const result = processIngress(b.plane, packet, 0, length);
          expect(result).not.toBe(IngressResult.DELIVERED);
        },
      ),
      { seed: testSeed, numRuns: 5000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (random) => {
        expect(processIngress(b.plane, random, 0, random.length)).not.toBe(IngressResult.DELIVERED);
        expect(() => processEgress(a.plane, random, 0, random.length)).not.toThrow();
      }),
      { seed: testSeed, numRuns: 5000 },
    );
    expect(b.app.length).toBe(delivered);
  });

  it('TAP mode: answers ARP for overlay addresses, strips and adds Ethernet headers', () => {
    const { a, b } = pair({ mode: 'tap' });
    const kernelMac = [0x02, 0, 0, 0, 0, 0x99];
    const arp = Uint8Array.from([
      ...[255, 255, 255, 255, 255, 255],
      ...kernelMac,
      0x08,
      0x06,
      0,
      1,
      0x08,
      0,
      6,
      4,
      0,
      1,
      ...kernelMac,
      100,
      100,
      0,
      1,
      ...[0, 0, 0, 0, 0, 0],
      100,
      101,
      0,
      2,
    ]);
    expect(processEgress(a.plane, arp, 0, arp.length)).toBe(EgressResult.CONSUMED);
    const reply = a.app[0]!;
    expect([...reply.subarray(0, 6)]).toEqual(kernelMac);
    expect([...reply.subarray(20, 22)]).toEqual([0, 2]);
    expect([...reply.subarray(28, 32)]).toEqual([100, 101, 0, 2]);
    const ping = icmpv6Echo(a.id, b.id);
    const frame = new Uint8Array(14 + ping.length);
    frame.set(kernelMac, 6);
    frame[12] = 0x86;
    frame[13] = 0xdd;
    frame.set(ping, 14);
    expect(processEgress(a.plane, frame, 0, frame.length)).toBe(EgressResult.SENT);
    // B has not learned its kernel's MAC: broadcast destination, IPv6 EtherType.
    expect(processIngress(b.plane, a.sent[0]!, 0, a.sent[0]!.length)).toBe(IngressResult.DELIVERED);
    const delivered = b.app[0]!;
    expect([...delivered.subarray(12, 14)]).toEqual([0x86, 0xdd]);
    expect(delivered.subarray(14)).toEqual(ping);
  });
});

describe('data plane: e2e keys rotated by time and by volume (e2e-epochs.ts)', () => {
  /** `from` seals `count` pings to `to`; returns the overlay packets. */
  const send = (from: Host, to: Host, count: number) => {
    const ping = icmpv6Echo(from.id, to.id);
    const start = from.sent.length;
    for (let i = 0; i < count; i += 1)
      expect(processEgress(from.plane, ping, 0, ping.length)).toBe(EgressResult.SENT);
    return from.sent.slice(start);
  };
  const deliver = (to: Host, packets: Uint8Array[]) =>
    packets.map((packet) => processIngress(to.plane, packet, 0, packet.length));
  const epochOf = (packet: Uint8Array) => {
    const outer = decodeIpv6Header(packet);
    const capsule = outer.ok ? decodeCapsuleHeader(outer.value.payload) : undefined;
    if (!outer.ok || !capsule?.ok) throw new Error('not a capsule packet');
    return readU32(outer.value.payload, capsule.value.length);
  };
  /** A restarted agent: the same host id and X25519 key, a new flow table (e2e epochs lost). */
  const restarted = (host: Host, peer: Host, ownId: number, peerId: number) => {
    const again = makeHost(0x64_64_00_01, host.plane.options, createNativePayloadCipher, host);
    again.now.ms = host.now.ms;
    again.table.setEndpoint(spec(ownId, ownId === 1 ? 'client' : 'server'), [
      {
        endpointId: peerId,
        role: peerId === 1 ? 'client' : 'server',
        hostId: peer.id,
        x25519PublicKey: peer.x25519.publicKeyRaw,
        path: [host.id, engineId, peer.id],
      },
    ]);
    return again;
  };

  it('rekeys by volume in both directions, each direction on its own, with no loss', () => {
    const { a, b } = pair({ e2eRekeyAfterPackets: 5 });
    const toB = send(a, b, 23);
    const toA = send(b, a, 12);
    expect(toB.map(epochOf)).toEqual([...Array(23).keys()].map((i) => Math.floor(i / 5)));
    expect(toA.map(epochOf)).toEqual([...Array(12).keys()].map((i) => Math.floor(i / 5)));
    expect(deliver(b, toB).every((r) => r === IngressResult.DELIVERED)).toBe(true);
    expect(deliver(a, toA).every((r) => r === IngressResult.DELIVERED)).toBe(true);
    expect(a.plane.e2eRekeys).toEqual({ sent: 4, received: 2 });
    expect(b.plane.e2eRekeys).toEqual({ sent: 2, received: 4 });
    expect(b.app).toHaveLength(23);
    expect(a.app).toHaveLength(12);
  });

  it('rekeys by time (from the first packet sealed under an epoch), and when asked (capsule agent rekey)', () => {
    const { a, b } = pair({ e2eRekeyAfterMs: 120_000 });
    const epochs: number[] = [];
    for (const stepMs of [0, 60_000, 59_999, 1, 0, 500_000, 0]) {
      a.now.ms += stepMs;
      epochs.push(...send(a, b, 1).map(epochOf));
    }
    expect(epochs).toEqual([0, 0, 0, 1, 1, 2, 2]);
    expect(a.table.requestE2eRekey()).toBe(1);
    expect(a.table.requestE2eRekey(99)).toBe(0);
    expect(send(a, b, 2).map(epochOf)).toEqual([3, 3]);
    expect(deliver(b, a.sent).every((r) => r === IngressResult.DELIVERED)).toBe(true);
    expect(b.plane.e2eRekeys.received).toBe(3);
    expect(a.plane.e2eRekeys.sent).toBe(3);
  });

  it('loses nothing across a rekey with packets of both epochs in flight, out of order, and keeps the flow’s state through a rebuild', () => {
    const { a, b } = pair({ e2eRekeyAfterPackets: 4, e2eRekeyGraceMs: 1000 });
    const packets = send(a, b, 12); // epochs 0,0,0,0,1,1,1,1,2,2,2,2
    // In flight: the newer epoch arrives first, then stragglers of the older one.
    const order = [4, 0, 5, 1, 6, 2, 3, 8, 7, 9, 11, 10];
    expect(
      deliver(
        b,
        order.map((i) => packets[i]!),
      ),
    ).toEqual(order.map(() => IngressResult.DELIVERED));
    expect(b.app).toHaveLength(12);
    expect(b.plane.e2eRekeys.received).toBe(2);
    // A path change rebuilds both flows: the epochs and the replay window go on.
    a.table.setPeers(1, a.table.endpoints.get(1)!.peers);
    b.table.setPeers(2, b.table.endpoints.get(2)!.peers);
    const more = send(a, b, 2);
    expect(more.map(epochOf)).toEqual([3, 3]);
    expect(deliver(b, [...more, packets[11]!])).toEqual([
      IngressResult.DELIVERED,
      IngressResult.DELIVERED,
      IngressResult.DROPPED,
    ]);
    expect(b.plane.drops.replayed).toBe(1);
    expect(b.plane.drops.badSeal + b.plane.drops.e2eEpochStale).toBe(0);
  });

  it('a replay of an old epoch is a replay within its grace and a stale-epoch drop after it', () => {
    const { a, b } = pair({ e2eRekeyAfterPackets: 3, e2eRekeyGraceMs: 1000 });
    const packets = send(a, b, 6); // epochs 0,0,0,1,1,1
    deliver(b, packets);
    expect(deliver(b, [packets[1]!])).toEqual([IngressResult.DROPPED]);
    expect(b.plane.drops.replayed).toBe(1);
    b.now.ms += 1001;
    expect(deliver(b, [packets[1]!, packets[2]!])).toEqual([IngressResult.DROPPED, IngressResult.DROPPED]);
    expect(b.plane.drops.e2eEpochStale).toBe(2);
    // The current epoch's replays are still replays.
    expect(deliver(b, [packets[4]!])).toEqual([IngressResult.DROPPED]);
    expect(b.plane.drops.replayed).toBe(2);
    expect(b.app).toHaveLength(6);
  });

  it('refuses an epoch too far ahead, a forged epoch field and a packet under a key that is not the flow’s', () => {
    const { a, b } = pair({ e2eRekeyAfterPackets: 1_000_000 });
    deliver(b, send(a, b, 1));
    // Epochs 1..5, one packet each, held back.
    const held: Uint8Array[] = [];
    for (let i = 0; i < 5; i += 1) {
      expect(a.table.requestE2eRekey()).toBe(1);
      held.push(...send(a, b, 1));
    }
    expect(held.map(epochOf)).toEqual([1, 2, 3, 4, 5]);
    // Five ahead of B's epoch 0 (the lookahead is 4): refused unopened; four ahead opens.
    expect(deliver(b, [held[4]!])).toEqual([IngressResult.DROPPED]);
    expect(b.plane.drops.e2eEpochAhead).toBe(1);
    expect(deliver(b, [held[3]!, held[4]!])).toEqual([IngressResult.DELIVERED, IngressResult.DELIVERED]);
    // Epochs 1..3 are older than the previous epoch (4) now: stale.
    expect(deliver(b, held.slice(0, 3))).toEqual([0, 1, 2].map(() => IngressResult.DROPPED));
    expect(b.plane.drops.e2eEpochStale).toBe(3);
    // The epoch field is authenticated: an epoch-6 packet relabelled as epoch 5 opens under neither.
    a.table.requestE2eRekey();
    const [six] = send(a, b, 1);
    const relabelled = six!.slice();
    const at = relabelled.length - sealedLengthOf(six!);
    expect(relabelled[at + 3]).toBe(6);
    relabelled[at + 3] = 5;
    expect(deliver(b, [relabelled])).toEqual([IngressResult.DROPPED]);
    expect(b.plane.drops.badSeal).toBe(1);
    expect(deliver(b, [six!])).toEqual([IngressResult.DELIVERED]);
    // A host with another X25519 key posing as A (the same host id): its seal opens under no epoch.
    const impostor = makeHost(0x64_64_00_01, {}, createNativePayloadCipher, {
      id: a.id,
      x25519: generateX25519KeyPair(),
    });
    impostor.table.setEndpoint(spec(1, 'client'), a.table.endpoints.get(1)!.peers);
    // Its counter above A's: its epoch-0 packet passes for A restarting, and fails the tag.
    impostor.table.flows()[0]!.sendCounter = a.table.flows()[0]!.sendCounter + 1000;
    for (let epoch = 0; epoch < 7; epoch += 1) {
      expect(deliver(b, send(impostor, b, 1))).toEqual([IngressResult.DROPPED]);
      impostor.table.requestE2eRekey();
    }
    // Epoch 0: badSeal; 1..4: stale; 5 (previous, in grace) and 6 (current): badSeal.
    expect(b.plane.drops.badSeal).toBe(4);
    expect(b.plane.drops.e2eEpochStale).toBe(7);
    expect(b.plane.e2eRekeys.received).toBe(3);
    expect(b.app).toHaveLength(4);
  });

  it('a sender that restarted (epoch 0 again, counter above all seen) and a receiver that restarted both carry on', () => {
    const { a, b } = pair({ e2eRekeyAfterPackets: 2 });
    deliver(b, send(a, b, 7)); // B follows A to epoch 3
    expect(b.table.flows()[0]!.e2e.receiveEpoch).toBe(3);
    const old = a.sent[1]!; // epoch 0, an old counter
    a.now.ms += 10;
    const a2 = restarted(a, b, 1, 2);
    a2.now.ms = a.now.ms + 10;
    // A restart happens later: its counter (from the clock at flow set-up) is above every one sent
    // (set here, since both tables may have read the same millisecond).
    a2.table.flows()[0]!.sendCounter = a.table.flows()[0]!.sendCounter + 1000;
    // An old epoch-0 packet is no restart: its counter is below what was seen.
    expect(deliver(b, [old])).toEqual([IngressResult.DROPPED]);
    expect(b.plane.drops.e2eEpochStale).toBe(1);
    expect(b.plane.drops.replayed).toBe(0);
    const fresh = send(a2, b, 3);
    expect(fresh.map(epochOf)).toEqual([0, 0, 1]);
    expect(deliver(b, fresh)).toEqual(fresh.map(() => IngressResult.DELIVERED));
    // Inside epoch 0's grace again, the old packet opens and is a replay.
    expect(deliver(b, [old])).toEqual([IngressResult.DROPPED]);
    expect(b.plane.drops.replayed).toBe(1);
    // The receiver restarts while the sender is at epoch 1: it follows at once.
    const b2 = restarted(b, a2, 2, 1);
    expect(deliver(b2, send(a2, b2, 4))).toEqual([0, 1, 2, 3].map(() => IngressResult.DELIVERED));
    expect(b2.app).toHaveLength(4);
  });
});

/** Bytes of the sealed payload (epoch field to the packet's end: the sealed payload is last). */
function sealedLengthOf(packet: Uint8Array): number {
  const outer = decodeIpv6Header(packet);
  const capsule = outer.ok ? decodeCapsuleHeader(outer.value.payload) : undefined;
  if (!outer.ok || !capsule?.ok) throw new Error('not a capsule packet');
  return outer.value.payload.length - capsule.value.length;
}
