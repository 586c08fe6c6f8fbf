import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { OverlayError } from './errors';
import {
  createTransportStats,
  type DatagramHandler,
  type Transport,
  type UnderlayAddress,
} from './transport';

export interface UdpTransportOptions {
  /** Address to bind; `0.0.0.0` or `::` for all. */
  host: string;
  /** Port to bind; 0 lets the kernel choose (see `local.port` afterwards). */
  port: number;
  /** Preallocated send slots (of 2,048 bytes) for datagrams in flight; more in flight fall back to a copy. */
  sendSlots?: number;
  /**
   * Socket buffer sizes in bytes (SO_RCVBUF / SO_SNDBUF; left out: the kernel's default, about
   * 208 KiB). The kernel caps them at net.core.rmem_max / wmem_max and reports twice the value.
   */
  receiveBufferBytes?: number;
  sendBufferBytes?: number;
  /** Told the buffer sizes the kernel granted (as getsockopt reports them), right after binding. */
  onSocketBuffers?: (granted: { receiveBytes: number; sendBytes: number }) => void;
}

/** A Transport over one real UDP socket. */
export async function createUdpTransport(options: UdpTransportOptions): Promise<Transport> {
  const socket: Socket = createSocket({ type: isIPv6(options.host) ? 'udp6' : 'udp4', reuseAddr: false });
  const stats = createTransportStats();
  let handler: DatagramHandler = () => {};
  await new Promise<void>((resolve, reject) => {
    socket.once('error', (error) =>
      reject(
        new OverlayError(
          'UNDERLAY_BIND_FAILED',
          `cannot bind udp ${options.host}:${options.port}: ${error.message}`,
        ),
      ),
    );
    socket.bind(options.port, options.host, () => resolve());
  });
  if (options.receiveBufferBytes) socket.setRecvBufferSize(options.receiveBufferBytes);
  if (options.sendBufferBytes) socket.setSendBufferSize(options.sendBufferBytes);
  options.onSocketBuffers?.({
    receiveBytes: socket.getRecvBufferSize(),
    sendBytes: socket.getSendBufferSize(),
  });
  // After binding, socket errors are per-datagram (ICMP unreachable reported late, say): count them.
  socket.on('error', () => {
    stats.sendErrors += 1;
  });
  socket.on('message', (message, remote) => {
    stats.datagramsReceived += 1;
    stats.bytesReceived += message.length;
    try {
      handler(message, { host: remote.address, port: remote.port });
    } catch {
      stats.handlerErrors += 1;
    }
  });
  const slotBytes = 2048;
  const freeSlots: Buffer[] = [];
  for (let index = 0; index < (options.sendSlots ?? 256); index++)
    freeSlots.push(Buffer.allocUnsafe(slotBytes));
  const bound = socket.address();
  let closed = false;
  return {
    local: { host: bound.address, port: bound.port },
    stats,
    // dgram sends after this call returns (address lookup is deferred even for literals), so the
    // bytes go into a preallocated slot that returns to the free list when the send completes; the
    // caller may reuse its buffer at once. Only when every slot is in flight is a copy allocated.
    send(bytes: Uint8Array, length: number, to: UnderlayAddress) {
      if (closed) {
        stats.sendErrors += 1;
        return;
      }
      const slot = length <= slotBytes ? freeSlots.pop() : undefined;
      const payload = slot ?? Buffer.allocUnsafe(length);
      payload.set(bytes.subarray(0, length));
      stats.datagramsSent += 1;
      stats.bytesSent += length;
      try {
        socket.send(payload, 0, length, to.port, to.host, (error) => {
          if (error) stats.sendErrors += 1;
          if (slot) freeSlots.push(slot);
        });
      } catch {
        // dgram throws synchronously for a bad port or address type: a per-datagram failure.
        stats.sendErrors += 1;
        if (slot) freeSlots.push(slot);
      }
    },
    onDatagram(next) {
      handler = next;
    },
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      return new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}
