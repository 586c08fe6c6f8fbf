/**
 * The classic pcap file format (libpcap; draft-ietf-opsawg-pcap) with microsecond timestamps,
 * written into buffers (the caller writes the file). Capsule writes LINKTYPE_RAW (101): each
 * record is a bare IPv4 or IPv6 packet, so tshark and Wireshark dissect it unmodified.
 *
 * ```
 * File header (24 bytes, little-endian as written here; the magic tells readers the order):
 * | Magic 0xA1B2C3D4 (32) | Major 2 (16) | Minor 4 (16) | Reserved (32) | Reserved (32) |
 * | SnapLen (32) | LinkType (32) |
 * Record, repeated:
 * | Seconds (32) | Microseconds (32) | Captured Length (32) | Original Length (32) | Packet … |
 * ```
 */
import { type DecodeResult, decoded, decodeFailure } from './decode-result';
import { ensureRoom, ensureUint, WireError } from './wire-error';

/** Link type of bare IP packets. */
export const LINKTYPE_RAW = 101;
/** Bytes of the file header. */
export const PCAP_FILE_HEADER_LENGTH = 24;
/** Bytes of each record header. */
export const PCAP_RECORD_HEADER_LENGTH = 16;
/** Magic number of microsecond-resolution files. */
export const PCAP_MAGIC_MICROSECONDS = 0xa1b2c3d4;

/** One captured packet. */
export interface PcapRecord {
  /** Microseconds since the Unix epoch. */
  readonly timestampUs: number;
  readonly packet: Uint8Array;
  /** Length on the wire when the packet was cut to the snap length; defaults to packet.length. */
  readonly originalLength?: number;
}

/** A decoded pcap file (packets are views into the input). */
export interface PcapFile {
  readonly linkType: number;
  readonly snapLength: number;
  readonly records: readonly PcapRecord[];
}

function writeLe32(into: Uint8Array, offset: number, value: number): void {
  into[offset] = value;
  into[offset + 1] = value >>> 8;
  into[offset + 2] = value >>> 16;
  into[offset + 3] = value >>> 24;
}

function readLe32(bytes: Uint8Array, offset: number): number {
  return (
    (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>>
    0
  );
}

/** Writes the file header at into[offset]; returns 24. */
export function encodePcapFileHeader(
  into: Uint8Array,
  offset = 0,
  options: { readonly linkType?: number; readonly snapLength?: number } = {},
): number {
  const linkType = options.linkType ?? LINKTYPE_RAW;
  const snapLength = options.snapLength ?? 65535;
  ensureUint(linkType, 32, 'pcap linkType');
  ensureUint(snapLength, 32, 'pcap snapLength');
  ensureRoom(into, offset, PCAP_FILE_HEADER_LENGTH, 'pcap file header');
  writeLe32(into, offset, PCAP_MAGIC_MICROSECONDS);
  into[offset + 4] = 2;
  into[offset + 5] = 0;
  into[offset + 6] = 4;
  into[offset + 7] = 0;
  into.fill(0, offset + 8, offset + 16);
  writeLe32(into, offset + 16, snapLength);
  writeLe32(into, offset + 20, linkType);
  return PCAP_FILE_HEADER_LENGTH;
}

/** Writes one record at into[offset]; returns 16 + the packet length. */
export function encodePcapRecord(record: PcapRecord, into: Uint8Array, offset = 0): number {
  if (
    !Number.isSafeInteger(record.timestampUs) ||
    record.timestampUs < 0 ||
    record.timestampUs >= 2 ** 32 * 1e6
  )
    throw new WireError('WIRE_VALUE_INVALID', `pcap timestamp ${record.timestampUs} µs out of range`);
  const originalLength = record.originalLength ?? record.packet.length;
  ensureUint(originalLength, 32, 'pcap originalLength');
  if (originalLength < record.packet.length)
    throw new WireError('WIRE_VALUE_INVALID', 'pcap originalLength shorter than the captured packet');
  const length = PCAP_RECORD_HEADER_LENGTH + record.packet.length;
  ensureRoom(into, offset, length, 'pcap record');
  writeLe32(into, offset, Math.floor(record.timestampUs / 1e6));
  writeLe32(into, offset + 4, record.timestampUs % 1e6);
  writeLe32(into, offset + 8, record.packet.length);
  writeLe32(into, offset + 12, originalLength);
  into.set(record.packet, offset + PCAP_RECORD_HEADER_LENGTH);
  return length;
}

/** A whole pcap file holding `records` (LINKTYPE_RAW unless told otherwise). */
export function encodePcapFile(
  records: readonly PcapRecord[],
  options: { readonly linkType?: number } = {},
): Uint8Array {
  let length = PCAP_FILE_HEADER_LENGTH;
  for (const record of records) length += PCAP_RECORD_HEADER_LENGTH + record.packet.length;
  const file = new Uint8Array(length);
  let at = encodePcapFileHeader(file, 0, options);
  for (const record of records) at += encodePcapRecord(record, file, at);
  return file;
}

/** Decodes a microsecond pcap file (either byte order). */
export function decodePcapFile(bytes: Uint8Array): DecodeResult<PcapFile> {
  if (bytes.length < PCAP_FILE_HEADER_LENGTH)
    return decodeFailure('TRUNCATED', 'pcap file header cut short', 0);
  const magicLe = readLe32(bytes, 0);
  const isLittleEndian = magicLe === PCAP_MAGIC_MICROSECONDS;
  const isBigEndian = magicLe === 0xd4c3b2a1;
  if (!isLittleEndian && !isBigEndian)
    return decodeFailure('BAD_VERSION', `not a microsecond pcap file (magic 0x${magicLe.toString(16)})`, 0);
  const read32 = (at: number) =>
    isLittleEndian
      ? readLe32(bytes, at)
      : ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
  const major = isLittleEndian ? bytes[4]! | (bytes[5]! << 8) : (bytes[4]! << 8) | bytes[5]!;
  if (major !== 2) return decodeFailure('BAD_VERSION', `pcap major version ${major}`, 4);
  const snapLength = read32(16);
  const linkType = read32(20) & 0x0fffffff;
  const records: PcapRecord[] = [];
  let at = PCAP_FILE_HEADER_LENGTH;
  while (at < bytes.length) {
    if (at + PCAP_RECORD_HEADER_LENGTH > bytes.length)
      return decodeFailure('TRUNCATED', 'pcap record header cut short', at);
    const microseconds = read32(at + 4);
    if (microseconds >= 1e6)
      return decodeFailure('BAD_FIELD', `pcap microseconds ${microseconds} ≥ 10^6`, at + 4);
    const capturedLength = read32(at + 8);
    const originalLength = read32(at + 12);
    if (at + PCAP_RECORD_HEADER_LENGTH + capturedLength > bytes.length)
      return decodeFailure('TRUNCATED', `pcap record of ${capturedLength} bytes cut short`, at + 8);
    if (originalLength < capturedLength)
      return decodeFailure('BAD_LENGTH', 'pcap original length shorter than captured', at + 12);
    const packetAt = at + PCAP_RECORD_HEADER_LENGTH;
    records.push({
      timestampUs: read32(at) * 1e6 + microseconds,
      packet: bytes.subarray(packetAt, packetAt + capturedLength),
      originalLength,
    });
    at = packetAt + capturedLength;
  }
  return decoded({ linkType, snapLength, records });
}
