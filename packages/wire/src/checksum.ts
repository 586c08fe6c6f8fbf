/**
 * The Internet checksum (RFC 1071), the IPv4 and IPv6 pseudo-headers that TCP, UDP and ICMPv6
 * checksums cover (RFC 9293 3.1, RFC 768, RFC 8200 8.1, RFC 4443 2.3), and incremental updates
 * (RFC 1624) for rewriting a field without re-summing the packet.
 *
 * Sums are "partial sums": unfolded one's-complement sums that can be added together and are
 * folded to 16 bits only by `finishChecksum`. A range that does not end the data must have an
 * even length (a 16-bit word split across two ranges would be summed wrongly).
 */
import { readU16 } from './bytes';

/** Adds the 16-bit big-endian words of bytes[start, end) to `initialSum`; an odd last byte is padded with zero. */
export function onesComplementSum(bytes: Uint8Array, start = 0, end = bytes.length, initialSum = 0): number {
  let sum = initialSum;
  let i = start;
  const evenEnd = end - ((end - start) & 1);
  for (; i < evenEnd; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (i < end) sum += bytes[i]! << 8;
  return sum;
}

/** Folds a partial sum to 16 bits and complements it: the value to store in a checksum field. */
export function finishChecksum(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/** The Internet checksum of bytes[start, end) (the field itself must be zero, or the result is 0 when it verifies). */
export function internetChecksum(bytes: Uint8Array, start = 0, end = bytes.length, initialSum = 0): number {
  return finishChecksum(onesComplementSum(bytes, start, end, initialSum));
}

/**
 * The partial sum of the IPv4 pseudo-header (RFC 9293 3.1): source, destination, zero, protocol,
 * upper-layer length. Addresses are 4 bytes at the given offsets.
 */
export function ipv4PseudoHeaderSum(
  source: Uint8Array,
  destination: Uint8Array,
  protocol: number,
  upperLayerLength: number,
  sourceOffset = 0,
  destinationOffset = 0,
): number {
  return (
    readU16(source, sourceOffset) +
    readU16(source, sourceOffset + 2) +
    readU16(destination, destinationOffset) +
    readU16(destination, destinationOffset + 2) +
    protocol +
    upperLayerLength
  );
}

/**
 * The partial sum of the IPv6 pseudo-header (RFC 8200 8.1): source, destination, 32-bit
 * upper-layer length, 24 zero bits, next header. Addresses are 16 bytes at the given offsets.
 */
export function ipv6PseudoHeaderSum(
  source: Uint8Array,
  destination: Uint8Array,
  nextHeader: number,
  upperLayerLength: number,
  sourceOffset = 0,
  destinationOffset = 0,
): number {
  let sum = onesComplementSum(source, sourceOffset, sourceOffset + 16);
  sum = onesComplementSum(destination, destinationOffset, destinationOffset + 16, sum);
  return sum + Math.floor(upperLayerLength / 0x10000) + (upperLayerLength & 0xffff) + nextHeader;
}

/**
 * RFC 1624 equation 3: the new checksum after one 16-bit word of the covered data changes from
 * `oldWord` to `newWord`: HC' = ~(~HC + ~m + m').
 */
export function updateChecksumWord(checksum: number, oldWord: number, newWord: number): number {
  return finishChecksum((~checksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff));
}

/**
 * RFC 1624 over a run of words: the new checksum after `length` bytes (even) of the covered data
 * change from oldBytes[oldOffset…] to newBytes[newOffset…]. The run must start at an even offset
 * of the checksummed data. Use it for address rewrites (pseudo-header) and IPv4 TTL changes.
 */
export function updateChecksumBytes(
  checksum: number,
  oldBytes: Uint8Array,
  oldOffset: number,
  newBytes: Uint8Array,
  newOffset: number,
  length: number,
): number {
  let sum = ~checksum & 0xffff;
  for (let i = 0; i < length; i += 2) {
    sum += ~readU16(oldBytes, oldOffset + i) & 0xffff;
    sum += readU16(newBytes, newOffset + i);
  }
  return finishChecksum(sum);
}

/**
 * The checksum of a transport message bytes[start, end) (UDP, TCP, ICMPv6) whose 16-bit checksum
 * field sits at `checksumOffset` (absolute, start-relative even): the field's current contents are
 * skipped, so it may hold anything. `pseudoHeaderSum` is 0 for ICMPv4.
 */
export function transportChecksum(
  pseudoHeaderSum: number,
  bytes: Uint8Array,
  start: number,
  end: number,
  checksumOffset: number,
): number {
  let sum = onesComplementSum(bytes, start, checksumOffset, pseudoHeaderSum);
  sum = onesComplementSum(bytes, checksumOffset + 2, end, sum);
  return finishChecksum(sum);
}

/** True when the checksum stored in bytes[start, end) verifies (the whole sum folds to 0xffff). */
export function isChecksumValid(
  pseudoHeaderSum: number,
  bytes: Uint8Array,
  start: number,
  end: number,
): boolean {
  return finishChecksum(onesComplementSum(bytes, start, end, pseudoHeaderSum)) === 0;
}
