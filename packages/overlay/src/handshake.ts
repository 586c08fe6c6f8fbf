/**
 * The link handshake messages: a SeND-protected Neighbor Solicitation (initiator) and Neighbor
 * Advertisement (responder), each the body of a HANDSHAKE link frame (docs/overlay.md).
 *
 * ```
 * link frame header (16): version 1, type HANDSHAKE, flags 0, receiver index, counter 0
 * inner IPv6 header (40): src = sender's CGA, dst (see below), next header 58, hop limit 255
 * ICMPv6 NS (135) or NA (136, S and O set) with target address, then the options, in this order:
 *   CGA (11)              the sender's RFC 3972 CGA Parameters
 *   Timestamp (13)        the sender's clock (RFC 3971 5.3.1)
 *   Nonce (14)            NS: the initiator's fresh nonce (14 bytes)
 *                         NA: first the NS nonce echoed (RFC 3971 5.3.2), then the responder's own
 *   Node Certificate (253) the controller-signed certificate of the sender
 *   Key Exchange (254)    the sender's ephemeral X25519 public key and its receiver index
 *   RSA Signature (12)    last: RFC 3971 5.2 over tag ‖ src ‖ dst ‖ the ICMPv6 message before it
 * ```
 *
 * The frame ends with MAC1 ‖ MAC2 (link frame version 2; handshake-guard.ts computes and checks
 * them). Verification is two steps, so that the layer can run its cheap DoS checks in between:
 * `parseHandshakeFrame` (structure only, microseconds: IPv6 header, ICMPv6 checksum, ND message and
 * options) and `verifyParsedHandshake` (the public-key work: CGA (RFC 3972 5), RSA signature, node
 * certificate (controller key, validity) and its binding to the CGA and RSA key).
 * `verifyHandshakeFrame` runs both. Freshness (timestamp, nonce), MACs, rate limits and addressing
 * are the layer's (create-link-layer.ts). Nothing here throws on input.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import {
  type ControllerKeys,
  decodeCgaParameters,
  type NodeCertificate,
  rsaKeyHash,
  sendKeyHash,
  signSendMessage,
  verifyCga,
  verifyNodeCertificate,
  verifySendMessage,
} from '@capsule/identity';
import {
  decodeIpv6Header,
  decodeNdMessage,
  encodeIpv6Header,
  encodeLinkFrame,
  encodeNdMessage,
  HANDSHAKE_MACS_LENGTH,
  IPV6_HEADER_LENGTH,
  IpProtocol,
  icmpv6Checksum,
  LINK_FRAME_HEADER_LENGTH,
  LinkFrameType,
  type LinkFrameView,
  type NdMessage,
  type NdOption,
  NdOptionCursor,
  NdOptionType,
  ndMessageLength,
  readU16,
  readU32,
  rsaSignatureBytes,
  type SendSignedRange,
  sendSignedRange,
  setIcmpv6Checksum,
  timestampFromMs,
  timestampToMs,
} from '@capsule/wire';

/** Bytes of each nonce we send (a Nonce option of 16 bytes: 2 + 14). */
export const HANDSHAKE_NONCE_LENGTH = 14;
/** Smallest RSA modulus accepted in a handshake (the security brief's RSA-2048). */
export const MIN_RSA_MODULUS_BITS = 2048;
/** ND messages travel with hop limit 255 (RFC 4861 7.1.1: proof they were not forwarded). */
const ND_HOP_LIMIT = 255;

/** Which handshake message. */
export type HandshakeKind = 'solicitation' | 'advertisement';

