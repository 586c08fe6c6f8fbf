/**
 * The data plane's policy databases (seed: "Egress Policy database", "Ingress Policy database",
 * "Control Data database"): local endpoints, the peer flows each may use, and the lookups the
 * packet path makes — by peer CGA (IPv6 destination on egress, source on ingress) and by the
 * peer's local IPv4 alias. Lookups hash into number-keyed Maps, so they allocate nothing.
 *
 * A flow is one (local endpoint, peer endpoint host) pair. At set-up it gets everything the
 * packet path needs, prebuilt: the e2e keys (X25519 between the two hosts' keys, HKDF with
 * E2E_KEY_LABEL, the contract id as both nonces) and their payload ciphers (the PayloadCipher
 * port, FlowTableDeps), the AAD, the inner IPv6 header followed by the capsule header of each
 * packet type, encoded once, and its first hop: the shared FirstHop of that neighbor, which
 * records the link to it (`setLink`), so the packet path finds the link from the flow.
 *
 * Every packet type carries the PATH chunk and the DATA chunk (docs/engine.md, "The ENGINE record
 * and engine ids"): PATH is the controller's path to the peer with the two ends dropped, each
 * engine's host id turned into its 16-bit engine id (`engineIdOfHostId`), hop index 0, the CODE
 * entry 0 (the role's entry) everywhere; DATA is the role's initial DATA value, which programs
 * read and write on every engine, also for type III packets (a program that reads PATH or DATA
 * would otherwise fault on the packets without them).
 */
import type { KeyObject } from 'node:crypto';
import { deriveSessionKeys, E2E_KEY_LABEL, type PayloadCipher, type SessionKeys } from '@capsule/identity';
import { ReplayWindow } from '@capsule/overlay';
import {
  type CapsuleHeader,
  CapsuleHeaderView,
  type Clock,
  type CodeChunk,
  capsuleHeaderLength,
  encodeCapsuleHeader,
  encodeIpv6Header,
  engineIdOfHostId,
  formatIpv4,
  formatIpv6,
  IPV6_HEADER_LENGTH,
  PacketType,
  type PathChunk,
  systemClock,
} from '@capsule/wire';
import { createE2eEpochs, type E2eEpochs } from './e2e-epochs';

/** Per-endpoint counters (the REST API's statistics). */
export interface EndpointStatistics {
  packetsOut: number;
  bytesOut: number;
  packetsIn: number;
  bytesIn: number;
  dropsOut: number;
  dropsIn: number;
}

/**
 * Where the counters of `EndpointStatistics` live in its `counters` array, which the native fast
 * path (@capsule/native addon/fast-path.cc names the same slots) adds to in place.
 */
export const StatisticsSlot = {
  PACKETS_OUT: 0,
  BYTES_OUT: 1,
  PACKETS_IN: 2,
  BYTES_IN: 3,
  DROPS_OUT: 4,
  DROPS_IN: 5,
} as const;

/** Endpoint statistics over a Float64Array (`countersOf`), all 0; plain numbers to everyone else. */
export function createEndpointStatistics(): EndpointStatistics {
  const counters = new Float64Array(6);
  const S = StatisticsSlot;
  const statistics: EndpointStatistics = {
    get packetsOut() {
      return counters[S.PACKETS_OUT]!;
    },
    set packetsOut(value) {
      counters[S.PACKETS_OUT] = value;
    },
    get bytesOut() {
      return counters[S.BYTES_OUT]!;
    },
    set bytesOut(value) {
      counters[S.BYTES_OUT] = value;
    },
    get packetsIn() {
      return counters[S.PACKETS_IN]!;
    },
    set packetsIn(value) {
      counters[S.PACKETS_IN] = value;
    },
    get bytesIn() {
      return counters[S.BYTES_IN]!;
    },
    set bytesIn(value) {
      counters[S.BYTES_IN] = value;
    },
    get dropsOut() {
      return counters[S.DROPS_OUT]!;
    },
    set dropsOut(value) {
      counters[S.DROPS_OUT] = value;
    },
    get dropsIn() {
      return counters[S.DROPS_IN]!;
    },
    set dropsIn(value) {
      counters[S.DROPS_IN] = value;
    },
  };
  statisticsCounters.set(statistics, counters);
  return statistics;
}

const statisticsCounters = new WeakMap<EndpointStatistics, Float64Array>();

/** The array behind statistics `createEndpointStatistics` made (StatisticsSlot), or undefined. */
export function countersOf(statistics: EndpointStatistics): Float64Array | undefined {
  return statisticsCounters.get(statistics);
}

/**
 * Where a flow's mutable per-packet state lives in its `state` array (the native fast path,
 * addon/fast-path.cc, reads and advances the same slots): the e2e send counter, the packet type
 * state (its two slots adjacent, as in a ConnectionTable entry), the TRACE packets still to send,
 * and the time of the flow's first type I since it was built (-Infinity before it): for
 * `authRepeatForMs` after it type I repeats every `authRepeatMs` (egress.ts).
 */
export const FlowSlot = {
  SEND_COUNTER: 0,
  PACKETS_SINCE_AUTH: 1,
  LAST_AUTH_MS: 2,
  TRACE_PACKETS: 3,
  FIRST_AUTH_MS: 4,
} as const;
const FLOW_SLOTS = 5;

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
  /** The CODE chunk value (@capsule/api's `codeChunkOf`): the role's entry first. */
  code: CodeChunk;
  /** Initial DATA chunk value (≤ 256 bytes): the image's, with the role's variables written in. */
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

