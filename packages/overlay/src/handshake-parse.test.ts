/**
 * The structural checks of `parseHandshakeFrame`, one malformation each: a genuine NS or NA is
 * built and parses, then one field is broken (the ICMPv6 checksum recomputed when the break is
 * past it, the lengths kept consistent unless they are the point) and the exact reason is checked.
 */
import { generateControllerKey, generateX25519KeyPair } from '@capsule/identity';
import {
  HANDSHAKE_MACS_LENGTH,
  IPV6_HEADER_LENGTH,
  IpProtocol,
  LINK_FRAME_HEADER_LENGTH,
  LinkFrameView,
  NdOptionCursor,
  NdOptionType,
  setIcmpv6Checksum,
  writeU16,
  writeU32,
} from '@capsule/wire';
import { describe, expect, it } from 'vitest';
import { makeIdentity, START_MS } from '../test/helpers';
import {
  buildHandshakeFrame,
  createHandshakeSigner,
  type HandshakeKind,
  type HandshakeRejectReason,
  parseHandshakeFrame,
  solicitedNodeAddress,
} from './handshake';

const controller = generateControllerKey();
const alpha = makeIdentity({ controller, key: 0, name: 'alpha', nowMs: START_MS });
const bravo = makeIdentity({ controller, key: 1, name: 'bravo', nowMs: START_MS });

/** Where the inner IPv6 header and the ICMPv6 message start in a HANDSHAKE frame. */
const IP_AT = LINK_FRAME_HEADER_LENGTH;
const ICMP_AT = IP_AT + IPV6_HEADER_LENGTH;
/** NS/NA: type, code, checksum, 4 bytes, target (16); the options follow. */
const OPTIONS_AT = 24;

/** A genuine HANDSHAKE frame from alpha: an NS (one nonce) or an NA (two). */
function genuine(kind: HandshakeKind): Uint8Array {
  return buildHandshakeFrame({
    kind,
    signer: createHandshakeSigner(alpha),
    destination: kind === 'solicitation' ? solicitedNodeAddress(bravo.hostId) : bravo.hostId,
    target: kind === 'solicitation' ? bravo.hostId : alpha.hostId,
    timestampMs: START_MS,
    nonces:
      kind === 'solicitation'
        ? [new Uint8Array(14).fill(1)]
        : [new Uint8Array(14).fill(1), new Uint8Array(14).fill(2)],
    receiverIndex: 0x1234,
    ephemeralPublicKey: generateX25519KeyPair().publicKeyRaw,
    frameReceiverIndex: 0,
  });
}

function parse(frame: Uint8Array) {
  const view = new LinkFrameView();
  expect(view.parse(frame)).toBe(true);
  return parseHandshakeFrame(frame, view);
}

/** The ICMPv6 message of `frame` (a view). */
function icmpOf(frame: Uint8Array): Uint8Array {
  return frame.subarray(ICMP_AT, frame.length - HANDSHAKE_MACS_LENGTH);
}

/** Rewrites the ICMPv6 checksum of `frame` (after a change past it). */
function fixChecksum(frame: Uint8Array): Uint8Array {
  const icmp = icmpOf(frame);
  const source = frame.subarray(IP_AT + 8, IP_AT + 24);
  const destination = frame.subarray(IP_AT + 24, IP_AT + 40);
  setIcmpv6Checksum(icmp, 0, icmp.length, source, destination);
  return frame;
}

/** `frame`'s link and IPv6 headers around a new ICMPv6 message, payload length and checksum to match. */
function withIcmp(frame: Uint8Array, icmp: Uint8Array): Uint8Array {
  const out = new Uint8Array(ICMP_AT + icmp.length + HANDSHAKE_MACS_LENGTH);
  out.set(frame.subarray(0, ICMP_AT));
  out.set(icmp, ICMP_AT);
  writeU16(out, IP_AT + 4, icmp.length);
  return fixChecksum(out);
}

/** Offset in `icmp` of its first option of `type`. */
function optionAt(icmp: Uint8Array, type: number): number {
  const cursor = new NdOptionCursor().reset(icmp, OPTIONS_AT, icmp.length);
  while (cursor.next()) if (cursor.type === type) return cursor.offset;
  throw new Error(`no option ${type}`);
}

const concat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

