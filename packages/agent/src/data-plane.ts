/**
 * The data plane module (seed: "Data Plane Module"): policy databases (FlowTable, ACLs), the
 * egress and ingress processing blocks (egress.ts, ingress.ts), the application interface (the
 * TUN/TAP device, through `writeToApp`) and the network interface (the overlay link layer, through
 * `sendOnLink`, on the link the flow's first hop records). It owns every per-packet buffer, view
 * and scratch, allocated once here.
 *
 * ICMPv6 neighbor discovery between the control module and the network never enters this module:
 * the link layer carries it in HANDSHAKE frames (seed: "IPv6 ICMP packets proceed between control
 * module and network interfaces without being processed inside data plane module").
 */
import type { PayloadCipher } from '@capsule/identity';
import { CapsuleHeaderView, SealedPayloadView, TRACE_CHUNK_LIMIT } from '@capsule/wire';
import type { AclRules } from './acl';
import type { E2eRekeyOptions } from './e2e-epochs';
import { TapSegment } from './ethernet';
import type { AgentFastPathInstaller } from './fast-path';
import type { Flow, FlowTable } from './flows';

/** Why the data plane dropped a packet (counters, `GET /api/v1/statistics`). */
export interface DataPlaneDrops {
  /** Egress: not IPv4/IPv6, or shorter than its header. */
  malformedOut: number;
  /** Egress: destination is no peer of any local endpoint (traffic outside the contract). */
  noFlow: number;
  /** Egress: the controller knows no path to the peer, or the first hop's link is down. */
  noPath: number;
  /** Egress: the kernel's own ND/MLD/RS on the TUN (handled by the control module, not forwarded). */
  localControl: number;
  /** Egress: packet too large for the overlay buffer. */
  tooBig: number;
  aclOut: number;
  /** Ingress: not an IPv6 capsule packet for us, or a bad capsule header. */
  malformedIn: number;
  /** Ingress: the source is no peer of any local endpoint. */
  unknownPeer: number;
  /** Ingress: e2e tag, epoch or format wrong. */
  badSeal: number;
  /** Ingress: e2e counter seen before or too old. */
  replayed: number;
  /** Ingress: sealed under an e2e epoch older than the flow's current one, its grace over (e2e-epochs.ts). */
  e2eEpochStale: number;
  /** Ingress: sealed under an e2e epoch more than E2E_EPOCH_LOOKAHEAD ahead of the flow's current one. */
  e2eEpochAhead: number;
  /** Ingress: the decrypted packet claims another source or destination than the flow's. */
  spoofed: number;
  /**
   * Ingress: the opened packet's protocol or ports differ from the capsule's TRANSPORT chunk (what
   * the engines' programs were shown), or the packet has none: the sender lied to the engines.
   */
  transportMismatch: number;
  aclIn: number;
}

/** One of the data plane's drop reasons. */
export type DataPlaneDropReason = keyof DataPlaneDrops;

/** Data-plane options (defaults in agent options). */
export interface DataPlaneOptions extends E2eRekeyOptions {
  ownHostId: Uint8Array;
  /** Our IPv4 overlay address (host byte order). */
  ownIpv4: number;
  /** Type I (AUTH) again after this long per flow. */
  authIntervalMs: number;
  /** Type I again after this long instead, for `authRepeatForMs` after a flow's first type I (egress.ts). */
  authRepeatMs: number;
  /** How long after a flow's first type I (since it was built) type I repeats every `authRepeatMs`; 0: never. */
  authRepeatForMs: number;
  /** Type II (CODE, no AUTH) for this many packets after each type I, then type III. */
  codePackets: number;
  /** Largest inner overlay packet (IPv6 + capsule + sealed payload) sent in one piece. */
  maxOverlayPacketBytes: number;
  /** 'tap': frames carry Ethernet headers (TapSegment); 'tun': bare IP. */
  mode: 'tun' | 'tap';
}

/** The ports the data plane sends through. */
export interface DataPlaneDeps {
  /** The wall clock (`nowUs`, when there, stamps a traced packet's departure in µs). */
  clock: { nowMs(): number; nowUs?(): number };
  /**
   * Sends an inner IPv6 packet on link `linkId` (the link layer's send; the id comes from the
   * flow's first hop); false when the link is not up.
   */
  sendOnLink(linkId: number, bytes: Uint8Array, offset: number, length: number): boolean;
  /** Writes a packet (TUN) or frame (TAP) to the application interface. */
  writeToApp(bytes: Uint8Array, offset: number, length: number): void;
}

