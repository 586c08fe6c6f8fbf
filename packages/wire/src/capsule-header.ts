/**
 * The capsule header: an IPv6 extension header (next header 253, RFC 3692 experimental value) in
 * the RFC 8200 generic format, carrying the packet's chunks.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Next Header  |  Hdr Ext Len  |Version| Type  |     Flags     |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Chunk Type|     Chunk Length (bytes)  |  Chunk Value …        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  … more chunks, ascending type, each at most once …           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  zero padding (0..7 bytes) to a multiple of 8 octets          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 * - Hdr Ext Len: length in 8-octet units, not counting the first 8 (RFC 8200), so ≤ 2048 bytes.
 * - Version 1. Type: I = 1 (AUTH + CODE + DATA, PATH optional), II = 2 (CODE + DATA, PATH
 *   optional, no AUTH), III = 3 (no AUTH, no CODE; PATH and DATA optional). TRACE is allowed in all.
 * - Flags: bit 0 (0x01) TRACE — engines append a TRACE record; other bits sent as 0, ignored.
 * - A chunk header is 16 bits: type (4) and value length in bytes (12), the header not counted.
 *   Chunk types start at 1, so a zero byte where a chunk would start begins the padding.
 * - Value limits: AUTH ≤ 160, PATH ≤ 256, CODE ≤ 2 + 2 × entries + 1024, DATA ≤ 256, TRACE ≤ 256,
 *   TRANSPORT exactly 6 (transport-chunk.ts: the sealed packet's protocol and ports, in cleartext;
 *   agents put it in every packet that carries a payload, engines' programs read it, the
 *   receiving agent checks it against the packet it opens). Engines append TRACE records before
 *   it, keeping the ascending order.
 * - Next header 59 means an e2e-sealed payload follows (sealed-payload.ts).
 */
import { readU16, writeU16 } from './bytes';
import {
  type CodeChunk,
  checkCodeChunk,
  codeChunkLength,
  decodeCodeChunk,
  encodeCodeChunk,
} from './code-chunk';
import {
  type DecodeError,
  type DecodeErrorCode,
  type DecodeResult,
  decoded,
  decodeFailure,
} from './decode-result';
import {
  checkPathChunk,
  decodePathChunk,
  encodePathChunk,
  type PathChunk,
  pathChunkLength,
} from './path-chunk';
import {
  checkTraceChunk,
  decodeTraceChunk,
  encodeTraceChunk,
  TRACE_RECORD_LENGTH,
  type TraceRecord,
} from './trace-chunk';
import {
  checkTransportChunk,
  decodeTransportChunk,
  encodeTransportChunk,
  TRANSPORT_CHUNK_LENGTH,
  type TransportChunk,
} from './transport-chunk';
import { ensureRoom, ensureUint, WireError } from './wire-error';

/** The capsule header version this codec speaks. */
export const CAPSULE_VERSION = 1;
/** The IPv6 next-header value announcing a capsule header. */
export const CAPSULE_NEXT_HEADER = 253;
/** Bytes before the first chunk. */
export const CAPSULE_FIXED_LENGTH = 4;
/** Largest capsule header: (255 + 1) × 8. */
export const CAPSULE_HEADER_LIMIT = 2048;
/** Bytes of a chunk header. */
export const CHUNK_HEADER_LENGTH = 2;

/** Packet types (the original product's type I, II, III). */
export const PacketType = { I: 1, II: 2, III: 3 } as const;
export type PacketType = (typeof PacketType)[keyof typeof PacketType];

/** Chunk types. */
export const ChunkType = { AUTH: 1, PATH: 2, CODE: 3, DATA: 4, TRACE: 5, TRANSPORT: 6 } as const;
export type ChunkType = (typeof ChunkType)[keyof typeof ChunkType];

/** Capsule header flags. */
export const CapsuleFlag = { TRACE: 0x01 } as const;

