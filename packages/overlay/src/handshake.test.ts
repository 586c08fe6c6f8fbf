import { controllerKeyId, generateControllerKey, generateX25519KeyPair } from '@capsule/identity';
import { decodeIpv6Header, decodeNdMessage, LinkFrameType, LinkFrameView } from '@capsule/wire';
import { describe, expect, it } from 'vitest';
import { makeIdentity, START_MS } from '../test/helpers';
import {
  buildHandshakeFrame,
  createHandshakeSigner,
  solicitedNodeAddress,
  verifyHandshakeFrame,
} from './handshake';

const controller = generateControllerKey();
const trust = { publicKey: controller.publicKey, keyId: controllerKeyId(controller.publicKey) };
const alpha = makeIdentity({ controller, key: 0, name: 'alpha', nowMs: START_MS });
const bravo = makeIdentity({ controller, key: 1, name: 'bravo', nowMs: START_MS });

describe('handshake messages', () => {
  it('builds an NS whose options come in the documented order, signature last, and verifies it', () => {
    const ephemeral = generateX25519KeyPair();
    const nonce = new Uint8Array(14).fill(9);
    const frame = buildHandshakeFrame({
      kind: 'solicitation',
      signer: createHandshakeSigner(alpha),
      destination: solicitedNodeAddress(bravo.hostId),
      target: bravo.hostId,
      timestampMs: START_MS,
      nonces: [nonce],
      receiverIndex: 0xdeadbeef,
      ephemeralPublicKey: ephemeral.publicKeyRaw,
      frameReceiverIndex: 0,
    });
    const view = new LinkFrameView();
    expect(view.parse(frame)).toBe(true);
    expect(view.type).toBe(LinkFrameType.HANDSHAKE);
    const ip = decodeIpv6Header(frame.subarray(16));
    expect(ip.ok && ip.value.hopLimit).toBe(255);
    const nd = decodeNdMessage(ip.ok ? ip.value.payload : new Uint8Array(0));
    expect(nd.ok && nd.value.options.map((option) => option.kind)).toEqual([
      'cga',
      'timestamp',
      'nonce',
      'nodeCertificate',
      'keyExchange',
      'rsaSignature',
    ]);
    const verified = verifyHandshakeFrame(frame, view, trust, START_MS + 1_000);
    expect(verified.ok).toBe(true);
    if (!verified.ok) return;
    expect(verified.message.kind).toBe('solicitation');
    expect(Array.from(verified.message.source)).toEqual(Array.from(alpha.hostId));
    expect(Array.from(verified.message.target)).toEqual(Array.from(bravo.hostId));
    expect(verified.message.peerReceiverIndex).toBe(0xdeadbeef);
    expect(Array.from(verified.message.peerEphemeralKey)).toEqual(Array.from(ephemeral.publicKeyRaw));
    expect(verified.message.nonces.map((each) => Array.from(each))).toEqual([Array.from(nonce)]);
    expect(verified.message.certificate.name).toBe('alpha');
    expect(Math.round(verified.message.timestampMs)).toBe(START_MS);
  });

  it('builds an NA with the echoed nonce first and its own second', () => {
    const frame = buildHandshakeFrame({
      kind: 'advertisement',
      signer: createHandshakeSigner(bravo),
      destination: alpha.hostId,
      target: bravo.hostId,
      timestampMs: START_MS,
      nonces: [new Uint8Array(14).fill(1), new Uint8Array(14).fill(2)],
      receiverIndex: 5,
      ephemeralPublicKey: generateX25519KeyPair().publicKeyRaw,
      frameReceiverIndex: 0xdeadbeef,
    });
    const view = new LinkFrameView();
    expect(view.parse(frame)).toBe(true);
    expect(view.receiverIndex).toBe(0xdeadbeef);
    const verified = verifyHandshakeFrame(frame, view, trust, START_MS);
    expect(verified.ok && verified.message.kind).toBe('advertisement');
    expect(verified.ok && verified.message.solicited).toBe(true);
    expect(verified.ok && verified.message.nonces.map((each) => each[0])).toEqual([1, 2]);
    // A day after the certificate expired, the same message is refused for its certificate.
    expect(verifyHandshakeFrame(frame, view, trust, START_MS + 2 * 86_400_000)).toEqual({
      ok: false,
      reason: 'certificate',
    });
  });

  it('solicited-node multicast address of a CGA (RFC 4291 2.7.1)', () => {
    const address = Uint8Array.from({ length: 16 }, (_, index) => index);
    expect(Buffer.from(solicitedNodeAddress(address)).toString('hex')).toBe(
      'ff0200000000000000000001ff0d0e0f',
    );
  });
});
