/**
 * The link frame: one UDP datagram (default port 7447) between two overlay neighbors.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Version = 2  |     Type      |     Flags     |  Reserved = 0 |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Receiver Index (32)                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                                                               |
 * +                        Counter (64)                           +
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Body …                                     |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |   HANDSHAKE: MAC1 (16) ‖ MAC2 (16);  DATA: Tag (16);  COOKIE: — |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 * - Receiver index: the receiving side's id for this link (as WireGuard's). Counter: strictly
 *   increasing per direction; the AEAD nonce; checked against a replay window on receipt.
 * - HANDSHAKE (1): the body is a plain IPv6 + ICMPv6 neighbor-discovery packet with SeND options,
 *   signed by itself, followed by two 16-byte MACs (version 2): MAC1 over frame[0, macOffset) keyed
 *   from the receiver's public identity, MAC2 over frame[0, macOffset + 16) keyed with a cookie
 *   the receiver handed out (zeros without one). The overlay computes and checks them
 *   (docs/overlay.md, "Handshake DoS resistance"); the receiver checks MAC1 before any public-key
 *   work.
 * - DATA (2): the body is the inner IPv6 packet; an empty body is a keep-alive. The tag is the
 *   link AEAD's (identity computes it) over the authenticated range `[0, aadEnd)` with an empty
 *   plaintext: the frame header, the inner IPv6 header and the capsule header with its chunks
 *   when an e2e-sealed payload follows (capsule next header 59: that payload is already
 *   authenticated end to end); the whole body otherwise.
 * - COOKIE (3, version 2): the answer of a responder under load to a HANDSHAKE frame; receiver
 *   index = the initiator's receiver index from that frame's Key Exchange option, counter 0, and
 *   a body of exactly 76 bytes:
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |          Responder's cookie X25519 public key (32 bytes)      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                        Nonce (12 bytes)                       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                  Sealed cookie (16 bytes)                     |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                        Tag (16 bytes)                         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 *   The cookie is sealed to the initiator's ephemeral X25519 key (its Key Exchange option), with
 *   the MAC1 of the frame it answers as additional data (overlay: handshake-guard.ts).
 *
 * Version 2 added the HANDSHAKE MACs and the COOKIE type; version 1 frames are refused
 * (`BAD_VERSION`), so a node of each version sees the other's frames as malformed and counts them.
 */
import { readU32, readU64, writeU32, writeU64 } from './bytes';
import { type DecodeErrorCode, type DecodeResult, decoded, decodeFailure } from './decode-result';
import { IPV6_HEADER_LENGTH, IpProtocol } from './ipv6';
import { ensureRoom, ensureUint, WireError } from './wire-error';

/** The link-frame version this codec speaks (2: HANDSHAKE MACs and the COOKIE type). */
export const LINK_FRAME_VERSION = 2;
/** Bytes before the body. */
export const LINK_FRAME_HEADER_LENGTH = 16;
/** Bytes of the AEAD tag at the end of a DATA frame. */
export const LINK_FRAME_TAG_LENGTH = 16;
/** Bytes of each MAC at the end of a HANDSHAKE frame (MAC1, then MAC2). */
export const HANDSHAKE_MAC_LENGTH = 16;
/** Bytes of the two MACs at the end of a HANDSHAKE frame. */
export const HANDSHAKE_MACS_LENGTH = 2 * HANDSHAKE_MAC_LENGTH;
/** Offsets in a COOKIE frame's body, and its length (exactly). */
export const CookieBody = {
  /** The responder's cookie X25519 public key (32 bytes). */
  PUBLIC_KEY: 0,
  /** The AEAD nonce (12 bytes). */
  NONCE: 32,
  /** The sealed cookie (16 bytes). */
  SEALED_COOKIE: 44,
  /** The AEAD tag (16 bytes). */
  TAG: 60,
  /** The body's length. */
  LENGTH: 76,
} as const;
/** Default UDP port of overlay links. */
export const LINK_UDP_PORT = 7447;

/** Link-frame types. */
export const LinkFrameType = { HANDSHAKE: 1, DATA: 2, COOKIE: 3 } as const;
export type LinkFrameType = (typeof LinkFrameType)[keyof typeof LinkFrameType];

/** A link frame as a sender builds it. */
export interface LinkFrame {
  readonly type: LinkFrameType;
  /** 8 bits, none defined yet: send 0. */
  readonly flags: number;
  readonly receiverIndex: number;
  /** In [0, 2^64). */
  readonly counter: bigint;
  /** HANDSHAKE: the ND packet; DATA: the inner IPv6 packet (empty for a keep-alive); COOKIE: 76 bytes. */
  readonly body: Uint8Array;
  /** DATA only: 16 bytes (zeros are written when absent, for the AEAD to fill in). */
  readonly tag?: Uint8Array;
  /** HANDSHAKE only: MAC1 ‖ MAC2, 32 bytes (zeros are written when absent, for the sender to fill in). */
  readonly macs?: Uint8Array;
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
  /** HANDSHAKE only: MAC1 ‖ MAC2 (32 bytes). */
  readonly macs: Uint8Array | undefined;
  /** DATA only: the AEAD's additional data is frame[0, aadEnd); 0 for the other types. */
  readonly aadEnd: number;
}

