/** @capsule/overlay — the link layer engines and agents share. */

/** The link layer: SeND-style handshake, link keys, sealed DATA frames, keep-alive, rekey. */
export { createLinkLayer, defaultLinkLayerOptions, RETIRED_INDEX_QUARANTINE_MS } from './create-link-layer';
/** The DATA-frame hot path (seal, open) and its per-session state, for engines' fast paths and benchmarks. */
export {
  createLinkSession,
  type DataFrameVerdict,
  FrameBuffer,
  type LinkSession,
  MAX_INNER_PACKET_LENGTH,
  openDataFrame,
  SEAL_EXHAUSTED,
  SEAL_MALFORMED,
  sealDataFrame,
} from './data-frame';
/** The error the overlay throws (misuse, configuration). */
export { OverlayError, type OverlayErrorCode } from './errors';
/** Handshake messages: build, parse (structure) and verify (public-key checks), reject reasons, ND addresses. */
export {
  buildHandshakeFrame,
  createHandshakeSigner,
  HANDSHAKE_REJECT_REASONS,
  type HandshakeBuildInput,
  type HandshakeKind,
  type HandshakeParse,
  type HandshakeRejectReason,
  type HandshakeSigner,
  type HandshakeVerification,
  type ParsedHandshake,
  parseHandshakeFrame,
  solicitedNodeAddress,
  type VerifiedHandshake,
  verifyHandshakeFrame,
  verifyParsedHandshake,
} from './handshake';
/** Handshake MACs (DoS resistance): the MAC1 key of a receiver, writing MAC1/MAC2 into a built frame, checking one. */
export { checkHandshakeMac, handshakeMac1Key, writeHandshakeMacs } from './handshake-guard';
/** The link layer's contract (implementation: createLinkLayer). */
export type {
  HandshakeStats,
  LinkDownReason,
  LinkDropCounters,
  LinkIdentity,
  LinkInfo,
  LinkLayer,
  LinkLayerDeps,
  LinkLayerOptions,
  LinkPacketHandler,
} from './link-layer';
/** An in-process underlay for tests and the rootless demo. */
/** Follows the controller's link sets: dials what a set names, disconnects what it dropped. */
export {
  createLinkSetFollower,
  type LinkSetChange,
  type LinkSetFollower,
  type LinkSetFollowerDeps,
  parseUnderlayAddress,
  type WantedLink,
} from './link-set-follower';
export { createMemoryNetwork, type MemoryNetwork } from './memory-network';
/** A Transport over the native batched UDP socket (recvmmsg/sendmmsg, @capsule/native; Linux). */
export { createNativeUdpTransport, type NativeUdpTransportOptions } from './native-udp-transport';
/** RFC 6479 anti-replay window over link-frame counters. */
export { ReplayWindow } from './replay-window';
export {
  type DatagramHandler,
  formatUnderlayAddress,
  type Transport,
  type TransportStats,
  type UnderlayAddress,
} from './transport';
/** A Transport over a real UDP socket (node:dgram). */
export { createUdpTransport, type UdpTransportOptions } from './udp-transport';
/** Picks the UDP transport (`native` or `udp`) from configuration. */
export { createUdpTransportOfKind, defaultUdpTransportKind, type UdpTransportKind } from './underlay-kind';
