/**
 * The link layer's contract: what engines and agents see of their overlay neighbors.
 *
 * A node's link layer owns one Transport. It discovers neighbors with the signed SeND-style
 * handshake (docs/overlay.md: NS/NA carrying CGA, Timestamp, Nonce, Node Certificate, Key
 * Exchange and RSA Signature options), derives per-direction link keys, and then carries DATA
 * frames: on send it frames and seals an inner IPv6 packet for one link; on receipt it checks the
 * receiver index, the replay window and the AEAD tag, and hands the inner packet up. Engines and
 * agents never see a frame that failed any check: those are counted drops.
 *
 * Packets are passed as (bytes, offset, length) windows, valid only during the call; the layer
 * copies what it keeps. Nothing here allocates per packet beyond what the Transport does.
 */
import type { KeyObject } from 'node:crypto';
import type { TrustedControllerKey } from '@capsule/identity';
import type { Clock, LinkDataPath } from '@capsule/wire';
import type { HandshakeRejectReason } from './handshake';
import type { Transport, UnderlayAddress } from './transport';

/** What a node proves about itself in the handshake. */
export interface LinkIdentity {
  /** The node's CGA (16 bytes), its host id. */
  readonly hostId: Uint8Array;
  /** The RFC 3972 CGA Parameters structure that proves `hostId`. */
  readonly cgaParameters: Uint8Array;
  /** RSA private key (node:crypto KeyObject) that signs the handshake (RFC 3971 5.2). */
  readonly rsaPrivateKey: KeyObject;
  /** The controller-signed node certificate (NodeCertificate bytes, @capsule/identity). */
  readonly nodeCertificate: Uint8Array;
  /** The controller's Ed25519 public key (node:crypto KeyObject), to check peers' certificates. */
  readonly controllerPublicKey: KeyObject;
  /**
   * The controller keys to trust, with their ends of validity (a signing key rotation); default
   * `controllerPublicKey` alone. `setControllerKeys` replaces them while the layer runs.
   */
  readonly controllerKeys?: readonly TrustedControllerKey[];
}

/** Why a link is, or went, down. */
export type LinkDownReason = 'timeout' | 'closed' | 'rejected' | 'rekey-failed' | 'revoked';

/** One overlay neighbor as the layer knows it. */
export interface LinkInfo {
  /**
   * Local id of the link (our receiver index): what `send` takes and the PACKET record shows.
   * It is the receiver index of the link's first session and stays the link's id for the life of
   * the layer — across rekeys (whose sessions get fresh receiver indices) and reconnects.
   */
  readonly id: number;
  readonly peerHostId: Uint8Array;
  /** The peer's host name and node type, from its verified node certificate. */
  readonly peerName: string;
  readonly peerNodeType: number;
  readonly peerUnderlay: UnderlayAddress;
  readonly state: 'handshaking' | 'up' | 'down';
  readonly packetsIn: number;
  readonly packetsOut: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Milliseconds (injected clock) of the last authenticated frame from the peer. */
  readonly lastReceiveMs: number;
  /** Added: why the link went down (set while `state` is 'down' after having been up). */
  readonly downReason?: LinkDownReason;
  /** Added: handshakes completed on this link (1 after the first, +1 per rekey or reconnect). */
  readonly handshakes: number;
}

/** Frames refused by the link layer, by reason. */
export interface LinkDropCounters {
  malformed: number;
  unknownReceiver: number;
  replayed: number;
  badTag: number;
  handshakeRejected: number;
  /** Added: `send` on a link that is not up (or unknown). */
  sendNotUp: number;
  /** Added: `send` of a packet that is not IPv6, has cut-short headers or is too long. */
  sendMalformed: number;
}

/** Added: what the handshake guard did (docs/overlay.md, "Handshake DoS resistance"). */
export interface HandshakeStats {
  /** Handshake messages that reached the public-key checks (CGA, RSA, certificate). */
  verified: number;
  /** COOKIE frames sent (responder under load, or a source over its rate without MAC2). */
  cookieRepliesSent: number;
  /** Cookies received and opened (initiator). */
  cookiesAccepted: number;
  /** Renewed node certificates swapped in (`setNodeCertificate` accepted). */
  certificateSwaps: number;
  /** Sets of trusted controller keys taken (`setControllerKeys` accepted). */
  controllerKeySets: number;
}

/** Receives an authenticated inner IPv6 packet from link `linkId`. */
export type LinkPacketHandler = (linkId: number, bytes: Uint8Array, offset: number, length: number) => void;

