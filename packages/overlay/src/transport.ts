/**
 * The underlay port: how a node sends and receives overlay datagrams (link frames). Engines and
 * agents are written against this interface only, so the same code runs over real UDP sockets
 * and over the in-process MemoryNetwork (tests, and the demo without root).
 */

import type { UnderlayAddress } from '@capsule/wire';

/** An underlay endpoint (declared in @capsule/wire with the data path ports that carry it). */
export type { UnderlayAddress };

/**
 * Receives one datagram. `bytes` is only valid during the call (transports may reuse it): copy
 * what must outlive it. Handlers must not throw; a transport counts and swallows what they throw.
 * `authenticated` is set by a native transport only, for a DATA frame its attached filter (the
 * native fast path) handed up after verifying its link tag with the session its receiver index
 * names — replay window checked, not marked — so that the link layer does not compute it again.
 */
export type DatagramHandler = (bytes: Uint8Array, from: UnderlayAddress, authenticated?: boolean) => void;

export interface Transport {
  /** The address peers send to. */
  readonly local: UnderlayAddress;
  /**
   * Sends `bytes[0, length)` to `to`. The transport copies or finishes with the bytes before it
   * returns, so the caller may reuse its buffer at once. Never throws for a per-datagram failure
   * (unreachable peer, full buffer): it counts it in `stats.sendErrors`.
   */
  send(bytes: Uint8Array, length: number, to: UnderlayAddress): void;
  /** Sets the one receive handler (replacing any earlier one). */
  onDatagram(handler: DatagramHandler): void;
  /** Counters since the transport opened. */
  readonly stats: TransportStats;
  /** Stops receiving and releases the socket; idempotent. */
  close(): Promise<void>;
  /**
   * Native sockets only (`createNativeUdpTransport`): offers every received datagram to a native
   * filter — the engine's fast path (@capsule/native `createNativeFastPath().filter`) — before the
   * handler; what it takes the handler never sees and `stats` does not count. `undefined` detaches.
   */
  attachDatagramFilter?(filter: object | undefined): void;
}

export interface TransportStats {
  datagramsSent: number;
  datagramsReceived: number;
  bytesSent: number;
  bytesReceived: number;
  sendErrors: number;
  handlerErrors: number;
  /** Datagrams received but not delivered (longer than the transport's receive slot). */
  receiveDrops: number;
}

export function createTransportStats(): TransportStats {
  return {
    datagramsSent: 0,
    datagramsReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    sendErrors: 0,
    handlerErrors: 0,
    receiveDrops: 0,
  };
}

/** `host:port`, with IPv6 hosts in brackets: a stable key for maps and logs. */
export function formatUnderlayAddress(address: UnderlayAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