/** Why a handshake frame was refused (each counted in `LinkLayer.handshakeRejections`). */
export type HandshakeRejectReason =
  /** Not an IPv6 + ICMPv6 NS/NA with exactly the options above, signature last. */
  | 'malformed'
  /** ICMPv6 checksum wrong. */
  | 'checksum'
  /** The CGA does not verify against its parameters (RFC 3972 5). */
  | 'cga'
  /** The RSA Signature is missing, names another key, is made with another key, or the key is weak. */
  | 'signature'
  /** The node certificate is malformed, from another controller key, badly signed, or not valid now. */
  | 'certificate'
  /** The certificate's host id is not the CGA, or its RSA key hash is not the CGA key's. */
  | 'certificate-binding'
  /** A zero receiver index or a low-order X25519 key. */
  | 'key-exchange'
  /** Addressed to someone else, or from our own host id (a reflection). */
  | 'not-for-us'
  /** The timestamp is outside the window or older than the peer's last (RFC 3971 5.3.4). */
  | 'timestamp'
  /** The nonce was seen before (a replay). */
  | 'nonce-replayed'
  /** An NA that answers no solicitation of ours (unknown receiver index or echoed nonce). */
  | 'unexpected'
  /** An NA that answers a solicitation already answered (a late duplicate, or a replay). */
  | 'duplicate'
  /** An NA from another host than the one we asked for. */
  | 'peer-mismatch'
  /** A verified NS that lost the simultaneous-open tie-break (our own NS to that peer stands). */
  | 'collision'
  /** MAC1 is wrong: the sender does not know our public identity, or the frame was altered (checked first). */
  | 'mac1'
  /** The same signed message (its RSA signature) was verified before: a replay, dropped before any public-key work. */
  | 'replayed'
  /** Under load or over its source's rate, without a valid MAC2: answered with a cookie instead of processed. */
  | 'cookie-required'
  /** Over its source's rate with a valid MAC2, or the cookie replies' own budget is spent. */
  | 'rate-limited'
  /** A COOKIE frame that answers none of our handshakes or does not open. */
  | 'cookie-invalid'
  /** From a host id the controller decommissioned (`revokeHost`), refused before any public-key work. */
  | 'revoked';

/** Every reject reason, for counters. */
export const HANDSHAKE_REJECT_REASONS: readonly HandshakeRejectReason[] = [
  'malformed',
  'checksum',
  'cga',
  'signature',
  'certificate',
  'certificate-binding',
  'key-exchange',
  'not-for-us',
  'timestamp',
  'nonce-replayed',
  'unexpected',
  'duplicate',
  'peer-mismatch',
  'collision',
  'mac1',
  'replayed',
  'cookie-required',
  'rate-limited',
  'cookie-invalid',
  'revoked',
];

/** What a node signs with: its identity, prepared once. */
export interface HandshakeSigner {
  readonly hostId: Uint8Array;
  readonly cgaParameters: Uint8Array;
  readonly rsaPrivateKey: KeyObject;
  readonly nodeCertificate: Uint8Array;
  /** RFC 3971 Key Hash of the CGA key. */
  readonly keyHash: Uint8Array;
  /** Modulus length of the RSA key, bytes (the signature's length). */
  readonly signatureLength: number;
}

/** Prepares a signer from a node's identity fields. */
export function createHandshakeSigner(identity: {
  readonly hostId: Uint8Array;
  readonly cgaParameters: Uint8Array;
  readonly rsaPrivateKey: KeyObject;
  readonly nodeCertificate: Uint8Array;
}): HandshakeSigner {
  const parameters = decodeCgaParameters(identity.cgaParameters);
  const bits = identity.rsaPrivateKey.asymmetricKeyDetails?.modulusLength ?? 0;
  return {
    hostId: identity.hostId,
    cgaParameters: identity.cgaParameters,
    rsaPrivateKey: identity.rsaPrivateKey,
    nodeCertificate: identity.nodeCertificate,
    keyHash: sendKeyHash(parameters.ok ? parameters.value.publicKey : new Uint8Array(0)),
    signatureLength: Math.ceil(bits / 8),
  };
}