/** Value limits per chunk type, in bytes (CODE: of its machine code; its entry table comes on top). */
export const ChunkLimit = {
  AUTH: 160,
  PATH: 256,
  CODE_MACHINE_CODE: 1024,
  DATA: 256,
  TRACE: 256,
  TRANSPORT: TRANSPORT_CHUNK_LENGTH,
} as const;

/** A capsule header as a sender builds it; absent chunks are undefined. */
export interface CapsuleHeader {
  /** What follows: 59 for an e2e-sealed payload, else an upper-layer protocol. */
  readonly nextHeader: number;
  readonly packetType: PacketType;
  readonly flags: number;
  /** The flow authorization, opaque here (identity encodes and signs it). */
  readonly auth?: Uint8Array;
  readonly path?: PathChunk;
  readonly code?: CodeChunk;
  /** The program's packet-carried variables, opaque here. */
  readonly data?: Uint8Array;
  readonly trace?: readonly TraceRecord[];
  /** The sealed packet's protocol and ports (transport-chunk.ts). */
  readonly transport?: TransportChunk;
}

/** A decoded capsule header (chunk values are views into the input). */
export interface DecodedCapsuleHeader extends CapsuleHeader {
  readonly version: number;
  /** Whole header length in bytes ((hdr ext len + 1) × 8). */
  readonly length: number;
}

/** The encoded length of `header` (padding included). */
export function capsuleHeaderLength(header: CapsuleHeader): number {
  let length = CAPSULE_FIXED_LENGTH;
  if (header.auth) length += CHUNK_HEADER_LENGTH + header.auth.length;
  if (header.path) length += CHUNK_HEADER_LENGTH + pathChunkLength(header.path);
  if (header.code) length += CHUNK_HEADER_LENGTH + codeChunkLength(header.code);
  if (header.data) length += CHUNK_HEADER_LENGTH + header.data.length;
  if (header.trace) length += CHUNK_HEADER_LENGTH + header.trace.length * TRACE_RECORD_LENGTH;
  if (header.transport) length += CHUNK_HEADER_LENGTH + TRANSPORT_CHUNK_LENGTH;
  return (length + 7) & ~7;
}

/** The packet-type rule broken by this set of chunks, or undefined. */
export function packetTypeViolation(
  packetType: number,
  hasAuth: boolean,
  hasCode: boolean,
  hasData: boolean,
) {
  switch (packetType) {
    case PacketType.I:
      return hasAuth && hasCode && hasData ? undefined : 'a type I packet needs AUTH, CODE and DATA chunks';
    case PacketType.II:
      if (hasAuth) return 'a type II packet carries no AUTH chunk';
      return hasCode && hasData ? undefined : 'a type II packet needs CODE and DATA chunks';
    case PacketType.III:
      return hasAuth || hasCode ? 'a type III packet carries no AUTH or CODE chunk' : undefined;
    default:
      return `unknown packet type ${packetType}`;
  }
}

/** Writes a chunk header at into[at] for a value already written after it; returns the end of the chunk. */
function writeChunkHeader(into: Uint8Array, at: number, type: ChunkType, valueLength: number): number {
  writeU16(into, at, (type << 12) | valueLength);
  return at + CHUNK_HEADER_LENGTH + valueLength;
}

