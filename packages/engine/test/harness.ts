/**
 * Test harness for the engine pipeline: topologies of engines and test hosts on one MemoryNetwork,
 * a packet builder (inner IPv6 + capsule header), flow authorizations signed by a test controller
 * key, and the test programs compiled with the SDK.
 *
 * `createPlainLinkLayer` implements the LinkLayer contract WITHOUT the handshake's cryptography
 * (hello datagrams carry host id, name and node type; DATA datagrams carry the bare inner packet).
 * It is only for unit tests of the pipeline: the multi-engine tests with the controller use the
 * overlay's real createLinkLayer (see test/engine/).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { ControllerSigningKey } from '@capsule/identity';
import { generateControllerKey, NodeType, signFlowAuthorization } from '@capsule/identity';
import type { LinkInfo, LinkLayer, MemoryNetwork, Transport, UnderlayAddress } from '@capsule/overlay';
import { createMemoryNetwork, formatUnderlayAddress } from '@capsule/overlay';
import { compile } from '@capsule/sdk';
import {
  CAPSULE_NEXT_HEADER,
  type CapsuleHeader,
  capsuleHeaderLength,
  type DecodedCapsuleHeader,
  decodeCapsuleHeader,
  encodeCapsuleHeader,
  encodeIpv6Header,
  IPV6_HEADER_LENGTH,
  type PathChunk,
} from '@capsule/wire';
import { createEngine, type Engine, type EngineOptions, engineIdOfHostId } from '../src/index';

const HELLO = 1;
const HELLO_ACK = 3;
const DATA = 2;

/** A LinkLayer over a Transport that skips all cryptography (unit tests of the pipeline only). */
export function createPlainLinkLayer(
  transport: Transport,
  identity: { hostId: Uint8Array; name: string; nodeType: number },
): LinkLayer & { linkIdTo(address: UnderlayAddress): number | undefined } {
  // Ids above 2^31, as real receiver indices often are (u32 everywhere, never a signed int).
  let nextId = 0x8000_0001;
  const byAddress = new Map<string, LinkInfo & { packetsIn: number; packetsOut: number }>();
  const byId = new Map<number, LinkInfo & { packetsIn: number; packetsOut: number }>();
  let packetHandler: (linkId: number, bytes: Uint8Array, offset: number, length: number) => void = () => {};
  let changeHandler: (link: LinkInfo) => void = () => {};
  const drops = {
    malformed: 0,
    unknownReceiver: 0,
    replayed: 0,
    badTag: 0,
    handshakeRejected: 0,
    sendNotUp: 0,
    sendMalformed: 0,
  };
  const out = new Uint8Array(70_000);
  const nameBytes = new TextEncoder().encode(identity.name);

  function hello(type: number, to: UnderlayAddress) {
    out[0] = type;
    out[1] = identity.nodeType;
    out.set(identity.hostId, 2);
    out.set(nameBytes, 18);
    transport.send(out, 18 + nameBytes.length, to);
  }

  transport.onDatagram((bytes, from) => {
    const key = formatUnderlayAddress(from);
    if (bytes[0] === HELLO || bytes[0] === HELLO_ACK) {
      if (bytes.length < 18) return void drops.malformed++;
      if (!byAddress.has(key)) {
        const link = {
          id: nextId++,
          peerHostId: new Uint8Array(bytes.subarray(2, 18)),
          peerName: new TextDecoder().decode(bytes.subarray(18)),
          peerNodeType: bytes[1]!,
          peerUnderlay: from,
          state: 'up' as const,
          packetsIn: 0,
          packetsOut: 0,
          bytesIn: 0,
          bytesOut: 0,
          lastReceiveMs: 0,
          handshakes: 1,
        };
        byAddress.set(key, link);
        byId.set(link.id, link);
        changeHandler(link);
      }
      if (bytes[0] === HELLO) hello(HELLO_ACK, from);
      return;
    }
    const link = byAddress.get(key);
    if (bytes[0] !== DATA || !link) return void drops.unknownReceiver++;
    link.packetsIn++;
    packetHandler(link.id, bytes, 1, bytes.length - 1);
  });

  return {
    connect(peer) {
      if (!byAddress.has(formatUnderlayAddress(peer))) hello(HELLO, peer);
    },
    disconnect() {
      // Links of this test layer are never taken down.
    },
    send(linkId, bytes, offset, length) {
      const link = byId.get(linkId);
      if (!link) return false;
      out[0] = DATA;
      out.set(bytes.subarray(offset, offset + length), 1);
      transport.send(out, length + 1, link.peerUnderlay);
      link.packetsOut++;
      return true;
    },
    onPacket(handler) {
      packetHandler = handler;
    },
    onLinkChange(handler) {
      changeHandler = handler;
    },
    links: () => [...byId.values()],
    linkTo: (hostId) => [...byId.values()].find((l) => Buffer.from(l.peerHostId).equals(Buffer.from(hostId))),
    linkIdTo: (address: UnderlayAddress) => byAddress.get(formatUnderlayAddress(address))?.id,
    drops,
    handshakeRejections: {} as LinkLayer['handshakeRejections'],
    handshakeStats: {
      verified: 0,
      cookieRepliesSent: 0,
      cookiesAccepted: 0,
      certificateSwaps: 0,
      controllerKeySets: 0,
    },
    setNodeCertificate: () => true,
    setControllerKeys: () => true,
    revokeHost() {},
    revokedHosts: 0,
    start() {},
    stop() {},
  };
}

