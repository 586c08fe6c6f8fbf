/**
 * DATA frames: the per-packet hot path of the link layer.
 *
 * ```
 * send:    header (receiver index = the peer's, counter = next of this direction)
 *          ‖ inner IPv6 packet ‖ tag = ChaCha20-Poly1305(send key, nonce 0 ‖ counter,
 *                                      AAD = frame[0, aadEnd), plaintext = ∅)
 * receive: LinkFrameView.parse → session by receiver index → ReplayWindow.check(counter)
 *          → tag check (receive key) → ReplayWindow.mark(counter) → inner packet up
 * ```
 * `aadEnd` is @capsule/wire's `linkFrameAadEnd`: past the capsule header and its chunks when the
 * capsule's next header is 59 (the e2e-sealed payload after it is authenticated end to end, not
 * per hop), else the end of the body. Nothing is encrypted per hop; the tag is a MAC over headers.
 *
 * The tag is @capsule/identity's link MAC (`computeLinkMac`/`verifyLinkMac`): the RFC 8439 tag
 * with an empty plaintext, computed in TypeScript over ranges of the frame, the counter a number.
 *
 * Allocation: the frame is written into a caller-owned FrameBuffer (one per layer); the counter
 * is written as two u32 halves (no bigint); the MAC reads the AAD and the tag in place. What
 * remains per packet is one view of the caller's packet on send (for the copy); nothing on
 * receive (docs/overlay.md).
 */
import { AEAD_TAG_LENGTH, computeLinkMac, type SessionKeys, verifyLinkMac } from '@capsule/identity';
import {
  encodeLinkFrameHeader,
  LINK_FRAME_HEADER_LENGTH,
  LINK_FRAME_TAG_LENGTH,
  LinkFrameType,
  type LinkFrameView,
  linkFrameAadEnd,
} from '@capsule/wire';
import { REPLAY_STATE_LENGTH, ReplayWindow } from './replay-window';

/** Largest inner packet a DATA frame carries (the IPv6 payload length field's reach plus the header). */
export const MAX_INNER_PACKET_LENGTH = 65_535;

/** One key epoch of one link: indices, directional keys, the send counter and the replay window. */
export interface LinkSession {
  /** Our receiver index for this session: what the peer writes in the frames it sends us. */
  readonly localIndex: number;
  /** The peer's receiver index: what we write in the frames we send. */
  readonly peerIndex: number;
  readonly sendKey: Uint8Array;
  readonly receiveKey: Uint8Array;
  /**
   * The counter of the next frame we send (starts at 0; a new session has a new key). Stored at
   * `counters[SEND_COUNTER]`, beside the replay window's highest counter, where a native data path
   * reads and advances it too.
   */
  sendCounter: number;
  readonly replay: ReplayWindow;
  /** [SEND_COUNTER] the send counter, [REPLAY_HIGHEST] the replay window's highest counter. */
  readonly counters: Float64Array;
}

/** Index of the send counter in `LinkSession.counters`. */
export const SEND_COUNTER = 0;

/** A session from the keys a handshake derived. */
export function createLinkSession(init: {
  localIndex: number;
  peerIndex: number;
  keys: SessionKeys;
  replayWindowSize?: number;
}): LinkSession {
  const counters = new Float64Array(REPLAY_STATE_LENGTH);
  return {
    localIndex: init.localIndex,
    peerIndex: init.peerIndex,
    sendKey: init.keys.sendKey,
    receiveKey: init.keys.receiveKey,
    get sendCounter() {
      return counters[SEND_COUNTER]!;
    },
    set sendCounter(counter: number) {
      counters[SEND_COUNTER] = counter;
    },
    replay: new ReplayWindow(init.replayWindowSize, counters),
    counters,
  };
}

/** The preallocated output buffer of a layer. */
export class FrameBuffer {
  readonly bytes: Buffer;

  constructor(capacity = LINK_FRAME_HEADER_LENGTH + MAX_INNER_PACKET_LENGTH + LINK_FRAME_TAG_LENGTH) {
    this.bytes = Buffer.alloc(capacity);
  }
}

/**
 * The header fields, reused across calls (no object per packet). The counter stays 0n here: the
 * real one is written over bytes [8, 16) as two big-endian u32 halves (docs/wire-format.md).
 */
const header = { type: LinkFrameType.DATA as LinkFrameType, flags: 0, receiverIndex: 0, counter: 0n };
const COUNTER_OFFSET = 8;

/** Why `sealDataFrame` could not frame a packet. */
export const SEAL_MALFORMED = -1;
/** The session's counter is exhausted (2^53): it must be rekeyed. */
export const SEAL_EXHAUSTED = -2;

/**
 * Frames and seals `bytes[offset, offset + length)` (an inner IPv6 packet, or nothing for a
 * keep-alive) for `session` into `out`; returns the frame length, or SEAL_MALFORMED when the
 * packet is not IPv6 or its headers are cut short, or SEAL_EXHAUSTED. Advances the send counter.
 */
export function sealDataFrame(
  session: LinkSession,
  bytes: Uint8Array,
  offset: number,
  length: number,
  out: FrameBuffer,
): number {
  if (length < 0 || length > MAX_INNER_PACKET_LENGTH || offset < 0 || offset + length > bytes.length)
    return SEAL_MALFORMED;
  const target = out.bytes;
  const bodyEnd = LINK_FRAME_HEADER_LENGTH + length;
  if (length > 0) target.set(bytes.subarray(offset, offset + length), LINK_FRAME_HEADER_LENGTH);
  const aadEnd = linkFrameAadEnd(target, LINK_FRAME_HEADER_LENGTH, bodyEnd);
  if (aadEnd < 0) return SEAL_MALFORMED;
  const counter = session.sendCounter;
  if (counter >= Number.MAX_SAFE_INTEGER) return SEAL_EXHAUSTED;
  session.sendCounter = counter + 1;
  header.receiverIndex = session.peerIndex;
  encodeLinkFrameHeader(header, target, 0);
  target.writeUInt32BE(Math.floor(counter / 0x1_0000_0000), COUNTER_OFFSET);
  target.writeUInt32BE(counter >>> 0, COUNTER_OFFSET + 4);
  computeLinkMac(session.sendKey, counter, target, 0, aadEnd, target, bodyEnd);
  return bodyEnd + AEAD_TAG_LENGTH;
}

/** What `openDataFrame` decided. */
export type DataFrameVerdict = 'ok' | 'replayed' | 'badTag';

/**
 * Checks a DATA frame that `view` parsed from `bytes` against `session` (found by the view's
 * receiver index): replay window, then tag; marks the counter only when the tag verified. The
 * inner packet is bytes[view.bodyOffset, view.bodyEnd) (empty for a keep-alive). `tagVerified`:
 * the tag was verified with this session's receive key already (by the native fast path, which
 * hands such a frame up flagged: Transport's `authenticated`), so it is not computed again.
 */
export function openDataFrame(
  session: LinkSession,
  bytes: Uint8Array,
  view: LinkFrameView,
  tagVerified = false,
): DataFrameVerdict {
  const counter = view.counterHigh * 0x1_0000_0000 + view.counterLow;
  if (!session.replay.check(counter)) return 'replayed';
  const frameStart = view.bodyOffset - LINK_FRAME_HEADER_LENGTH;
  if (
    !tagVerified &&
    !verifyLinkMac(session.receiveKey, counter, bytes, frameStart, view.aadEnd, bytes, view.tagOffset)
  )
    return 'badTag';
  session.replay.mark(counter);
  return 'ok';
}