interface Case {
  name: string;
  kind: HandshakeKind;
  reason: HandshakeRejectReason;
  /** Returns the malformed frame (a copy of, or `frame` changed in place). */
  malform(frame: Uint8Array): Uint8Array;
}

const cases: Case[] = [
  {
    name: 'an inner IPv6 next header other than ICMPv6 (UDP) is malformed',
    kind: 'solicitation',
    reason: 'malformed',
    malform(frame) {
      frame[IP_AT + 6] = IpProtocol.UDP;
      return frame;
    },
  },
  {
    name: 'an inner hop limit of 254, not 255 (the message was forwarded), is malformed',
    kind: 'solicitation',
    reason: 'malformed',
    malform(frame) {
      frame[IP_AT + 7] = 254;
      return frame;
    },
  },
  {
    name: 'bytes between the IPv6 payload and the MACs (payload length shorter than the body) are malformed',
    kind: 'solicitation',
    reason: 'malformed',
    malform(frame) {
      const body = frame.subarray(0, frame.length - HANDSHAKE_MACS_LENGTH);
      return concat(body, new Uint8Array(8), new Uint8Array(HANDSHAKE_MACS_LENGTH));
    },
  },
  {
    name: 'an ICMPv6 message of 2 bytes, short of its 4-byte header, is malformed',
    kind: 'solicitation',
    reason: 'malformed',
    malform(frame) {
      const out = concat(frame.subarray(0, ICMP_AT + 2), new Uint8Array(HANDSHAKE_MACS_LENGTH));
      writeU16(out, IP_AT + 4, 2);
      return out;
    },
  },
  {
    name: 'a wrong ICMPv6 checksum is a checksum failure',
    kind: 'solicitation',
    reason: 'checksum',
    malform(frame) {
      frame[ICMP_AT + 2]! ^= 0xff;
      return frame;
    },
  },
  {
    name: 'an NS with ICMPv6 code 1 (ND messages have code 0) is malformed',
    kind: 'solicitation',
    reason: 'malformed',
    malform(frame) {
      frame[ICMP_AT + 1] = 1;
      return fixChecksum(frame);
    },
  },
  {
    name: 'a Router Solicitation carrying the handshake options is malformed',
    kind: 'advertisement',
    reason: 'malformed',
    malform(frame) {
      // RS: type 133, code, checksum, 4 reserved bytes; then the NA's options unchanged.
      const icmp = icmpOf(frame);
      return withIcmp(frame, concat(Uint8Array.of(133, 0, 0, 0, 0, 0, 0, 0), icmp.subarray(OPTIONS_AT)));
    },
  },
  {
    name: 'an NS without an RSA Signature option is a signature failure',
    kind: 'solicitation',
    reason: 'signature',
    malform(frame) {
      const icmp = icmpOf(frame);
      return withIcmp(frame, icmp.subarray(0, optionAt(icmp, NdOptionType.RSA_SIGNATURE)));
    },
  },
  {
    name: 'an option after the RSA Signature (signature not last) is malformed',
    kind: 'solicitation',
    reason: 'malformed',
    malform(frame) {
      // An 8-byte option of an unknown type: ignored where it stands, but unsigned.
      return withIcmp(frame, concat(icmpOf(frame), Uint8Array.of(200, 1, 0, 0, 0, 0, 0, 0)));
    },
  },
  {
    name: 'a Key Exchange option with receiver index 0 is a key-exchange failure',
    kind: 'advertisement',
    reason: 'key-exchange',
    malform(frame) {
      const icmp = icmpOf(frame);
      writeU32(icmp, optionAt(icmp, NdOptionType.KEY_EXCHANGE) + 4, 0);
      return fixChecksum(frame);
    },
  },
];

// Not here, as no input reaches them: a nonce under 6 bytes (an option is at least 8 bytes, so its
// nonce at least 6), and a signature range that does not decode for another reason than MISSING
// (decodeNdMessage refuses the same bytes first).
describe('parseHandshakeFrame refuses a malformed handshake', () => {
  it.each(cases)('$name', ({ kind, reason, malform }) => {
    const frame = genuine(kind);
    expect(parse(frame).ok).toBe(true);
    expect(parse(malform(frame))).toEqual({ ok: false, reason });
  });
});