/** One epoch of a group key (bytes decoded). */
export interface GroupEpochKey {
  readonly epoch: number;
  readonly key: Uint8Array;
}

/**
 * The group keys the controller gave one endpoint (docs/agent.md, "Role-addressed traffic"):
 * its own role's secrets to open with — the current epoch first, then the ones it replaced while
 * their grace lasts (`untilMs`) — its sender key per peer role to seal with now, and a newer
 * sender key per peer role it switches to at `fromMs` (`groupKeySwitchDelayMs` after it was
 * told, so the members, told in the same push, have the new epoch before anything is sealed
 * under it).
 */
export interface EndpointGroupKeys {
  readonly open: readonly (GroupEpochKey & { readonly untilMs: number })[];
  readonly seal: ReadonlyMap<string, GroupEpochKey>;
  readonly nextSeal: ReadonlyMap<string, GroupEpochKey & { readonly fromMs: number }>;
}

/** No group keys (an endpoint the controller gave none: role-addressed traffic neither way). */
export const noGroupKeys: EndpointGroupKeys = { open: [], seal: new Map(), nextSeal: new Map() };

/** How long replaced epochs stay usable (AgentOptions: groupKeyGraceMs, groupKeySwitchDelayMs). */
export interface GroupKeyTimes {
  /** A member still opens a replaced epoch this long after it was told the new one. */
  readonly graceMs: number;
  /** A sender seals under a new epoch this long after it was told (0: at once). */
  readonly switchDelayMs: number;
}

/** Replaced epochs an endpoint keeps opening at most (a grace each; the oldest goes first). */
const OPEN_EPOCHS_MAX = 4;

/**
 * The group keys after the controller gave `given` (its current epochs) at `nowMs`:
 * - open: a new epoch becomes current; the ones it replaces stay until their grace ends
 *   (`graceMs` from now, or sooner if already running); none given (not a member): none kept.
 * - seal: a peer role's first key is used at once; a newer epoch than the one sealed with waits
 *   in `nextSeal` until `switchDelayMs` has passed (`activeGroupKeys`); an older or equal one
 *   changes nothing; a role no longer given goes.
 */
export function nextGroupKeys(
  previous: EndpointGroupKeys,
  given: readonly (GroupEpochKey & { role: string; use: 'open' | 'seal' })[],
  nowMs: number,
  times: GroupKeyTimes,
): EndpointGroupKeys {
  const seal = new Map<string, GroupEpochKey>();
  const nextSeal = new Map<string, GroupEpochKey & { fromMs: number }>();
  for (const key of given) {
    if (key.use !== 'seal') continue;
    const current = previous.seal.get(key.role);
    const waiting = previous.nextSeal.get(key.role);
    if (!current || key.epoch < current.epoch) seal.set(key.role, { epoch: key.epoch, key: key.key });
    else {
      seal.set(key.role, current);
      if (key.epoch === current.epoch) continue;
      // Told again of the epoch it waits for: the wait it started goes on.
      const fromMs = waiting?.epoch === key.epoch ? waiting.fromMs : nowMs + times.switchDelayMs;
      nextSeal.set(key.role, { epoch: key.epoch, key: key.key, fromMs });
    }
  }
  const givenOpen = given.find((key) => key.use === 'open');
  let open: (GroupEpochKey & { untilMs: number })[] = [];
  if (givenOpen) {
    const kept = previous.open.filter((key) => key.epoch !== givenOpen.epoch && nowMs <= key.untilMs);
    const current = previous.open.find((key) => key.epoch === givenOpen.epoch);
    open = [
      current ?? { epoch: givenOpen.epoch, key: givenOpen.key, untilMs: Number.POSITIVE_INFINITY },
      ...kept.map((key) => ({ ...key, untilMs: Math.min(key.untilMs, nowMs + times.graceMs) })),
    ].slice(0, 1 + OPEN_EPOCHS_MAX);
  }
  return activeGroupKeys({ open, seal, nextSeal }, nowMs);
}

/**
 * The group keys at `nowMs`: a waiting sender key whose time has come becomes the one sealed
 * with. Returns `keys` itself when nothing changed.
 */
export function activeGroupKeys(keys: EndpointGroupKeys, nowMs: number): EndpointGroupKeys {
  let due = false;
  for (const waiting of keys.nextSeal.values()) if (waiting.fromMs <= nowMs) due = true;
  if (!due) return keys;
  const seal = new Map(keys.seal);
  const nextSeal = new Map<string, GroupEpochKey & { fromMs: number }>();
  for (const [role, waiting] of keys.nextSeal)
    if (waiting.fromMs <= nowMs) seal.set(role, { epoch: waiting.epoch, key: waiting.key });
    else nextSeal.set(role, waiting);
  return { open: keys.open, seal, nextSeal };
}

/** The group secret of `epoch` an endpoint may open with at `nowMs`, or undefined. No allocation. */
export function openKeyOf(keys: EndpointGroupKeys, epoch: number, nowMs: number): Uint8Array | undefined {
  const open = keys.open;
  for (let i = 0; i < open.length; i += 1) {
    const key = open[i]!;
    if (key.epoch === epoch && nowMs <= key.untilMs) return key.key;
  }
  return undefined;
}

/** A local endpoint with its flows. */
export interface LocalEndpoint {
  readonly spec: EndpointSpec;
  readonly dnsName: string;
  peers: PeerSpec[];
  /** Its group keys (role-addressed traffic), from its registration answer and path-changes. */
  readonly groupKeys: EndpointGroupKeys;
  readonly statistics: EndpointStatistics;
}

