/**
 * The data plane's policy databases (seed: "Egress Policy database", "Ingress Policy database",
 * "Control Data database"): local endpoints, the peer flows each may use, and the lookups the
 * packet path makes — by peer CGA (IPv6 destination on egress, source on ingress) and by the
 * peer's local IPv4 alias. Lookups hash into number-keyed Maps, so they allocate nothing.
 *
 * A flow is one (local endpoint, peer endpoint host) pair. At set-up it gets everything the
 * packet path needs, prebuilt: the e2e keys (X25519 between the two hosts' keys, HKDF with
 * E2E_KEY_LABEL, the contract id as both nonces), the AAD, and the inner IPv6 header followed by
 * the capsule header of each packet type, encoded once.
 *
 * Every packet type carries the PATH chunk and the DATA chunk (docs/engine.md, "The ENGINE record
 * and engine ids"): PATH is the controller's path to the peer with the two ends dropped, each
 * engine's host id turned into its 16-bit engine id (`engineIdOfHostId`), hop index 0, the CODE
 * entry 0 (the role's entry) everywhere; DATA is the role's initial DATA value, which programs
 * read and write on every engine, also for type III packets (a program that reads PATH or DATA
 * would otherwise fault on the packets without them).
 */
import type { KeyObject } from 'node:crypto';
import { deriveSessionKeys, E2E_KEY_LABEL, type SessionKeys } from '@capsule/identity';
import { ReplayWindow } from '@capsule/overlay';
import {
  type CapsuleHeader,
  capsuleHeaderLength,
  encodeCapsuleHeader,
  encodeIpv6Header,
  engineIdOfHostId,
  formatIpv4,
  formatIpv6,
  IPV6_HEADER_LENGTH,
  PacketType,
  type PathChunk,
} from '@capsule/wire';

/** Per-endpoint counters (the REST API's statistics). */
export interface EndpointStatistics {
  packetsOut: number;
  bytesOut: number;
  packetsIn: number;
  bytesIn: number;
  dropsOut: number;
  dropsIn: number;
}

/** What the controller gave for one registered endpoint (decoded from SbEndpointResponse). */
export interface EndpointSpec {
  id: number;
  domain: string;
  contract: string;
  contractId: number;
  role: string;
  /** The signed flow authorization (AUTH chunk value). */
  authorization: Uint8Array;
  authorizationSerial: string;
  /** Machine code and entry offsets, the role's entry first (engines start at entry 0). */
  machineCode: Uint8Array;
  entryOffsets: number[];
  /** Initial DATA chunk value (≤ 256 bytes). */
  data: Uint8Array;
  logicHash: string;
  /** Service token the endpoint was registered with (kept to re-register after a controller loss). */
  serviceToken: string;
}

/** One peer endpoint as the controller described it. */
export interface PeerSpec {
  endpointId: number;
  role: string;
  hostId: Uint8Array;
  x25519PublicKey: Uint8Array;
  /** Host ids from us to the peer, both ends included; empty when unreachable. */
  path: Uint8Array[];
}

/** A local endpoint with its flows. */
export interface LocalEndpoint {
  readonly spec: EndpointSpec;
  readonly dnsName: string;
  peers: PeerSpec[];
  readonly statistics: EndpointStatistics;
}

/** One flow: a local endpoint talking to a peer host. */
export interface Flow {
  readonly endpoint: LocalEndpoint;
  readonly peer: PeerSpec;
  /** Text form of the peer's CGA (for logs and the API; not used per packet). */
  readonly peerText: string;
  /** The first hop (an engine's host id), or undefined when the controller knows no path. */
  firstHop: Uint8Array | undefined;
  /** The PATH chunk every packet carries (undefined when the controller knows no path). */
  readonly path: PathChunk | undefined;
  readonly keys: SessionKeys;
  /** 20-bit flow label we send with. */
  readonly flowLabel: number;
  /** src ‖ dst ‖ flow label (3 bytes) that our seals bind; the peer's is built per packet. */
  readonly sendAad: Uint8Array;
  /** Inner IPv6 header + capsule header of each packet type (payload length patched per packet). */
  readonly headers: { readonly [type in 1 | 2 | 3]: Uint8Array };
  /** The peer's IPv4 alias on this host (host byte order number). */
  readonly ipv4Alias: number;
  sendCounter: number;
  /**
   * The engine ids of the TRACE records the last traced packet from the peer arrived with (the
   * path it took, in order), in `lastTrace[0, lastTraceLength)`; preallocated, 21 records at most.
   */
  readonly lastTrace: Uint16Array;
  lastTraceLength: number;
  packetsSinceAuth: number;
  lastAuthMs: number;
  readonly replay: ReplayWindow;
}

/** FNV-1a over 16 bytes at `offset`, as a positive 31-bit number (Map key; collisions compared). */
export function hashAddress16(bytes: Uint8Array, offset: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < 16; i += 1) hash = Math.imul(hash ^ bytes[offset + i]!, 0x01000193);
  return hash >>> 1;
}