/** The fields of one handshake message to build. */
export interface HandshakeBuildInput {
  readonly kind: HandshakeKind;
  readonly signer: HandshakeSigner;
  /** Inner IPv6 destination (16 bytes). */
  readonly destination: Uint8Array;
  /** ND target address (16 bytes). */
  readonly target: Uint8Array;
  /** Milliseconds since the Unix epoch. */
  readonly timestampMs: number;
  /** NS: [own]; NA: [echoed NS nonce, own]. */
  readonly nonces: readonly Uint8Array[];
  /** The sender's receiver index for the new session (non-zero). */
  readonly receiverIndex: number;
  /** Raw ephemeral X25519 public key (32 bytes). */
  readonly ephemeralPublicKey: Uint8Array;
  /** The link frame's receiver index: 0, or the receiver's index when known. */
  readonly frameReceiverIndex: number;
  /**
   * Writes MAC1 (and MAC2 with a cookie) at the end of the frame (handshake-guard.ts
   * `writeHandshakeMacs`); without it both MACs are zeros, which a receiver refuses (`mac1`).
   */
  readonly macs?: (frame: Uint8Array) => void;
}

/** Builds and signs one HANDSHAKE link frame (a new array; the handshake is not a hot path). */
export function buildHandshakeFrame(input: HandshakeBuildInput): Uint8Array {
  const { signer } = input;
  const options: NdOption[] = [
    { kind: 'cga', parameters: signer.cgaParameters },
    { kind: 'timestamp', ...timestampFromMs(input.timestampMs) },
    ...input.nonces.map((nonce): NdOption => ({ kind: 'nonce', nonce })),
    { kind: 'nodeCertificate', certificate: signer.nodeCertificate },
    { kind: 'keyExchange', receiverIndex: input.receiverIndex, publicKey: input.ephemeralPublicKey },
    { kind: 'rsaSignature', keyHash: signer.keyHash, signature: new Uint8Array(signer.signatureLength) },
  ];
  const message: NdMessage =
    input.kind === 'solicitation'
      ? { kind: 'neighborSolicitation', targetAddress: input.target, options }
      : {
          kind: 'neighborAdvertisement',
          router: false,
          solicited: true,
          override: true,
          targetAddress: input.target,
          options,
        };
  const icmpLength = ndMessageLength(message);
  const body = new Uint8Array(IPV6_HEADER_LENGTH + icmpLength);
  encodeIpv6Header(
    {
      trafficClass: 0,
      flowLabel: 0,
      payloadLength: icmpLength,
      nextHeader: IpProtocol.ICMPV6,
      hopLimit: ND_HOP_LIMIT,
      source: signer.hostId,
      destination: input.destination,
    },
    body,
    0,
  );
  const icmp = body.subarray(IPV6_HEADER_LENGTH);
  encodeNdMessage(message, icmp, 0);
  const range = sendSignedRange(icmp);
  if (!range.ok) throw new Error(`handshake build: ${range.error.message}`); // our own encoding: cannot happen
  const signature = signSendMessage({
    source: signer.hostId,
    destination: input.destination,
    icmpMessage: icmp.subarray(0, range.value.signedEnd),
    privateKey: signer.rsaPrivateKey,
  });
  icmp.set(signature, range.value.signatureOptionOffset + 20);
  // The checksum covers the signature, so it is computed last (RFC 3971 5.2, docs/security.md).
  setIcmpv6Checksum(icmp, 0, icmp.length, signer.hostId, input.destination);
  const frame = new Uint8Array(LINK_FRAME_HEADER_LENGTH + body.length + HANDSHAKE_MACS_LENGTH);
  encodeLinkFrame(
    {
      type: LinkFrameType.HANDSHAKE,
      flags: 0,
      receiverIndex: input.frameReceiverIndex,
      counter: 0n,
      body,
    },
    frame,
    0,
  );
  input.macs?.(frame);
  return frame;
}