/** Where a flow is in its packet types (its `state`: FlowSlot PACKETS_SINCE_AUTH, LAST_AUTH_MS). */
export interface PacketTypeState {
  packetsSinceAuth: number;
  lastAuthMs: number;
}

/** Application connections a role-addressed flow tracks at most (then it starts over). */
export const CONNECTIONS_MAX = 4096;
/** Entries of a ConnectionTable (a power of two, twice CONNECTIONS_MAX: probes stay short). */
const CONNECTION_CAPACITY = 2 * CONNECTIONS_MAX;

/**
 * The application connections of a role-addressed flow, each its own capsule flow with its own
 * packet types, in one array shared with the native fast path (addon/fast-path.cc
 * `ConnectionStateAt` is this class's `stateAt`, step for step): `slots[0]` the connections held,
 * then CONNECTION_CAPACITY entries of three: the connection's flow label (0: a free entry; labels
 * are never 0), its packets since AUTH and its last AUTH time — the same order as a flow's
 * FlowSlot PACKETS_SINCE_AUTH and LAST_AUTH_MS, so egress reads either from (array, index).
 * Open addressing from the label's low bits (a label is a hash already), linear probing; when
 * CONNECTIONS_MAX are held, the next new one empties the table first (each connection then starts
 * again with a type I packet, as a new one does). No allocation.
 */
export class ConnectionTable {
  private array: Float64Array | undefined;

  /** The shared array (192 KiB: made at the flow's first packet, so a flow that never sends costs none). */
  get slots(): Float64Array {
    if (this.array === undefined) this.array = new Float64Array(1 + 3 * CONNECTION_CAPACITY);
    return this.array;
  }

  /** The connections held. */
  get size(): number {
    return this.array?.[0] ?? 0;
  }

  /**
   * Where connection `label`'s packets since AUTH are in `slots` (its last AUTH time is next), the
   * connection added with a type I due when it is new.
   */
  stateAt(label: number): number {
    const slots = this.slots;
    const home = 1 + 3 * (label & (CONNECTION_CAPACITY - 1));
    let at = home;
    for (let probes = 0; ; probes += 1) {
      if (probes === CONNECTION_CAPACITY) {
        // No free entry: not a table this method keeps (it never holds more than CONNECTIONS_MAX).
        slots.fill(0);
        at = home;
        break;
      }
      const held = slots[at]!;
      if (held === label) return at + 1;
      if (held === 0) break;
      at = at + 3 === slots.length ? 1 : at + 3;
    }
    if (slots[0]! >= CONNECTIONS_MAX) {
      slots.fill(0);
      at = home;
    }
    slots[at] = label;
    slots[at + 1] = 0;
    slots[at + 2] = Number.NEGATIVE_INFINITY;
    slots[0] = slots[0]! + 1;
    return at + 1;
  }

  /** Makes a type I due on every connection's next packet (a first hop that lost its flows). */
  authorizeAgain(): void {
    const slots = this.array;
    if (slots === undefined) return;
    for (let at = 1; at < slots.length; at += 3)
      if (slots[at] !== 0) slots[at + 2] = Number.NEGATIVE_INFINITY;
  }
}

/**
 * Makes `flow`'s next packet a type I, and starts its type I repeats again (`authRepeatForMs`),
 * each of its connections' too: its first hop (re)started, and knows none of its flows.
 */
export function authorizeAgain(flow: Flow): void {
  flow.state[FlowSlot.LAST_AUTH_MS] = Number.NEGATIVE_INFINITY;
  flow.state[FlowSlot.FIRST_AUTH_MS] = Number.NEGATIVE_INFINITY;
  flow.connections?.authorizeAgain();
}

/**
 * The overlay neighbor (an engine) a flow's packets go to first, and the link to it. One object
 * per neighbor, shared by every flow through it: the agent records the link when it comes up or
 * goes down (`FlowTable.setLink`), so egress reads the link from the flow.
 */
export interface FirstHop {
  readonly hostId: Uint8Array;
  /** The link layer's id of the link to it while the link is up; -1 when it is not. */
  linkId: number;
}