function equal16(a: Uint8Array, aOffset: number, b: Uint8Array): boolean {
  for (let i = 0; i < 16; i += 1) if (a[aOffset + i] !== b[i]) return false;
  return true;
}

/** TRACE records a capsule header holds at most (256-byte chunk / 12-byte records). */
const TRACE_RECORDS_MAX = 21;

/** Options the flow table needs from the agent. */
export interface FlowTableOptions {
  ownHostId: Uint8Array;
  ownX25519PrivateKey: KeyObject;
  /** First address of the pool peer IPv4 aliases come from (host byte order) and its size. */
  ipv4AliasBase: number;
  ipv4AliasCount: number;
  hopLimit: number;
  /** Unix time in ms (the PATH creation time); default Date.now. */
  nowMs?: () => number;
}

/** The flow table: endpoints, flows, lookups, IPv4 aliases. */
export class FlowTable {
  private readonly byHostHash = new Map<number, Flow[]>();
  private readonly byIpv4 = new Map<number, Flow>();
  private readonly aliases = new Map<string, number>();
  private nextAlias = 0;
  readonly endpoints = new Map<number, LocalEndpoint>();

  constructor(private readonly options: FlowTableOptions) {}

  /** Adds (or replaces) a local endpoint and builds its flows. Returns the peers skipped and why. */
  setEndpoint(spec: EndpointSpec, peers: PeerSpec[]): { skipped: { peer: string; reason: string }[] } {
    const previous = this.endpoints.get(spec.id);
    const endpoint: LocalEndpoint = {
      spec,
      dnsName: `${spec.role}.${spec.contract}.${spec.domain}.capsule`.toLowerCase(),
      peers,
      statistics: previous?.statistics ?? {
        packetsOut: 0,
        bytesOut: 0,
        packetsIn: 0,
        bytesIn: 0,
        dropsOut: 0,
        dropsIn: 0,
      },
    };
    this.removeEndpoint(spec.id);
    this.endpoints.set(spec.id, endpoint);
    return this.buildFlows(endpoint);
  }

  /** Replaces an endpoint's peers (a path-change command). */
  setPeers(endpointId: number, peers: PeerSpec[]): { skipped: { peer: string; reason: string }[] } {
    const endpoint = this.endpoints.get(endpointId);
    if (!endpoint) return { skipped: [] };
    return this.setEndpoint(endpoint.spec, peers);
  }

  removeEndpoint(endpointId: number): boolean {
    const endpoint = this.endpoints.get(endpointId);
    if (!endpoint) return false;
    this.endpoints.delete(endpointId);
    for (const [hash, flows] of this.byHostHash) {
      const kept = flows.filter((flow) => flow.endpoint !== endpoint);
      if (kept.length === 0) this.byHostHash.delete(hash);
      else this.byHostHash.set(hash, kept);
    }
    for (const [alias, flow] of this.byIpv4) if (flow.endpoint === endpoint) this.byIpv4.delete(alias);
    // Re-point aliases other endpoints still use.
    for (const flows of this.byHostHash.values())
      for (const flow of flows) if (!this.byIpv4.has(flow.ipv4Alias)) this.byIpv4.set(flow.ipv4Alias, flow);
    return true;
  }

  /** The flow to the peer whose CGA is bytes[offset, offset+16), or undefined. No allocation. */
  flowByHostId(bytes: Uint8Array, offset: number): Flow | undefined {
    const flows = this.byHostHash.get(hashAddress16(bytes, offset));
    if (!flows) return undefined;
    for (let i = 0; i < flows.length; i += 1) {
      const flow = flows[i]!;
      if (equal16(bytes, offset, flow.peer.hostId)) return flow;
    }
    return undefined;
  }

  /** The flow whose peer has this IPv4 alias. */
  flowByIpv4(address: number): Flow | undefined {
    return this.byIpv4.get(address);
  }

  /** Every flow (for the API and the resolver). */
  flows(): Flow[] {
    const all: Flow[] = [];
    for (const flows of this.byHostHash.values()) all.push(...flows);
    return all;
  }

  /** The IPv4 alias of a peer host (stable for the life of the agent). */
  aliasOf(hostText: string): number {
    let alias = this.aliases.get(hostText);
    if (alias === undefined) {
      if (this.nextAlias >= this.options.ipv4AliasCount) return 0;
      alias = (this.options.ipv4AliasBase + this.nextAlias) >>> 0;
      this.nextAlias += 1;
      this.aliases.set(hostText, alias);
    }
    return alias;
  }