/** A handshake message that passed every stateless check. Byte fields are copies. */
export interface VerifiedHandshake {
  readonly kind: HandshakeKind;
  readonly frameReceiverIndex: number;
  /** The sender's CGA (verified). */
  readonly source: Uint8Array;
  readonly destination: Uint8Array;
  readonly target: Uint8Array;
  /** NA only: the Solicited flag. */
  readonly solicited: boolean;
  readonly timestampMs: number;
  readonly nonces: readonly Uint8Array[];
  readonly peerReceiverIndex: number;
  readonly peerEphemeralKey: Uint8Array;
  readonly certificate: NodeCertificate;
}

/** The outcome of `verifyHandshakeFrame`. */
export type HandshakeVerification =
  | { readonly ok: true; readonly message: VerifiedHandshake }
  | { readonly ok: false; readonly reason: HandshakeRejectReason };

/**
 * A handshake message whose structure is sound, before any public-key check: what the layer's
 * cheap checks read. Byte fields are views into the frame (valid while it is); nothing is
 * verified beyond the ICMPv6 checksum.
 */
export interface ParsedHandshake {
  readonly kind: HandshakeKind;
  readonly frameReceiverIndex: number;
  /** The claimed sender (not yet proven). */
  readonly source: Uint8Array;
  readonly destination: Uint8Array;
  readonly target: Uint8Array;
  readonly solicited: boolean;
  readonly timestampMs: number;
  readonly nonces: readonly Uint8Array[];
  readonly peerReceiverIndex: number;
  readonly peerEphemeralKey: Uint8Array;
  /** The RSA Signature option's signature (and padding): unique per signed message, the layer's replay id. */
  readonly signature: Uint8Array;
  readonly icmp: Uint8Array;
  readonly cgaParameters: Uint8Array;
  readonly certificate: Uint8Array;
  readonly signedRange: SendSignedRange;
}

/** The outcome of `parseHandshakeFrame`. */
export type HandshakeParse =
  | { readonly ok: true; readonly message: ParsedHandshake }
  | { readonly ok: false; readonly reason: HandshakeRejectReason };

const reject = (reason: HandshakeRejectReason): { ok: false; reason: HandshakeRejectReason } => ({
  ok: false,
  reason,
});

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let index = 0; index < a.length; index++) if (a[index] !== b[index]) return false;
  return true;
}

/**
 * The structural checks of the HANDSHAKE frame that `view` parsed from `bytes` (microseconds, no
 * public-key work): IPv6 header, ICMPv6 checksum, NS or NA with exactly the options above,
 * signature last. Never throws.
 */