/** Writes the capsule header at into[offset]; returns its length (a multiple of 8). */
export function encodeCapsuleHeader(header: CapsuleHeader, into: Uint8Array, offset = 0): number {
  ensureUint(header.nextHeader, 8, 'capsule nextHeader');
  ensureUint(header.flags, 8, 'capsule flags');
  const violation = packetTypeViolation(header.packetType, !!header.auth, !!header.code, !!header.data);
  if (violation) throw new WireError('WIRE_VALUE_INVALID', violation);
  if (header.auth && (header.auth.length === 0 || header.auth.length > ChunkLimit.AUTH))
    throw new WireError(
      'WIRE_LIMIT_EXCEEDED',
      `AUTH chunk must be 1..${ChunkLimit.AUTH} bytes; got ${header.auth.length}`,
    );
  if (header.data && header.data.length > ChunkLimit.DATA)
    throw new WireError(
      'WIRE_LIMIT_EXCEEDED',
      `DATA chunk of ${header.data.length} bytes > ${ChunkLimit.DATA}`,
    );
  const length = capsuleHeaderLength(header);
  if (length > CAPSULE_HEADER_LIMIT)
    throw new WireError('WIRE_LIMIT_EXCEEDED', `capsule header of ${length} bytes > ${CAPSULE_HEADER_LIMIT}`);
  ensureRoom(into, offset, length, 'capsule header');
  into[offset] = header.nextHeader;
  into[offset + 1] = length / 8 - 1;
  into[offset + 2] = (CAPSULE_VERSION << 4) | header.packetType;
  into[offset + 3] = header.flags;
  let at = offset + CAPSULE_FIXED_LENGTH;
  const { auth, path, code, data, trace, transport } = header;
  if (auth) {
    into.set(auth, at + CHUNK_HEADER_LENGTH);
    at = writeChunkHeader(into, at, ChunkType.AUTH, auth.length);
  }
  if (path)
    at = writeChunkHeader(into, at, ChunkType.PATH, encodePathChunk(path, into, at + CHUNK_HEADER_LENGTH));
  if (code)
    at = writeChunkHeader(into, at, ChunkType.CODE, encodeCodeChunk(code, into, at + CHUNK_HEADER_LENGTH));
  if (data) {
    into.set(data, at + CHUNK_HEADER_LENGTH);
    at = writeChunkHeader(into, at, ChunkType.DATA, data.length);
  }
  if (trace)
    at = writeChunkHeader(into, at, ChunkType.TRACE, encodeTraceChunk(trace, into, at + CHUNK_HEADER_LENGTH));
  if (transport)
    at = writeChunkHeader(
      into,
      at,
      ChunkType.TRANSPORT,
      encodeTransportChunk(transport, into, at + CHUNK_HEADER_LENGTH),
    );
  into.fill(0, at, offset + length);
  return length;
}

/**
 * A cursor over the chunks of one capsule header that allocates nothing: `reset` then `next()`
 * until it returns false; after a false, `errorCode` is undefined at the end of the chunks (the
 * padding checked) or names what was wrong. Offsets are absolute in the buffer.
 */
export class CapsuleChunkCursor {
  type = 0;
  /** Offset of the current chunk's header. */
  chunkOffset = 0;
  valueOffset = 0;
  valueLength = 0;
  errorCode: DecodeErrorCode | undefined = undefined;
  errorMessage = '';
  errorOffset = 0;
  private bytes: Uint8Array = new Uint8Array(0);
  private at = 0;
  private end = 0;

  /** Positions the cursor on the header at bytes[headerOffset, headerEnd) (headerEnd from hdr ext len). */
  reset(bytes: Uint8Array, headerOffset: number, headerEnd: number): this {
    this.bytes = bytes;
    this.at = headerOffset + CAPSULE_FIXED_LENGTH;
    this.end = headerEnd;
    this.type = 0;
    this.errorCode = undefined;
    return this;
  }