/** A manual clock: time moves only when a test says. */
export function createManualClock(startMs = Date.UTC(2026, 10, 21, 12, 0, 0)) {
  let now = startMs;
  const timers = new Set<{ callback: () => void; everyMs: number; nextMs: number }>();
  return {
    nowMs: () => now,
    setInterval(callback: () => void, ms: number) {
      const timer = { callback, everyMs: ms, nextMs: now + ms };
      timers.add(timer);
      return () => void timers.delete(timer);
    },
    advance(ms: number) {
      now += ms;
      for (const timer of timers)
        while (timer.nextMs <= now) {
          timer.nextMs += timer.everyMs;
          timer.callback();
        }
    },
  };
}

/** A host id under 2001:db8::/64 whose last 16 bits (the engine id) are `low16`. */
export function hostIdOf(low16: number, tag = 0): Uint8Array {
  const id = new Uint8Array(16);
  id.set([0x20, 0x01, 0x0d, 0xb8], 0);
  id[8] = tag;
  id[14] = low16 >>> 8;
  id[15] = low16 & 0xff;
  return id;
}

/** A test host (stands in for an agent): sends capsule packets, records what it receives. */
export interface TestHost {
  readonly name: string;
  readonly hostId: Uint8Array;
  readonly address: UnderlayAddress;
  readonly linkLayer: ReturnType<typeof createPlainLinkLayer>;
  readonly received: Uint8Array[];
  /** Sends a whole inner packet on the link to `engine`. */
  send(engine: TestEngine, packet: Uint8Array): void;
}

export interface TestEngine {
  readonly name: string;
  readonly hostId: Uint8Array;
  readonly engineId: number;
  readonly address: UnderlayAddress;
  readonly engine: Engine;
  readonly linkLayer: ReturnType<typeof createPlainLinkLayer>;
  /** The link id at this engine towards a node. */
  linkTo(node: { address: UnderlayAddress }): number;
}

/** A topology on one MemoryNetwork with one controller key. */
export function createTopology() {
  const network: MemoryNetwork = createMemoryNetwork();
  const controllerKey: ControllerSigningKey = generateControllerKey();
  const clock = createManualClock();
  const engines: TestEngine[] = [];
  let port = 7000;

  function addEngine(name: string, low16: number, options: Partial<EngineOptions> = {}): TestEngine {
    const hostId = hostIdOf(low16, 0xee);
    const address = { host: `engine-${name}`, port: port++ };
    const linkLayer = createPlainLinkLayer(network.attach(address), {
      hostId,
      name,
      nodeType: NodeType.engine,
    });
    const engine = createEngine(
      { hostId, controllerPublicKey: controllerKey, flowCapacity: 1024, ...options },
      { linkLayer, clock },
    );
    engine.start();
    const node: TestEngine = {
      name,
      hostId,
      engineId: engine.engineId,
      address,
      engine,
      linkLayer,
      linkTo: (other) => {
        const id = linkLayer.linkIdTo(other.address);
        if (id === undefined) throw new Error(`${name} has no link to ${other.address.host}`);
        return id;
      },
    };
    engines.push(node);
    return node;
  }

  function addHost(name: string, low16: number): TestHost {
    const hostId = hostIdOf(low16, 0xaa);
    const address = { host: `host-${name}`, port: port++ };
    const linkLayer = createPlainLinkLayer(network.attach(address), {
      hostId,
      name,
      nodeType: NodeType.host,
    });
    const received: Uint8Array[] = [];
    linkLayer.onPacket((_linkId, bytes, offset, length) =>
      received.push(new Uint8Array(bytes.subarray(offset, offset + length))),
    );
    return {
      name,
      hostId,
      address,
      linkLayer,
      received,
      send(engine, packet) {
        const linkId = linkLayer.linkIdTo(engine.address);
        if (linkId === undefined) throw new Error(`${name} has no link to ${engine.name}`);
        linkLayer.send(linkId, packet, 0, packet.length);
      },
    };
  }

  /** Connects two nodes (a hello exchange) and waits for it. */
  async function connect(a: TestEngine | TestHost, b: TestEngine | TestHost) {
    a.linkLayer.connect(b.address);
    await network.settle();
  }

  /** Signs a flow authorization for `source` and `code`'s machine code. */
  function authorize(
    source: Uint8Array,
    machineCode: Uint8Array,
    overrides: Partial<{
      serial: bigint;
      notBefore: number;
      notAfter: number;
      contractId: number;
      key: ControllerSigningKey;
    }> = {},
  ) {
    const nowSeconds = Math.floor(clock.nowMs() / 1000);
    return signFlowAuthorization(
      {
        serial: overrides.serial ?? BigInt(`0x${randomBytes(8).toString('hex')}`),
        notBefore: overrides.notBefore ?? nowSeconds - 60,
        notAfter: overrides.notAfter ?? nowSeconds + 3600,
        domainId: 1,
        contractId: overrides.contractId ?? 7,
        roleId: 1,
        sourceHostId: source,
        logicHash: createHash('sha256').update(machineCode).digest(),
      },
      overrides.key ?? controllerKey,
    );
  }

  return {
    network,
    controllerKey,
    clock,
    engines,
    addEngine,
    addHost,
    connect,
    authorize,
    settle: () => network.settle(),
  };
}

