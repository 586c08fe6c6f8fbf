import { closeSync } from 'node:fs';
import { loadAddon } from './native-addon';
import { TunError } from './tun-error';

export { TunError } from './tun-error';

/** A TUN device carries IP packets; a TAP device carries Ethernet frames. */
export type TunMode = 'tun' | 'tap';

export interface TunDeviceOptions {
  /** Interface name (≤ 15 bytes); created if absent, or attached to when it exists. */
  name: string;
  mode?: TunMode;
  /** IFF_MULTI_QUEUE: several devices (one per worker) may attach to one interface. */
  multiQueue?: boolean;
  /**
   * TUN offloads (TUN mode only; default off): IFF_VNET_HDR with TSO4/TSO6 and checksum offload.
   * The kernel then hands over TCP super-packets of up to 64 KiB, which the addon splits into
   * their segments before the handler sees them, and writes coalesce consecutive TCP segments of
   * one connection into one super-packet (see addon/tun-offload.h). The handler sees plain IP
   * packets either way.
   */
  offloads?: boolean;
  /** Bytes of the read buffer packets are read into back to back (at least 64 KiB + 14). */
  readBufferBytes?: number;
  /** Packets handed to the handler per batch at most (one call into JavaScript each). */
  batchPackets?: number;
  /** Bytes of the write ring (packets queued between two native writes). */
  writeRingBytes?: number;
  /** Packets queued at most between two native writes. */
  writeBatchPackets?: number;
}

/**
 * Receives one packet: `bytes[offset, offset + length)`. The view is only valid during the call
 * (the slot is reused for the next batch): copy what must outlive it.
 */
export type PacketHandler = (bytes: Buffer, offset: number, length: number) => void;

/** An open TUN/TAP device. Reads arrive in batches on the event loop, with no allocation per packet. */
export interface TunDevice {
  readonly name: string;
  readonly mode: TunMode;
  readonly fd: number;
  /**
   * Starts reading; `onError` gets a read failure (the device was deleted, say), after which
   * reading stops. With `filter` (a NativeFastPath's `filter`: the agent's egress fast path) each
   * batch is offered to it first, and `onPacket` sees only the packets it did not take.
   */
  start(onPacket: PacketHandler, onError?: (error: TunError) => void, filter?: object): void;
  /**
   * Queues one whole packet (TUN) or frame (TAP): the bytes are copied at once (the caller may
   * reuse its buffer), and the queue is written with one native call per batch — at the end of
   * the current task (a microtask), or sooner when the write ring is full. Never throws for a
   * packet: failures are counted in `writeErrors` (the last errno in `lastWriteErrno`).
   */
  write(bytes: Uint8Array, offset?: number, length?: number): void;
  /** Writes what is queued now (one native call). */
  flush(): void;
  /** Packets the kernel refused (or too large for the write ring) since the device opened. */
  readonly writeErrors: number;
  /** Whether offloads are on, and what they carried since the device opened. */
  offloads(): TunOffloads;
  /** The errno of the last refused write, 0 when none. */
  readonly lastWriteErrno: number;
  /** Whether reads and writes carry virtio-net headers (offloads on). */
  readonly vnetHeader: boolean;
  /** The six offload counters `offloads()` reports, shared with the addon (a fast path's writes add to them). */
  readonly offloadCounters: Float64Array;
  /** Stops reading and closes the device; a non-persistent interface disappears with it. Idempotent. */
  close(): void;
}

/** What the TUN offloads did (`TunDevice.offloads()`). */
export interface TunOffloads {
  /** The device reads and writes virtio-net headers (IFF_VNET_HDR). */
  vnetHeader: boolean;
  /** The kernel accepted TSO4/TSO6 and checksum offload (TUNSETOFFLOAD). */
  enabled: boolean;
  /** TCP super-packets read, and the segments they were split into. */
  superPacketsRead: number;
  segmentsSplit: number;
  /** Packets read whose checksum the kernel left to us (completed before the handler saw them). */
  checksumsCompleted: number;
  /** Reads dropped: a virtio header or packet headers that do not add up. */
  readDrops: number;
  /** Writes that carried several TCP segments as one super-packet, and the segments in them. */
  coalescedWrites: number;
  segmentsCoalesced: number;
}

/** Smallest read buffer: the largest packet (64 KiB) plus an Ethernet header (TAP). */
const MIN_READ_BUFFER_BYTES = 65_535 + 14;
const defaultReadBufferBytes = 1 << 20;
const defaultBatchPackets = 1024;
const defaultWriteRingBytes = 1 << 20;