export function parseHandshakeFrame(bytes: Uint8Array, view: LinkFrameView): HandshakeParse {
  const body = bytes.subarray(view.bodyOffset, view.bodyEnd);
  const ip = decodeIpv6Header(body);
  if (!ip.ok) return reject('malformed');
  const { source, destination } = ip.value;
  if (ip.value.nextHeader !== IpProtocol.ICMPV6 || ip.value.hopLimit !== ND_HOP_LIMIT)
    return reject('malformed');
  if (IPV6_HEADER_LENGTH + ip.value.payloadLength !== body.length) return reject('malformed');
  const icmp = ip.value.payload;
  if (icmp.length < 4) return reject('malformed');
  if (icmpv6Checksum(icmp, 0, icmp.length, source, destination) !== readU16(icmp, 2))
    return reject('checksum');
  const nd = decodeNdMessage(icmp);
  if (!nd.ok) return reject('malformed');
  const message = nd.value;
  if (message.kind !== 'neighborSolicitation' && message.kind !== 'neighborAdvertisement')
    return reject('malformed');
  const kind: HandshakeKind = message.kind === 'neighborSolicitation' ? 'solicitation' : 'advertisement';
  const range = sendSignedRange(icmp);
  if (!range.ok) return reject(range.error.code === 'MISSING' ? 'signature' : 'malformed');
  // The signature must be the last option, so that every option we act on is signed.
  if (range.value.signatureOptionOffset + range.value.signatureOptionLength !== icmp.length)
    return reject('malformed');

  let cgaParameters: Uint8Array | undefined;
  let timestamp: { seconds: number; fraction: number } | undefined;
  let certificate: Uint8Array | undefined;
  let keyExchange: { receiverIndex: number; publicKey: Uint8Array } | undefined;
  let signatures = 0;
  let duplicated = false;
  const nonces: Uint8Array[] = [];
  for (const option of message.options) {
    switch (option.kind) {
      case 'cga':
        duplicated ||= cgaParameters !== undefined;
        cgaParameters = option.parameters;
        break;
      case 'timestamp':
        duplicated ||= timestamp !== undefined;
        timestamp = option;
        break;
      case 'nonce':
        nonces.push(option.nonce);
        break;
      case 'nodeCertificate':
        duplicated ||= certificate !== undefined;
        certificate = option.certificate;
        break;
      case 'keyExchange':
        duplicated ||= keyExchange !== undefined;
        keyExchange = option;
        break;
      case 'rsaSignature':
        signatures += 1;
        break;
      default:
        break; // RFC 4861 4.6: options a receiver does not know are ignored (they are signed all the same)
    }
  }
  const expectedNonces = kind === 'solicitation' ? 1 : 2;
  if (
    duplicated ||
    signatures !== 1 ||
    !cgaParameters ||
    !timestamp ||
    !certificate ||
    !keyExchange ||
    nonces.length !== expectedNonces
  )
    return reject('malformed');
  if (nonces.some((nonce) => nonce.length < 6)) return reject('malformed');
  if (keyExchange.receiverIndex === 0) return reject('key-exchange');
  return {
    ok: true,
    message: {
      kind,
      frameReceiverIndex: view.receiverIndex,
      source,
      destination,
      target: message.targetAddress,
      solicited: message.kind === 'neighborAdvertisement' && message.solicited,
      timestampMs: timestampToMs(timestamp),
      nonces,
      peerReceiverIndex: keyExchange.receiverIndex,
      peerEphemeralKey: keyExchange.publicKey,
      signature: range.value.signature,
      icmp,
      cgaParameters,
      certificate,
      signedRange: range.value,
    },
  };
}

/** What `peekHandshakeFreshness` reads; `signature` is a view into the frame. */
export interface HandshakeFreshness {
  readonly timestampMs: number;
  /** The RSA Signature option's signature (and padding): the replay id. */
  readonly signature: Uint8Array;
}

const peekCursor = new NdOptionCursor();
/** ICMPv6 NS/NA: type, code, checksum, 4 bytes, target (16); options follow. */
const ND_OPTIONS_AT = IPV6_HEADER_LENGTH + 24;

/**
 * The timestamp and the RSA signature of a HANDSHAKE frame, found by walking its options only
 * (no decoding, no copy, no allocation; the first of each, the signature being the last option):
 * enough for the layer to drop stale messages and replays before `parseHandshakeFrame`. Undefined
 * when either is missing or the options are cut short (the full parse will say why).
 */
export function peekHandshakeFreshness(
  bytes: Uint8Array,
  view: LinkFrameView,
): HandshakeFreshness | undefined {
  const body = view.bodyOffset;
  if (view.bodyEnd - body < ND_OPTIONS_AT) return undefined;
  const end = Math.min(view.bodyEnd, body + IPV6_HEADER_LENGTH + readU16(bytes, body + 4));
  let timestampMs = Number.NaN;
  let signature: Uint8Array | undefined;
  const cursor = peekCursor.reset(bytes, body + ND_OPTIONS_AT, end);
  while (cursor.next()) {
    const at = cursor.offset;
    if (cursor.type === NdOptionType.TIMESTAMP && cursor.length === 16 && Number.isNaN(timestampMs))
      timestampMs = timestampToMs({
        seconds: readU16(bytes, at + 8) * 2 ** 32 + readU32(bytes, at + 10),
        fraction: readU16(bytes, at + 14),
      });
    else if (cursor.type === NdOptionType.RSA_SIGNATURE && cursor.length >= 24 && signature === undefined)
      signature = bytes.subarray(at + 20, at + cursor.length);
  }
  if (cursor.errorCode !== undefined || signature === undefined || Number.isNaN(timestampMs))
    return undefined;
  return { timestampMs, signature };
}