/** Fields of a test packet. */
export interface PacketSpec {
  source: Uint8Array;
  destination: Uint8Array;
  flowLabel: number;
  hopLimit?: number;
  header: CapsuleHeader;
  payload?: Uint8Array;
}

/** Builds an inner IPv6 packet with a capsule header (next header 59 and an opaque payload). */
export function buildPacket(spec: PacketSpec): Uint8Array {
  const payload = spec.payload ?? new Uint8Array(32).fill(0x5a);
  const capsuleLength = capsuleHeaderLength(spec.header);
  const packet = new Uint8Array(IPV6_HEADER_LENGTH + capsuleLength + payload.length);
  encodeIpv6Header(
    {
      trafficClass: 0,
      flowLabel: spec.flowLabel,
      payloadLength: capsuleLength + payload.length,
      nextHeader: CAPSULE_NEXT_HEADER,
      hopLimit: spec.hopLimit ?? 64,
      source: spec.source,
      destination: spec.destination,
    },
    packet,
  );
  encodeCapsuleHeader(spec.header, packet, IPV6_HEADER_LENGTH);
  packet.set(payload, IPV6_HEADER_LENGTH + capsuleLength);
  return packet;
}

/** The capsule header of a received inner packet. */
export function capsuleOf(packet: Uint8Array): DecodedCapsuleHeader {
  const decoded = decodeCapsuleHeader(packet.subarray(IPV6_HEADER_LENGTH));
  if (!decoded.ok) throw new Error(`bad capsule header: ${decoded.error.message}`);
  return decoded.value;
}

/** A PATH chunk through `engines` (by engine id), each running `entryIndex`. */
export function pathThrough(engineIds: readonly number[], entryIndex = 0): PathChunk {
  return {
    creationTime: 0,
    hopIndex: 0,
    defaultEntry: 0,
    hops: engineIds.map((engineId) => ({ engineId, entryIndex, flags: 0 })),
  };
}

/** A compiled program: its machine code and entry table in CODE chunk form. */
export interface TestProgram {
  readonly machineCode: Uint8Array;
  readonly entryOffsets: number[];
  readonly entries: Record<string, number>;
  readonly dataBytes: number;
  /** The DATA chunk a sender starts with: the image's @Data initial values at their offsets. */
  readonly initialData: Uint8Array;
}

/** Compiles Java microprogram source with the SDK; throws with the diagnostics on failure. */
export function compileProgram(source: string): TestProgram {
  const result = compile(source);
  if (!result.image)
    throw new Error(
      result.diagnostics.map((d) => `${d.code}: ${d.message} @${d.span.start.line}`).join('\n'),
    );
  const image = result.image;
  const entries: Record<string, number> = {};
  image.entries.forEach((entry, index) => {
    entries[entry.name] = index;
  });
  const dataBytes = Math.max(4, image.regions.dataBytes);
  const initialData = new Uint8Array(dataBytes);
  for (const field of image.data)
    if (field.region === 'DATA' && field.initial)
      initialData.set(Buffer.from(field.initial, 'hex'), field.offset);
  return {
    machineCode: image.code,
    entryOffsets: image.entries.map((entry) => entry.offset),
    entries,
    dataBytes,
    initialData,
  };
}

export { engineIdOfHostId };
