/**
 * The link frame: one UDP datagram (default port 7447) between two overlay neighbors.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Version = 1  |     Type      |     Flags     |  Reserved = 0 |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Receiver Index (32)                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                                                               |
 * +                        Counter (64)                           +
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Body …                                     |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Tag (16 bytes, DATA only)                  |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 * - Receiver index: the receiving side's id for this link (as WireGuard's). Counter: strictly
 *   increasing per direction; the AEAD nonce; checked against a replay window on receipt.
 * - HANDSHAKE (1): the body is a plain IPv6 + ICMPv6 neighbor-discovery packet with SeND options,
 *   signed by itself; no tag.
 * - DATA (2): the body is the inner IPv6 packet; an empty body is a keep-alive. The tag is the
 *   link AEAD's (identity computes it) over the authenticated range `[0, aadEnd)` with an empty
 *   plaintext: the frame header, the inner IPv6 header and the capsule header with its chunks
 *   when an e2e-sealed payload follows (capsule next header 59: that payload is already
 *   authenticated end to end); the whole body otherwise.
 */
import { readU32, readU64, writeU32, writeU64 } from './bytes';
import { type DecodeErrorCode, type DecodeResult, decoded, decodeFailure } from './decode-result';
import { IPV6_HEADER_LENGTH, IpProtocol } from './ipv6';
import { ensureRoom, ensureUint, WireError } from './wire-error';

/** The link-frame version this codec speaks. */
export const LINK_FRAME_VERSION = 1;
/** Bytes before the body. */
export const LINK_FRAME_HEADER_LENGTH = 16;
/** Bytes of the AEAD tag at the end of a DATA frame. */
export const LINK_FRAME_TAG_LENGTH = 16;
/** Default UDP port of overlay links. */
export const LINK_UDP_PORT = 7447;

/** Link-frame types. */
export const LinkFrameType = { HANDSHAKE: 1, DATA: 2 } as const;
export type LinkFrameType = (typeof LinkFrameType)[keyof typeof LinkFrameType];

/** A link frame as a sender builds it. */
export interface LinkFrame {
  readonly type: LinkFrameType;
  /** 8 bits, none defined yet: send 0. */
  readonly flags: number;
  readonly receiverIndex: number;
  /** In [0, 2^64). */
  readonly counter: bigint;
  /** HANDSHAKE: the ND packet; DATA: the inner IPv6 packet (empty for a keep-alive). */
  readonly body: Uint8Array;
  /** DATA only: 16 bytes (zeros are written when absent, for the AEAD to fill in). */
  readonly tag?: Uint8Array;
}

/** A decoded link frame: fields, views into the input and the authenticated range. */
export interface DecodedLinkFrame {
  readonly version: number;
  readonly type: LinkFrameType;
  readonly flags: number;
  readonly receiverIndex: number;
  readonly counter: bigint;
  readonly body: Uint8Array;
  /** DATA only. */
  readonly tag: Uint8Array | undefined;
  /** DATA only: the AEAD's additional data is frame[0, aadEnd); 0 for HANDSHAKE. */
  readonly aadEnd: number;
}

/** The encoded length of `frame`. */
export function linkFrameLength(frame: Pick<LinkFrame, 'type' | 'body'>): number {
  return (
    LINK_FRAME_HEADER_LENGTH +
    frame.body.length +
    (frame.type === LinkFrameType.DATA ? LINK_FRAME_TAG_LENGTH : 0)
  );
}