/** One flow: a local endpoint talking to a peer host, or to a peer role's address. */
export interface Flow extends PacketTypeState {
  readonly endpoint: LocalEndpoint;
  readonly peer: PeerSpec;
  /** Text form of the peer's CGA (for logs and the API; not used per packet). */
  readonly peerText: string;
  /** The first hop (an engine) and its link, or undefined when the controller knows no path. */
  readonly firstHop: FirstHop | undefined;
  /** The PATH chunk every packet carries (undefined when the controller knows no path). */
  readonly path: PathChunk | undefined;
  /** The epoch-0 e2e keys (role-addressed flows: the group sender key of `keys.epoch`). */
  readonly keys: SessionKeys;
  /**
   * The e2e key epochs and their payload ciphers (e2e-epochs.ts): unicast flows rekey by time and
   * volume; role-addressed flows seal under their group epoch only. Kept across rebuilds of the
   * flow with the same keys, with the replay window.
   */
  readonly e2e: E2eEpochs;
  /** 20-bit flow label we send with. */
  readonly flowLabel: number;
  /** src ‖ dst ‖ flow label (3 bytes) that our seals bind; the peer's is built per packet. */
  readonly sendAad: Uint8Array;
  /**
   * Inner IPv6 header + capsule header of each packet type (payload length patched per packet),
   * ending with a TRANSPORT chunk written per packet from the packet sealed.
   */
  readonly headers: { readonly [type in 1 | 2 | 3]: Uint8Array };
  /** Where the TRANSPORT value is in each header. */
  readonly transportAt: { readonly [type in 1 | 2 | 3]: number };
  /** The peer's IPv4 alias on this host (host byte order number). */
  readonly ipv4Alias: number;
  /** The flow's per-packet state (FlowSlot): the properties below and the native fast path read it. */
  readonly state: Float64Array;
  sendCounter: number;
  /**
   * The engine ids of the TRACE records the last traced packet from the peer arrived with (the
   * path it took, in order), in `lastTrace[0, lastTraceLength)`; preallocated, 21 records at most.
   */
  readonly lastTrace: Uint16Array;
  lastTraceLength: number;
  /** Packets still to send with the TRACE flag set (`capsule trace` arms them: agent `traceFlow`). */
  tracePackets: number;
  readonly replay: ReplayWindow;
  /**
   * Role-addressed flows only: each application connection (protocol, ports) is its own capsule
   * flow with its own flow label (so engines can balance connections: FLOW_HASH covers the
   * label) and its own packet types (an engine verifies each new label's type I). By label.
   */
  readonly connections: ConnectionTable | undefined;
  /**
   * Unicast flows only: the address of the peer's role in this contract (`roleAddress`). The peer
   * holds it on its TUN as a member of that role, so its replies to a connection made to the
   * role address (TCP through an anycast role) carry it as their source: ingress accepts it
   * besides the peer's CGA. Undefined for role-addressed flows.
   */
  readonly peerRoleAddress: Uint8Array | undefined;
  /**
   * Unicast flows only: our endpoint's own role address (`ownRoleAddress`). A packet from it to
   * the peer host is this flow's when endpoints of several contracts have flows to that host (a
   * member answering a connection made to its role address: `FlowTable.flowTo`).
   */
  readonly ownRoleAddress: Uint8Array | undefined;
  /** Unicast flows only: the flow label the peer sends this flow's packets with (`FlowTable.flowFrom`); else -1. */
  readonly peerFlowLabel: number;
  /**
   * Whether another endpoint's unicast flow goes to the same peer host (of another contract):
   * packets to and from that host are then told apart by source address and flow label, and the
   * native fast path installs each flow so (fast-path.ts: by source out, by flow label in).
   */
  sharedPeerHost: boolean;
}

/**
 * Where the TRANSPORT value starts in a flow's prebuilt header (IPv6 + capsule, just encoded with
 * a TRANSPORT chunk, so the parse succeeds; set-up only).
 */
function transportAt(header: Uint8Array): number {
  const view = new CapsuleHeaderView();
  view.parse(header, IPV6_HEADER_LENGTH);
  return view.transportOffset;
}

/**
 * The flow label of one application connection of a role-addressed flow: FNV-1a over the flow's
 * own label, the protocol and the two ports, folded to 20 bits, never 0 (RFC 6437).
 */
export function connectionLabel(
  base: number,
  protocol: number,
  sourcePort: number,
  destinationPort: number,
): number {
  let hash = 0x811c9dc5;
  hash = Math.imul(hash ^ (base & 0xff), 0x01000193);
  hash = Math.imul(hash ^ (base >>> 8), 0x01000193);
  hash = Math.imul(hash ^ protocol, 0x01000193);
  hash = Math.imul(hash ^ ((sourcePort >>> 8) & 0xff), 0x01000193);
  hash = Math.imul(hash ^ (sourcePort & 0xff), 0x01000193);
  hash = Math.imul(hash ^ ((destinationPort >>> 8) & 0xff), 0x01000193);
  hash = Math.imul(hash ^ (destinationPort & 0xff), 0x01000193);
  const label = (hash ^ (hash >>> 20)) & 0xfffff;
  return label === 0 ? 1 : label;
}

/**
 * Where a new flow's send counter (the AEAD nonce and the peer's replay-window counter) starts:
 * the Unix time in ms × 1000. A flow is rebuilt with the same e2e keys whenever its endpoint's
 * peers change (a path-change after a link came up again) and after an agent restart (the keys
 * are persisted); starting at 0 each time reused nonces under the same key and made the peer drop
 * the first packets after the rebuild as replays (the first-packet loss). Starting at the clock
 * keeps the counter increasing across rebuilds as long as a flow averaged under 1000 packets per
 * ms, and stays below 2^53 (a safe integer) until the year 2255.
 */
export function initialSendCounter(nowMs: number): number {
  return Math.max(0, Math.floor(nowMs)) * 1000;
}

/** Whether two keys are the same bytes (flow set-up only, not per packet). */
function equalKeys(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, index) => byte === b[index]);
}

/** FNV-1a over 16 bytes at `offset`, as a positive 31-bit number (Map key; collisions compared). */
export function hashAddress16(bytes: Uint8Array, offset: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < 16; i += 1) hash = Math.imul(hash ^ bytes[offset + i]!, 0x01000193);
  return hash >>> 1;
}

/** Whether bytes[offset, offset + 16) equals `address` (16 bytes). No allocation. */
export function isAddressAt(bytes: Uint8Array, offset: number, address: Uint8Array): boolean {
  for (let i = 0; i < 16; i += 1) if (bytes[offset + i] !== address[i]) return false;
  return true;
}

/**
 * A role address: where an application sends to reach a role of a contract as a group, for the
 * engines' program to choose the member (anycast: LoadBalancer) or to copy to every member
 * (multicast: Multicast). Layout: the host's /64 (the zone's netprefix), then 0x02 (the
 * universal/local bit set, which no CGA has: RFC 3972 section 4 clears it), 0x00, the contract id
 * (32 bits), the role id (16 bits: FNV-1a of the role name).
 */
