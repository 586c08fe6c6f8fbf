import { OverlayError } from './errors';
import {
  createTransportStats,
  type DatagramHandler,
  formatUnderlayAddress,
  type Transport,
  type UnderlayAddress,
} from './transport';

/**
 * An in-process underlay: transports attached to one MemoryNetwork exchange datagrams as if over
 * UDP — asynchronously (never inside the sender's call), in order per sender, copied (the sender
 * may reuse its buffer), and lost when the path between the two addresses is cut. Multi-node
 * topologies run inside one test, and the demo runs without root.
 */
export interface MemoryNetwork {
  /** Attaches a new transport at `address` (host text is free-form; the pair must be unique). */
  attach(address: UnderlayAddress): Transport;
  /** Cuts (`false`) or restores (`true`) delivery between two addresses, both directions. */
  setPathUp(a: UnderlayAddress, b: UnderlayAddress, up: boolean): void;
  /** Datagrams dropped because no transport listened or the path was cut. */
  readonly dropped: number;
  /** Resolves when every datagram sent so far has been delivered (or dropped). */
  settle(): Promise<void>;
}

interface Attached {
  handler: DatagramHandler;
  transport: Transport;
}

interface Pending {
  bytes: Uint8Array;
  from: UnderlayAddress;
  to: string;
}

export function createMemoryNetwork(): MemoryNetwork {
  const attached = new Map<string, Attached>();
  const cutPaths = new Set<string>();
  const queue: Pending[] = [];
  let dropped = 0;
  let flushScheduled = false;
  let settleWaiters: (() => void)[] = [];

  const pathKey = (a: string, b: string) => (a < b ? `${a}|${b}` : `${b}|${a}`);

  function flush(): void {
    flushScheduled = false;
    // Deliver what is queued now; what handlers send meanwhile waits for the next turn, as it would on a wire.
    const batch = queue.splice(0, queue.length);
    for (const datagram of batch) {
      const target = attached.get(datagram.to);
      if (!target || cutPaths.has(pathKey(formatUnderlayAddress(datagram.from), datagram.to))) {
        dropped += 1;
        continue;
      }
      target.transport.stats.datagramsReceived += 1;
      target.transport.stats.bytesReceived += datagram.bytes.length;
      try {
        target.handler(datagram.bytes, datagram.from);
      } catch {
        target.transport.stats.handlerErrors += 1;
      }
    }
    if (queue.length > 0) schedule();
    else {
      const waiters = settleWaiters;
      settleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  function schedule(): void {
    if (flushScheduled) return;
    flushScheduled = true;
    setImmediate(flush);
  }

  return {
    attach(address) {
      const key = formatUnderlayAddress(address);
      if (attached.has(key)) throw new OverlayError('UNDERLAY_ADDRESS_IN_USE', `${key} is already attached`);
      const stats = createTransportStats();
      const entry: Attached = {
        handler: () => {},
        transport: {
          local: { host: address.host, port: address.port },
          stats,
          send(bytes, length, to) {
            if (!attached.has(key)) {
              stats.sendErrors += 1;
              return;
            }
            stats.datagramsSent += 1;
            stats.bytesSent += length;
            // A copy (Buffer#slice would be a view): the sender may reuse its buffer at once.
            const copy = new Uint8Array(length);
            copy.set(bytes.subarray(0, length));
            queue.push({ bytes: copy, from: address, to: formatUnderlayAddress(to) });
            schedule();
          },
          onDatagram(handler) {
            entry.handler = handler;
          },
          close() {
            attached.delete(key);
            return Promise.resolve();
          },
        },
      };
      attached.set(key, entry);
      return entry.transport;
    },
    setPathUp(a, b, up) {
      const key = pathKey(formatUnderlayAddress(a), formatUnderlayAddress(b));
      if (up) cutPaths.delete(key);
      else cutPaths.add(key);
    },
    get dropped() {
      return dropped;
    },
    settle() {
      if (queue.length === 0 && !flushScheduled) return Promise.resolve();
      return new Promise<void>((resolve) => settleWaiters.push(resolve));
    },
  };
}
