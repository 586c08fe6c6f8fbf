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
 * `verifyHandshakeFrame` runs the checks that need no per-layer state, cheapest first: IPv6
 * header, ICMPv6 checksum, ND message and options, CGA (RFC 3972 5), RSA signature, node
 * certificate (controller key, validity) and its binding to the CGA and RSA key. Freshness
 * (timestamp, nonce) and addressing are the layer's (create-link-layer.ts). Never throws.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import {
  type ControllerPublicKey,
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
  IPV6_HEADER_LENGTH,
  IpProtocol,
  icmpv6Checksum,
  LINK_FRAME_HEADER_LENGTH,
  LinkFrameType,
  type LinkFrameView,
  type NdMessage,
  type NdOption,
  ndMessageLength,
  readU16,
  rsaSignatureBytes,
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
  | 'collision';

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
  const frame = new Uint8Array(LINK_FRAME_HEADER_LENGTH + body.length);
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

const reject = (reason: HandshakeRejectReason): HandshakeVerification => ({ ok: false, reason });

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let index = 0; index < a.length; index++) if (a[index] !== b[index]) return false;
  return true;
}

/**
 * Verifies the HANDSHAKE frame that `view` parsed from `bytes`: everything but freshness and
 * addressing (see the module comment). `nowMs` is the clock for the certificate's validity.
 */
export function verifyHandshakeFrame(
  bytes: Uint8Array,
  view: LinkFrameView,
  controllerKey: ControllerPublicKey,
  nowMs: number,
): HandshakeVerification {
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

  const cga = verifyCga(source, cgaParameters);
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
    icmpMessage: icmp.subarray(0, range.value.signedEnd),
    signature: rsaSignatureBytes(range.value, Math.ceil(modulusBits / 8)),
    publicKeyDer,
    keyHash: range.value.keyHash,
  });
  if (!signature.ok) return reject('signature');

  const node = verifyNodeCertificate(certificate, controllerKey, Math.floor(nowMs / 1000));
  if (!node.ok) return reject('certificate');
  if (!equalBytes(node.value.hostId, source) || !equalBytes(node.value.rsaKeyHash, rsaKeyHash(publicKeyDer)))
    return reject('certificate-binding');
  if (keyExchange.receiverIndex === 0) return reject('key-exchange');

  return {
    ok: true,
    message: {
      kind,
      frameReceiverIndex: view.receiverIndex,
      source: source.slice(),
      destination: destination.slice(),
      target: message.targetAddress.slice(),
      solicited: message.kind === 'neighborAdvertisement' && message.solicited,
      timestampMs: timestampToMs(timestamp),
      nonces: nonces.map((nonce) => nonce.slice()),
      peerReceiverIndex: keyExchange.receiverIndex,
      peerEphemeralKey: keyExchange.publicKey.slice(),
      certificate: node.value,
    },
  };
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