export function roleAddress(prefix: Uint8Array, contractId: number, role: string): Uint8Array {
  const address = new Uint8Array(16);
  address.set(prefix.subarray(0, 8), 0);
  address[8] = 0x02;
  address[10] = contractId >>> 24;
  address[11] = (contractId >>> 16) & 0xff;
  address[12] = (contractId >>> 8) & 0xff;
  address[13] = contractId & 0xff;
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(role)) hash = Math.imul(hash ^ byte, 0x01000193);
  address[14] = (hash >>> 8) & 0xff;
  address[15] = hash & 0xff;
  return address;
}

/** The flow label a unicast flow from our endpoint `endpointId` to the peer's `peerEndpointId` sends with. */
function flowLabelOf(endpointId: number, peerEndpointId: number): number {
  return (endpointId * 0x9e37 + peerEndpointId * 0x85eb) & 0xfffff;
}

/** Sets `sharedPeerHost` on a host-hash list's unicast flows (another's flow to the same host); returns it. */
function markSharedPeerHosts(flows: Flow[]): Flow[] {
  for (const flow of flows)
    flow.sharedPeerHost =
      flow.connections === undefined &&
      flows.some(
        (other) =>
          other !== flow &&
          other.connections === undefined &&
          isAddressAt(other.peer.hostId, 0, flow.peer.hostId),
      );
  return flows;
}

/** The role address a local endpoint holds as a member of its own role (on the host's TUN). */
export function ownRoleAddress(
  ownHostId: Uint8Array,
  spec: Pick<EndpointSpec, 'contractId' | 'role'>,
): Uint8Array {
  return roleAddress(ownHostId, spec.contractId, spec.role);
}

/** One epoch of a sender's key as a member keeps it: the key, its cipher and the replay window. */
export interface GroupSenderEpoch {
  readonly epoch: number;
  /** The sender's key of that epoch (deriveGroupSenderKey; the native fast path is given it). */
  readonly key: Uint8Array;
  /** The payload cipher under that key. */
  readonly cipher: PayloadCipher;
  readonly replay: ReplayWindow;
}

/**
 * What a member keeps per sender of role-addressed packets: the sender's latest epoch and the
 * one before (packets of both may arrive during a group key's grace), each with its window.
 */
export interface GroupSender {
  readonly hostId: Uint8Array;
  current: GroupSenderEpoch;
  previous: GroupSenderEpoch | undefined;
}

/**
 * A local endpoint's own role address: packets to it are opened with the senders' keys, derived
 * from the endpoint's group secret (`endpoint.groupKeys.open`).
 */
export interface GroupMembership {
  readonly endpoint: LocalEndpoint;
  readonly address: Uint8Array;
  /** By the sender's host-id hash; kept across the endpoint's rebuilds (path-changes). */
  readonly senders: Map<number, GroupSender>;
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
}

/** The flow table's ports. */
export interface FlowTableDeps {
  /** Makes the e2e payload cipher of a key (node:crypto or the native addon: the agent's `payloadCipher` option). */
  createPayloadCipher(key: Uint8Array): PayloadCipher;
  /** The time of PATH creation and of initial send counters (default: systemClock). */
  clock?: Pick<Clock, 'nowMs'>;
}

/** The flow table: endpoints, flows, lookups, IPv4 aliases. */
export class FlowTable {
  private readonly byHostHash = new Map<number, Flow[]>();
  private readonly byIpv4 = new Map<number, Flow>();
  private readonly memberships = new Map<number, GroupMembership[]>();
  private readonly aliases = new Map<string, number>();
  /** First hops by host-id hash (collisions compared), kept across flow rebuilds with their link. */
  private readonly firstHops = new Map<number, FirstHop[]>();
  private nextAlias = 0;
  readonly endpoints = new Map<number, LocalEndpoint>();
  /**
   * Called after every change of the flows or their links (an endpoint set or removed, a first
   * hop's link set): the agent's fast path forgets what it installed from them.
   */
  onChange: (() => void) | undefined = undefined;

  constructor(
    private readonly options: FlowTableOptions,
    private readonly deps: FlowTableDeps,
  ) {}

  /** The e2e payload cipher of `key` (a new object; the caller keeps it with the key). */
  createPayloadCipher(key: Uint8Array): PayloadCipher {
    return this.deps.createPayloadCipher(key);
  }

  /** `createPayloadCipher` as a function bound once (the packet path passes it without allocating). */
  readonly cipherFactory = (key: Uint8Array): PayloadCipher => this.deps.createPayloadCipher(key);

  /**
   * Adds (or replaces) a local endpoint and builds its flows. Returns the peers skipped and why.
   * `groupKeys`: its group keys (default: the ones it has, or none).
   */
  setEndpoint(
    spec: EndpointSpec,
    peers: PeerSpec[],
    groupKeys?: EndpointGroupKeys,
  ): { skipped: { peer: string; reason: string }[] } {
    const previous = this.endpoints.get(spec.id);
    // The senders a member knows (their ciphers and replay windows) survive a rebuild.
    const senders = this.membershipOf(previous)?.senders;
    const endpoint: LocalEndpoint = {
      spec,
      dnsName: `${spec.role}.${spec.contract}.${spec.domain}.capsule`.toLowerCase(),
      peers,
      groupKeys: groupKeys ?? previous?.groupKeys ?? noGroupKeys,
      statistics: previous?.statistics ?? createEndpointStatistics(),
    };
    // The e2e epochs and replay windows of its unicast flows survive a rebuild too (same peer, same keys).
    const carried = new Map<string, Flow>();
    if (previous)
      for (const flow of this.flows())
        if (flow.endpoint === previous && flow.connections === undefined) carried.set(flow.peerText, flow);
    this.removeEndpoint(spec.id);
    this.endpoints.set(spec.id, endpoint);
    const result = this.buildFlows(endpoint, senders ?? new Map(), carried);
    this.onChange?.();
    return result;
  }