  /** Advances to the next chunk; false at the padding or on an error. */
  next(): boolean {
    const { bytes, at, end } = this;
    if (at >= end || bytes[at] === 0 || end - at < CHUNK_HEADER_LENGTH) {
      if (end - at > 7) return this.fail('BAD_PADDING', `${end - at} bytes of padding (at most 7)`, at);
      for (let i = at; i < end; i++)
        if (bytes[i] !== 0) return this.fail('BAD_PADDING', 'non-zero padding', i);
      this.at = end;
      return false;
    }
    if (at + CHUNK_HEADER_LENGTH > end) return this.fail('TRUNCATED', 'chunk header cut short', at);
    const word = readU16(bytes, at);
    const type = word >>> 12;
    const valueLength = word & 0x0fff;
    if (type === 0) return this.fail('BAD_PADDING', 'non-zero padding', at);
    if (type <= this.type) return this.fail('CHUNK_ORDER', `chunk type ${type} after ${this.type}`, at);
    if (type > ChunkType.TRANSPORT) return this.fail('UNKNOWN_TYPE', `unknown chunk type ${type}`, at);
    const valueOffset = at + CHUNK_HEADER_LENGTH;
    if (valueOffset + valueLength > end)
      return this.fail('TRUNCATED', `chunk ${type} of ${valueLength} bytes runs past the header`, at);
    this.type = type;
    this.chunkOffset = at;
    this.valueOffset = valueOffset;
    this.valueLength = valueLength;
    this.at = valueOffset + valueLength;
    return true;
  }

  private fail(code: DecodeErrorCode, message: string, offset: number): false {
    this.errorCode = code;
    this.errorMessage = message;
    this.errorOffset = offset;
    this.at = this.end;
    return false;
  }
}

/**
 * A preallocated, fully validating view of one capsule header for the engine's hot path: `parse`
 * checks everything `decodeCapsuleHeader` checks and records where each chunk's value is, without
 * allocating on success. Offsets are absolute; an absent chunk has offset -1.
 */
export class CapsuleHeaderView {
  nextHeader = 0;
  /** Whole header length in bytes. */
  length = 0;
  version = 0;
  packetType = 0;
  flags = 0;
  authOffset = -1;
  authLength = 0;
  pathOffset = -1;
  pathLength = 0;
  codeOffset = -1;
  codeLength = 0;
  dataOffset = -1;
  dataLength = 0;
  traceOffset = -1;
  traceLength = 0;
  /** Where the TRANSPORT value starts (absolute; its length is TRANSPORT_CHUNK_LENGTH), -1 when absent. */
  transportOffset = -1;
  /** Why the last parse failed (undefined after success); the offset is relative to the header. */
  errorCode: DecodeErrorCode | undefined = undefined;
  errorMessage = '';
  errorOffset = 0;
  private readonly cursor = new CapsuleChunkCursor();

