/**
 * The ports of a native data path: what the overlay's link layer and the engine tell a fast path
 * that forwards established traffic without them (docs/engine.md, "Fast path"), and what it gives
 * back. They live here, in the package every side imports, so that there is one declaration of
 * each: overlay (LinkLayerDeps.dataPath) and the engine (EngineOptions.fastPath) are written
 * against them, and @capsule/native's createNativeFastPath implements both (it may import neither
 * overlay nor the engine). All calls are synchronous, on the owner's thread, and must not throw.
 */

/** An underlay endpoint: IPv4 or IPv6 host text and a UDP port. */
export interface UnderlayAddress {
  readonly host: string;
  readonly port: number;
}

/** The link layer's side (overlay's LinkLayerDeps.dataPath). */
export interface LinkDataPath {
  /** A confirmed session: frames with receiver index `localIndex` authenticate with `receiveKey`. */
  receiving(
    localIndex: number,
    linkId: number,
    receiveKey: Uint8Array,
    counters: Float64Array,
    replayBits: Uint32Array,
  ): void;
  /** The session no longer receives (retired). */
  retired(localIndex: number): void;
  /** The link's current session for sending, to `underlay`; the layer rekeys at `rekeyAfterPackets`. */
  sending(
    linkId: number,
    peerIndex: number,
    sendKey: Uint8Array,
    counters: Float64Array,
    underlay: UnderlayAddress,
    rekeyAfterPackets: number,
  ): void;
  /** The link has no sending session (down or stopped). */
  notSending(linkId: number): void;
  /**
   * What it carried since the last call, per link: [linkId, packetsIn, bytesIn, packetsOut,
   * bytesOut, lastReceiveMs, lastSendMs] repeated (0 for a time it did not set).
   */
  drainTraffic(): Float64Array;
}

/** The per-flow arrays of the engine a fast path reads and writes in place (the engine's flows.ts owns them). */
export interface FastPathFlowArrays {
  flowLastSeenMs: Float64Array;
  flowPackets: Float64Array;
  flowBytes: Float64Array;
  flowLastVerdict: Uint8Array;
  flowLastReason: Uint16Array;
  cacheVerdict: Uint8Array;
  cacheCount: Uint8Array;
  /** EGRESS_MAX_LINKS program link ids per flow. */
  cacheLinks: Uint32Array;
  /**
   * For programs run per packet by the fast path (all of these, or none: then every packet of a
   * flow without a cached action goes up): drops and the program's own last drop reason per flow,
   * the FLOW memory of every flow (FLOW_BYTES per flow id), the ENGINE record the sandbox shows,
   * the engine's state (FastPathEngineState slots) and per flow whether its program is registered
   * with the fast path (FastPathProgramState; the fast path sets DECLINED and NONE).
   */
  flowDrops?: Float64Array;
  flowProgramReason?: Uint32Array;
  flowMemory?: Uint8Array;
  engineRecord?: Uint8Array;
  engineState?: Int32Array;
  flowProgramState?: Uint8Array;
  /** The cached action's drop reason per flow (a program run here may store the flow's cached action). */
  cacheDropReason?: Uint32Array;
}

/** Slots of FastPathFlowArrays.engineState, written by the engine. */
export const FastPathEngineState = {
  /** 1 while someone observes flow events (the engine builds them: programs run in JavaScript). */
  EVENTS_ACTIVE: 0,
  /** The contract whose link tags the ENGINE record shows now (-1: not known). */
  SHOWN_CONTRACT: 1,
  /** Length of the array. */
  LENGTH: 2,
} as const;

/** Values of FastPathFlowArrays.flowProgramState. */
export const FastPathProgramState = {
  /** Not registered: the engine registers the flow's program when it runs it for a type III packet. */
  NONE: 0,
  REGISTERED: 1,
  /** Its program called a service only JavaScript gives (EMIT, RANDOM, LOG): not registered again. */
  DECLINED: 2,
} as const;

/**
 * Why an engine's fast path handed a datagram up to JavaScript (FastPathStats.handedUp, /metrics):
 * one reason a datagram, in the order it checks them; the native side counts them by these
 * indexes (addon/fast-path.cc, HandUp). What goes up is then the pipeline's, which forwards or
 * drops it as it always does: a reason here says why JavaScript was woken, not what became of it.
 */
