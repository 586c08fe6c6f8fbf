/**
 * A Transport over one UDP socket of the native I/O addon (@capsule/native): datagrams are read with
 * recvmmsg (up to 64 per call into JavaScript) and sent with sendmmsg from a ring that send()
 * copies into. The ring is flushed once per batch: at the end of each receive batch (the
 * forwarding case: an engine's sends go out together) and otherwise at the end of the current task
 * (a microtask), or sooner when the ring is full. Runs of same-size datagrams to one peer go out
 * as one UDP GSO buffer and come back apart (UDP GRO, split in the addon): see docs/overlay.md.
 * Same contract as createUdpTransport; Linux only.
 */
import { constants as osConstants } from 'node:os';
import { openNativeUdpSocket, UDP_META_AUTHENTICATED, UDP_META_INTS } from '@capsule/native';
import { CapsuleError, formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from '@capsule/wire';
import { OverlayError } from './errors';
import {
  createTransportStats,
  type DatagramHandler,
  type Transport,
  type UnderlayAddress,
} from './transport';
import type { UdpTransportOptions } from './udp-transport';

/** Extra knobs of the native transport (defaults in @capsule/native). */
export interface NativeUdpTransportOptions extends UdpTransportOptions {
  /** Datagrams per recvmmsg (per call into JavaScript). */
  receiveBatch?: number;
  /** Datagrams per sendmmsg at most (the send ring's slots). */
  sendBatch?: number;
  /** Bytes per receive slot; longer datagrams are dropped and counted in `stats.receiveDrops`. */
  receiveSlotBytes?: number;
}

/** A destination parsed once: family and 16 address bytes (IPv4 in the first 4). */
interface Destination {
  family: 4 | 6;
  bytes: Uint8Array;
}

/** Source addresses remembered, so that a datagram from a known peer allocates no address object. */
const SOURCE_CACHE_SIZE = 32;

/** A Transport over the native batched UDP socket. */
export async function createNativeUdpTransport(options: NativeUdpTransportOptions): Promise<Transport> {
  const stats = createTransportStats();
  let handler: DatagramHandler = () => {};
  let closed = false;
  let inBatch = false;
  let flushScheduled = false;
  let queued = 0;
  let usedBytes = 0;

  // Receive side: one preallocated Uint8Array view of the metadata to read addresses from.
  let receiveMetaBytes: Uint8Array;
  let receiveMeta: Int32Array;
  let receiveBytes: Uint8Array;
  const cachedWords = new Int32Array(SOURCE_CACHE_SIZE * 6); // family, port, 4 address words
  const cachedAddresses: (UnderlayAddress | undefined)[] = new Array(SOURCE_CACHE_SIZE);
  let nextCacheEntry = 0;
  let lastHit = 0;

  function sourceOf(meta: number): UnderlayAddress {
    const port = receiveMeta[meta + 2]!;
    const family = receiveMeta[meta + 3]!;
    const w0 = receiveMeta[meta + 4]!;
    const w1 = receiveMeta[meta + 5]!;
    const w2 = receiveMeta[meta + 6]!;
    const w3 = receiveMeta[meta + 7]!;
    for (let probe = 0; probe < SOURCE_CACHE_SIZE; probe++) {
      const entry = (lastHit + probe) % SOURCE_CACHE_SIZE;
      const at = entry * 6;
      if (
        cachedWords[at + 1] === port &&
        cachedWords[at] === family &&
        cachedWords[at + 2] === w0 &&
        cachedWords[at + 3] === w1 &&
        cachedWords[at + 4] === w2 &&
        cachedWords[at + 5] === w3 &&
        cachedAddresses[entry] !== undefined
      ) {
        lastHit = entry;
        return cachedAddresses[entry]!;
      }
    }
    const byteOffset = (meta + 4) * 4;
    const address: UnderlayAddress = {
      host:
        family === 6 ? formatIpv6(receiveMetaBytes, byteOffset) : formatIpv4(receiveMetaBytes, byteOffset),
      port,
    };
    const entry = nextCacheEntry;
    nextCacheEntry = (nextCacheEntry + 1) % SOURCE_CACHE_SIZE;
    cachedWords.set([family, port, w0, w1, w2, w3], entry * 6);
    cachedAddresses[entry] = address;
    lastHit = entry;
    return address;
  }

  function onDatagrams(count: number, errno: number): void {
    if (errno !== 0) stats.sendErrors += 1; // an ICMP error for an earlier send, as dgram's 'error'
    inBatch = true;
    for (let index = 0; index < count; index++) {
      const meta = index * UDP_META_INTS;
      const start = receiveMeta[meta]!;
      const length = receiveMeta[meta + 1]!;
      if (length < 0) {
        stats.receiveDrops += 1; // longer than a slot: truncated, so not delivered
        continue;
      }
      stats.datagramsReceived += 1;
      stats.bytesReceived += length;
      const family = receiveMeta[meta + 3]!;
      const authenticated = (family & UDP_META_AUTHENTICATED) !== 0;
      if (authenticated) receiveMeta[meta + 3] = family & ~UDP_META_AUTHENTICATED;
      try {
        handler(receiveBytes.subarray(start, start + length), sourceOf(meta), authenticated);
      } catch {
        stats.handlerErrors += 1;
      }
    }
    inBatch = false;
    flush();
  }

  let socket: ReturnType<typeof openNativeUdpSocket>;
  try {
    socket = openNativeUdpSocket(
      {
        host: options.host,
        port: options.port,
        ...(options.receiveBufferBytes !== undefined && { receiveBufferBytes: options.receiveBufferBytes }),
        ...(options.sendBufferBytes !== undefined && { sendBufferBytes: options.sendBufferBytes }),
        ...(options.receiveBatch !== undefined && { receiveBatch: options.receiveBatch }),
        ...(options.sendBatch !== undefined && { sendBatch: options.sendBatch }),
        ...(options.receiveSlotBytes !== undefined && { receiveSlotBytes: options.receiveSlotBytes }),
      },
      onDatagrams,
    );
  } catch (cause) {
    if (cause instanceof CapsuleError) throw cause;
    // The addon's error carries the errno number: named as node names it (EADDRINUSE, EACCES …).
    const errno = (cause as { errno?: unknown }).errno;
    const name = Object.entries(osConstants.errno).find(([, value]) => value === errno)?.[0];
    throw new OverlayError(
      'UNDERLAY_BIND_FAILED',
      `cannot bind udp ${options.host}:${options.port}: ${name ? `${name} ` : ''}(${(cause as Error).message})`,
      { cause },
    );
  }
  receiveMeta = socket.receiveMeta;
  receiveMetaBytes = new Uint8Array(receiveMeta.buffer, receiveMeta.byteOffset, receiveMeta.byteLength);
  // A plain Uint8Array view, not the Buffer: Buffer#slice() is a view too, and code that copies a
  // field of a datagram with .slice() (as the handshake does) must get a copy, not a window onto a
  // slot the next batch overwrites.
  receiveBytes = new Uint8Array(
    socket.receiveBuffer.buffer,
    socket.receiveBuffer.byteOffset,
    socket.receiveBuffer.byteLength,
  );
  options.onSocketBuffers?.({ receiveBytes: socket.receiveBufferBytes, sendBytes: socket.sendBufferBytes });

  const sendMeta = socket.sendMeta;
  const sendMetaBytes = new Uint8Array(sendMeta.buffer, sendMeta.byteOffset, sendMeta.byteLength);
  const sendBuffer = socket.sendBuffer;
  const destinations = new WeakMap<UnderlayAddress, Destination | null>();

  function destinationOf(to: UnderlayAddress): Destination | null {
    let destination = destinations.get(to);
    if (destination !== undefined) return destination;
    destination = parseDestination(to.host, socket.isIpv6);
    destinations.set(to, destination);
    return destination;
  }

  function flush(): void {
    flushScheduled = false;
    if (queued === 0) return;
    const count = queued;
    queued = 0;
    usedBytes = 0;
    if (closed) return;
    stats.sendErrors += socket.flush(count);
  }

  return {
    local: { host: socket.host, port: socket.port },
    stats,
    send(bytes: Uint8Array, length: number, to: UnderlayAddress) {
      if (closed || length < 0 || length > bytes.length || length > sendBuffer.length) {
        stats.sendErrors += 1;
        return;
      }
      const destination = destinationOf(to);
      if (destination === null || !Number.isInteger(to.port) || to.port < 1 || to.port > 65_535) {
        stats.sendErrors += 1; // not an address literal of a family this socket can reach
        return;
      }
      if (queued === socket.sendCapacity || usedBytes + length > sendBuffer.length) flush();
      sendBuffer.set(length === bytes.length ? bytes : bytes.subarray(0, length), usedBytes);
      const meta = queued * UDP_META_INTS;
      sendMeta[meta] = usedBytes;
      sendMeta[meta + 1] = length;
      sendMeta[meta + 2] = to.port;
      sendMeta[meta + 3] = destination.family;
      sendMetaBytes.set(destination.bytes, (meta + 4) * 4);
      queued += 1;
      usedBytes += length;
      stats.datagramsSent += 1;
      stats.bytesSent += length;
      if (!inBatch && !flushScheduled) {
        flushScheduled = true;
        queueMicrotask(flush);
      }
    },
    onDatagram(next) {
      handler = next;
    },
    attachDatagramFilter(filter) {
      if (!closed) socket.attachFilter(filter);
    },
    close() {
      if (!closed) {
        flush();
        closed = true;
        socket.close();
      }
      return Promise.resolve();
    },
  };
}

/** Parses an address literal for a socket of the given family (IPv4 goes through a dual-stack IPv6 socket). */
function parseDestination(host: string, socketIsIpv6: boolean): Destination | null {
  const bytes = new Uint8Array(16);
  if (!host.includes(':')) {
    const v4 = parseIpv4(host);
    if (!v4.ok) return null;
    bytes.set(v4.value);
    return { family: 4, bytes };
  }
  const v6 = parseIpv6(host);
  if (!v6.ok) return null;
  const isMapped =
    v6.value.subarray(0, 10).every((byte) => byte === 0) && v6.value[10] === 0xff && v6.value[11] === 0xff;
  if (isMapped && !socketIsIpv6) {
    bytes.set(v6.value.subarray(12));
    return { family: 4, bytes };
  }
  if (!socketIsIpv6) return null;
  bytes.set(v6.value);
  return { family: 6, bytes };
}