/**
 * The public-key checks of a parsed message, in this order: CGA (RFC 3972 5), RSA modulus and
 * signature (RFC 3971 5.2), node certificate (a trusted controller key, validity at `nowMs`) and its binding
 * to the CGA and the RSA key. Byte fields of the result are copies. Never throws.
 */
export function verifyParsedHandshake(
  parsed: ParsedHandshake,
  controllerKey: ControllerKeys,
  nowMs: number,
): HandshakeVerification {
  const { source, destination } = parsed;
  const cga = verifyCga(source, parsed.cgaParameters);
  if (!cga.ok) return reject('cga');
  const publicKeyDer = cga.parameters.publicKey;
  let modulusBits = 0;
  try {
    const key = createPublicKey({ key: Buffer.from(publicKeyDer), format: 'der', type: 'spki' });
    if (key.asymmetricKeyType === 'rsa') modulusBits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  } catch {
    modulusBits = 0;
  }
  if (modulusBits < MIN_RSA_MODULUS_BITS) return reject('signature');
  const signature = verifySendMessage({
    source,
    destination,
    icmpMessage: parsed.icmp.subarray(0, parsed.signedRange.signedEnd),
    signature: rsaSignatureBytes(parsed.signedRange, Math.ceil(modulusBits / 8)),
    publicKeyDer,
    keyHash: parsed.signedRange.keyHash,
  });
  if (!signature.ok) return reject('signature');

  const node = verifyNodeCertificate(parsed.certificate, controllerKey, Math.floor(nowMs / 1000));
  if (!node.ok) return reject('certificate');
  if (!equalBytes(node.value.hostId, source) || !equalBytes(node.value.rsaKeyHash, rsaKeyHash(publicKeyDer)))
    return reject('certificate-binding');

  return {
    ok: true,
    message: {
      kind: parsed.kind,
      frameReceiverIndex: parsed.frameReceiverIndex,
      source: source.slice(),
      destination: destination.slice(),
      target: parsed.target.slice(),
      solicited: parsed.solicited,
      timestampMs: parsed.timestampMs,
      nonces: parsed.nonces.map((nonce) => nonce.slice()),
      peerReceiverIndex: parsed.peerReceiverIndex,
      peerEphemeralKey: parsed.peerEphemeralKey.slice(),
      certificate: node.value,
    },
  };
}

/**
 * Verifies the HANDSHAKE frame that `view` parsed from `bytes`: `parseHandshakeFrame`, then
 * `verifyParsedHandshake` — everything but the MACs, freshness and addressing (see the module
 * comment). `nowMs` is the clock for the certificate's validity.
 */
export function verifyHandshakeFrame(
  bytes: Uint8Array,
  view: LinkFrameView,
  controllerKey: ControllerKeys,
  nowMs: number,
): HandshakeVerification {
  const parsed = parseHandshakeFrame(bytes, view);
  return parsed.ok ? verifyParsedHandshake(parsed.message, controllerKey, nowMs) : parsed;
}

/** The solicited-node multicast address ff02::1:ffXX:XXXX of `address` (RFC 4291 2.7.1). */
export function solicitedNodeAddress(address: Uint8Array): Uint8Array {
  const result = new Uint8Array(16);
  result[0] = 0xff;
  result[1] = 0x02;
  result[11] = 0x01;
  result[12] = 0xff;
  result.set(address.subarray(13, 16), 13);
  return result;
}

/** ff02::1, the all-nodes address: the NS destination when the peer's host id is unknown. */
export const ALL_NODES_ADDRESS: Uint8Array = Uint8Array.from([
  0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
]);
/** ::, the NS target when the peer's host id is unknown ("whoever listens at this underlay address"). */
export const UNSPECIFIED_ADDRESS: Uint8Array = new Uint8Array(16);
