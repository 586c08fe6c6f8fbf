/**
 * The TRACE append: a copy of a packet with one more TRACE record (engine id, time, fuel, verdict,
 * reason: @capsule/wire trace-chunk.ts) in its TRACE chunk — which is created after the last
 * chunk when the packet has none, or just before the TRANSPORT chunk (type 6, the last in
 * ascending order) when the packet has one. The capsule header grows by 12 bytes (14 with the new chunk's
 * header), padded to a multiple of 8 as the header length field requires, and the IPv6 payload
 * length follows:
 *
 * ```
 *  received:  | IPv6 | capsule fixed | chunks … [TRACE: n records] [TRANSPORT] | pad | payload |
 *  sent:      | IPv6 | capsule fixed | chunks … [TRACE: n+1 records]   [TRANSPORT] | pad' | payload |
 * ```
 *
 * The copy is written into a caller's buffer (the engine's preallocated egress buffer): the
 * received packet is left as it is, and nothing is allocated.
 */
import {
  CAPSULE_HEADER_LIMIT,
  type CapsuleHeaderView,
  CHUNK_HEADER_LENGTH,
  ChunkType,
  IPV6_HEADER_LENGTH,
  TRACE_CHUNK_LIMIT,
  TRACE_RECORD_LENGTH,
  TRANSPORT_CHUNK_LENGTH,
  writeU16,
  writeU32,
} from '@capsule/wire';

/**
 * Writes the packet src[base, base + packetLength) (its capsule header parsed in `view`) with one
 * more TRACE record into `out` from 0; returns the new packet's length, or 0 when the TRACE chunk
 * or the capsule header would exceed its limit (nothing useful is written then).
 */
export function appendTraceRecord(
  out: Uint8Array,
  src: Uint8Array,
  base: number,
  packetLength: number,
  view: CapsuleHeaderView,
  engineId: number,
  timeUs: number,
  fuelUsed: number,
  verdict: number,
  reason: number,
): number {
  const capsuleAt = base + IPV6_HEADER_LENGTH;
  const capsuleEnd = capsuleAt + view.length;
  const packetEnd = base + packetLength;
  // The end of the last chunk (chunks may come in any order; an absent one has offset -1, length 0).
  let chunksEnd = capsuleAt + 4;
  if (view.authOffset + view.authLength > chunksEnd) chunksEnd = view.authOffset + view.authLength;
  if (view.pathOffset + view.pathLength > chunksEnd) chunksEnd = view.pathOffset + view.pathLength;
  if (view.codeOffset + view.codeLength > chunksEnd) chunksEnd = view.codeOffset + view.codeLength;
  if (view.dataOffset + view.dataLength > chunksEnd) chunksEnd = view.dataOffset + view.dataLength;
  if (view.traceOffset + view.traceLength > chunksEnd) chunksEnd = view.traceOffset + view.traceLength;
  // Where the record goes: the end of the TRACE chunk, else before TRANSPORT, else after the rest.
  let insertAt = chunksEnd;
  if (view.transportOffset >= 0) {
    insertAt = view.transportOffset - CHUNK_HEADER_LENGTH;
    chunksEnd = view.transportOffset + TRANSPORT_CHUNK_LENGTH;
  }
  if (view.traceOffset >= 0) insertAt = view.traceOffset + view.traceLength;
  const hasTrace = view.traceOffset >= 0;
  const added = hasTrace ? TRACE_RECORD_LENGTH : CHUNK_HEADER_LENGTH + TRACE_RECORD_LENGTH;
  const newTraceLength = (hasTrace ? view.traceLength : 0) + TRACE_RECORD_LENGTH;
  const newCapsuleLength = (chunksEnd + added - capsuleAt + 7) & ~7;
  if (newTraceLength > TRACE_CHUNK_LIMIT || newCapsuleLength > CAPSULE_HEADER_LIMIT) return 0;
  let w = 0;
  for (let i = base; i < insertAt; i++) out[w++] = src[i]!;
  if (hasTrace) {
    const header = view.traceOffset - CHUNK_HEADER_LENGTH - base;
    out[header] = (ChunkType.TRACE << 4) | (newTraceLength >>> 8);
    out[header + 1] = newTraceLength & 0xff;
  } else {
    out[w++] = (ChunkType.TRACE << 4) | (TRACE_RECORD_LENGTH >>> 8);
    out[w++] = TRACE_RECORD_LENGTH & 0xff;
  }
  writeU16(out, w, engineId);
  writeU32(out, w + 2, timeUs);
  writeU32(out, w + 6, fuelUsed);
  out[w + 10] = verdict;
  out[w + 11] = Math.min(255, reason);
  w += TRACE_RECORD_LENGTH;
  for (let i = insertAt; i < chunksEnd; i++) out[w++] = src[i]!;
  const newCapsuleEnd = IPV6_HEADER_LENGTH + newCapsuleLength;
  while (w < newCapsuleEnd) out[w++] = 0;
  for (let i = capsuleEnd; i < packetEnd; i++) out[w++] = src[i]!;
  out[IPV6_HEADER_LENGTH + 1] = newCapsuleLength / 8 - 1;
  writeU16(out, 4, w - IPV6_HEADER_LENGTH);
  return w;
}