/** The transport protocol and ports of a packet (-1: none), as egress reads them (reused per packet). */
export interface TransportPorts {
  protocol: number;
  port: number;
  sourcePort: number;
}

/** Buffer sizes: the TUN slot is 64 KiB + 4; the overlay packet adds at most the capsule budget. */
const OUT_BUFFER_BYTES = 65_536 + 4096;

/** The data plane's state. */
export class DataPlane {
  readonly drops: DataPlaneDrops = {
    malformedOut: 0,
    noFlow: 0,
    noPath: 0,
    localControl: 0,
    tooBig: 0,
    aclOut: 0,
    malformedIn: 0,
    unknownPeer: 0,
    badSeal: 0,
    replayed: 0,
    e2eEpochStale: 0,
    e2eEpochAhead: 0,
    spoofed: 0,
    transportMismatch: 0,
    aclIn: 0,
  };
  /** The reason of the last drop (flow events read it after a packet was dropped). */
  lastDrop: DataPlaneDropReason = 'malformedOut';
  /**
   * The flow of the packet just handled when it was traced: sent with the TRACE flag (egress) or
   * received with a TRACE chunk (ingress); the agent publishes its trace event and clears it.
   */
  tracedFlow: Flow | undefined = undefined;
  /** When egress took the traced packet it just sent (µs, mod 2^32): taken before the send, not after. */
  tracedAtUs = 0;
  /** Preallocated: the TRACE records the last traced packet arrived with (`traceRecordsLength` bytes). */
  readonly traceRecords = new Uint8Array(TRACE_CHUNK_LIMIT);
  traceRecordsLength = 0;
  /**
   * Packets sent by type (index 1..3) and, at index 0, the authorization-only packets among the
   * type I ones; the native fast path adds what it sends here.
   */
  readonly sentByType = new Float64Array(4);
  /**
   * E2e rekeys of unicast flows: [0] epochs this agent moved to as a sender, [1] followed as a
   * receiver (`e2eRekeys`); the native fast path counts the rekeys it makes here.
   */
  readonly e2eRekeyCounts = new Float64Array(2);
  /** Reused: the cipher the receiver's epoch rule chose for the packet at hand. */
  readonly e2eCipher: { cipher: PayloadCipher | undefined } = { cipher: undefined };
  /** Preallocated: the overlay packet being built (egress). */
  readonly out = new Uint8Array(OUT_BUFFER_BYTES);
  /** Preallocated: the packet written to the app (ingress; room for an Ethernet header). */
  readonly toApp = new Uint8Array(OUT_BUFFER_BYTES);
  /** Preallocated: the plaintext of a received packet, opened by the native opener (ingress). */
  readonly opened = new Uint8Array(OUT_BUFFER_BYTES);
  /** Reused: the parse of a received packet's capsule header (as engines parse it). */
  readonly capsuleView = new CapsuleHeaderView();
  /** Reused: the parse of a received packet's sealed-payload header. */
  readonly sealedView = new SealedPayloadView();
  /** Preallocated: the AAD of a received packet. */
  readonly receiveAad = new Uint8Array(35);
  /** Reused: the transport protocol and ports of the packet egress or ingress is handling. */
  readonly transport: TransportPorts = { protocol: 0, port: -1, sourcePort: -1 };
  /** Preallocated: scratch for address rewrites. */
  readonly scratch = new Uint8Array(8);
  readonly tap: TapSegment | undefined;
  acl: AclRules = { in: [], out: [] };
  /** The native fast path's installer (fast-path.ts), told of each type III packet egress sends and each packet ingress delivers; undefined when off. */
  fastPath: AgentFastPathInstaller | undefined = undefined;

  constructor(
    readonly options: DataPlaneOptions,
    readonly flows: FlowTable,
    readonly deps: DataPlaneDeps,
  ) {
    this.tap = options.mode === 'tap' ? new TapSegment() : undefined;
  }

  /** Type I packets sent without a payload, ahead of a packet too large to carry the AUTH (egress.ts). */
  get authOnlyPackets(): number {
    return this.sentByType[0]!;
  }

  /** E2e rekeys of unicast flows, sent and received (`e2eRekeyCounts`). */
  get e2eRekeys(): { sent: number; received: number } {
    return { sent: this.e2eRekeyCounts[0]!, received: this.e2eRekeyCounts[1]! };
  }

  /** Counts a drop of the packet at hand. */
  drop(reason: DataPlaneDropReason): void {
    this.drops[reason] += 1;
    this.lastDrop = reason;
  }
}