export const FastPathHandUp = {
  /** No socket or engine bound yet. */
  NOT_READY: 0,
  /** Not a DATA frame with a packet: the link layer's handshakes, cookies and keep-alives. */
  CONTROL: 1,
  /** A DATA frame no confirmed session takes: unknown receiver, replayed, bad tag, too short. */
  LINK: 2,
  /** Not a capsule packet the engine forwards here: malformed, another next header, hop limit 1. */
  PACKET: 3,
  /** No flow registered for it: a new flow, or one whose packets the engine has not registered. */
  UNKNOWN_FLOW: 4,
  /** Its flow's state: another ingress link, idle, its authorization expired. */
  FLOW_STATE: 5,
  /** No template for its packet type yet: the first packet of a type since the flow was registered. */
  NO_TEMPLATE: 6,
  /** A capsule header unlike its type's template: TRACE, another AUTH or CODE, other lengths. */
  HEADER_CHANGED: 7,
  /** The program: not registered here, or a run that needs JavaScript (a service, TRACE, its entry). */
  PROGRAM: 8,
  /** An egress link not present, up or sendable (its rekey limit, the address family), or no room to queue. */
  EGRESS: 9,
  /** Behind an earlier datagram of its flow handed up in the same receive batch (`held`). */
  HELD: 10,
} as const;
export type FastPathHandUpReason = keyof typeof FastPathHandUp;

/**
 * Why an agent's fast path handed a packet up to JavaScript (AgentFastPathStats.handedUp, by
 * direction: `out` packets from the TUN device, `in` frames from the socket; /metrics): one reason
 * a packet, the first check it failed; the native side counts them by these indexes
 * (addon/fast-path.cc, AgentHandUp). Some reasons belong to one direction only.
 */
export const AgentFastPathHandUp = {
  /** Out: the kernel's own ND, MLD and router solicitations, and multicast (JavaScript counts them). */
  LOCAL_CONTROL: 0,
  /** In: not a DATA frame with a packet (the link layer's handshakes, cookies and keep-alives). */
  CONTROL: 1,
  /** In: no confirmed session takes the frame (unknown receiver, replayed, bad tag); out: the link has no sending session, or another address family. */
  LINK: 2,
  /** Not a packet it carries: not IPv4 or IPv6, too short, another packet type, its lengths. */
  PACKET: 3,
  /** No flow installed for it (out: its destination; in: its source, or its role address and sender). */
  UNKNOWN_FLOW: 4,
  /** In: no template for its packet type. */
  NO_TEMPLATE: 5,
  /** In: a capsule header unlike its type's template. */
  HEADER_CHANGED: 6,
  /** Out: a traced packet (TRACE flag, trace event). */
  TRACE: 7,
  /**
   * The e2e epoch: out, a rekey due at the last epoch or no key; in, an epoch not current, previous
   * in its grace or next (role-addressed: a group epoch not installed, or past its grace), a
   * replayed counter or a failed tag.
   */
  E2E: 8,
  /** Too large for the fast path (out: over 64 KiB sealed; in: over its TUN write buffer). */
  SIZE: 9,
  /** In: the opened packet unlike its header (addresses, TRANSPORT), or an IPv4 rewrite refused. */
  INNER: 10,
  /** Out: the link's send counter at its rekey limit, no room to queue, or a seal refused. */
  SEND: 11,
  /** Behind an earlier packet of its flow handed up in the same batch (`held`, `ingressHeld`). */
  HELD: 12,
  /** The host's ACL denies it (out: its destination port; in: the opened packet's): JavaScript drops it as `aclOut` / `aclIn`. */
  ACL: 13,
} as const;
export type AgentFastPathHandUpReason = keyof typeof AgentFastPathHandUp;

/** What a fast path counted since the last `takeCounters` (engine counters it carried). */
export interface FastPathCounters {
  packetsIn: number;
  bytesIn: number;
  packetsOut: number;
  bytesOut: number;
  /** Packets by type (type I and II of flows whose header of that type the engine registered). */
  typeI: number;
  typeII: number;
  typeIII: number;
  /** Type I packets whose AUTH was the flow's, verified and cached (the engine's cache hits). */
  authorizationCacheHits: number;
  cachedActions: number;
  /** By verdict code (index 1 FORWARD, 2 REPLICATE, 3 DELIVER). */
  verdicts: readonly number[];
  /** Per program link id that moved: [programId, packetsIn, bytesIn, packetsOut, bytesOut]. */
  links: readonly (readonly [number, number, number, number, number])[];
  /** Programs run per packet, and the fuel they used. */
  programRuns: number;
  fuelUsed: number;
  /** Drops (all by programs run here): DROP verdicts, [reason, count] by drop reason, [programId, count] by ingress link. */
  dropVerdicts: number;
  drops: readonly (readonly [number, number])[];
  linkDrops: readonly (readonly [number, number])[];
  /** PROGRAM_DROP by the program's own reason: [code, count]. */
  programDrops: readonly (readonly [number, number])[];
}

