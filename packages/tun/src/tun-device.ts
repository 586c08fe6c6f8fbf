import { closeSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { CapsuleError } from '@capsule/wire';

/** A TUN device carries IP packets; a TAP device carries Ethernet frames. */
export type TunMode = 'tun' | 'tap';

export interface TunDeviceOptions {
  /** Interface name (≤ 15 bytes); created if absent, or attached to when it exists. */
  name: string;
  mode?: TunMode;
  /** IFF_MULTI_QUEUE: several devices (one per worker) may attach to one interface. */
  multiQueue?: boolean;
  /** Bytes per read slot; packets longer than this are truncated, so keep it above the MTU. */
  slotBytes?: number;
  /** Packets drained per wake-up of the event loop. */
  batchPackets?: number;
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
  /** Starts reading; `onError` gets a read failure (the device was deleted, say), after which reading stops. */
  start(onPacket: PacketHandler, onError?: (error: TunError) => void): void;
  /** Writes one whole packet (TUN) or frame (TAP). TUN writes do not block. */
  write(bytes: Uint8Array, offset?: number, length?: number): void;
  /** Stops reading and closes the device; a non-persistent interface disappears with it. Idempotent. */
  close(): void;
}

/** Opening, reading or writing a device failed; `code` says which, `errno` gives the system's reason. */
export class TunError extends CapsuleError {
  readonly errno: number | undefined;
  constructor(
    code:
      | 'TUN_OPEN_FAILED'
      | 'TUN_PERMISSION'
      | 'TUN_READ_FAILED'
      | 'TUN_WRITE_FAILED'
      | 'TUN_ADDON_MISSING'
      | 'TUN_BAD_OPTIONS',
    message: string,
    errno?: number,
  ) {
    super(code, message);
    this.errno = errno;
  }
}

interface NativeReader {
  stop(): void;
}

interface NativeAddon {
  open(name: string, options: { tap: boolean; multiQueue: boolean }): { fd: number; name: string };
  Reader: new (
    fd: number,
    buffer: Buffer,
    slotBytes: number,
    lengths: Int32Array,
    onPackets: (count: number, errno: number) => void,
  ) => NativeReader;
}

let addon: NativeAddon | undefined;

/** Loads the compiled addon once. Resolved through the package, so it works from the CLI bundle too. */
function loadAddon(): NativeAddon {
  if (addon) return addon;
  const require = createRequire(import.meta.url);
  const packageRoot = dirname(require.resolve('@capsule/tun/package.json'));
  try {
    addon = require(join(packageRoot, 'build', 'Release', 'tun.node')) as NativeAddon;
  } catch (cause) {
    throw new TunError(
      'TUN_ADDON_MISSING',
      `the TUN addon is not built (run npm ci, which compiles packages/tun): ${(cause as Error).message}`,
    );
  }
  return addon;
}

const defaultSlotBytes = 65_536 + 4;
const defaultBatchPackets = 64;

/** Opens a TUN (default) or TAP device. Needs root or CAP_NET_ADMIN. */
export function openTun(options: TunDeviceOptions): TunDevice {
  const mode = options.mode ?? 'tun';
  const slotBytes = options.slotBytes ?? defaultSlotBytes;
  const batchPackets = options.batchPackets ?? defaultBatchPackets;
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(options.name)) {
    throw new TunError(
      'TUN_BAD_OPTIONS',
      `interface name must be 1–15 of [A-Za-z0-9_.-], got ${JSON.stringify(options.name)}`,
    );
  }
  if (
    !Number.isInteger(slotBytes) ||
    slotBytes < 1280 ||
    !Number.isInteger(batchPackets) ||
    batchPackets < 1
  ) {
    throw new TunError('TUN_BAD_OPTIONS', 'slotBytes must be an integer ≥ 1280 and batchPackets ≥ 1');
  }
  const native = loadAddon();
  let opened: { fd: number; name: string };
  try {
    opened = native.open(options.name, { tap: mode === 'tap', multiQueue: options.multiQueue ?? false });
  } catch (cause) {
    const failure = cause as Error & { code?: string; errno?: number };
    throw new TunError(
      failure.code === 'TUN_PERMISSION' ? 'TUN_PERMISSION' : 'TUN_OPEN_FAILED',
      failure.message,
      failure.errno,
    );
  }
  const buffer = Buffer.allocUnsafe(slotBytes * batchPackets);
  const lengths = new Int32Array(batchPackets);
  let reader: NativeReader | undefined;
  let closed = false;

  return {
    name: opened.name,
    mode,
    fd: opened.fd,
    start(onPacket, onError) {
      if (closed) throw new TunError('TUN_READ_FAILED', `device ${opened.name} is closed`);
      if (reader) throw new TunError('TUN_BAD_OPTIONS', `device ${opened.name} is already reading`);
      reader = new native.Reader(opened.fd, buffer, slotBytes, lengths, (count, errno) => {
        for (let index = 0; index < count; index++) onPacket(buffer, index * slotBytes, lengths[index]!);
        if (errno !== 0) {
          reader = undefined;
          onError?.(new TunError('TUN_READ_FAILED', `reading ${opened.name} failed (errno ${errno})`, errno));
        }
      });
    },
    write(bytes, offset = 0, length = bytes.length - offset) {
      try {
        writeSync(opened.fd, bytes, offset, length);
      } catch (cause) {
        const failure = cause as NodeJS.ErrnoException;
        throw new TunError(
          'TUN_WRITE_FAILED',
          `writing to ${opened.name} failed: ${failure.message}`,
          failure.errno,
        );
      }
    },
    close() {
      if (closed) return;
      closed = true;
      reader?.stop();
      reader = undefined;
      closeSync(opened.fd);
    },
  };
}
