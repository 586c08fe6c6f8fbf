import { loadAddon } from './native-addon';
import { TunError } from './tun-error';

/** int32s per datagram in `receiveMeta` and `sendMeta` (addon/udp-socket.cc documents the layout). */
export const UDP_META_INTS = 8;
/**
 * Added to a received datagram's family (`receiveMeta[i * UDP_META_INTS + 3]`) when the attached
 * filter handed it up having verified its link tag (addon/fast-path.h, DatagramFilter::Authentic).
 */
export const UDP_META_AUTHENTICATED = 0x100;

export interface NativeUdpSocketOptions {
  /** Address to bind (IPv4, or IPv6 — dual-stack — when it contains ':'). */
  host: string;
  /** Port to bind; 0 lets the kernel choose. */
  port: number;
  /** SO_RCVBUF / SO_SNDBUF in bytes; 0 or left out keeps the kernel's default. */
  receiveBufferBytes?: number;
  sendBufferBytes?: number;
  /**
   * Bytes per receive slot; a longer datagram is truncated and flagged (default 65,536: any UDP
   * datagram). Slots under 65,535 bytes turn GRO off, since a coalesced buffer would not fit.
   */
  receiveSlotBytes?: number;
  /** Datagrams read per recvmmsg(), i.e. per call into JavaScript (default 64). */
  receiveBatch?: number;
  /** Datagrams sent per sendmmsg() at most (default 128). */
  sendBatch?: number;
  /** Bytes of the send ring that queued datagrams are copied into (default 1 MiB). */
  sendRingBytes?: number;
}

/**
 * A UDP socket read with recvmmsg() and written with sendmmsg(), through preallocated buffers the
 * caller fills and reads directly (no allocation per datagram). Received datagram i is described
 * by `receiveMeta[i * UDP_META_INTS …]` = [offset in receiveBuffer, length (-1: truncated, longer
 * than a slot), port, family (4|6, plus UDP_META_AUTHENTICATED), address bytes]; a send is
 * queued by copying its bytes into `sendBuffer` and writing [offset, length, port, family,
 * address bytes] into `sendMeta`.
 * Where the kernel has UDP GSO and GRO (Linux ≥ 5.0), runs of same-size datagrams to one address
 * travel the stack as one buffer and are split back into the same datagrams on receipt (see
 * addon/udp-socket.cc); `offloads()` says whether that is on and how often it was used.
 */
export interface NativeUdpSocket {
  /** The bound address (as getsockname reports it) and the granted buffer sizes (as getsockopt does). */
  readonly host: string;
  readonly port: number;
  readonly receiveBufferBytes: number;
  readonly sendBufferBytes: number;
  readonly isIpv6: boolean;
  readonly receiveBuffer: Buffer;
  readonly receiveSlotBytes: number;
  readonly receiveMeta: Int32Array;
  readonly sendBuffer: Buffer;
  readonly sendMeta: Int32Array;
  /** Datagrams `sendMeta` holds. */
  readonly sendCapacity: number;
  /** Sends queued datagrams 0..count-1 (one sendmmsg per batch; never blocks); returns how many were not sent. */
  flush(count: number): number;
  /** Whether UDP GSO (segmentation) and GRO (coalescing) are on, and how much each has carried. */
  offloads(): UdpOffloads;
  /** Stops reading and closes the socket; idempotent. */
  close(): void;
  /**
   * Offers every received datagram to `filter` (a NativeFastPath's) before JavaScript; the ones it
   * takes never reach the receive handler. `undefined` detaches it.
   */
  attachFilter(filter: object | undefined): void;
}

export interface UdpOffloads {
  segmentation: boolean;
  coalescing: boolean;
  /** sendmmsg entries that carried a run of datagrams (UDP_SEGMENT), and the datagrams in them. */
  segmentedSends: number;
  segmentedDatagrams: number;
  /** Received buffers that held several datagrams (UDP_GRO), and the datagrams in them. */
  coalescedReceives: number;
  coalescedDatagrams: number;
}

/**
 * Opens a batched UDP socket. `onDatagrams(count, errno)` runs once per batch of received
 * datagrams (slots 0..count-1, valid only during the call); `errno` ≠ 0 reports a socket error
 * (an ICMP unreachable for an earlier send, say) and reading goes on. Throws
 * `UNDERLAY_BIND_FAILED` (bad address, port in use) or TUN_ADDON_MISSING.
 */
export function openNativeUdpSocket(
  options: NativeUdpSocketOptions,
  onDatagrams: (count: number, errno: number) => void,
): NativeUdpSocket {
  const receiveSlotBytes = options.receiveSlotBytes ?? 65_536;
  const receiveBatch = options.receiveBatch ?? 64;
  const sendBatch = options.sendBatch ?? 128;
  const sendRingBytes = options.sendRingBytes ?? 1 << 20;
  for (const [name, value, least] of [
    ['receiveSlotBytes', receiveSlotBytes, 1],
    ['receiveBatch', receiveBatch, 1],
    ['sendBatch', sendBatch, 1],
    ['sendRingBytes', sendRingBytes, 65_536],
  ] as const)
    if (!Number.isInteger(value) || value < least)
      throw new TunError('TUN_BAD_OPTIONS', `${name} must be an integer ≥ ${least}, got ${value}`);
  const native = loadAddon();
  const receiveBuffer = Buffer.allocUnsafe(receiveSlotBytes * receiveBatch);
  const receiveMeta = new Int32Array(UDP_META_INTS * receiveBatch);
  const sendBuffer = Buffer.allocUnsafe(sendRingBytes);
  const sendMeta = new Int32Array(UDP_META_INTS * sendBatch);
  const socket = new native.UdpSocket(
    options.host,
    options.port,
    options.receiveBufferBytes ?? 0,
    options.sendBufferBytes ?? 0,
    receiveBuffer,
    receiveSlotBytes,
    receiveMeta,
    sendBuffer,
    sendMeta,
    onDatagrams,
  );
  const [host, port, receiveBufferBytes, sendBufferBytes] = socket.address();
  return {
    host,
    port,
    receiveBufferBytes,
    sendBufferBytes,
    isIpv6: host.includes(':'),
    receiveBuffer,
    receiveSlotBytes,
    receiveMeta,
    sendBuffer,
    sendMeta,
    sendCapacity: sendBatch,
    flush: (count) => socket.flush(count),
    offloads() {
      const counts = socket.offloads();
      return {
        segmentation: counts[0],
        coalescing: counts[1],
        segmentedSends: counts[2],
        segmentedDatagrams: counts[3],
        coalescedReceives: counts[4],
        coalescedDatagrams: counts[5],
      };
    },
    close: () => socket.close(),
    attachFilter: (filter) => socket.attachFilter(filter),
  };
}