  /** Parses the header at bytes[offset, end) (end: the end of the packet); true when valid. */
  parse(bytes: Uint8Array, offset = 0, end = bytes.length): boolean {
    this.errorCode = undefined;
    this.authOffset = this.pathOffset = this.codeOffset = this.dataOffset = this.traceOffset = -1;
    this.transportOffset = -1;
    this.authLength = this.pathLength = this.codeLength = this.dataLength = this.traceLength = 0;
    if (end - offset < 8) return this.fail('TRUNCATED', 'capsule header needs 8 bytes', 0);
    const length = (bytes[offset + 1]! + 1) * 8;
    if (offset + length > end)
      return this.fail('TRUNCATED', `capsule header of ${length} bytes cut short`, 1);
    const version = bytes[offset + 2]! >>> 4;
    if (version !== CAPSULE_VERSION) return this.fail('BAD_VERSION', `capsule version ${version}`, 2);
    this.nextHeader = bytes[offset]!;
    this.length = length;
    this.version = version;
    this.packetType = bytes[offset + 2]! & 0x0f;
    this.flags = bytes[offset + 3]!;
    if (this.packetType < PacketType.I || this.packetType > PacketType.III)
      return this.fail('UNKNOWN_TYPE', `unknown packet type ${this.packetType}`, 2);
    const cursor = this.cursor.reset(bytes, offset, offset + length);
    while (cursor.next()) {
      const at = cursor.valueOffset;
      const valueLength = cursor.valueLength;
      let problem: DecodeError | undefined;
      switch (cursor.type) {
        case ChunkType.AUTH:
          if (valueLength === 0 || valueLength > ChunkLimit.AUTH)
            return this.fail(
              'LIMIT_EXCEEDED',
              `AUTH chunk of ${valueLength} bytes (1..160)`,
              cursor.chunkOffset - offset,
            );
          this.authOffset = at;
          this.authLength = valueLength;
          break;
        case ChunkType.PATH:
          problem = checkPathChunk(bytes, at, valueLength);
          this.pathOffset = at;
          this.pathLength = valueLength;
          break;
        case ChunkType.CODE:
          problem = checkCodeChunk(bytes, at, valueLength);
          this.codeOffset = at;
          this.codeLength = valueLength;
          break;
        case ChunkType.DATA:
          if (valueLength > ChunkLimit.DATA)
            return this.fail(
              'LIMIT_EXCEEDED',
              `DATA chunk of ${valueLength} bytes > 256`,
              cursor.chunkOffset - offset,
            );
          this.dataOffset = at;
          this.dataLength = valueLength;
          break;
        case ChunkType.TRACE:
          problem = checkTraceChunk(valueLength);
          this.traceOffset = at;
          this.traceLength = valueLength;
          break;
        default:
          problem = checkTransportChunk(bytes, at, valueLength);
          this.transportOffset = at;
      }
      if (problem) return this.fail(problem.code, problem.message, at - offset + problem.offset);
    }
    if (cursor.errorCode)
      return this.fail(cursor.errorCode, cursor.errorMessage, cursor.errorOffset - offset);
    const violation = packetTypeViolation(
      this.packetType,
      this.authOffset >= 0,
      this.codeOffset >= 0,
      this.dataOffset >= 0,
    );
    if (violation) return this.fail('PACKET_TYPE_RULE', violation, 2);
    return true;
  }

  private fail(code: DecodeErrorCode, message: string, offset: number): false {
    this.errorCode = code;
    this.errorMessage = message;
    this.errorOffset = offset;
    return false;
  }
}

// One view reused by decodeCapsuleHeader: decoding is synchronous, so it is never shared by two calls.
const sharedView = new CapsuleHeaderView();

/** Decodes the capsule header at the start of `bytes` (which may continue with the payload). */
export function decodeCapsuleHeader(bytes: Uint8Array): DecodeResult<DecodedCapsuleHeader> {
  const view = sharedView;
  if (!view.parse(bytes, 0, bytes.length))
    return decodeFailure(view.errorCode ?? 'BAD_FIELD', view.errorMessage, view.errorOffset);
  const slice = (at: number, length: number) => bytes.subarray(at, at + length);
  // Built field by field: object spread is ~100× slower than a literal in Node 20.
  const header: { -readonly [K in keyof DecodedCapsuleHeader]: DecodedCapsuleHeader[K] } = {
    nextHeader: view.nextHeader,
    version: view.version,
    packetType: view.packetType as PacketType,
    flags: view.flags,
    length: view.length,
  };
  // The view validated every chunk, so these decoders succeed.
  if (view.authOffset >= 0) header.auth = slice(view.authOffset, view.authLength);
  if (view.pathOffset >= 0) {
    const path = decodePathChunk(slice(view.pathOffset, view.pathLength));
    if (path.ok) header.path = path.value;
  }
  if (view.codeOffset >= 0) {
    const code = decodeCodeChunk(slice(view.codeOffset, view.codeLength));
    if (code.ok) header.code = code.value;
  }
  if (view.dataOffset >= 0) header.data = slice(view.dataOffset, view.dataLength);
  if (view.traceOffset >= 0) {
    const trace = decodeTraceChunk(slice(view.traceOffset, view.traceLength));
    if (trace.ok) header.trace = trace.value;
  }
  if (view.transportOffset >= 0) {
    const transport = decodeTransportChunk(slice(view.transportOffset, TRANSPORT_CHUNK_LENGTH));
    if (transport.ok) header.transport = transport.value;
  }
  return decoded(header);
}