/** Writes the 16-byte frame header at into[offset]; returns 16. The hot path writes the body in place after it. */
export function encodeLinkFrameHeader(
  frame: Pick<LinkFrame, 'type' | 'flags' | 'receiverIndex' | 'counter'>,
  into: Uint8Array,
  offset = 0,
): number {
  if (frame.type !== LinkFrameType.HANDSHAKE && frame.type !== LinkFrameType.DATA)
    throw new WireError('WIRE_VALUE_INVALID', `unknown link frame type ${frame.type}`);
  ensureUint(frame.flags, 8, 'link frame flags');
  ensureUint(frame.receiverIndex, 32, 'link frame receiverIndex');
  if (typeof frame.counter !== 'bigint' || frame.counter < 0n || frame.counter >= 2n ** 64n)
    throw new WireError(
      'WIRE_VALUE_INVALID',
      `link frame counter must be in [0, 2^64); got ${frame.counter}`,
    );
  ensureRoom(into, offset, LINK_FRAME_HEADER_LENGTH, 'link frame header');
  into[offset] = LINK_FRAME_VERSION;
  into[offset + 1] = frame.type;
  into[offset + 2] = frame.flags;
  into[offset + 3] = 0;
  writeU32(into, offset + 4, frame.receiverIndex);
  writeU64(into, offset + 8, frame.counter);
  return LINK_FRAME_HEADER_LENGTH;
}

/** Writes a whole frame at into[offset]; returns its length. */
export function encodeLinkFrame(frame: LinkFrame, into: Uint8Array, offset = 0): number {
  const length = linkFrameLength(frame);
  ensureRoom(into, offset, length, 'link frame');
  if (frame.type === LinkFrameType.HANDSHAKE && frame.tag !== undefined)
    throw new WireError('WIRE_VALUE_INVALID', 'a HANDSHAKE link frame carries no tag');
  if (frame.tag !== undefined && frame.tag.length !== LINK_FRAME_TAG_LENGTH)
    throw new WireError('WIRE_VALUE_INVALID', `link frame tag must be 16 bytes; got ${frame.tag.length}`);
  encodeLinkFrameHeader(frame, into, offset);
  into.set(frame.body, offset + LINK_FRAME_HEADER_LENGTH);
  if (frame.type === LinkFrameType.DATA) {
    const tagAt = offset + LINK_FRAME_HEADER_LENGTH + frame.body.length;
    if (frame.tag) into.set(frame.tag, tagAt);
    else into.fill(0, tagAt, tagAt + LINK_FRAME_TAG_LENGTH);
  }
  return length;
}

/**
 * End of the authenticated range of a DATA frame whose body is bytes[bodyStart, bodyEnd): past the
 * capsule header when the inner packet is IPv6 → capsule header (253) → sealed payload (59), else
 * bodyEnd. Returns -1 when the inner headers are cut short and -2 when the body is not IPv6 (the
 * frame is dropped either way).
 */
export function linkFrameAadEnd(bytes: Uint8Array, bodyStart: number, bodyEnd: number): number {
  if (bodyEnd === bodyStart) return bodyEnd;
  const capsuleAt = bodyStart + IPV6_HEADER_LENGTH;
  if (capsuleAt > bodyEnd) return -1;
  if (bytes[bodyStart]! >>> 4 !== 6) return -2;
  if (bytes[bodyStart + 6] !== IpProtocol.EXPERIMENTAL_253) return bodyEnd;
  if (capsuleAt + 2 > bodyEnd) return -1;
  const capsuleEnd = capsuleAt + (bytes[capsuleAt + 1]! + 1) * 8;
  if (capsuleEnd > bodyEnd) return -1;
  return bytes[capsuleAt] === IpProtocol.NO_NEXT_HEADER ? capsuleEnd : bodyEnd;
}

/**
 * A preallocated link-frame view for the engine's receive path: `parse` reads the header and
 * ranges of one datagram and allocates nothing. Offsets are absolute in the parsed buffer.
 */
export class LinkFrameView {
  type = 0;
  flags = 0;
  receiverIndex = 0;
  /** Counter, high and low 32 bits (no bigint per packet). */
  counterHigh = 0;
  counterLow = 0;
  bodyOffset = 0;
  bodyEnd = 0;
  /** DATA: offset of the tag; -1 for HANDSHAKE. */
  tagOffset = -1;
  /** DATA: end of the AEAD's additional data, which starts at the frame's first byte. */
  aadEnd = 0;
  errorCode: DecodeErrorCode | undefined = undefined;
  errorMessage = '';
  errorOffset = 0;