/** The encoded length of `frame`. */
export function linkFrameLength(frame: Pick<LinkFrame, 'type' | 'body'>): number {
  return LINK_FRAME_HEADER_LENGTH + frame.body.length + linkFrameTrailerLength(frame.type);
}

/** Bytes after the body: the DATA tag, the HANDSHAKE MACs, nothing for COOKIE. */
export function linkFrameTrailerLength(type: number): number {
  return type === LinkFrameType.DATA
    ? LINK_FRAME_TAG_LENGTH
    : type === LinkFrameType.HANDSHAKE
      ? HANDSHAKE_MACS_LENGTH
      : 0;
}

const isLinkFrameType = (type: number) =>
  type === LinkFrameType.HANDSHAKE || type === LinkFrameType.DATA || type === LinkFrameType.COOKIE;

/** Writes the 16-byte frame header at into[offset]; returns 16. The hot path writes the body in place after it. */
export function encodeLinkFrameHeader(
  frame: Pick<LinkFrame, 'type' | 'flags' | 'receiverIndex' | 'counter'>,
  into: Uint8Array,
  offset = 0,
): number {
  if (!isLinkFrameType(frame.type))
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
  if (frame.type !== LinkFrameType.DATA && frame.tag !== undefined)
    throw new WireError('WIRE_VALUE_INVALID', 'only a DATA link frame carries a tag');
  if (frame.type !== LinkFrameType.HANDSHAKE && frame.macs !== undefined)
    throw new WireError('WIRE_VALUE_INVALID', 'only a HANDSHAKE link frame carries MACs');
  if (frame.tag !== undefined && frame.tag.length !== LINK_FRAME_TAG_LENGTH)
    throw new WireError('WIRE_VALUE_INVALID', `link frame tag must be 16 bytes; got ${frame.tag.length}`);
  if (frame.macs !== undefined && frame.macs.length !== HANDSHAKE_MACS_LENGTH)
    throw new WireError('WIRE_VALUE_INVALID', `handshake MACs must be 32 bytes; got ${frame.macs.length}`);
  if (frame.type === LinkFrameType.COOKIE && frame.body.length !== CookieBody.LENGTH)
    throw new WireError(
      'WIRE_VALUE_INVALID',
      `a COOKIE link frame body is ${CookieBody.LENGTH} bytes; got ${frame.body.length}`,
    );
  encodeLinkFrameHeader(frame, into, offset);
  into.set(frame.body, offset + LINK_FRAME_HEADER_LENGTH);
  const trailerAt = offset + LINK_FRAME_HEADER_LENGTH + frame.body.length;
  const trailer = frame.type === LinkFrameType.DATA ? frame.tag : frame.macs;
  if (trailer) into.set(trailer, trailerAt);
  else into.fill(0, trailerAt, offset + length);
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
  /** DATA: offset of the tag; -1 for the other types. */
  tagOffset = -1;
  /** HANDSHAKE: offset of MAC1 (MAC2 follows; both end the frame); -1 for the other types. */
  macOffset = -1;
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
    if (!isLinkFrameType(type)) return this.fail('UNKNOWN_TYPE', `link frame type ${type}`, 1);
    if (bytes[offset + 3] !== 0) return this.fail('BAD_FIELD', 'link frame reserved byte is not zero', 3);
    this.type = type;
    this.flags = bytes[offset + 2]!;
    this.receiverIndex = readU32(bytes, offset + 4);
    this.counterHigh = readU32(bytes, offset + 8);
    this.counterLow = readU32(bytes, offset + 12);
    this.bodyOffset = offset + LINK_FRAME_HEADER_LENGTH;
    this.tagOffset = -1;
    this.macOffset = -1;
    this.aadEnd = offset;
    if (type === LinkFrameType.HANDSHAKE) {
      if (end - offset < LINK_FRAME_HEADER_LENGTH + HANDSHAKE_MACS_LENGTH)
        return this.fail(
          'TRUNCATED',
          'HANDSHAKE link frame too short for its MACs',
          LINK_FRAME_HEADER_LENGTH,
        );
      this.bodyEnd = end - HANDSHAKE_MACS_LENGTH;
      this.macOffset = this.bodyEnd;
      return true;
    }
    if (type === LinkFrameType.COOKIE) {
      if (end - offset !== LINK_FRAME_HEADER_LENGTH + CookieBody.LENGTH)
        return this.fail(
          end - offset < LINK_FRAME_HEADER_LENGTH + CookieBody.LENGTH ? 'TRUNCATED' : 'BAD_LENGTH',
          `COOKIE link frame body is not ${CookieBody.LENGTH} bytes`,
          LINK_FRAME_HEADER_LENGTH,
        );
      this.bodyEnd = end;
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
  const isHandshake = view.type === LinkFrameType.HANDSHAKE;
  return decoded({
    version: LINK_FRAME_VERSION,
    type: view.type as LinkFrameType,
    flags: view.flags,
    receiverIndex: view.receiverIndex,
    counter: readU64(bytes, 8),
    body: bytes.subarray(view.bodyOffset, view.bodyEnd),
    tag: isData ? bytes.subarray(view.tagOffset, view.tagOffset + LINK_FRAME_TAG_LENGTH) : undefined,
    macs: isHandshake ? bytes.subarray(view.macOffset, view.macOffset + HANDSHAKE_MACS_LENGTH) : undefined,
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