/**
 * What a fast path has done since it was made (status and metrics: the engine's counters are the
 * same with it on or off, these say how much of the traffic it carried).
 */
export interface FastPathStats {
  /** Datagrams it took, of those the socket offered it. */
  taken: number;
  offered: number;
  /** Frames it sent, and lost to send errors. */
  sent: number;
  sendErrors: number;
  /** Flows and link-layer sessions registered now. */
  flows: number;
  sessions: number;
  /**
   * Datagrams handed up only because an earlier one of their flow in the same receive batch was
   * (so that JavaScript keeps the flow in order: docs/engine.md, "Order"); counted in `offered`.
   */
  held: number;
  /**
   * Of `offered`: DATA frames with a packet in them, counted as they arrive (the rest are the link
   * layer's handshakes, cookies and keep-alives, which always go up).
   */
  packetsOffered: number;
  /** `offered` − `taken` by why (an engine's fast path; FastPathHandUp). */
  handedUp: Record<FastPathHandUpReason, number>;
  /** The type I signature verifier thread's (an engine's fast path; SignaturesAhead). */
  signatures?: SignaturesAheadStats;
}

/**
 * What the agent's side of a fast path has done since it was made: application packets offered
 * and taken (egress), frames offered and taken (ingress), packets its TUN writes lost; flows
 * installed now (egress destinations, ingress peers).
 */
export interface AgentFastPathStats {
  offered: number;
  taken: number;
  /** Of `offered` (egress) and `ingressOffered`: handed up only to stay behind an earlier one of their flow. */
  held: number;
  egressFlows: number;
  ingressOffered: number;
  ingressTaken: number;
  ingressHeld: number;
  /** Of `ingressOffered`: DATA frames with a packet in them (FastPathStats.packetsOffered). */
  ingressPacketsOffered: number;
  /** What it handed up by why (AgentFastPathHandUp): `out` = `offered` − `taken`, `in` = `ingressOffered` − `ingressTaken`. */
  handedUp: { out: Record<AgentFastPathHandUpReason, number>; in: Record<AgentFastPathHandUpReason, number> };
  ingressFlows: number;
  tunWriteErrors: number;
}

/** What a `SignaturesAhead` has done since it was made (the engine's status, the bench). */
export interface SignaturesAheadStats {
  /** Signatures queued (authenticated type I packets handed up whose key id is trusted). */
  queued: number;
  /** Results the engine took that the thread had verified, waited for while it did, verified itself. */
  ahead: number;
  waited: number;
  here: number;
  /** Queued and never asked for (the packet refused before its AUTH was checked). */
  unused: number;
  /** Not queued: every job in use; the same authorization queued not long ago (the engine caches it). */
  full: number;
  repeated: number;
  /** Not queued, verified when the engine asked (libsodium's; with OpenSSL the engine verifies those). */
  direct: number;
  /** Whose Ed25519 verification the thread runs (libsodium's when the addon was built with it). */
  library: 'libsodium' | 'openssl';
}

/** The counts of a `SignaturesAheadStats` (all but `library`), in the order /metrics lists them. */
export const SIGNATURES_AHEAD_COUNTS = [
  'queued',
  'ahead',
  'waited',
  'here',
  'unused',
  'full',
  'repeated',
  'direct',
] as const satisfies readonly Exclude<keyof SignaturesAheadStats, 'library'>[];

/**
 * Flow authorizations' signatures verified ahead on a thread of the fast path's (native
 * addon/signature-verifier.h): the type I packets of a receive batch are handed up, and while the
 * engine handles them in order, the thread verifies from the batch's other end. The engine gives it
 * the controller keys and asks it for a signature's result before verifying one itself; a result
 * is only ever for the exact key, bytes and signature asked about. Key choice, key retirement,
 * validity and revocation stay the engine's checks.
 */