  /** Replaces an endpoint's peers, and its group keys when given (a path-change command). */
  setPeers(
    endpointId: number,
    peers: PeerSpec[],
    groupKeys?: EndpointGroupKeys,
  ): { skipped: { peer: string; reason: string }[] } {
    const endpoint = this.endpoints.get(endpointId);
    if (!endpoint) return { skipped: [] };
    return this.setEndpoint(endpoint.spec, peers, groupKeys);
  }

  /**
   * Switches the endpoints whose newer sender key's time has come (`activeGroupKeys`): their
   * flows are rebuilt to seal under it. Returns how many endpoints switched.
   */
  activateGroupKeys(nowMs: number): number {
    let switched = 0;
    for (const endpoint of [...this.endpoints.values()]) {
      const keys = activeGroupKeys(endpoint.groupKeys, nowMs);
      if (keys === endpoint.groupKeys) continue;
      this.setEndpoint(endpoint.spec, endpoint.peers, keys);
      switched += 1;
    }
    return switched;
  }

  /** The membership (own role address) of a local endpoint, if it has one. */
  private membershipOf(endpoint: LocalEndpoint | undefined): GroupMembership | undefined {
    if (!endpoint) return undefined;
    for (const list of this.memberships.values())
      for (const membership of list) if (membership.endpoint === endpoint) return membership;
    return undefined;
  }

  removeEndpoint(endpointId: number): boolean {
    const endpoint = this.endpoints.get(endpointId);
    if (!endpoint) return false;
    this.endpoints.delete(endpointId);
    for (const [hash, flows] of this.byHostHash) {
      const kept = flows.filter((flow) => flow.endpoint !== endpoint);
      if (kept.length === 0) this.byHostHash.delete(hash);
      else this.byHostHash.set(hash, markSharedPeerHosts(kept));
    }
    for (const [alias, flow] of this.byIpv4) if (flow.endpoint === endpoint) this.byIpv4.delete(alias);
    for (const [hash, list] of this.memberships) {
      const kept = list.filter((membership) => membership.endpoint !== endpoint);
      if (kept.length === 0) this.memberships.delete(hash);
      else this.memberships.set(hash, kept);
    }
    // Re-point aliases other endpoints still use.
    for (const flows of this.byHostHash.values())
      for (const flow of flows)
        if (flow.ipv4Alias !== 0 && !this.byIpv4.has(flow.ipv4Alias)) this.byIpv4.set(flow.ipv4Alias, flow);
    this.onChange?.();
    return true;
  }

  /**
   * The flow to the peer whose CGA is bytes[offset, offset+16) — the first endpoint's registered,
   * when several have one (`flowTo` and `flowFrom` tell them apart) — or undefined. No allocation.
   */
  flowByHostId(bytes: Uint8Array, offset: number): Flow | undefined {
    const flows = this.byHostHash.get(hashAddress16(bytes, offset));
    if (!flows) return undefined;
    for (let i = 0; i < flows.length; i += 1) {
      const flow = flows[i]!;
      if (isAddressAt(bytes, offset, flow.peer.hostId)) return flow;
    }
    return undefined;
  }

  /** The flow of our endpoint `endpointId` to the peer host bytes[offset, offset+16), or undefined. */
  flowOfEndpoint(bytes: Uint8Array, offset: number, endpointId: number): Flow | undefined {
    const flows = this.byHostHash.get(hashAddress16(bytes, offset));
    if (!flows) return undefined;
    for (const flow of flows)
      if (isAddressAt(bytes, offset, flow.peer.hostId) && flow.endpoint.spec.id === endpointId) return flow;
    return undefined;
  }

  /**
   * The flow for an application packet to bytes[destination, +16) from bytes[source, +16): the
   * one to that peer (`flowByHostId`), or, when endpoints of several contracts have flows to that
   * host, the one whose endpoint's role address is the source (else the first). No allocation.
   */
  flowTo(bytes: Uint8Array, destination: number, source: number): Flow | undefined {
    const flows = this.byHostHash.get(hashAddress16(bytes, destination));
    if (!flows) return undefined;
    let first: Flow | undefined;
    for (let i = 0; i < flows.length; i += 1) {
      const flow = flows[i]!;
      if (!isAddressAt(bytes, destination, flow.peer.hostId)) continue;
      if (!flow.sharedPeerHost) return flow;
      first ??= flow;
      const own = flow.ownRoleAddress;
      if (own !== undefined && isAddressAt(bytes, source, own)) return flow;
    }
    return first;
  }

  /**
   * The flow a capsule packet from the peer host bytes[source, +16) with flow label `label`
   * belongs to: the one from that peer (`flowByHostId`), or, when endpoints of several contracts
   * have flows to that host, the one the peer sends with that label (else the first). No allocation.
   */
  flowFrom(bytes: Uint8Array, source: number, label: number): Flow | undefined {
    const flows = this.byHostHash.get(hashAddress16(bytes, source));
    if (!flows) return undefined;
    let first: Flow | undefined;
    for (let i = 0; i < flows.length; i += 1) {
      const flow = flows[i]!;
      if (!isAddressAt(bytes, source, flow.peer.hostId)) continue;
      if (!flow.sharedPeerHost || flow.peerFlowLabel === label) return flow;
      first ??= flow;
    }
    return first;
  }