  private buildFlows(endpoint: LocalEndpoint): { skipped: { peer: string; reason: string }[] } {
    const skipped: { peer: string; reason: string }[] = [];
    const { ownHostId } = this.options;
    for (const peer of endpoint.peers) {
      const peerText = formatIpv6(peer.hostId);
      if (equal16(peer.hostId, 0, ownHostId)) {
        skipped.push({ peer: peerText, reason: 'peer on this host (local delivery is not supported)' });
        continue;
      }
      let keys: SessionKeys;
      try {
        const nonce = new Uint8Array(4);
        new DataView(nonce.buffer).setUint32(0, endpoint.spec.contractId);
        keys = deriveSessionKeys({
          privateKey: this.options.ownX25519PrivateKey,
          peerPublicKey: peer.x25519PublicKey,
          localNonce: nonce,
          peerNonce: nonce,
          localHostId: ownHostId,
          peerHostId: peer.hostId,
          label: E2E_KEY_LABEL,
        });
      } catch (error) {
        skipped.push({ peer: peerText, reason: `no e2e key: ${(error as Error).message}` });
        continue;
      }
      const flowLabel = (endpoint.spec.id * 0x9e37 + peer.endpointId * 0x85eb) & 0xfffff;
      const sendAad = new Uint8Array(35);
      sendAad.set(ownHostId, 0);
      sendAad.set(peer.hostId, 16);
      sendAad[32] = flowLabel >>> 16;
      sendAad[33] = (flowLabel >>> 8) & 0xff;
      sendAad[34] = flowLabel & 0xff;
      const path = pathToPeer(peer.path, Math.floor((this.options.nowMs ?? Date.now)() / 1000));
      const header = (packetType: 1 | 2 | 3): Uint8Array => {
        const capsule: CapsuleHeader = {
          nextHeader: 59,
          packetType: packetType as PacketType,
          flags: 0,
          ...(packetType === PacketType.I ? { auth: endpoint.spec.authorization } : {}),
          ...(path ? { path } : {}),
          ...(packetType !== PacketType.III
            ? { code: { entryOffsets: endpoint.spec.entryOffsets, machineCode: endpoint.spec.machineCode } }
            : {}),
          ...(endpoint.spec.data.length > 0 || packetType !== PacketType.III
            ? { data: endpoint.spec.data }
            : {}),
        };
        const bytes = new Uint8Array(IPV6_HEADER_LENGTH + capsuleHeaderLength(capsule));
        encodeIpv6Header(
          {
            trafficClass: 0,
            flowLabel,
            payloadLength: 0,
            nextHeader: 253,
            hopLimit: this.options.hopLimit,
            source: ownHostId,
            destination: peer.hostId,
          },
          bytes,
          0,
        );
        encodeCapsuleHeader(capsule, bytes, IPV6_HEADER_LENGTH);
        return bytes;
      };
      const flow: Flow = {
        endpoint,
        peer,
        peerText,
        firstHop: path ? peer.path[1] : undefined,
        path,
        keys,
        flowLabel,
        sendAad,
        headers: { 1: header(1), 2: header(2), 3: header(3) },
        ipv4Alias: this.aliasOf(peerText),
        sendCounter: 0,
        lastTrace: new Uint16Array(TRACE_RECORDS_MAX),
        lastTraceLength: 0,
        packetsSinceAuth: 0,
        lastAuthMs: Number.NEGATIVE_INFINITY,
        replay: new ReplayWindow(),
      };
      const hash = hashAddress16(peer.hostId, 0);
      const list = this.byHostHash.get(hash) ?? [];
      // First endpoint registered wins a shared peer host (documented in docs/agent.md).
      if (!list.some((other) => equal16(other.peer.hostId, 0, peer.hostId))) {
        list.push(flow);
        this.byHostHash.set(hash, list);
        if (flow.ipv4Alias !== 0 && !this.byIpv4.has(flow.ipv4Alias)) this.byIpv4.set(flow.ipv4Alias, flow);
      } else {
        skipped.push({ peer: peerText, reason: 'another endpoint already has a flow to this host' });
      }
    }
    return { skipped };
  }
}

/**
 * The PATH chunk for a controller path (host ids from us to the peer, both ends included): the
 * engines between the two ends as 16-bit engine ids, hop index 0, entry 0 (the role's entry: the
 * agent puts it first in the CODE chunk). Undefined when there is no engine between us (no path).
 */
export function pathToPeer(
  hostPath: readonly Uint8Array[],
  creationTimeSeconds: number,
): PathChunk | undefined {
  if (hostPath.length < 3) return undefined;
  return {
    creationTime: creationTimeSeconds >>> 0,
    hopIndex: 0,
    defaultEntry: 0,
    hops: hostPath
      .slice(1, -1)
      .map((hostId) => ({ engineId: engineIdOfHostId(hostId), entryIndex: 0, flags: 0 })),
  };
}

/** `a.b.c.d` of a host-order IPv4 number. */
export function ipv4Text(address: number): string {
  return formatIpv4(
    Uint8Array.of(address >>> 24, (address >>> 16) & 0xff, (address >>> 8) & 0xff, address & 0xff),
  );
}

/** For logs: `fd00::1`. */
export const ipv6Text = formatIpv6;