export interface SignaturesAhead {
  /** The trusted controller keys (raw 32-byte Ed25519 public keys by key id; at most 64). */
  setControllerKeys(keys: readonly { keyId: number; publicKeyRaw: Uint8Array }[]): void;
  /**
   * The signature over `message` (84 bytes) by `publicKeyRaw`: 1 valid, 0 not (verified ahead, or
   * now when it was not queued and the addon has libsodium), -1 not verified (the engine does it).
   */
  result(publicKeyRaw: Uint8Array, message: Uint8Array, signature: Uint8Array): number;
  stats(): SignaturesAheadStats;
}

/**
 * The engine's side (EngineOptions.fastPath). The engine registers links, and flows with a header
 * of each packet type it has just handled (`setFlow`); the fast path forwards their later packets
 * of a registered type itself, exactly as the pipeline would, and hands everything else up
 * unchanged. It updates the flow
 * arrays in place and keeps the other counters for the engine to take.
 */
export interface EngineFastPath {
  bindEngine(arrays: FastPathFlowArrays, engineId: number, idleTimeoutMs: number): void;
  /** A link (program id → link-layer id; kind as the ENGINE record; up; peer host id). */
  setLink(programId: number, linkId: number, kind: number, up: boolean, peerHostId: Uint8Array): void;
  clearLinks(): void;
  /**
   * Flow `flowId` may be forwarded natively: its packet `packet[offset…]`, which the engine just
   * handled, came on link `ingressLinkId`; its authorization ends at `notAfterSeconds`. The packet's
   * capsule header is the template its later packets of the same type must match, except the DATA
   * value, the PATH hop index and the TRANSPORT protocol and ports: a type III packet whose cached
   * action was applied or whose program ran, or a type I or II packet whose AUTH was verified (or
   * cached) for the flow and whose CODE is its program (they always run it). Registered again with
   * PATH and DATA of the same lengths, the flow keeps its other templates and its program; else
   * it starts anew. Offsets of the PATH, DATA and TRANSPORT values are relative to the packet, -1
   * when absent.
   */
  setFlow(
    flowId: number,
    packet: Uint8Array,
    offset: number,
    ingressLinkId: number,
    notAfterSeconds: number,
    pathOffset: number,
    dataOffset: number,
    dataLength: number,
    transportOffset: number,
  ): void;
  /**
   * Flow `flowId` (registered by `setFlow`) has no cached action, or the engine just registered one
   * of its type I or II headers: the fast path may run its program per packet (docs/engine.md, "Fast path"): the pre-decoded program (`words`,
   * `lengthBytes`, `entryOffsets`), its contract's CONTRACT memory and id, the fuel budget, the
   * PACKET record the engine filled for it (its per-packet fields are set again per packet), the
   * PATH and DATA lengths.
   */
  setFlowProgram(
    flowId: number,
    words: Int32Array,
    lengthBytes: number,
    entryOffsets: Int32Array,
    contractMemory: DataView,
    contractId: number,
    budgetInstructions: number,
    packetRecord: Uint8Array,
    pathLength: number,
    dataLength: number,
  ): void;
  removeFlow(flowId: number): void;
  clearFlows(): void;
  takeCounters(): FastPathCounters;
  stats(): FastPathStats;
  /** Type I signatures verified ahead on a thread (absent: the engine verifies each one itself). */
  readonly signatures?: SignaturesAhead;
}

/**
 * The agent's side (AgentDeps.fastPath; docs/agent.md, "Fast path"). The agent binds its plane's
 * packets-by-type array (index 1..3; index 0: the AUTH-only packets among type I), its e2e rekey
 * counts ([0] sent, [1] received) and options, and installs the unicast flows whose packets the
 * fast path may send itself from the TUN device's read path, exactly as egress would; it clears
 * them whenever its flow table, ACL or links change. The per-flow arrays are the flow's own
 * (send counter, packet type state, trace), its e2e state (send epoch, packets, since, rekey
 * requested; receive epoch, previous epoch, its grace's end) and its endpoint's statistics: each
 * side sees the other's updates at once. Slots: packages/agent/src/flows.ts, e2e-epochs.ts.
 */