  /** Parses the frame at bytes[offset, end); true on success, else the error fields say why. */
  parse(bytes: Uint8Array, offset = 0, end = bytes.length): boolean {
    this.errorCode = undefined;
    if (end - offset < LINK_FRAME_HEADER_LENGTH)
      return this.fail('TRUNCATED', 'link frame header cut short', 0);
    if (bytes[offset] !== LINK_FRAME_VERSION)
      return this.fail('BAD_VERSION', `link frame version ${bytes[offset]}`, 0);
    const type = bytes[offset + 1]!;
    if (type !== LinkFrameType.HANDSHAKE && type !== LinkFrameType.DATA)
      return this.fail('UNKNOWN_TYPE', `link frame type ${type}`, 1);
    if (bytes[offset + 3] !== 0) return this.fail('BAD_FIELD', 'link frame reserved byte is not zero', 3);
    this.type = type;
    this.flags = bytes[offset + 2]!;
    this.receiverIndex = readU32(bytes, offset + 4);
    this.counterHigh = readU32(bytes, offset + 8);
    this.counterLow = readU32(bytes, offset + 12);
    this.bodyOffset = offset + LINK_FRAME_HEADER_LENGTH;
    if (type === LinkFrameType.HANDSHAKE) {
      this.bodyEnd = end;
      this.tagOffset = -1;
      this.aadEnd = offset;
      return true;
    }
    if (end - offset < LINK_FRAME_HEADER_LENGTH + LINK_FRAME_TAG_LENGTH)
      return this.fail('TRUNCATED', 'DATA link frame too short for its tag', LINK_FRAME_HEADER_LENGTH);
    this.bodyEnd = end - LINK_FRAME_TAG_LENGTH;
    this.tagOffset = this.bodyEnd;
    const aadEnd = linkFrameAadEnd(bytes, this.bodyOffset, this.bodyEnd);
    if (aadEnd === -2)
      return this.fail('BAD_VERSION', 'DATA link frame body is not IPv6', LINK_FRAME_HEADER_LENGTH);
    if (aadEnd < 0)
      return this.fail('TRUNCATED', 'inner IPv6 or capsule header cut short', LINK_FRAME_HEADER_LENGTH);
    this.aadEnd = aadEnd;
    return true;
  }

  private fail(code: DecodeErrorCode, message: string, offset: number): false {
    this.errorCode = code;
    this.errorMessage = message;
    this.errorOffset = offset;
    return false;
  }
}

// One view reused by decodeLinkFrame: decoding is synchronous, so it is never shared by two calls.
const sharedView = new LinkFrameView();

/** Decodes one link frame occupying all of `bytes` (allocates; the engine uses LinkFrameView). */
export function decodeLinkFrame(bytes: Uint8Array): DecodeResult<DecodedLinkFrame> {
  const view = sharedView;
  if (!view.parse(bytes, 0, bytes.length))
    return decodeFailure(view.errorCode ?? 'BAD_FIELD', view.errorMessage, view.errorOffset);
  const isData = view.type === LinkFrameType.DATA;
  return decoded({
    version: LINK_FRAME_VERSION,
    type: view.type as LinkFrameType,
    flags: view.flags,
    receiverIndex: view.receiverIndex,
    counter: readU64(bytes, 8),
    body: bytes.subarray(view.bodyOffset, view.bodyEnd),
    tag: isData ? bytes.subarray(view.tagOffset, view.tagOffset + LINK_FRAME_TAG_LENGTH) : undefined,
    aadEnd: isData ? view.aadEnd : 0,
  });
}

/** Reads the 64-bit counter of the frame at bytes[offset] (for logs and tests; the hot path uses the view's halves). */
export function readLinkFrameCounter(bytes: Uint8Array, offset = 0): bigint {
  return readU64(bytes, offset + 8);
}

/** The frame type byte of the frame at bytes[offset] (0 when too short): for a dispatch before parsing. */
export function peekLinkFrameType(bytes: Uint8Array, offset = 0): number {
  return bytes.length > offset + 1 ? bytes[offset + 1]! : 0;
}