  /**
   * Records the link to the overlay neighbor `hostId`: `linkId` when a link to it came up, -1
   * when it went down. Every flow whose first hop it is sends on that link from now on.
   */
  setLink(hostId: Uint8Array, linkId: number): void {
    this.firstHopOf(hostId).linkId = linkId;
    this.onChange?.();
  }

  /** The shared FirstHop of `hostId` (made, with no link, the first time). */
  private firstHopOf(hostId: Uint8Array): FirstHop {
    const hash = hashAddress16(hostId, 0);
    let list = this.firstHops.get(hash);
    if (list === undefined) {
      list = [];
      this.firstHops.set(hash, list);
    }
    for (const hop of list) if (isAddressAt(hostId, 0, hop.hostId)) return hop;
    const hop: FirstHop = { hostId: Uint8Array.from(hostId), linkId: -1 };
    list.push(hop);
    return hop;
  }

  /** The local endpoint whose role address is bytes[offset, offset+16), or undefined. No allocation. */
  membershipByAddress(bytes: Uint8Array, offset: number): GroupMembership | undefined {
    const list = this.memberships.get(hashAddress16(bytes, offset));
    if (!list) return undefined;
    for (let i = 0; i < list.length; i += 1) if (isAddressAt(bytes, offset, list[i]!.address)) return list[i];
    return undefined;
  }

  /** The flow whose peer has this IPv4 alias. */
  flowByIpv4(address: number): Flow | undefined {
    return this.byIpv4.get(address);
  }