export interface AgentFastPath {
  bindAgent(
    sentByType: Float64Array,
    e2eRekeys: Float64Array,
    options: {
      readonly authIntervalMs: number;
      /** Type I every this long instead for `authRepeatForMs` after a flow's first (egress.ts). */
      readonly authRepeatMs: number;
      readonly authRepeatForMs: number;
      readonly codePackets: number;
      readonly e2eRekeyAfterMs: number;
      readonly e2eRekeyAfterPackets: number;
      /** How long a receiver still opens the previous epoch after the next one first opened. */
      readonly e2eRekeyGraceMs: number;
      /** Our IPv4 overlay address (host byte order): the destination ingress writes into IPv4 packets. */
      readonly ownIpv4: number;
      /** A type I packet larger goes as an AUTH-only packet ahead of the data, as type II (egress.ts). */
      readonly maxOverlayPacketBytes: number;
    },
  ): void;
  /**
   * Packets to `destination` (the peer's 16-byte CGA, or its 4-byte IPv4 alias) may go natively:
   * sealed under the e2e send epoch of `e2eState` (its key derived from `sendBase`, the
   * direction's epoch-0 key; moved to the next epoch when a rekey is due, as egress moves it)
   * behind the header of their packet type (`headers[t]`: inner IPv6 + capsule of a type t packet,
   * TRANSPORT value at `transportAt[t]`; the flow's packet type state decides t as egress does),
   * with the AAD `aad`, on link `linkId`; a packet `acl` denies is handed up (`ACL`). With
   * `connections` (a role-addressed flow's: packages/agent flows.ts ConnectionTable `slots`), each
   * application connection has its own packet types there and its own flow label (in the header
   * and the AAD, as egress writes it), and every packet is sealed with `sendBase` itself as the
   * key of `e2eState`'s send epoch (the group sender key of the group epoch), never rekeyed.
   * `selector` (an IPv6 destination's unicast flow, one of several to that host: packages/agent
   * flows.ts `flowTo`): only the packets from `source` to the destination, or (`cgaSources`, the
   * default flow's host install) only those from an address that is no role address (the
   * universal/local bit of its interface id clear); the others are handed up.
   */
  setEgressFlow(
    destination: Uint8Array,
    flowState: Float64Array,
    e2eState: Float64Array,
    statistics: Float64Array,
    sendBase: Uint8Array,
    headers: { readonly [type in 1 | 2 | 3]: Uint8Array },
    transportAt: { readonly [type in 1 | 2 | 3]: number },
    aad: Uint8Array,
    linkId: number,
    acl: Int32Array,
    connections?: Float64Array,
    selector?: EgressFlowSelector,
  ): void;
  clearEgressFlows(): void;
  /**
   * The packets of a unicast flow from `flow.source` of `flow.header`'s packet type may be received
   * natively (docs/agent.md, "Fast path (ingress)"): their inner IPv6 + capsule header equal to
   * `flow.header` (what ingress accepted) but for the payload length, the hop limit, the PATH hop
   * index, the DATA value and the TRANSPORT value; sealed under the current receive epoch of
   * `flow.e2eState`, the previous one in its grace or the next (its first packet moves the state
   * there, as ingress does). Adds that type's template to what was installed for that source under
   * the same key, arrays and addresses; else replaces it.
   */
  setIngressFlow(flow: AgentIngressFlow): void;
  /**
   * Role-addressed packets from `flow.source` to `flow.address` (the role address of a local
   * endpoint, of which the source is a peer) may be received natively (docs/agent.md, "Fast path
   * (ingress)"): their inner header equal to `flow.header` (what ingress accepted) but for the flow
   * label (a connection's), the payload length, the hop limit, the PATH hop index, the DATA value
   * and the TRANSPORT value; sealed under group epoch `flow.epoch` with `flow.key` while the
   * endpoint opens that epoch; the sender epoch's replay window. Adds that type's template, and that
   * epoch beside the one other the sender has (current and previous), to what was installed for the
   * pair; else replaces it.
   */
  setGroupIngressFlow(flow: AgentGroupIngressFlow): void;
  /** Forgets every installed ingress flow, unicast and role-addressed. */
  clearIngressFlows(): void;
  /** The TUN device the ingress writes the packets it opened to (undefined: none; it then takes nothing). */
  attachTun(tun: TunWriteTarget | undefined): void;
  /**
   * TAP mode (packages/agent ethernet.ts TapSegment): the device's frames carry an Ethernet header.
   * Egress takes IPv4 and IPv6 data frames, writing the sender's MAC into `peerMac` as the
   * segment learns it (ARP, Neighbor Solicitations and other frames go up); ingress puts
   * `peerMac`, `agentMac` and the EtherType in front of every packet it writes. Undefined: TUN mode.
   */
  setTap(tap: { readonly peerMac: Uint8Array; readonly agentMac: Uint8Array } | undefined): void;
  agentStats(): AgentFastPathStats;
  /** The object a TUN device's reader offers its batches to (@capsule/native TunDevice.start). */
  readonly filter: object;
}