/** Opens a TUN (default) or TAP device. Needs root or CAP_NET_ADMIN. */
export function openTun(options: TunDeviceOptions): TunDevice {
  const mode = options.mode ?? 'tun';
  const readBufferBytes = options.readBufferBytes ?? defaultReadBufferBytes;
  const batchPackets = options.batchPackets ?? defaultBatchPackets;
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(options.name)) {
    throw new TunError(
      'TUN_BAD_OPTIONS',
      `interface name must be 1–15 of [A-Za-z0-9_.-], got ${JSON.stringify(options.name)}`,
    );
  }
  if (
    !Number.isInteger(readBufferBytes) ||
    readBufferBytes < MIN_READ_BUFFER_BYTES ||
    !Number.isInteger(batchPackets) ||
    batchPackets < 1
  ) {
    throw new TunError(
      'TUN_BAD_OPTIONS',
      `readBufferBytes must be an integer ≥ ${MIN_READ_BUFFER_BYTES} and batchPackets ≥ 1`,
    );
  }
  const native = loadAddon();
  let opened: { fd: number; name: string; vnetHeader: boolean; offloads: boolean };
  try {
    opened = native.open(options.name, {
      tap: mode === 'tap',
      multiQueue: options.multiQueue ?? false,
      offloads: (options.offloads ?? false) && mode === 'tun',
    });
  } catch (cause) {
    const failure = cause as Error & { code?: string; errno?: number };
    throw new TunError(
      failure.code === 'TUN_PERMISSION' ? 'TUN_PERMISSION' : 'TUN_OPEN_FAILED',
      failure.message,
      failure.errno,
    );
  }
  const buffer = Buffer.allocUnsafe(readBufferBytes);
  const readMeta = new Int32Array(2 * batchPackets);
  /** Shared with the addon: addon/tun-device.cc lists the six slots. */
  const offloadStats = new Float64Array(6);
  const vnetHeader = opened.vnetHeader;
  let reader: ReturnType<typeof createReader> | undefined;
  let closed = false;
  const createReader = (onPackets: (count: number, errno: number) => void, filter: object | undefined) =>
    new native.Reader(opened.fd, buffer, readMeta, vnetHeader, offloadStats, onPackets, filter);
  // The write ring: packets back to back in `ring`, [offset, length] pairs in `ringMeta`.
  const ring = Buffer.allocUnsafe(options.writeRingBytes ?? defaultWriteRingBytes);
  const ringMeta = new Int32Array(2 * (options.writeBatchPackets ?? defaultBatchPackets));
  const ringCapacity = ringMeta.length / 2;
  let queued = 0;
  let usedBytes = 0;
  let flushScheduled = false;
  let writeErrors = 0;
  let lastWriteErrno = 0;
  const flush = () => {
    flushScheduled = false;
    if (queued === 0 || closed) return;
    const failed = native.writePackets(opened.fd, ring, ringMeta, queued, vnetHeader, offloadStats);
    if (failed > 0) {
      writeErrors += failed;
      lastWriteErrno = ringMeta[0]!;
    }
    queued = 0;
    usedBytes = 0;
  };

  return {
    name: opened.name,
    mode,
    fd: opened.fd,
    start(onPacket, onError, filter) {
      if (closed) throw new TunError('TUN_READ_FAILED', `device ${opened.name} is closed`);
      if (reader) throw new TunError('TUN_BAD_OPTIONS', `device ${opened.name} is already reading`);
      reader = createReader((count, errno) => {
        for (let index = 0; index < count; index++)
          onPacket(buffer, readMeta[2 * index]!, readMeta[2 * index + 1]!);
        if (errno !== 0) {
          reader = undefined;
          onError?.(new TunError('TUN_READ_FAILED', `reading ${opened.name} failed (errno ${errno})`, errno));
        }
      }, filter);
    },
    write(bytes, offset = 0, length = bytes.length - offset) {
      if (closed || length < 0 || offset < 0 || offset + length > bytes.length || length > ring.length) {
        writeErrors += 1;
        return;
      }
      if (queued === ringCapacity || usedBytes + length > ring.length) flush();
      ring.set(
        offset === 0 && length === bytes.length ? bytes : bytes.subarray(offset, offset + length),
        usedBytes,
      );
      ringMeta[2 * queued] = usedBytes;
      ringMeta[2 * queued + 1] = length;
      queued += 1;
      usedBytes += length;
      if (!flushScheduled) {
        flushScheduled = true;
        queueMicrotask(flush);
      }
    },
    flush,
    vnetHeader,
    offloadCounters: offloadStats,
    get writeErrors() {
      return writeErrors;
    },
    get lastWriteErrno() {
      return lastWriteErrno;
    },
    offloads: () => ({
      vnetHeader,
      enabled: opened.offloads,
      superPacketsRead: offloadStats[0]!,
      segmentsSplit: offloadStats[1]!,
      checksumsCompleted: offloadStats[2]!,
      readDrops: offloadStats[3]!,
      coalescedWrites: offloadStats[4]!,
      segmentsCoalesced: offloadStats[5]!,
    }),
    close() {
      if (closed) return;
      flush();
      closed = true;
      reader?.stop();
      reader = undefined;
      closeSync(opened.fd);
    },
  };
}
