/** @capsule/overlay — the link layer engines and agents share. */

/** The link layer's contract (implementation: createLinkLayer). */
export type {
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
export { createMemoryNetwork, type MemoryNetwork } from './memory-network';
/** RFC 6479 anti-replay window over link-frame counters. */
export { ReplayWindow } from './replay-window';
export {
  type DatagramHandler,
  formatUnderlayAddress,
  type Transport,
  type TransportStats,
  type UnderlayAddress,
} from './transport';
/** A Transport over a real UDP socket. */
export { createUdpTransport, type UdpTransportOptions } from './udp-transport';