export interface LinkLayer {
  /**
   * Starts the handshake with the node at `peer` (no-op when a link to it is up or starting), and
   * keeps the link: after a give-up or a timeout the layer tries again every reconnectIntervalMs.
   * Added: `expectedHostId` (the CGA the controller says is there) is then required of the
   * responder and addresses the NS to its solicited-node multicast address.
   */
  connect(peer: UnderlayAddress, expectedHostId?: Uint8Array): void;
  /**
   * Added: the link to `hostId` is no longer wanted (the controller's link set dropped it): the
   * layer stops keeping it (no reconnect), cancels a handshake towards it and takes the link down
   * (`closed`). The peer may still handshake again (a responder answers any valid node).
   */
  disconnect(hostId: Uint8Array): void;
  /** Seals and sends an inner IPv6 packet on a link; false (and counted) when the link is not up. */
  send(linkId: number, bytes: Uint8Array, offset: number, length: number): boolean;
  /** Sets the one handler of received packets. */
  onPacket(handler: LinkPacketHandler): void;
  /** Called when a link comes up (after a verified handshake) or goes down. */
  onLinkChange(handler: (link: LinkInfo) => void): void;
  /** A snapshot of every link. */
  links(): LinkInfo[];
  /** The link to a peer host id, if up. */
  linkTo(hostId: Uint8Array): LinkInfo | undefined;
  readonly drops: LinkDropCounters;
  /** Added: refused handshake and cookie frames by reason (they sum to drops.handshakeRejected). */
  readonly handshakeRejections: Readonly<Record<HandshakeRejectReason, number>>;
  /** Added: public-key verifications done and cookies sent and received. */
  readonly handshakeStats: Readonly<HandshakeStats>;
  /**
   * Added: swaps in a renewed node certificate (the same host id): every handshake from now on
   * carries it, and every live link rekeys at once, so peers see its new end of validity without a
   * restart (a peer takes a link down when the certificate it holds expires).
   * False, and nothing changed, when it does not decode or names another host id.
   */
  setNodeCertificate(certificate: Uint8Array): boolean;
  /**
   * Added: the controller keys to trust from now on (the controller's registration or keep-alive
   * answer after `capsule rotate signing-key`): peers' certificates signed by any of them verify
   * until that key's end of validity. MAC1 is keyed from the trusted key that ends first (the one
   * every node still holds during a rotation) and accepted under any trusted key. False, and
   * nothing changed, for an empty list.
   */
  setControllerKeys(keys: readonly TrustedControllerKey[]): boolean;
  /**
   * Added: a decommissioned node (the controller revoked its host id): its link goes down
   * (`revoked`) and its handshakes are refused (`revoked`) until `untilMs`, when every
   * certificate it was issued has expired anyway. At most `maxRevokedHosts` are held (the
   * soonest to end are forgotten first).
   */
  revokeHost(hostId: Uint8Array, untilMs: number): void;
  /** Added: host ids currently revoked. */
  readonly revokedHosts: number;
  /** Starts keep-alive and rekey timers. */
  start(): void;
  /** Stops timers and closes every link (the Transport is the caller's to close). */
  stop(): void;
}

export interface LinkLayerOptions {
  identity: LinkIdentity;
  /** Keep-alive interval; a link with nothing received for 3 intervals goes down. */
  keepAliveIntervalMs?: number;
  /** Rekey after this long or this many packets per direction, whichever first. */
  rekeyAfterMs?: number;
  rekeyAfterPackets?: number;
  /** Added: first NS retransmission delay; it doubles per attempt up to handshakeBackoffMaxMs. */
  handshakeRetransmitMs?: number;
  handshakeBackoffMaxMs?: number;
  /** Added: NS transmissions before a handshake gives up. */
  handshakeAttempts?: number;
  /** Added: how long the previous session's keys still open frames after a rekey. */
  previousKeyGraceMs?: number;
  /** Added: wait before a connect()ed peer is tried again after a give-up. */
  reconnectIntervalMs?: number;
  /** Added: replay window of each session, in frames (RFC 6479). */
  replayWindowSize?: number;
  /**
   * Added (handshake DoS resistance): a handshake's timestamp must be within this of our clock
   * (checked before any public-key work; also RFC 3971's TIMESTAMP_DELTA for the per-peer check).
   */
  handshakeFreshnessWindowMs?: number;
  /** Added: RSA signatures of verified handshakes remembered, to drop replays before verifying. */
  handshakeReplayCacheEntries?: number;
  /** Added: above this many NS a second needing admission, the layer is under load: every NS needs MAC2. */
  handshakeLoadPerSecond?: number;
  /** Added: NS a second (and burst) one underlay host may have verified, per budget (proven, unproven). */
  handshakesPerSourcePerSecond?: number;
  /** Added: underlay hosts whose budgets are held (least recently seen forgotten first); also cookies held. */
  handshakeSourcesTracked?: number;
  /** Added: COOKIE frames sent a second at most (each costs an X25519 agreement). */
  cookieRepliesPerSecond?: number;
}

export interface LinkLayerDeps {
  transport: Transport;
  clock: Pick<Clock, 'nowMs' | 'setInterval'>;
  /**
   * A native data path that forwards some DATA frames without the layer (the engine's fast path,
   * docs/engine.md): told of every confirmed session, every link's current sending session and
   * every session retired; it checks and marks the same replay windows and advances the same send
   * counters (`LinkSession.counters`), and the layer folds the traffic it carried into its links
   * (`drainTraffic`, at every tick and snapshot), so keep-alives, timeouts and counters are as if
   * the layer had carried it. Frames it does not take reach the layer as before.
   */
  dataPath?: LinkDataPath;
  /**
   * Draws a candidate receiver index: a random 32-bit value (node:crypto's by default). The layer
   * skips 0 and the indices in use or quarantined (`RETIRED_INDEX_QUARANTINE_MS`), so a scripted
   * source can test those rules.
   */
  randomIndex?: () => number;
}