  /**
   * Asks every unicast flow (of `endpointId`, or all) to move its e2e send key to the next epoch
   * with its next packet (`capsule agent rekey`). Returns how many flows were asked.
   */
  requestE2eRekey(endpointId?: number): number {
    let asked = 0;
    for (const flows of this.byHostHash.values())
      for (const flow of flows)
        if (
          flow.connections === undefined &&
          (endpointId === undefined || flow.endpoint.spec.id === endpointId)
        ) {
          flow.e2e.rekeyRequested = true;
          asked += 1;
        }
    return asked;
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

  private buildFlows(
    endpoint: LocalEndpoint,
    senders: Map<number, GroupSender>,
    carried: ReadonlyMap<string, Flow> = new Map(),
  ): { skipped: { peer: string; reason: string }[] } {
    const skipped: { peer: string; reason: string }[] = [];
    const { ownHostId } = this.options;
    for (const peer of endpoint.peers) {
      const peerText = formatIpv6(peer.hostId);
      if (isAddressAt(peer.hostId, 0, ownHostId)) {
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
      const flowLabel = flowLabelOf(endpoint.spec.id, peer.endpointId);
      const path = pathToPeer(peer.path, Math.floor((this.deps.clock ?? systemClock).nowMs() / 1000));
      const flow = this.makeFlow(
        endpoint,
        peer,
        keys,
        flowLabel,
        path,
        path ? peer.path[1] : undefined,
        this.aliasOf(peerText),
        false,
        carried.get(peerText),
      );
      const hash = hashAddress16(peer.hostId, 0);
      const list = this.byHostHash.get(hash) ?? [];
      // Endpoints of several contracts may each have a flow to one host (told apart by source
      // address out, flow label in); two of one contract may not: their e2e keys (derived from the
      // two hosts and the contract) would be the same, and their counters too.
      const sameContract = list.some(
        (other) =>
          other.connections === undefined &&
          isAddressAt(other.peer.hostId, 0, peer.hostId) &&
          other.endpoint.spec.contractId === endpoint.spec.contractId,
      );
      if (!sameContract) {
        // In endpoint id order: of several endpoints' flows to one host, the default one (for a
        // packet from no endpoint's role address, and for IPv4) is the first registered's, however
        // often either is rebuilt.
        const at = list.findIndex((other) => other.endpoint.spec.id > endpoint.spec.id);
        list.splice(at < 0 ? list.length : at, 0, flow);
        this.byHostHash.set(hash, list);
        markSharedPeerHosts(list);
        const first = this.flowByHostId(peer.hostId, 0)!;
        if (first.ipv4Alias !== 0) this.byIpv4.set(first.ipv4Alias, first);
      } else {
        skipped.push({
          peer: peerText,
          reason: 'this contract has a flow to this host already (a second would share its e2e key)',
        });
      }
    }
    this.buildGroupFlows(endpoint, senders);
    return { skipped };
  }

  /** One flow with its prebuilt headers (PATH when given; DATA in every type). */
  private makeFlow(
    endpoint: LocalEndpoint,
    peer: PeerSpec,
    keys: SessionKeys,
    flowLabel: number,
    path: PathChunk | undefined,
    firstHop: Uint8Array | undefined,
    ipv4Alias: number,
    perConnection = false,
    previous?: Flow,
  ): Flow {
    const { ownHostId } = this.options;
    const sendAad = new Uint8Array(35);
    sendAad.set(ownHostId, 0);
    sendAad.set(peer.hostId, 16);
    sendAad[32] = flowLabel >>> 16;
    sendAad[33] = (flowLabel >>> 8) & 0xff;
    sendAad[34] = flowLabel & 0xff;
    const header = (packetType: 1 | 2 | 3): Uint8Array => {
      const capsule: CapsuleHeader = {
        nextHeader: 59,
        packetType: packetType as PacketType,
        flags: 0,
        ...(packetType === PacketType.I ? { auth: endpoint.spec.authorization } : {}),
        ...(path ? { path } : {}),
        ...(packetType !== PacketType.III ? { code: endpoint.spec.code } : {}),
        ...(endpoint.spec.data.length > 0 || packetType !== PacketType.III
          ? { data: endpoint.spec.data }
          : {}),
        transport: { protocol: 0, sourcePort: 0, destinationPort: 0 },
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
    const headers = { 1: header(1), 2: header(2), 3: header(3) };
    const nowMs = (this.deps.clock ?? systemClock).nowMs();
    const isSameKeys =
      previous !== undefined &&
      equalKeys(previous.e2e.sendBase, keys.sendKey) &&
      equalKeys(previous.e2e.receiveBase, keys.receiveKey);
    const e2e = isSameKeys && previous ? previous.e2e : createE2eEpochs(keys, this.cipherFactory, keys.epoch);
    const state = new Float64Array(FLOW_SLOTS);
    state[FlowSlot.SEND_COUNTER] = Math.max(initialSendCounter(nowMs), previous?.sendCounter ?? 0);
    state[FlowSlot.PACKETS_SINCE_AUTH] = 0;
    state[FlowSlot.LAST_AUTH_MS] = Number.NEGATIVE_INFINITY;
    // A rebuilt flow (a path change) starts its repeats again: its new hops may not know it yet.
    state[FlowSlot.FIRST_AUTH_MS] = Number.NEGATIVE_INFINITY;
    // A trace armed by `capsule trace` outlives a rebuild of the flow (a path or key push).
    state[FlowSlot.TRACE_PACKETS] = previous?.tracePackets ?? 0;
    return {
      endpoint,
      peer,
      peerText: formatIpv6(peer.hostId),
      firstHop: firstHop === undefined ? undefined : this.firstHopOf(firstHop),
      path,
      keys,
      e2e,
      flowLabel,
      sendAad,
      headers,
      transportAt: { 1: transportAt(headers[1]), 2: transportAt(headers[2]), 3: transportAt(headers[3]) },
      ipv4Alias,
      state,
      get sendCounter() {
        return state[FlowSlot.SEND_COUNTER]!;
      },
      set sendCounter(value) {
        state[FlowSlot.SEND_COUNTER] = value;
      },
      lastTrace: new Uint16Array(TRACE_RECORDS_MAX),
      lastTraceLength: 0,
      get tracePackets() {
        return state[FlowSlot.TRACE_PACKETS]!;
      },
      set tracePackets(value) {
        state[FlowSlot.TRACE_PACKETS] = value;
      },
      get packetsSinceAuth() {
        return state[FlowSlot.PACKETS_SINCE_AUTH]!;
      },
      set packetsSinceAuth(value) {
        state[FlowSlot.PACKETS_SINCE_AUTH] = value;
      },
      get lastAuthMs() {
        return state[FlowSlot.LAST_AUTH_MS]!;
      },
      set lastAuthMs(value) {
        state[FlowSlot.LAST_AUTH_MS] = value;
      },
      replay: isSameKeys && previous ? previous.replay : new ReplayWindow(),
      connections: perConnection ? new ConnectionTable() : undefined,
      peerRoleAddress: perConnection
        ? undefined
        : roleAddress(ownHostId, endpoint.spec.contractId, peer.role),
      ownRoleAddress: perConnection ? undefined : ownRoleAddress(ownHostId, endpoint.spec),
      // The peer's flow back to this endpoint: its `flowLabelOf`, the two ids swapped.
      peerFlowLabel: perConnection ? -1 : flowLabelOf(peer.endpointId, endpoint.spec.id),
      sharedPeerHost: false,
    };
  }

  /**
   * Role-addressed traffic: a send flow to each peer role's address for which the controller
   * gave a sender key (first hop: the first engine on the path to a member of that role; no
   * PATH, the program picks the members), and our own role's address to receive on.
   */
  private buildGroupFlows(endpoint: LocalEndpoint, senders: Map<number, GroupSender>): void {
    const { ownHostId } = this.options;
    const { spec } = endpoint;
    const own = roleAddress(ownHostId, spec.contractId, spec.role);
    const ownHash = hashAddress16(own, 0);
    const list = this.memberships.get(ownHash) ?? [];
    if (!list.some((membership) => isAddressAt(membership.address, 0, own))) {
      list.push({ endpoint, address: own, senders });
      this.memberships.set(ownHash, list);
    }
    const roles = new Map<string, Uint8Array>();
    for (const peer of endpoint.peers)
      if (peer.path.length >= 3 && !roles.has(peer.role) && !isAddressAt(peer.hostId, 0, ownHostId))
        roles.set(peer.role, peer.path[1]!);
    for (const [role, firstHop] of roles) {
      const address = roleAddress(ownHostId, spec.contractId, role);
      const hash = hashAddress16(address, 0);
      const flows = this.byHostHash.get(hash) ?? [];
      if (flows.some((other) => isAddressAt(other.peer.hostId, 0, address))) continue;
      // The controller's sender key of the role's current epoch; none, no role-addressed sends.
      const seal = endpoint.groupKeys.seal.get(role);
      if (!seal) continue;
      const { epoch, key } = seal;
      const peer: PeerSpec = {
        endpointId: 0,
        role,
        hostId: address,
        x25519PublicKey: new Uint8Array(0),
        path: [],
      };
      const flowLabel = (spec.id * 0x9e37 + (hash & 0xffff) * 0x85eb) & 0xfffff;
      flows.push(
        this.makeFlow(
          endpoint,
          peer,
          { epoch, sendKey: key, receiveKey: key },
          flowLabel,
          undefined,
          firstHop,
          0,
          true,
        ),
      );
      this.byHostHash.set(hash, flows);
    }
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