/**
 * Which packets to a host an egress install takes when endpoints of several contracts have flows
 * to it (AgentFastPath.setEgressFlow): those from `source` (the flow's endpoint's role address),
 * or the default flow's — those from an address that is no role address.
 */
export type EgressFlowSelector = { readonly source: Uint8Array } | { readonly cgaSources: true };

/** A unicast flow's receive side as the agent installs it (AgentFastPath.setIngressFlow). */
export interface AgentIngressFlow {
  /** The peer's CGA (the inner packets' source). */
  readonly source: Uint8Array;
  /** Inner IPv6 + capsule header of a packet ingress accepted (the template of its packet type). */
  readonly header: Uint8Array;
  /** Offsets in `header` of the PATH hop index, the DATA value (and its length), the TRANSPORT value; -1: absent. */
  readonly hopIndexAt: number;
  readonly dataAt: number;
  readonly dataLength: number;
  readonly transportAt: number;
  /** The direction's epoch-0 e2e key (each epoch's key derived from it: deriveE2eEpochKey). */
  readonly receiveBase: Uint8Array;
  /** The flow's e2e state (packages/agent E2eSlot): its receive epochs read and moved in place. */
  readonly e2eState: Float64Array;
  /** The flow's e2e replay window (overlay's ReplayWindow `state` and `bits`), checked and marked in place. */
  readonly replayState: Float64Array;
  readonly replayBits: Uint32Array;
  /** The endpoint's statistics (the agent's StatisticsSlot): packets and bytes in counted in place. */
  readonly statistics: Float64Array;
  /** The source IPv4 packets get (the peer's alias, host byte order). */
  readonly ipv4Alias: number;
  /** The peer role's address, which may also be an IPv6 packet's source (anycast TCP answers). */
  readonly roleSource?: Uint8Array;
  /** The In ACL's rules for this peer (AclRuleWords); a packet they deny is handed up (`ACL`). */
  readonly acl: Int32Array;
  /**
   * One of several flows from that host (endpoints of several contracts: packages/agent flows.ts
   * `flowFrom`): installed for the packets from `source` with `header`'s flow label only.
   */
  readonly byLabel?: boolean;
}

/** A member's receive side of one sender's role-addressed packets (AgentFastPath.setGroupIngressFlow). */
export interface AgentGroupIngressFlow
  extends Pick<
    AgentIngressFlow,
    'source' | 'header' | 'hopIndexAt' | 'dataAt' | 'dataLength' | 'transportAt' | 'statistics' | 'acl'
  > {
  /** The role address a local endpoint holds (the inner packets' destination). */
  readonly address: Uint8Array;
  /** The sender's group epoch, and its key of that epoch (packages/identity deriveGroupSenderKey). */
  readonly epoch: number;
  readonly key: Uint8Array;
  /** The last time (ms) the endpoint opens that epoch (+Infinity: its current one). */
  readonly untilMs: number;
  /** The sender epoch's replay window (overlay's ReplayWindow `state` and `bits`), checked and marked in place. */
  readonly replayState: Float64Array;
  readonly replayBits: Uint32Array;
}

/**
 * The host's ACL rules as a fast path evaluates them for one peer's flow (packages/agent acl.ts
 * `aclRuleWords`: only the rules that can match that peer, in order), `AclRuleWords.LENGTH` int32
 * each; the first rule that matches a packet's protocol and destination port decides, and a packet
 * no rule matches is allowed (acl.ts `isAllowed`).
 */
export const AclRuleWords = {
  /** 1 allow, 0 deny. */
  ALLOW: 0,
  /** The IP protocol, -1 for any; 1 (icmp) matches ICMPv6 (58) too. */
  PROTOCOL: 1,
  /** The destination ports matched, 0 and 65535 for any (a packet without ports then matches). */
  PORT_LOW: 2,
  PORT_HIGH: 3,
  LENGTH: 4,
} as const;

/** Where an ingress fast path writes: a TUN device's fd, its virtio header mode and offload counters. */
export interface TunWriteTarget {
  readonly fd: number;
  readonly vnetHeader: boolean;
  /** The device's six offload counters (@capsule/native TunDevice); coalesced writes are counted there. */
  readonly offloadCounters: Float64Array;
}
